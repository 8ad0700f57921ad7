// One producer connection: the handshake, its rings, frames handed to its stream with the slot
// released after the encode, and the stream's viewers (watching, input) sent back.
import type { Socket } from "bun";
import type { Logger } from "../log.ts";
import { BYTES_PER_PIXEL } from "../frame.ts";
import {
  type FrameSubmit,
  type Hello,
  ProtocolError,
  type ProducerMessage,
  type RingShape,
  type ServerMessage,
  type VulkanRingRequest,
  INGEST_VERSION,
  VULKAN_EXTENSION_VERSION,
} from "./messages.ts";
import { parseProducerMessage } from "./messages.ts";
import { encodeLine, LineReader } from "./ndjson.ts";
import { Ring } from "./ring.ts";
import type { IngestTarget, StreamDirectory } from "./streams.ts";
import { type ImportedRing, importVulkanRing, VulkanRefusal } from "./vulkan-ring.ts";

/** At most this many rings of one producer alive at once (the newest and those still draining). */
export const MAX_RINGS = 4;

/** How long a producer may take, and how far behind it may fall; tests make them small. */
export interface ProducerLimits {
  /** A connection without a hello this long after it opened is closed. */
  helloTimeoutMs: number;
  /** Unread bytes waiting for the producer past which input events are dropped... */
  inputBacklogBytes: number;
  /** ...and past which the producer is taken for dead. */
  maxBacklogBytes: number;
}

export const DEFAULT_PRODUCER_LIMITS: ProducerLimits = {
  helloTimeoutMs: 10_000,
  inputBacklogBytes: 256 * 1024,
  maxBacklogBytes: 4 * 1024 * 1024,
};

const textEncoder = new TextEncoder();

