// The frame pipeline of one stream: the newest pushed frame waits (a newer one replaces it), leaves at
// the target fps for an idle encoder Worker, and comes back as JPEG; encoded frames are delivered in
// order (Workers may finish out of order: a frame that finishes early waits for the ones before it)
// and the newest one is kept for late joiners and snapshots. Where H.264 viewers watch, the same frame
// (same seq) also goes to the H.264 Worker of each H.264 tier in use (h264-tiers.ts); each codec is encoded
// only while someone wants it, and the frame is released once every encoder has read it.
import { ptr } from "bun:ffi";
import type { EncoderKind } from "../encode/backend.ts";
import type { EncoderPool } from "../encode/pool.ts";
import type { EncodeJob, FrameMeta } from "../encode/protocol.ts";
import { BYTES_PER_PIXEL, type Frame } from "../frame.ts";
import type { Logger } from "../log.ts";
import type { AppliedInput } from "../protocol/viewer-messages.ts";
import { H264_TIERS, type H264Tiers } from "./h264-tiers.ts";
import type { Samples } from "./metrics.ts";
import type { QualityPolicy } from "./quality.ts";
import { JPEG_TIERS } from "./tiers.ts";

export interface EncodedFrame {
  seq: number;
  /** The best encoding made of this frame (tier 0 where viewers or a snapshot want it). */
  jpeg: Uint8Array;
  /** Its encoding for each tier (tiers.ts), null where no viewer wanted that tier. */
  tiers: (Uint8Array | null)[];
}

/** One H.264 access unit (Annex B, with the metadata SEI) of the stream. */
export interface EncodedH264Frame {
  seq: number;
  data: Uint8Array;
  idr: boolean;
  /** 1: nothing refers to it (a viewer may skip it). */
  temporalId: number;
}

/** The encoders a pipeline hands frames to (the listener's pool, shared by its streams). */
export type FrameEncoder = Pick<EncoderPool, "hasIdleWorker" | "encode">;

export interface PipelineCounters {
  framesPushed: number;
  /** Pushed frames replaced by a newer one before they were encoded. */
  framesDropped: number;
  /** Pushed frames identical to the last one sent at the still quality: neither encoded nor sent. */
  framesUnchanged: number;
  framesEncoded: number;
  /** Frames encoded to H.264 (counted apart from JPEG's framesEncoded). */
  h264FramesEncoded: number;
  encodeErrors: number;
}

export interface PipelineParts {
  fps: number;
  quality: QualityPolicy;
  counters: PipelineCounters;
  encodeMs: Samples;
  /** Time a frame waited between its push and its hand-off to an encoder (ms). */
  queueMs: Samples;
  h264EncodeMs: Samples;
  log: Logger;
  /** A frame newer than any before was encoded: fan it out. */
  deliver(frame: EncodedFrame, meta: FrameMeta): void;
  /** The JPEG tiers some viewer uses now (none: tier 0 only). */
  tiersInUse(): ReadonlySet<number>;
  /** The stream's H.264 encoders, where H.264 is offered. */
  h264: H264Tiers | null;
  /** The H.264 tiers to encode now (tier 0 first). */
  h264TiersInUse(): number[];
  /** Whether anyone wants frames in `codec` now; while nobody wants either, the newest frame waits unencoded. */
  wants(codec: EncoderKind): boolean;
  deliverH264(frame: EncodedH264Frame, meta: FrameMeta, tier: number): void;
  /** An H.264 encode failed: the stream's H.264 viewers lost their place. */
  h264Failed(): void;
}

