// The fan-out of a stream's H.264 frames: each frame goes to every H.264 viewer the skipping rule
// (h264-skip.ts) lets have it. Viewers that get every frame are subscribed to the stream's H.264 topic
// and get it from one publish; the others get what they may have one by one. A joiner, and a viewer
// that lost its place, waits for an IDR, which it asks for once it could take one.
import type { Server } from "bun";
import type { EncodedH264Frame } from "./pipeline.ts";
import { type Backlog, budgetFor, decide, idrWaitAfter, readyForIdr } from "./h264-skip.ts";
import { noteSent, type Viewer, type ViewerData } from "./viewer.ts";

export interface H264FanoutCounters {
  framesSkipped: number;
  bytesSent: number;
}

export class H264Fanout {
  constructor(
    readonly topic: string,
    private readonly counters: H264FanoutCounters,
    /** Size of the stream's last IDR, and how to ask for the next one. */
    private readonly idr: { readonly lastIdrBytes: number; requestIdr(): void },
  ) {}

  /** A new H.264 viewer: gated until an IDR. */
  add(ws: Viewer): void {
    ws.data.h264!.gated = true;
    ws.data.behindSince = performance.now();
    this.catchUp(ws);
  }

  /** Decides the frame for each viewer, then sends it: one publish for the subscribed, one send for each other. */
  publish(frame: EncodedH264Frame, viewers: Iterable<Viewer>, server: Server<ViewerData>): void {
    const budget = budgetFor(this.idr.lastIdrBytes);
    const now = performance.now();
    const direct: Viewer[] = [];
    let subscribed = 0;
    for (const ws of viewers) {
      const state = ws.data.h264!;
      const decision = decide(state.gated, frame, backlogOf(ws, now), budget);
      if (decision !== "send") {
        if (decision === "lose-sync") {
          state.gated = true;
          state.idrWaitMs = idrWaitAfter(state.idrWaitMs, now - state.syncedAt);
          state.lostAt = now;
        }
        if (ws.isSubscribed(this.topic)) ws.unsubscribe(this.topic);
        ws.data.behindSince ??= now;
        ws.data.framesSkipped++;
        this.counters.framesSkipped++;
        continue;
      }
      if (frame.idr) state.syncedAt = now;
      state.gated = false;
      ws.data.behindSince = null;
      noteSent(ws.data, frame.seq, frame.data.byteLength, now);
      if (ws.data.hasAcked) state.sent.set(frame.seq, { bytes: frame.data.byteLength, at: now });
      if (ws.isSubscribed(this.topic)) subscribed++;
      else direct.push(ws);
    }
    if (subscribed) server.publish(this.topic, frame.data, false);
    for (const ws of direct) {
      ws.sendBinary(frame.data, false);
      ws.subscribe(this.topic); // the next frames come from the publish, until it falls behind again
    }
    this.counters.bytesSent += frame.data.byteLength * (subscribed + direct.length);
  }

  /** Something drained (an ack, the socket; or a second passed): a gated viewer that could take an IDR asks for one. */
  catchUp(ws: Viewer): void {
    const state = ws.data.h264!;
    const now = performance.now();
    prune(ws.data);
    if (!state.gated || now - state.lostAt < state.idrWaitMs) return;
    if (readyForIdr(backlogOf(ws, now), budgetFor(this.idr.lastIdrBytes))) this.idr.requestIdr();
  }

  /** Every viewer loses its place (an encode failed): all wait for the next IDR. */
  resync(viewers: Iterable<Viewer>): void {
    for (const ws of viewers) {
      ws.data.h264!.gated = true;
      if (ws.isSubscribed(this.topic)) ws.unsubscribe(this.topic);
      ws.data.behindSince ??= performance.now();
      this.catchUp(ws);
    }
  }
}

/** What a viewer has not taken: bytes unacknowledged or in its socket's buffer; the oldest unacknowledged frame's age. */
function backlogOf(ws: Viewer, now: number): Backlog {
  const buffered = ws.getBufferedAmount();
  const data = ws.data;
  if (!data.hasAcked) return { bytes: buffered, ageMs: 0 };
  let unacked = 0;
  let oldest = now;
  for (const seq of data.unacked) {
    const sent = data.h264!.sent.get(seq);
    if (!sent) continue;
    unacked += sent.bytes;
    oldest = Math.min(oldest, sent.at);
  }
  return { bytes: Math.max(buffered, unacked), ageMs: now - oldest };
}

/** Forgets the sizes of acknowledged frames. */
function prune(data: ViewerData): void {
  const oldest = data.unacked[0] ?? Infinity;
  for (const seq of data.h264!.sent.keys()) {
    if (seq >= oldest) break;
    data.h264!.sent.delete(seq);
  }
}
