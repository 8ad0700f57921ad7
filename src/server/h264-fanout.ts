// The fan-out of a stream's H.264 frames: each frame goes to every H.264 viewer the skipping rule
// (h264-skip.ts) lets have it. Viewers that get every frame are subscribed to the stream's H.264 topic
// and get it from one publish; the others get what they may have one by one. A joiner, and a viewer
// that lost its place, waits for an IDR, which it asks for once it could take one.
// With tiers (h264-tiers.ts), each tier's frames go to the viewers of that tier, on a topic of its own. A
// viewer whose link calls for another tier keeps its tier until the other tier's next IDR it can take,
// which it asks for (its tier's IDRs cost the viewers of that tier alone), and is moved with that IDR.
import type { Server } from "bun";
import type { EncodedH264Frame } from "./pipeline.ts";
import { type Backlog, budgetFor, decide, idrWaitAfter, readyForIdr } from "./h264-skip.ts";
import { H264_TIERS } from "./h264-tiers.ts";
import { tierBytes, UP_HOLD_MS } from "./tiers.ts";
import { noteSent, type Viewer, type ViewerData } from "./viewer.ts";

/** A tier's IDRs: the size of its last one, and how to ask for the next; and its recent P frame size where known. */
export interface IdrSource {
  readonly lastIdrBytes: number;
  requestIdr(): void;
  readonly pFrameBytes?: number | null;
}

export interface H264FanoutCounters {
  framesSkipped: number;
  bytesSent: number;
}

export class H264Fanout {
  constructor(
    private readonly topic: string,
    private readonly counters: H264FanoutCounters,
    /** Each tier's IDRs, best tier first (a relay has tier 0 only). */
    private readonly tiers: readonly IdrSource[],
  ) {}

  /** The pub/sub topic of a tier's frames. */
  topicOf(tier: number): string {
    return tier === 0 ? this.topic : `${this.topic}:${tier}`;
  }

  /**
   * The tier a viewer's link calls for, among those this stream makes. A move up waits until it skipped no
   * frame for UP_HOLD_MS: the acks of a viewer that just took an IDR after losing its place look calm, but
   * the better tier's IDR (several times the size) would lose it its place again.
   */
  private wanted(data: ViewerData): number {
    const tier = Math.min(data.tier.tier, this.tiers.length - 1);
    return tier < data.subscribedTier && performance.now() - data.lastSkipAt < UP_HOLD_MS ? data.subscribedTier : tier;
  }

  /** Bytes per frame of each tier (tiers.ts's choice): recent P frames where measured, else estimated from another tier. */
  tierBytes(): number[] {
    const relative = H264_TIERS.slice(0, this.tiers.length).map((t) => t.relativeSize);
    return tierBytes(
      this.tiers.map((t) => t.pFrameBytes ?? null),
      relative,
    );
  }

  /** The H.264 tiers viewers use or want now: these are encoded. */
  tiersInUse(viewers: Iterable<Viewer>): Set<number> {
    const used = new Set<number>();
    for (const ws of viewers) used.add(ws.data.subscribedTier).add(this.wanted(ws.data));
    return used;
  }

  /** A new H.264 viewer: gated until an IDR. */
  add(ws: Viewer): void {
    ws.data.h264!.gated = true;
    ws.data.behindSince = performance.now();
    this.catchUp(ws);
  }