export class FramePipeline {
  /** Between open() and close(): taking frames. */
  private isOpen = false;
  /** Null in a relay that only delivers frames encoded elsewhere (deliverEncoded). */
  private encoder: FrameEncoder | null = null;
  /** Called when one of our encodes finished, so that every stream sharing the encoders can go on. */
  private encoderFreed: () => void = () => {};
  /** The newest pushed frame not yet handed to an encoder, and when it was pushed. */
  private pending: Frame | null = null;
  /** The copy of the newest frame pushed while nobody watched (see keepUnwatched). */
  private unwatchedCopy: Uint8Array | null = null;
  private pendingSince = 0;
  /** The input applied before the pending frame was pushed (its metadata's `in`). */
  private pendingInput: AppliedInput | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Earliest time (performance.now) the next frame may leave, so frames leave at `fps`. */
  private nextDue = 0;
  /** When the last frame was pushed, and the smoothed time between pushes (ms). */
  private lastPushAt = 0;
  private pushIntervalMs = 0;
  private seq = 0;
  /** Encodes that finished before an earlier one did, by seq (null: it failed), and the next seq to deliver. */
  private readonly finished = new Map<number, { meta: FrameMeta; tiers: (Uint8Array | null)[] } | null>();
  private nextToDeliver = 1;
  private latest: EncodedFrame | null = null;
  private readonly frameWaiters = new Set<() => void>();
  /** Frames went out without a JPEG (only H.264 viewers watched): the newest JPEG is not the picture. */
  private jpegStale = false;
  /** By H.264 tier: a frame handed to the others already, waiting for this tier's busy Worker. */
  private readonly h264Waiting: ({ job: EncodeJob; failed: (err: Error) => void; settle: () => void } | null)[] = H264_TIERS.map(
    () => null,
  );

  constructor(private readonly parts: PipelineParts) {}

  /** The newest encoded frame, if any. */
  get latestEncoded(): EncodedFrame | null {
    return this.latest;
  }

  /** Starts taking frames; `encoderFreed` runs after each of this pipeline's encodes. */
  open(encoder: FrameEncoder | null, encoderFreed: () => void): void {
    this.isOpen = true;
    this.encoder = encoder;
    this.encoderFreed = encoderFreed;
  }

  /** Stops taking frames and resolves once encodes in flight are done (they read frame memory in place). */
  async close(): Promise<void> {
    this.isOpen = false;
    this.encoder = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending?.release?.();
    this.pending = null;
    for (const waiting of this.h264Waiting) waiting?.settle();
    this.h264Waiting.fill(null);
    this.unwatchedCopy = null;
    await Promise.allSettled([...this.inFlight]);
    this.finished.clear();
    this.nextToDeliver = this.seq + 1;
    this.latest = null;
    this.wakeFrameWaiters();
  }

  /**
   * Offers a checked frame; never blocks. A frame still waiting is replaced (dropped and released). `applied`:
   * the input the engine took before it rendered this frame.
   */
  push(frame: Frame, applied?: AppliedInput): void {
    if (!this.encoder) {
      frame.release?.();
      return;
    }
    const c = this.parts.counters;
    c.framesPushed++;
    if (this.pending) {
      this.pending.release?.();
      c.framesDropped++;
    }
    this.pending = { ...frame, captureTime: frame.captureTime ?? Date.now() };
    this.pendingInput = applied;
    const now = performance.now();
    this.pendingSince = now;
    const gap = now - this.lastPushAt;
    this.pushIntervalMs = this.pushIntervalMs === 0 ? gap : 0.9 * this.pushIntervalMs + 0.1 * gap;
    this.lastPushAt = now;
    this.schedule();
  }

  /**
   * While nobody watches, the newest frame is not encoded but copied (far cheaper) and released at once,
   * so a producer gets its memory back and the first viewer still gets the newest picture.
   */
  private keepUnwatched(frame: Frame, captureTime: number): Frame {
    if (this.unwatchedCopy?.byteLength !== frame.pixels.byteLength) this.unwatchedCopy = new Uint8Array(frame.pixels.byteLength);
    this.unwatchedCopy.set(frame.pixels);
    frame.release?.();
    const { release: _, ...rest } = frame;
    return { ...rest, pixels: this.unwatchedCopy, captureTime };
  }

  /** Resolves with the first encoded frame newer than `afterSeq`, or null once the pipeline closes. */
  nextEncodedFrame(afterSeq: number): Promise<EncodedFrame | null> {
    if (!this.isOpen) return Promise.resolve(null);
    if (this.latest && this.latest.seq > afterSeq) return Promise.resolve(this.latest);
    return new Promise((resolve) => {
      const wake = () => {
        if (!this.isOpen) return resolve(null);
        if (this.latest && this.latest.seq > afterSeq) return resolve(this.latest);
        this.frameWaiters.add(wake);
      };
      this.frameWaiters.add(wake);
    });
  }

