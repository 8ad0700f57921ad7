// The viewers of one stream: who is connected (oldest first), who may drive and who is here (presence),
// and the fan-out of each encoded frame to every viewer that keeps up. A viewer that falls behind skips
// frames and gets the newest one as soon as it can take it; one stuck for the stall timeout is closed. A
// viewer whose page is hidden is sent nothing until it is shown again.
import type { Server } from "bun";
import type { EncoderKind } from "../encode/backend.ts";
import type { Logger } from "../log.ts";
import { MAX_PASTE_BYTES } from "../protocol/input-schema.ts";
import type { Role, StreamConfig, ViewerMessage } from "../protocol/viewer-messages.ts";
import type { ControlCommand, SessionControl, ViewerKey } from "./control.ts";
import type { H264Fanout } from "./h264-fanout.ts";
import { deliveredFps, goodputBps, linkAcked, rttMs } from "./link.ts";
import type { EncodedFrame, EncodedH264Frame } from "./pipeline.ts";
import { PresencePacer } from "./presence-pacer.ts";
import { chooseTier, JPEG_TIERS, tierBytes } from "./tiers.ts";
import { behindReason, CLOSE_TOO_SLOW, noteSent, type Viewer, type ViewerData } from "./viewer.ts";

/** How long a viewer closed for being too slow gets to take its close frame before it is cut off. */
const TERMINATE_AFTER_MS = 2000;

export interface HubCounters {
  framesSkipped: number;
  framesPublished: number;
  bytesSent: number;
  viewersJoined: number;
  viewersClosedTooSlow: number;
}

export class ViewerHub {
  /** Connected viewers by their key in the session's control. */
  private readonly viewers = new Map<ViewerKey, Viewer>();
  private server: Server<ViewerData> | null = null;
  private readonly presence: PresencePacer;

  /** The pub/sub topic of this stream's frames (tier 0; tier N adds `:N`). */
  private readonly topic: string;
  /** The fan-out of H.264 frames to H.264 viewers, where the stream offers H.264. */
  h264: H264Fanout | null = null;
  /** Recent bytes per frame of each tier (null until encoded once). */
  private readonly tierSizes: (number | null)[] = JPEG_TIERS.map(() => null);

  constructor(
    private readonly stream: string,
    private readonly control: SessionControl,
    private readonly counters: HubCounters,
    private readonly log: Logger,
    config: () => StreamConfig,
  ) {
    this.topic = `frames:${stream}`;
    this.presence = new PresencePacer(() => this.sendPresence(), () => this.viewers.size);
    // The session's control may change roles at any time (another left, a grant, an origin decided).
    control.onChange((change) => {
      if (change.type === "role") {
        const ws = this.viewers.get(change.key);
        if (!ws || ws.data.role === change.role) return;
        ws.data.role = change.role;
        if (ws.data.v2 && !ws.data.hidden) sendText(ws, { type: "config", ...config(), role: change.role });
      } else if (change.type === "request") {
        const ws = this.viewers.get(change.to);
        if (ws?.data.v2 && !ws.data.hidden) sendText(ws, { type: "control", action: "request", from: change.from });
      } else if (change.type === "refused") {
        const ws = this.viewers.get(change.key);
        if (ws?.data.v2) sendText(ws, { type: "error", error: change.error });
      } else if (change.type === "presence") this.presence.changed();
    });
  }

  get size(): number {
    return this.viewers.size;
  }

  /** Viewers connected now that get frames in `codec`. */
  count(codec: EncoderKind): number {
    let n = 0;
    for (const ws of this.viewers.values()) if (ws.data.codec === codec) n++;
    return n;
  }

  /** Starts fan-out through this listener (its pub/sub carries the frames). */
  attach(server: Server<ViewerData>): void {
    this.server = server;
  }

  /** A new viewer: the session's control gives it its role; it gets the newest frame at once (it may join during a still scene). */
  add(ws: Viewer, latest: EncodedFrame | null, hello: (role: Role) => ViewerMessage): void {
    const key = viewerKey(ws);
    this.viewers.set(key, ws);
    this.counters.viewersJoined++;
    this.control.join(key, !ws.data.viewOnly);
    ws.data.role = this.control.roleOf(key);
    if (ws.data.v2) sendText(ws, hello(ws.data.role));
    if (ws.data.codec === "h264") this.h264!.add(ws);
    else this.markCaughtUp(ws, latest);
    this.log.info("viewer joined", { stream: this.stream, id: ws.data.id, viewers: this.viewers.size, role: ws.data.role });
  }

