// A ring of frame slots in shared memory that vkcast creates and reserves in full, the producer maps and
// writes, and the encoder reads in place. It is a memfd sealed against shrinking and growing: nothing the
// producer does to the file can take pages from under vkcast's mapping (a truncated file would SIGBUS the
// encoder). The producer opens it as /proc/<vkcast's pid>/fd/<fd> until it says `mapped`.
import { fchmodSync } from "node:fs";
import { addSeals, closeFd, memfdCreate, reserve, SEAL_SIZE } from "./libc.ts";
import { BYTES_PER_PIXEL } from "../frame.ts";
import { ProtocolError, type RingInfo, type RingShape } from "./messages.ts";

const PAGE = 4096;
const ROW_ALIGN = 64;

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

export class Ring {
  readonly stride: number;
  readonly slotBytes: number;
  /** Set once the producer said `mapped` (and vkcast closed its descriptor). */
  mapped = false;
  /** Where the producer opens the ring: vkcast's descriptor of it, through /proc. */
  readonly path: string;
  private memory: Uint8Array | null;
  /** Slots vkcast holds now (submitted and not yet released). */
  private readonly held: boolean[];
  /** vkcast's descriptor of the memfd until the producer mapped it; -1 after. */
  private fd: number;

  private constructor(
    readonly id: number,
    label: string,
    readonly shape: RingShape,
  ) {
    this.stride = roundUp(shape.width * BYTES_PER_PIXEL[shape.format], ROW_ALIGN);
    this.slotBytes = roundUp(this.stride * shape.height, PAGE);
    this.held = new Array(shape.slots).fill(false);
    const bytes = this.slotBytes * shape.slots;
    this.fd = -1;
    try {
      this.fd = memfdCreate(`vkcast-${label}-${id}`);
      fchmodSync(this.fd, 0o600); // a memfd is born 0777; /proc/PID/fd already keeps other users out
      reserve(this.fd, bytes);
      addSeals(this.fd, SEAL_SIZE);
      this.memory = Bun.mmap(`/proc/self/fd/${this.fd}`, { shared: true });
    } catch (err) {
      this.closeDescriptor();
      throw new ProtocolError(`cannot reserve a ring of ${bytes} bytes of shared memory: ${(err as Error).message}`);
    }
    this.path = `/proc/${process.pid}/fd/${this.fd}`;
  }

  /** Creates the memfd, reserves it in full, seals its size and maps it; no memory for it throws a ProtocolError. */
  static create(id: number, label: string, shape: RingShape): Ring {
    return new Ring(id, label, shape);
  }

  info(): RingInfo {
    const { width, height, format, slots } = this.shape;
    return { id: this.id, path: this.path, slots, slotBytes: this.slotBytes, stride: this.stride, width, height, format };
  }

  get slots(): number {
    return this.shape.slots;
  }

  isHeld(slot: number): boolean {
    return this.held[slot]!;
  }

  get heldCount(): number {
    return this.held.filter(Boolean).length;
  }

  /** Marks `slot` as vkcast's and returns a view of its first `byteLength` bytes. */
  take(slot: number, byteLength: number): Uint8Array {
    if (!this.memory) throw new Error(`ring ${this.id} is closed`);
    this.held[slot] = true;
    return this.memory.subarray(slot * this.slotBytes, slot * this.slotBytes + byteLength);
  }

  give(slot: number): void {
    this.held[slot] = false;
  }

  /** Closes vkcast's descriptor, so the path no longer opens; the mappings (ours and the producer's) stay. */
  closeDescriptor(): void {
    if (this.fd < 0) return;
    closeFd(this.fd);
    this.fd = -1;
  }

  /** Drops vkcast's mapping (unmapped when collected); only once no slot is held. */
  close(): void {
    this.closeDescriptor();
    this.memory = null;
  }
}
