// What an edge does with a session's frames as they arrive from the broker: chunks put back together,
// numbers kept growing across origin restarts (viewers ack by them), and nothing stale served. JPEG
// frames that arrive in one burst (the edge was busy) are served newest only. H.264 frames must all go,
// in order: one lost or stale means the viewers wait for the next IDR.
import type { FrameMeta } from "../encode/protocol.ts";
import type { EncodedH264Frame } from "../server/pipeline.ts";
import { type FrameHeader, FrameAssembler, readFrameMessage, withH264Meta, withMeta } from "./frame-wire.ts";

/** A frame this much older than the freshest seen lately is not served (the edge fell behind). */
export const STALE_AFTER_MS = 1000;

export interface FrameSink {
  jpeg(jpeg: Uint8Array, meta: FrameMeta): void;
  h264(frame: EncodedH264Frame, meta: FrameMeta): void;
  /** An H.264 frame was lost: the viewers must wait for the next IDR. */
  h264Lost(): void;
}

export interface FrameCounters {
  framesRelayed: number;
  /** Frames older than the freshest by more than STALE_AFTER_MS: not served. */
  framesStale: number;
  /** JPEG frames replaced by a newer one that arrived in the same burst. */
  framesCoalesced: number;
  /** Frames lost in chunks (a chunk missing), and H.264 frames missing from the sequence. */
  framesIncomplete: number;
  messagesRejected: number;
}

export class FrameReceiver {
  readonly counters: FrameCounters = {
    framesRelayed: 0,
    framesStale: 0,
    framesCoalesced: 0,
    framesIncomplete: 0,
    messagesRejected: 0,
  };
  private readonly assemblers = { jpeg: new FrameAssembler(), h264: new FrameAssembler() };
  private pendingJpeg: { header: FrameHeader; frame: Uint8Array } | null = null;
  /** Frame numbering: the origin run frames came from, and what is added to its numbers so they keep growing. */
  private instance: string | null = null;
  private seqOffset = 0;
  private lastSeq = 0;
  /** The origin's count of the last H.264 frame served (they must come one after the other). */
  private lastH264: number | null = null;
  /** The smallest capture-to-arrival time seen lately (ms; clocks may differ): the age of a fresh frame. */
  private lagFloor = Number.POSITIVE_INFINITY;
  private lagFloorAt = 0;

  constructor(private readonly sink: FrameSink) {}

  /** One message from the session's JPEG or H.264 subject. */
  take(data: Uint8Array): void {
    const read = readFrameMessage(data);
    if (typeof read === "string") {
      this.counters.messagesRejected++;
      return;
    }
    const assembler = this.assemblers[read.header.codec];
    const dropped = assembler.dropped;
    const whole = assembler.add(read.header, read.body);
    this.counters.framesIncomplete += assembler.dropped - dropped;
    if (read.header.codec === "h264" && assembler.dropped > dropped) this.loseH264();
    if (!whole) return;
    if (whole.header.codec === "h264") return this.serveH264(whole.header, whole.frame);
    // Frames that arrive in one burst: only the newest is served, once the burst is read.
    if (this.pendingJpeg) this.counters.framesCoalesced++;
    else setImmediate(() => this.flushJpeg());
    this.pendingJpeg = whole;
  }

  /** H.264 frames from here on are read anew (the edge stopped and started taking them). */
  restartH264(): void {
    this.lastH264 = null;
  }

  private flushJpeg(): void {
    const pending = this.pendingJpeg;
    this.pendingJpeg = null;
    if (!pending || this.isStale(pending.header.t)) return;
    const meta = this.renumber(pending.header);
    this.sink.jpeg(this.seqOffset === 0 ? pending.frame : withMeta(pending.frame, meta), meta);
    this.counters.framesRelayed++;
  }

  private serveH264(header: FrameHeader & { codec: "h264" }, data: Uint8Array): void {
    const newOrigin = header.instance !== this.instance;
    const inSequence = !newOrigin && this.lastH264 !== null && header.n === this.lastH264 + 1;
    this.lastH264 = header.n ?? null;
    if (this.isStale(header.t)) return this.loseH264();
    // A gap (a frame lost, or the first one taken): decodable again from the next IDR.
    if (!inSequence && !header.idr) {
      this.counters.framesIncomplete++;
      return this.loseH264();
    }
    const meta = this.renumber(header);
    const renumbered = this.seqOffset === 0 ? data : withH264Meta(data, meta);
    this.sink.h264({ seq: meta.seq, data: renumbered, idr: header.idr, temporalId: header.temporalId }, meta);
    this.counters.framesRelayed++;
  }

  private loseH264(): void {
    this.lastH264 = null;
    this.sink.h264Lost();
  }

  /**
   * The frame's metadata with this edge's number. A restarted origin numbers from 1 again: its numbers go on
   * from the highest this edge gave out (its JPEG and H.264 of one frame share a number, and either may come first).
   */
  private renumber(header: FrameHeader): FrameMeta {
    if (header.instance !== this.instance) {
      this.instance = header.instance;
      this.seqOffset = this.lastSeq;
    }
    const seq = header.seq + this.seqOffset;
    this.lastSeq = Math.max(this.lastSeq, seq);
    return { seq, t: header.t, w: header.w, h: header.h, q: header.q, ...(header.in ? { in: header.in } : {}) };
  }

  /** Whether a frame captured at `t` is stale: older than the freshest seen lately by STALE_AFTER_MS. */
  private isStale(t: number): boolean {
    const now = performance.now();
    const lag = Date.now() - t;
    // The floor creeps up by 1 ms a second, so that a clock adjustment is forgotten.
    this.lagFloor = Math.min(lag, this.lagFloor + (now - this.lagFloorAt) / 1000);
    this.lagFloorAt = now;
    const stale = lag - this.lagFloor > STALE_AFTER_MS;
    if (stale) this.counters.framesStale++;
    return stale;
  }
}