  /** A viewer left: the session's control may give its role to another. */
  remove(ws: Viewer): void {
    if (!this.forget(ws)) return;
    this.log.info("viewer left", { stream: this.stream, id: ws.data.id, viewers: this.viewers.size });
  }

  /** Sends each v2 viewer the stream's config with its role (the frame size changed). */
  sendConfig(config: StreamConfig): void {
    this.sendEach((ws) => ({ type: "config", ...config, role: ws.data.role }));
  }

  /** A viewer's request, release or grant; returns whether it was taken (a refusal is told to the viewer). */
  command(ws: Viewer, command: ControlCommand): boolean {
    const refused = this.control.command(viewerKey(ws), command);
    if (refused !== null && ws.data.v2) sendText(ws, { type: "error", error: refused });
    return refused === null;
  }

  /** Text the engine put on its clipboard goes to the viewers that control (a hidden one gets it when shown). */
  sendClipboard(text: string): void {
    if (typeof text !== "string" || text.length > MAX_PASTE_BYTES) {
      throw new RangeError(`clipboard text must be a string of at most ${MAX_PASTE_BYTES} characters`);
    }
    for (const ws of this.viewers.values()) {
      if (!ws.data.v2 || ws.data.role !== "control") continue;
      if (ws.data.hidden) ws.data.clipboard = text;
      else sendText(ws, { type: "clipboard", text });
    }
  }

  /**
   * A viewer's page was hidden (it is sent nothing, so it never stalls) or shown again: then it gets at
   * once what it missed, the config, presence and the newest frame.
   */
  setVisible(ws: Viewer, visible: boolean, latest: EncodedFrame | null, config: StreamConfig): void {
    if (this.viewers.get(viewerKey(ws)) !== ws || visible === !ws.data.hidden) return;
    ws.data.hidden = !visible;
    if (!visible) {
      ws.unsubscribe(ws.data.codec === "h264" ? this.h264!.topicOf(ws.data.subscribedTier) : this.topicOf(ws.data.subscribedTier));
      ws.data.behindSince = null;
      return;
    }
    // Frames sent before it was hidden were never painted, so never acknowledged.
    ws.data.unacked = [];
    ws.data.link.inFlight.clear();
    if (ws.data.v2) {
      sendText(ws, { type: "config", ...config, role: ws.data.role });
      const presence = this.control.presence(viewerKey(ws));
      if (presence) sendText(ws, presence);
      if (ws.data.clipboard !== null && ws.data.role === "control") sendText(ws, { type: "clipboard", text: ws.data.clipboard });
    }
    ws.data.clipboard = null;
    // H.264 starts again from an IDR, asked for at once.
    if (ws.data.codec === "h264") this.h264!.add(ws);
    else this.markCaughtUp(ws, latest);
  }

  /** The tiers viewers are subscribed to or want now: the pipeline encodes these. */
  tiersInUse(): Set<number> {
    const used = new Set<number>();
    for (const ws of this.viewers.values()) {
      if (ws.data.codec === "jpeg" && !ws.data.hidden) used.add(ws.data.subscribedTier).add(ws.data.tier.tier);
    }
    return used;
  }

  /** The H.264 tiers viewers use or want now. */
  h264TiersInUse(): Set<number> {
    return this.h264?.tiersInUse(this.ofCodec("h264")) ?? new Set();
  }

