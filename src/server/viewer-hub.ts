// The viewers of one stream: who is connected (oldest first), who may drive, and the fan-out of each
// encoded frame to every viewer that keeps up. A viewer that falls behind skips frames and gets the
// newest one as soon as it can take it; one stuck for the stall timeout is closed.
import type { Server } from "bun";
import type { EncoderKind } from "../encode/backend.ts";
import type { Logger } from "../log.ts";
import type { Role, StreamConfig, ViewerMessage } from "../protocol/viewer-messages.ts";
import type { SessionControl, ViewerKey } from "./control.ts";
import type { H264Fanout } from "./h264-fanout.ts";
import type { EncodedFrame, EncodedH264Frame } from "./pipeline.ts";
import { CLOSE_TOO_SLOW, isBehind, noteSent, type Viewer, type ViewerData } from "./viewer.ts";

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

  /** The pub/sub topic of this stream's frames. */
  private readonly topic: string;
  /** The fan-out of H.264 frames to H.264 viewers, where the stream offers H.264. */
  h264: H264Fanout | null = null;

  constructor(
    private readonly stream: string,
    private readonly control: SessionControl,
    private readonly counters: HubCounters,
    private readonly log: Logger,
    config: () => StreamConfig,
  ) {
    this.topic = `frames:${stream}`;
    // The session's control may hand a role to one of our viewers at any time (another left, an origin decided).
    control.onChange((key, role) => {
      const ws = this.viewers.get(key);
      if (!ws || ws.data.role === role) return;
      ws.data.role = role;
      if (ws.data.v2) sendText(ws, { type: "config", ...config(), role });
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
    for (const ws of this.viewers.values()) if (ws.data.v2) sendText(ws, { type: "config", ...config, role: ws.data.role });
  }

  /** One publish for every viewer that keeps up; the rest skip this frame. */
  publish(frame: EncodedFrame): void {
    const now = performance.now();
    let receivers = 0;
    for (const ws of this.viewers.values()) {
      if (ws.data.codec !== "jpeg") continue;
      if (ws.data.behindSince === null && isBehind(ws.data, ws.getBufferedAmount(), frame.jpeg.byteLength)) this.markBehind(ws, now);
      if (ws.data.behindSince !== null) {
        ws.data.framesSkipped++;
        this.counters.framesSkipped++;
      } else {
        noteSent(ws.data, frame.seq);
        receivers++;
      }
    }
    if (receivers === 0 || !this.server) return;
    this.server.publish(this.topic, frame.jpeg, false);
    this.counters.framesPublished++;
    this.counters.bytesSent += frame.jpeg.byteLength * receivers;
  }

  /** One H.264 frame to the H.264 viewers that may have it. */
  publishH264(frame: EncodedH264Frame): void {
    if (!this.server || !this.h264) return;
    this.h264.publish(frame, this.ofCodec("h264"), this.server);
  }

  /** After an H.264 encode failed: every H.264 viewer waits for the next IDR. */
  resyncH264(): void {
    this.h264?.resync(this.ofCodec("h264"));
  }

  /** A viewer that was skipping frames gets the newest one as soon as it can take it. */
  catchUp(ws: Viewer, latest: EncodedFrame | null): void {
    if (this.viewers.get(viewerKey(ws)) !== ws) return;
    if (ws.data.codec === "h264") return this.h264!.catchUp(ws);
    if (ws.data.behindSince === null) return;
    if (!isBehind(ws.data, ws.getBufferedAmount(), latest?.jpeg.byteLength ?? 0)) this.markCaughtUp(ws, latest);
  }

  /** Closes viewers that skipped frames for longer than `stallTimeoutMs`; the rest retry catching up. */
  closeStalled(now: number, stallTimeoutMs: number, latest: EncodedFrame | null): void {
    for (const ws of this.viewers.values()) {
      const since = ws.data.behindSince;
      if (since === null) continue;
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

  /** Sends a text message to every v2 viewer, built for each. */
  sendEach(message: (ws: Viewer) => ViewerMessage): void {
    for (const ws of this.viewers.values()) if (ws.data.v2) sendText(ws, message(ws));
  }

  /** Closes every viewer and waits (up to `graceMs`) until they are gone, so they read `code`. */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    for (const ws of this.viewers.values()) ws.close(code, reason);
    const end = performance.now() + graceMs;
    while (this.viewers.size > 0 && performance.now() < end) await Bun.sleep(10);
    for (const ws of [...this.viewers.values()]) this.forget(ws);
    this.server = null;
  }

  private *ofCodec(codec: EncoderKind): Generator<Viewer> {
    for (const ws of this.viewers.values()) if (ws.data.codec === codec) yield ws;
  }

  /** Drops a viewer (once) and tells the session's control it left. */
  private forget(ws: Viewer): boolean {
    const key = viewerKey(ws);
    if (this.viewers.get(key) !== ws) return false;
    this.viewers.delete(key);
    this.control.leave(key);
    return true;
  }

  private markBehind(ws: Viewer, now: number): void {
    ws.data.behindSince = now;
    ws.unsubscribe(this.topic);
  }

  private markCaughtUp(ws: Viewer, latest: EncodedFrame | null): void {
    ws.data.behindSince = null;
    if (latest) {
      ws.sendBinary(latest.jpeg, false);
      noteSent(ws.data, latest.seq);
    }
    ws.subscribe(this.topic);
  }
}

/** A local viewer's key in its session's control: its id on this listener. */
export function viewerKey(ws: Viewer): ViewerKey {
  return String(ws.data.id);
}

export function sendText(ws: Viewer, message: ViewerMessage): void {
  ws.sendText(JSON.stringify(message), false);
}