  /** Arms the pacing timer for the pending frame, unless it is armed already or nobody needs frames. */
  schedule(): void {
    if (this.timer || !this.pending || !this.encoder) return;
    if (!this.parts.wants("jpeg") && !this.parts.wants("h264")) {
      // The last viewer left while a frame waited: give the producer its memory back.
      if (this.pending.pixels !== this.unwatchedCopy) this.pending = this.keepUnwatched(this.pending, this.pending.captureTime!);
      return;
    }
    // A producer that pushes no faster than fps (the engine loop) is not paced again: its frames
    // leave at once. Pacing it with a second clock at the same rate would lock onto whatever phase
    // lag it started with, up to a whole frame of added latency.
    const producerPaced = this.pushIntervalMs >= (1000 / this.parts.fps) * 0.95;
    const delay = producerPaced ? 0 : Math.max(0, this.nextDue - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.encodePending();
    }, delay);
  }

  /** Hands the pending frame to idle encoders, unless it is the still picture already sent. */
  private encodePending(): void {
    const frame = this.pending;
    const input = this.pendingInput;
    const encoder = this.encoder;
    if (!frame || !encoder) return;
    const parts = this.parts;
    const h264 = parts.h264 && parts.wants("h264") ? parts.h264 : null;
    const h264Tiers = h264 ? parts.h264TiersInUse() : [];
    // JPEG is skipped only while everyone who watches gets H.264 (MJPEG and snapshots want JPEG too).
    const jpeg = !h264 || parts.wants("jpeg");
    for (const t of h264Tiers) h264!.channels[t]!.start();
    // While the encoder the frame needs is busy it stays pending; a finished encode reschedules it.
    // H.264 alone waits for tier 0's Worker; beside JPEG (and in other tiers), the frame waits for each on its own.
    if (jpeg ? !encoder.hasIdleWorker : !h264!.channels[0]!.idle) return;
    this.pending = null;
    // The Worker reads the copy in place: the next unwatched frame gets a buffer of its own.
    if (frame.pixels === this.unwatchedCopy) this.unwatchedCopy = null;
    const now = performance.now();
    // A viewer waits for an IDR, or JPEG is wanted again after frames went without it: the picture must be
    // encoded even if it did not change.
    if (h264Tiers.some((t) => h264!.channels[t]!.idrPending) || (jpeg && this.jpegStale)) parts.quality.forgetLastFrame();
    // ~0.05 ms for a 720p frame; a frame in GPU memory brings its own hash.
    const quality = parts.quality.qualityFor(frame.contentHash ?? Bun.hash.xxHash3(frame.pixels), now);
    if (quality === null) {
      // Unchanged since its still frame: neither encoded nor sent, and no pacing slot used.
      parts.counters.framesUnchanged++;
      frame.release?.();
      return;
    }
    parts.queueMs.add(now - this.pendingSince);
    this.jpegStale = !jpeg;
    const interval = 1000 / parts.fps;
    // Keep the cadence when on time; after an idle spell, start a new one from now.
    this.nextDue = now - this.nextDue > interval ? now + interval : this.nextDue + interval;

    const job: EncodeJob = {
      type: "encode",
      address: frame.gpu ? 0 : ptr(frame.pixels),
      byteLength: frame.gpu ? 0 : frame.pixels.byteLength,
      width: frame.width,
      height: frame.height,
      stride: frame.stride ?? (frame.format === "yuv420" ? frame.width : frame.width * BYTES_PER_PIXEL[frame.format ?? "rgba"]),
      format: frame.format ?? "rgba",
      gpu: frame.gpu,
      meta: { seq: ++this.seq, t: frame.captureTime!, w: frame.width, h: frame.height, q: quality, ...(input ? { in: input } : {}) },
    };
    const failed = (codec: EncoderKind) => (err: Error) => {
      parts.counters.encodeErrors++;
      parts.quality.forgetLastFrame();
      if (codec === "h264") parts.h264Failed();
      parts.log.error("encode failed", { seq: job.meta.seq, codec, error: err.message });
    };
    const encodes: Promise<void>[] = [];
    if (jpeg) {
      // The still frame goes to everyone at full quality; otherwise each tier a viewer uses, once.
      const tiers = parts.quality.lastKind === "still" || parts.tiersInUse().size === 0 ? new Set([0]) : parts.tiersInUse();
      const encoded = this.encodeTiers(encoder, job, tiers).then(
        (encodings) => {
          parts.counters.framesEncoded++;
          this.deliverInOrder(job.meta.seq, { meta: job.meta, tiers: encodings });
        },
        (err: Error) => {
          this.deliverInOrder(job.meta.seq, null);
          failed("jpeg")(err);
        },
      );
      encodes.push(encoded.finally(() => this.encoderFreed()));
    } else {
      this.deliverInOrder(job.meta.seq, null); // no JPEG of this frame: the next ones need not wait for it
    }
    // The still frame is made at full quality in every tier, as for JPEG.
    const still = parts.quality.lastKind === "still";
    for (const t of h264Tiers) {
      const meta = still ? job.meta : { ...job.meta, q: H264_TIERS[t]!.quality(job.meta.q) };
      encodes.push(this.encodeH264(t, { ...job, meta }, failed("h264")));
    }
    const done = Promise.allSettled(encodes).then(() => {
      frame.release?.();
      this.inFlight.delete(done);
      this.schedule();
    });
    this.inFlight.add(done);
  }

  /**
   * Encodes on the H.264 Worker now, or as soon as it is free unless a newer frame comes first. Resolves
   * once the Worker has read the frame's memory (converted it to its own I420 picture, well before its
   * encode ends), or the frame was given up.
   */
  private encodeH264(tier: number, job: EncodeJob, failed: (err: Error) => void): Promise<void> {
    return new Promise((settle) => {
      this.h264Waiting[tier]?.settle(); // overtaken: the newer frame goes instead
      this.h264Waiting[tier] = { job, failed, settle };
      this.startWaitingH264();
    });
  }

  /** An H.264 Worker became free or ready: the frame waiting for it goes. */
  startWaitingH264(): void {
    this.h264Waiting.forEach((waiting, tier) => {
      const channel = this.parts.h264?.channels[tier];
      if (!waiting || !channel?.idle || !this.encoder) return;
      this.h264Waiting[tier] = null;
      const { job } = waiting;
      channel
        .encode(job, waiting.settle)
        .then((e) => {
          this.parts.counters.h264FramesEncoded++;
          this.parts.h264EncodeMs.add(e.encodeMs);
          if (this.encoder) this.parts.deliverH264({ seq: e.seq, data: e.data, idr: e.idr, temporalId: e.temporalId }, job.meta, tier);
        }, waiting.failed)
        .finally(() => {
          waiting.settle();
          this.startWaitingH264();
        });
    });
  }

  /** Encodes the frame once per tier in `tiers`, one after another on the Worker each one frees. */
  private async encodeTiers(encoder: FrameEncoder, job: EncodeJob, tiers: ReadonlySet<number>): Promise<(Uint8Array | null)[]> {
    const out: (Uint8Array | null)[] = JPEG_TIERS.map(() => null);
    for (const t of [...tiers].sort((a, b) => a - b)) {
      const tier = JPEG_TIERS[t]!;
      if (out.some((e) => e !== null) && !encoder.hasIdleWorker) break;
      const meta: FrameMeta = { ...job.meta, q: tier.quality(job.meta.q) };
      // A frame in GPU memory is encoded at its own size (nvJPEG does not scale it): the tier's quality only.
      if (tier.scale !== 1 && !job.gpu) meta.s = tier.scale;
      const encoded = await encoder.encode({ ...job, meta });
      this.parts.encodeMs.add(encoded.encodeMs);
      out[t] = encoded.data;
    }
    return out;
  }

  /** A frame encoded elsewhere (an edge relays its origin's): delivered if newer than the last one. */
  deliverEncoded(meta: FrameMeta, jpeg: Uint8Array): void {
    if (!this.isOpen || (this.latest && meta.seq <= this.latest.seq)) return;
    this.latest = { seq: meta.seq, jpeg, tiers: [jpeg] };
    this.wakeFrameWaiters();
    this.parts.deliver(this.latest, meta);
  }

  /** Delivers frame `seq` (null: its encode failed) once every frame before it was delivered or failed. */
  private deliverInOrder(seq: number, done: { meta: FrameMeta; tiers: (Uint8Array | null)[] } | null): void {
    if (!this.encoder || seq < this.nextToDeliver) return;
    this.finished.set(seq, done);
    while (this.finished.has(this.nextToDeliver)) {
      const next = this.finished.get(this.nextToDeliver)!;
      this.finished.delete(this.nextToDeliver++);
      if (!next) continue;
      this.latest = { seq: next.meta.seq, jpeg: next.tiers.find((e) => e !== null)!, tiers: next.tiers };
      this.wakeFrameWaiters();
      this.parts.deliver(this.latest, next.meta);
    }
  }

  private wakeFrameWaiters(): void {
    const waiters = [...this.frameWaiters];
    this.frameWaiters.clear();
    for (const wake of waiters) wake();
  }
}