  /** One publish per tier for the viewers that keep up; the rest skip this frame (hidden pages are not sent it). */
  publish(frame: EncodedFrame): void {
    const now = performance.now();
    frame.tiers.forEach((jpeg, t) => {
      if (jpeg) this.tierSizes[t] = this.tierSizes[t] === null ? jpeg.byteLength : 0.8 * this.tierSizes[t]! + 0.2 * jpeg.byteLength;
    });
    const receivers = frame.tiers.map(() => 0);
    for (const ws of this.viewers.values()) {
      if (ws.data.codec !== "jpeg" || ws.data.hidden) continue;
      const d = ws.data;
      // A viewer moves to the tier it wants with the first frame that has it.
      if (d.tier.tier !== d.subscribedTier && frame.tiers[d.tier.tier]) this.resubscribe(ws, d.tier.tier);
      const jpeg = encodingFor(frame, d.subscribedTier);
      // Behind, or back in step with this frame (a first ack awaited too long: a v2 viewer need not ack).
      const behind = behindReason(d, ws.getBufferedAmount(), jpeg.byteLength, now);
      if (d.behindSince === null && behind !== null) this.markBehind(ws, now);
      else if (d.behindSince !== null && behind === null) this.resume(ws);
      if (d.behindSince !== null) {
        d.lastSkipAt = now;
        if (behind === "time") d.lastTimeSkipAt = now;
        d.framesSkipped++;
        this.counters.framesSkipped++;
      } else if (frame.tiers[d.subscribedTier]) {
        noteSent(d, frame.seq, jpeg.byteLength, now);
        receivers[d.subscribedTier]!++;
      } else {
        // Its tier was not encoded (a still frame is made at full quality only): sent to it alone.
        this.sendFrame(ws, frame, now);
      }
    }
    if (!this.server) return;
    receivers.forEach((n, t) => {
      if (n === 0) return;
      const jpeg = frame.tiers[t]!;
      this.server!.publish(this.topicOf(t), jpeg, false);
      this.counters.bytesSent += jpeg.byteLength * n;
    });
    if (receivers.some((n) => n > 0)) this.counters.framesPublished++;
  }

  /** A viewer acknowledged `seq`: its link is measured again and its tier chosen by it. */
  acked(ws: Viewer, seq: number, fps: number): void {
    const now = performance.now();
    const d = ws.data;
    linkAcked(d.link, seq, now);
    const reading = {
      now,
      goodputBps: goodputBps(d.link),
      rttMs: rttMs(d.link),
      queueMs: d.link.queueMs,
      msSinceSkip: now - d.lastSkipAt,
      msSinceTimeSkip: now - d.lastTimeSkipAt,
      deliveredFps: deliveredFps(d.link, now, d.tier.changedAt),
      tierBytes: d.codec === "h264" ? this.h264!.tierBytes() : tierBytes(this.tierSizes, JPEG_TIERS.map((t) => t.relativeSize)),
      fps,
      pinned: d.pinnedTier,
    };
    if (chooseTier(d.tier, reading)) {
      this.log.debug("viewer tier", { stream: this.stream, id: d.id, tier: JPEG_TIERS[d.tier.tier]!.name, reason: d.tier.reason });
    }
  }

  /** One H.264 frame of `tier` to the H.264 viewers that may have it. */
  publishH264(frame: EncodedH264Frame, tier: number): void {
    if (!this.server || !this.h264) return;
    this.h264.publish(frame, tier, this.ofCodec("h264"), this.server);
  }

  /** After an H.264 encode failed: every H.264 viewer waits for the next IDR. */
  resyncH264(): void {
    this.h264?.resync(this.ofCodec("h264"));
  }

  /** A viewer that was skipping frames gets the newest one as soon as it can take it. */
  catchUp(ws: Viewer, latest: EncodedFrame | null): void {
    if (ws.data.hidden || this.viewers.get(viewerKey(ws)) !== ws) return;
    if (ws.data.codec === "h264") return this.h264!.catchUp(ws);
    if (ws.data.behindSince === null) return;
    const bytes = latest ? encodingFor(latest, ws.data.tier.tier).byteLength : 0;
    if (behindReason(ws.data, ws.getBufferedAmount(), bytes, performance.now()) === null) this.markCaughtUp(ws, latest);
  }

  /** Closes viewers that skipped frames for longer than `stallTimeoutMs`; the rest retry catching up. */
  closeStalled(now: number, stallTimeoutMs: number, latest: EncodedFrame | null): void {
    for (const ws of this.viewers.values()) {
      const since = ws.data.behindSince;
      if (since === null || ws.data.hidden) continue;
      if (now - since <= stallTimeoutMs) {
        this.catchUp(ws, latest);
        continue;
      }
      this.counters.viewersClosedTooSlow++;
      this.forget(ws);
      const seconds = Math.round((now - since) / 1000);
      this.log.warn("closing a viewer that stopped reading", { stream: this.stream, id: ws.data.id, seconds });
      ws.close(CLOSE_TOO_SLOW, "too slow: stopped reading frames");
      // Its buffer is full, so the close frame may never get through: then end it outright.
      setTimeout(() => ws.readyState !== WebSocket.CLOSED && ws.terminate(), TERMINATE_AFTER_MS);
    }
  }

