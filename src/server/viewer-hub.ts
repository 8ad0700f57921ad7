// The viewers of one stream: who is connected (oldest first), who may drive, and the fan-out of each
// encoded frame to every viewer that keeps up. A viewer that falls behind skips frames and gets the
// newest one as soon as it can take it; one stuck for the stall timeout is closed.
import type { Server } from "bun";
import type { Logger } from "../log.ts";
import type { Role, StreamConfig, ViewerMessage } from "../protocol/viewer-messages.ts";
import type { ControlPolicy } from "./options.ts";
import type { EncodedFrame } from "./pipeline.ts";
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
  /** Connected viewers, oldest first (the order "first" control follows). */
  private readonly viewers = new Set<Viewer>();
  private server: Server<ViewerData> | null = null;

  /** The pub/sub topic of this stream's frames. */
  private readonly topic: string;

  constructor(
    private readonly stream: string,
    private readonly control: ControlPolicy,
    private readonly counters: HubCounters,
    private readonly log: Logger,
  ) {
    this.topic = `frames:${stream}`;
  }

  get size(): number {
    return this.viewers.size;
  }

  /** Starts fan-out through this listener (its pub/sub carries the frames). */
  attach(server: Server<ViewerData>): void {
    this.server = server;
  }

  /** A new viewer: give it its role, and the newest frame at once (it may join during a still scene). */
  add(ws: Viewer, latest: EncodedFrame | null, hello: (role: Role) => ViewerMessage): void {
    this.viewers.add(ws);
    this.counters.viewersJoined++;
    ws.data.role = this.roleFor(ws);
    if (ws.data.v2) sendText(ws, hello(ws.data.role));
    this.markCaughtUp(ws, latest);
    this.log.info("viewer joined", { stream: this.stream, id: ws.data.id, viewers: this.viewers.size, role: ws.data.role });
  }

  /** A viewer left; with "first" control the next oldest may take over. */
  remove(ws: Viewer, config: () => StreamConfig): void {
    if (!this.viewers.delete(ws)) return;
    this.log.info("viewer left", { stream: this.stream, id: ws.data.id, viewers: this.viewers.size });
    if (this.control === "first" && ws.data.role === "control") this.updateRoles(config);
  }

  /** Sends each v2 viewer the stream's config with its role (the frame size changed). */
  sendConfig(config: StreamConfig): void {
    for (const ws of this.viewers) if (ws.data.v2) sendText(ws, { type: "config", ...config, role: ws.data.role });
  }

  /** One publish for every viewer that keeps up; the rest skip this frame. */
  publish(frame: EncodedFrame): void {
    const now = performance.now();
    let receivers = 0;
    for (const ws of this.viewers) {
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

  /** A viewer that was skipping frames gets the newest one as soon as it can take it. */
  catchUp(ws: Viewer, latest: EncodedFrame | null): void {
    if (ws.data.behindSince === null || !this.viewers.has(ws)) return;
    if (!isBehind(ws.data, ws.getBufferedAmount(), latest?.jpeg.byteLength ?? 0)) this.markCaughtUp(ws, latest);
  }

  /** Closes viewers that skipped frames for longer than `stallTimeoutMs`; the rest retry catching up. */
  closeStalled(now: number, stallTimeoutMs: number, latest: EncodedFrame | null): void {
    for (const ws of this.viewers) {
      const since = ws.data.behindSince;
      if (since === null) continue;
      if (now - since <= stallTimeoutMs) {
        this.catchUp(ws, latest);
        continue;
      }
      this.counters.viewersClosedTooSlow++;
      this.viewers.delete(ws);
      const seconds = Math.round((now - since) / 1000);
      this.log.warn("closing a viewer that stopped reading", { stream: this.stream, id: ws.data.id, seconds });
      ws.close(CLOSE_TOO_SLOW, "too slow: stopped reading frames");
      // Its buffer is full, so the close frame may never get through: then end it outright.
      setTimeout(() => ws.readyState !== WebSocket.CLOSED && ws.terminate(), TERMINATE_AFTER_MS);
    }
  }

  /** Sends a text message to every v2 viewer, built for each. */
  sendEach(message: (ws: Viewer) => ViewerMessage): void {
    for (const ws of this.viewers) if (ws.data.v2) sendText(ws, message(ws));
  }

  /** Closes every viewer and waits (up to `graceMs`) until they are gone, so they read `code`. */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    for (const ws of this.viewers) ws.close(code, reason);
    const end = performance.now() + graceMs;
    while (this.viewers.size > 0 && performance.now() < end) await Bun.sleep(10);
    this.viewers.clear();
    this.server = null;
  }

  private roleFor(ws: Viewer): Role {
    if (ws.data.viewOnly) return "view";
    if (this.control === "all") return "control";
    if (this.control === "none") return "view";
    return this.viewers.values().next().value === ws ? "control" : "view";
  }

  /** With "first" control, the oldest viewer still connected controls; tell those whose role changed. */
  private updateRoles(config: () => StreamConfig): void {
    for (const ws of this.viewers) {
      const role = this.roleFor(ws);
      if (role === ws.data.role) continue;
      ws.data.role = role;
      if (ws.data.v2) sendText(ws, { type: "config", ...config(), role });
    }
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

export function sendText(ws: Viewer, message: ViewerMessage): void {
  ws.sendText(JSON.stringify(message), false);
}