  /** Decides a frame of `tier` for each viewer, then sends it: one publish for the subscribed, one send for each other. */
  publish(frame: EncodedH264Frame, tier: number, viewers: Iterable<Viewer>, server: Server<ViewerData>): void {
    const budget = budgetFor(this.tiers[tier]!.lastIdrBytes);
    const topic = this.topicOf(tier);
    const now = performance.now();
    const direct: Viewer[] = [];
    let subscribed = 0;
    for (const ws of viewers) {
      const state = ws.data.h264!;
      // A viewer waiting for an IDR waits for one of the tier it wants.
      if (state.gated) ws.data.subscribedTier = this.wanted(ws.data);
      if (ws.data.subscribedTier !== tier) {
        if (!this.movesWith(ws, frame, tier, now)) continue;
      } else if (!this.sends(ws, frame, budget, now)) continue;
      if (frame.idr) state.syncedAt = now;
      state.gated = false;
      ws.data.behindSince = null;
      noteSent(ws.data, frame.seq, frame.data.byteLength, now);
      if (ws.data.hasAcked) state.sent.set(frame.seq, { bytes: frame.data.byteLength, at: now });
      if (ws.isSubscribed(topic)) subscribed++;
      else direct.push(ws);
    }
    if (subscribed) server.publish(topic, frame.data, false);
    for (const ws of direct) {
      ws.sendBinary(frame.data, false);
      ws.subscribe(topic); // the next frames come from the publish, until it falls behind again
    }
    this.counters.bytesSent += frame.data.byteLength * (subscribed + direct.length);
  }

  /**
   * A frame of another tier than the viewer's: an IDR of the tier it wants moves it, when it could take a
   * droppable frame of its tier or that IDR now. (The other tier's Worker may be a frame behind: the IDR
   * may be a frame older than the last one it got, which a decoder takes as any IDR.)
   */
  private movesWith(ws: Viewer, frame: EncodedH264Frame, tier: number, now: number): boolean {
    const d = ws.data;
    if (tier !== this.wanted(d) || !frame.idr || !readyForIdr(backlogOf(ws, now), this.moveBudget(d, tier))) return false;
    const old = this.topicOf(d.subscribedTier);
    if (ws.isSubscribed(old)) ws.unsubscribe(old);
    d.subscribedTier = tier;
    return true;
  }

  /** The skipping rule for a frame of the viewer's tier: whether it is sent (else it is skipped, or the viewer loses its place). */
  private sends(ws: Viewer, frame: EncodedH264Frame, budget: number, now: number): boolean {
    const state = ws.data.h264!;
    const decision = decide(state.gated, frame, backlogOf(ws, now), budget);
    if (decision === "send") return true;
    if (decision === "lose-sync") {
      state.gated = true;
      state.idrWaitMs = idrWaitAfter(state.idrWaitMs, now - state.syncedAt);
      state.lostAt = now;
    }
    const topic = this.topicOf(ws.data.subscribedTier);
    if (ws.isSubscribed(topic)) ws.unsubscribe(topic);
    ws.data.behindSince ??= now;
    ws.data.lastSkipAt = now; // tiers.ts: a recent skip with some queue moves it down
    ws.data.framesSkipped++;
    this.counters.framesSkipped++;
    return false;
  }

  /**
   * Something drained (an ack, the socket; or a second passed): a gated viewer that could take an IDR asks
   * for one, and so does one whose link calls for another tier, of that tier.
   */
  catchUp(ws: Viewer): void {
    const d = ws.data;
    const state = d.h264!;
    const now = performance.now();
    prune(d);
    const wanted = this.wanted(d);
    if (state.gated) {
      d.subscribedTier = wanted;
      if (now - state.lostAt < state.idrWaitMs) return;
      if (readyForIdr(backlogOf(ws, now), budgetFor(this.tiers[wanted]!.lastIdrBytes))) this.tiers[wanted]!.requestIdr();
    } else if (wanted !== d.subscribedTier && readyForIdr(backlogOf(ws, now), this.moveBudget(d, wanted))) {
      this.tiers[wanted]!.requestIdr();
    }
  }

  /** The budget a move to `tier` is judged by: the larger of its tier's and the new tier's. */
  private moveBudget(d: ViewerData, tier: number): number {
    return budgetFor(Math.max(this.tiers[d.subscribedTier]!.lastIdrBytes, this.tiers[tier]!.lastIdrBytes));
  }

  /** Every viewer loses its place (an encode failed): all wait for the next IDR. */
  resync(viewers: Iterable<Viewer>): void {
    for (const ws of viewers) {
      ws.data.h264!.gated = true;
      const topic = this.topicOf(ws.data.subscribedTier);
      if (ws.isSubscribed(topic)) ws.unsubscribe(topic);
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