  /** Sends a text message to every v2 viewer whose page is not hidden, built for each. */
  sendEach(message: (ws: Viewer) => ViewerMessage): void {
    for (const ws of this.viewers.values()) if (ws.data.v2 && !ws.data.hidden) sendText(ws, message(ws));
  }

  /** Each viewer's presence (who is here, who drives), after a change. */
  private sendPresence(): void {
    for (const ws of this.viewers.values()) {
      if (!ws.data.v2 || ws.data.hidden) continue;
      const presence = this.control.presence(viewerKey(ws));
      if (presence) sendText(ws, presence);
    }
  }

  /** Closes every viewer and waits (up to `graceMs`) until they are gone, so they read `code`. */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    for (const ws of this.viewers.values()) ws.close(code, reason);
    const end = performance.now() + graceMs;
    while (this.viewers.size > 0 && performance.now() < end) await Bun.sleep(10);
    for (const ws of [...this.viewers.values()]) this.forget(ws);
    this.presence.close();
    this.server = null;
  }

  /** Viewers whose pages are shown that get frames in `codec`. */
  private *ofCodec(codec: EncoderKind): Generator<Viewer> {
    for (const ws of this.viewers.values()) if (ws.data.codec === codec && !ws.data.hidden) yield ws;
  }

  /** Drops a viewer (once) and tells the session's control it left. */
  private forget(ws: Viewer): boolean {
    const key = viewerKey(ws);
    if (this.viewers.get(key) !== ws) return false;
    this.viewers.delete(key);
    this.control.leave(key);
    return true;
  }

  private topicOf(tier: number): string {
    return tier === 0 ? this.topic : `${this.topic}:${tier}`;
  }

  private resubscribe(ws: Viewer, tier: number): void {
    if (ws.data.behindSince === null) ws.unsubscribe(this.topicOf(ws.data.subscribedTier));
    ws.data.subscribedTier = tier;
    if (ws.data.behindSince === null) ws.subscribe(this.topicOf(tier));
  }

  private sendFrame(ws: Viewer, frame: EncodedFrame, now: number): void {
    const jpeg = encodingFor(frame, ws.data.subscribedTier);
    ws.sendBinary(jpeg, false);
    noteSent(ws.data, frame.seq, jpeg.byteLength, now);
    this.counters.bytesSent += jpeg.byteLength;
  }

  private markBehind(ws: Viewer, now: number): void {
    ws.data.behindSince = now;
    ws.unsubscribe(this.topicOf(ws.data.subscribedTier));
  }

  /**
   * Back in step: the newest frame at once (in the tier it wants, where made), then each publish of its tier.
   * One that wants a smaller tier not made yet waits for the next frame rather than take one it was moved off.
   */
  private markCaughtUp(ws: Viewer, latest: EncodedFrame | null): void {
    const d = ws.data;
    if (latest?.tiers[d.tier.tier]) d.subscribedTier = d.tier.tier;
    const movedOff = d.tier.tier > d.subscribedTier && d.framesSent > 0;
    if (latest && !movedOff) this.sendFrame(ws, latest, performance.now());
    this.resume(ws);
  }

  /** Back in step from the next publish of its tier on. */
  private resume(ws: Viewer): void {
    ws.data.behindSince = null;
    ws.subscribe(this.topicOf(ws.data.subscribedTier));
  }
}

/** A frame's encoding for `tier`, else the nearest smaller one made, else the best one made. */
function encodingFor(frame: EncodedFrame, tier: number): Uint8Array {
  for (let t = tier; t < frame.tiers.length; t++) if (frame.tiers[t]) return frame.tiers[t]!;
  return frame.jpeg;
}

/** A local viewer's key in its session's control: its id on this listener. */
export function viewerKey(ws: Viewer): ViewerKey {
  return String(ws.data.id);
}

export function sendText(ws: Viewer, message: ViewerMessage): void {
  ws.sendText(JSON.stringify(message), false);
}