export class Producer {
  stream: string | null = null;
  private readonly peer: string;
  private target: IngestTarget | null = null;
  private readonly reader = new LineReader();
  private readonly rings = new Map<number, Ring | ImportedRing>();
  /** The ring frames name now (last mapped), and one made (or imported) but not yet mapped. */
  private current: Ring | ImportedRing | null = null;
  private unmapped: Ring | ImportedRing | null = null;
  /** Shared Vulkan memory is being imported (vkcast's device may still be starting). */
  private importing = false;
  private nextRingId = 1;
  private watching = false;
  private closed = false;
  private backlog: Uint8Array[] = [];
  private backlogBytes = 0;
  /** The producer's own count of frames it dropped, as its last frame message said. */
  private droppedReported = 0;
  private readonly helloTimer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly socket: Socket<unknown>,
    private readonly streams: StreamDirectory,
    private readonly log: Logger,
    private readonly peerPid: number,
    private readonly limits: ProducerLimits = DEFAULT_PRODUCER_LIMITS,
  ) {
    this.peer = `pid ${peerPid}`;
    const ms = limits.helloTimeoutMs;
    this.helloTimer = setTimeout(() => this.fail(`no hello within ${ms / 1000} s`), ms);
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    try {
      for (const line of this.reader.push(chunk)) {
        this.handle(parseProducerMessage(line));
        if (this.closed) return;
      }
    } catch (err) {
      // Nothing a producer sends may throw past here: the listener serves other producers too.
      if (!(err instanceof ProtocolError)) this.log.error("producer message failed", { stream: this.stream, error: String(err) });
      if (this.target) this.target.counters.ingestProtocolViolations++;
      this.fail(err instanceof Error ? err.message : String(err));
    }
  }

  private handle(msg: ProducerMessage): void {
    if (msg.type === "hello") return this.onHello(msg);
    if (!this.target) throw new ProtocolError(`expected hello first, got ${msg.type}`);
    if (msg.type === "frame") return this.onFrame(msg);
    if (msg.type === "clipboard") return this.target.setClipboard(msg.text);
    if (msg.type === "vulkan_ring") return this.onVulkanRing(msg);
    if (msg.type === "ring") {
      this.send({ type: "ring", ring: this.newRing(this.stream!, msg).info() });
      this.target.counters.ingestRingsMade++;
      return;
    }
    this.onMapped(msg.ring);
  }

  private onHello(hello: Hello): void {
    if (this.target) throw new ProtocolError("hello sent twice");
    clearTimeout(this.helloTimer);
    const target = this.streams.claim(hello.stream);
    let ring: Ring;
    try {
      ring = this.newRing(hello.stream, hello);
    } catch (err) {
      this.streams.vacate(hello.stream);
      throw err;
    }
    this.stream = hello.stream;
    this.target = target;
    target.counters.ingestProducersConnected++;
    target.counters.ingestRingsMade++;
    this.watching = target.hasClients();
    this.log.info("producer connected", { stream: hello.stream, peer: this.peer, ...ring.shape });
    const { url } = target;
    const welcome = { version: INGEST_VERSION, vulkan: VULKAN_EXTENSION_VERSION, stream: hello.stream, url, watching: this.watching };
    this.send({ type: "welcome", ...welcome, ring: ring.info() });
  }

  /** A new ring may be asked for: none waits to be mapped or imported, and fewer than MAX_RINGS are alive. */
  private checkRingRoom(): void {
    if (this.unmapped) throw new ProtocolError(`ring asked for while ring ${this.unmapped.id} is not mapped yet`);
    if (this.importing) throw new ProtocolError("ring asked for while shared Vulkan memory is being imported");
    if (this.rings.size >= MAX_RINGS) throw new ProtocolError(`at most ${MAX_RINGS} rings may be alive; wait for releases`);
  }

  private newRing(stream: string, shape: RingShape): Ring {
    this.checkRingRoom();
    const { width, height, format, slots } = shape;
    const ring = Ring.create(this.nextRingId++, stream, { width, height, format, slots });
    this.rings.set(ring.id, ring);
    this.unmapped = ring;
    return ring;
  }

  /** Imports a Vulkan producer's memory as a ring; a refusal is answered and the connection goes on. */
  private onVulkanRing(req: VulkanRingRequest): void {
    this.checkRingRoom();
    this.importing = true;
    const id = this.nextRingId++;
    importVulkanRing(id, req, this.peerPid).then(
      (ring) => {
        this.importing = false;
        if (this.closed) return ring.close();
        this.rings.set(id, ring);
        this.unmapped = ring;
        this.target!.counters.ingestRingsMade++;
        const { slots, slotBytes } = req;
        this.log.info("producer shares Vulkan memory", { stream: this.stream, peer: this.peer, ring: id, slots, slotBytes });
        this.send({ type: "vulkan_ring", ring: ring.info() });
      },
      (err: Error) => {
        this.importing = false;
        if (!(err instanceof VulkanRefusal)) this.log.error("importing Vulkan memory failed", { stream: this.stream, error: String(err) });
        this.log.warn("Vulkan memory refused", { stream: this.stream, peer: this.peer, reason: err.message });
        this.send({ type: "vulkan_refused", reason: err.message });
      },
    );
  }

  private onMapped(id: number): void {
    const ring = this.unmapped;
    if (!ring || ring.id !== id) throw new ProtocolError(`mapped.ring ${id} is not a ring waiting to be mapped`);
    ring.mapped = true;
    ring.closeDescriptor();
    this.unmapped = null;
    const old = this.current;
    this.current = ring;
    if (old) this.retireIfFree(old);
  }

  private onFrame(f: FrameSubmit): void {
    const ring = this.rings.get(f.ring);
    if (!ring || !ring.mapped) throw new ProtocolError(`frame.ring ${f.ring} is not a mapped ring of this producer`);
    if (ring !== this.current) throw new ProtocolError(`frame.ring ${f.ring} was replaced by ring ${this.current!.id}`);
    if (f.slot >= ring.slots) throw new ProtocolError(`frame.slot ${f.slot} is out of range (ring ${ring.id} has ${ring.slots} slots)`);
    if (ring.isHeld(f.slot)) throw new ProtocolError(`frame.slot ${f.slot} was submitted again before its release`);
    const rowBytes = f.width * BYTES_PER_PIXEL[f.format];
    if (f.stride < rowBytes) throw new ProtocolError(`frame.stride ${f.stride} is less than width x bytes per pixel (${rowBytes})`);
    const bytes = f.stride * f.height;
    if (bytes > ring.slotBytes) {
      const size = `${f.width}x${f.height} with stride ${f.stride}`;
      throw new ProtocolError(`frame ${size} needs ${bytes} bytes; a slot of ring ${ring.id} has ${ring.slotBytes}`);
    }
    if (f.dropped !== undefined) this.noteDropped(f.dropped);
    const pixels = ring.take(f.slot, bytes);
    if (pixels instanceof Uint8Array) return this.hand(ring, f, pixels);
    // Shared Vulkan memory: the frame goes on once vkcast's device copied it out.
    pixels.then(
      (copy) => {
        if (this.closed) return this.onRelease(ring, f.slot);
        try {
          this.hand(ring, f, copy);
        } catch (err) {
          this.fail((err as Error).message);
        }
      },
      (err: Error) => {
        this.onRelease(ring, f.slot);
        this.fail(err.message);
      },
    );
  }

  /** Hands a frame to the stream; its slot comes back to the producer once the encoder is done with it. */
  private hand(ring: Ring | ImportedRing, f: FrameSubmit, pixels: Uint8Array): void {
    try {
      this.target!.pushFrame({
        pixels,
        width: f.width,
        height: f.height,
        stride: f.stride,
        format: f.format,
        captureTime: f.t ?? Date.now(),
        release: () => this.onRelease(ring, f.slot),
      });
      this.target!.counters.ingestFramesSubmitted++;
    } catch (err) {
      ring.give(f.slot);
      throw new ProtocolError(`frame refused: ${(err as Error).message}`);
    }
  }

  private noteDropped(total: number): void {
    if (total < this.droppedReported) throw new ProtocolError(`frame.dropped ${total} is less than before (${this.droppedReported})`);
    this.target!.counters.ingestFramesDroppedByProducer += total - this.droppedReported;
    this.droppedReported = total;
  }

  /** The encoder is done with a slot (or dropped its frame): it is the producer's again. */
  private onRelease(ring: Ring | ImportedRing, slot: number): void {
    ring.give(slot);
    if (!this.closed) this.send({ type: "release", ring: ring.id, slot });
    if (ring !== this.current || this.closed) this.retireIfFree(ring);
  }

  private retireIfFree(ring: Ring | ImportedRing): void {
    if (ring.heldCount > 0) return;
    ring.close();
    this.rings.delete(ring.id);
  }

  /** Sends what changed on the stream since the last tick: whether anyone watches, and viewers' input. */
  tick(): void {
    const target = this.target;
    if (!target || this.closed) return;
    const watching = target.hasClients();
    if (watching !== this.watching) {
      this.watching = watching;
      this.send({ type: "watching", value: watching });
    }
    for (const event of target.drainInput()) this.send({ type: "input", event });
  }

  private send(msg: ServerMessage): void {
    if (this.closed) return;
    if (msg.type === "input" && this.backlogBytes > this.limits.inputBacklogBytes) {
      this.target!.counters.ingestInputDropped++;
      return;
    }
    const bytes = textEncoder.encode(encodeLine(msg));
    if (this.backlog.length === 0) {
      const written = this.socket.write(bytes);
      if (written === bytes.length) return;
      this.queue(bytes.subarray(Math.max(0, written)));
    } else this.queue(bytes);
  }

  private queue(bytes: Uint8Array): void {
    this.backlog.push(bytes);
    this.backlogBytes += bytes.length;
    if (this.backlogBytes > this.limits.maxBacklogBytes) {
      this.fail(`the producer stopped reading its socket (${this.backlogBytes} bytes unread)`);
    }
  }

  /** The socket can take more: write what waits. */
  onDrain(): void {
    while (this.backlog.length > 0 && !this.closed) {
      const head = this.backlog[0]!;
      const written = this.socket.write(head);
      this.backlogBytes -= Math.max(0, written);
      if (written < head.length) {
        this.backlog[0] = head.subarray(Math.max(0, written));
        return;
      }
      this.backlog.shift();
    }
  }

  /** A protocol violation: tell the producer why, log it, and close. */
  fail(reason: string): void {
    if (this.closed) return;
    this.log.warn("producer refused", { stream: this.stream, peer: this.peer, reason });
    this.onDrain();
    if (this.backlog.length === 0) this.socket.write(encodeLine({ type: "error", reason }));
    this.socket.end();
    this.onClose();
  }

  /** The connection is gone: free the rings nobody reads and hand the stream back. */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    this.backlog = [];
    for (const ring of this.rings.values()) {
      ring.closeDescriptor();
      this.retireIfFree(ring);
    }
    if (this.stream !== null && this.target) {
      this.streams.vacate(this.stream);
      this.log.info("producer disconnected", { stream: this.stream, peer: this.peer });
    }
  }
}
