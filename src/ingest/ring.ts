// A ring of frame slots in shared memory: a file under /dev/shm (mode 0600) that vkcast creates and
// reserves in full, the producer maps and writes, and the encoder reads in place.
import { closeSync, constants, fchmodSync, openSync, unlinkSync } from "node:fs";
import { reserve } from "./libc.ts";
import { BYTES_PER_PIXEL } from "../frame.ts";
import { ProtocolError, type RingInfo, type RingShape } from "./messages.ts";

export const SHM_DIR = "/dev/shm";
const PAGE = 4096;
const ROW_ALIGN = 64;

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

export class Ring {
  readonly stride: number;
  readonly slotBytes: number;
  /** Set once the producer said `mapped` (and the file was unlinked). */
  mapped = false;
  private memory: Uint8Array | null;
  /** Slots vkcast holds now (submitted and not yet released). */
  private readonly held: boolean[];
  private linked = true;

  private constructor(
    readonly id: number,
    readonly path: string,
    readonly shape: RingShape,
  ) {
    this.stride = roundUp(shape.width * BYTES_PER_PIXEL[shape.format], ROW_ALIGN);
    this.slotBytes = roundUp(this.stride * shape.height, PAGE);
    this.held = new Array(shape.slots).fill(false);
    this.memory = this.createFile();
  }

  /** Creates the file, reserves it in full and maps it; a full /dev/shm throws a ProtocolError. */
  static create(id: number, label: string, shape: RingShape, dir = SHM_DIR): Ring {
    const random = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16);
    return new Ring(id, `${dir}/vkcast-${process.pid}-${label}-${id}-${random}`, shape);
  }

  private createFile(): Uint8Array {
    const bytes = this.slotBytes * this.shape.slots;
    let fd = -1;
    try {
      fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      fchmodSync(fd, 0o600); // whatever the umask
      reserve(fd, bytes);
      return Bun.mmap(this.path, { shared: true });
    } catch (err) {
      if (fd !== -1) this.unlink();
      throw new ProtocolError(`cannot reserve a ring of ${bytes} bytes in ${SHM_DIR}: ${(err as Error).message}`);
    } finally {
      if (fd !== -1) closeSync(fd);
    }
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

  /** Removes the file's name; the mappings (ours and the producer's) stay. */
  unlink(): void {
    if (!this.linked) return;
    this.linked = false;
    try {
      unlinkSync(this.path);
    } catch {}
  }

  /** Drops vkcast's mapping (unmapped when collected); only once no slot is held. */
  close(): void {
    this.unlink();
    this.memory = null;
  }
}
