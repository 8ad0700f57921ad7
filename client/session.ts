// What the page knows about its connection, its server and the stream, in one object: main.ts feeds
// it socket events and the clock; the status pill, the overlay and the toolbar read it.

import type { Role, StatsMessage } from "../src/protocol/viewer-messages.ts";

export type StreamState = "connecting" | "waiting" | "live" | "still" | "stalled" | "reconnecting" | "stopped";

/** Nothing at all (no frame, no text) for this long while live: the stream is stalled. */
export const STALL_MS = 3000;
/**
 * A v2 server sends nothing while the picture does not change, but keeps talking (stats each second,
 * pongs): no frame for this long (or three frame intervals, if longer) while it talks is a still picture.
 */
export const STILL_AFTER_MS = 1000;

/** Close codes that say nothing worth showing (normal, going away, none, dropped). */
const PLAIN_CLOSE_CODES = new Set([1000, 1001, 1005, 1006]);

export class Session {
  state: StreamState = "connecting";
  /** The server has shown it speaks the v2 protocol (a hello or frame metadata). */
  v2 = false;
  role: Role | undefined = undefined;
  /** The server's control policy (/api/config `control`): one viewer drives, every viewer, or nobody. */
  controlMode: "one" | "all" | "none" | undefined = undefined;
  /** The server's target frame rate. */
  targetFps: number | undefined = undefined;
  quality: number | undefined = undefined;
  /** The codec of the frames, as the hello says ("jpeg" before it, or from a v1 server). */
  codec: "jpeg" | "h264" = "jpeg";
  /** The server's latest per-viewer stats (v2), null until one arrives on this connection. */
  serverStats: StatsMessage | null = null;
  /** The page has shown a live stream at least once (a later close reads "reconnecting"). */
  everLive = false;
  stoppedByServer = false;
  /** Set when the server answers 401: the page was opened without the token it needs. */
  notAuthorised = false;
  /** A close worth naming ("closed: 4008 too slow"), else "". */
  closeInfo = "";
  /** performance.now() of the next connection attempt. */
  retryAt = 0;
  /** Last message of any kind. */
  lastHeardAt = 0;
  lastFrameAt = 0;
  framesThisConnection = 0;
  /** When the stream last became live after not being live or still (the pill quietens after a while). */
  liveSince = 0;
  /**
   * The frame source's error from the server's config ("waiting for the engine"), null while it works.
   * Only a config clears it: frames encoded before the source went can arrive after the config said so.
   */
  sourceError: string | null = null;

  get controlling(): boolean {
    return this.role === undefined || this.role === "control";
  }

  /** Live or still: a picture from a server that is there. */
  get showingStream(): boolean {
    return this.state === "live" || this.state === "still";
  }

  connecting(): void {
    if (this.state !== "stopped" && this.state !== "reconnecting") this.state = "connecting";
  }

  opened(now: number): void {
    this.lastHeardAt = now;
    this.framesThisConnection = 0;
    this.stoppedByServer = false;
    this.notAuthorised = false;
    this.closeInfo = "";
    this.v2 = false;
    this.serverStats = null;
    this.role = undefined;
    this.state = "waiting";
  }

  closed(code: number, reason: string, retryIn: number, now: number): void {
    this.serverStats = null;
    this.retryAt = now + retryIn;
    if (code === 1001) this.stoppedByServer = true;
    this.closeInfo = PLAIN_CLOSE_CODES.has(code) ? "" : `closed: ${code}${reason ? ` ${reason}` : ""}`;
    this.state = this.stoppedByServer ? "stopped" : this.everLive ? "reconnecting" : "connecting";
  }

  frameArrived(now: number): void {
    this.lastHeardAt = now;
    this.lastFrameAt = now;
    this.framesThisConnection++;
    this.setStreaming("live", now);
  }

  textArrived(now: number): void {
    this.lastHeardAt = now;
    // A server that skips unchanged frames is still there: a still picture is not a stall.
    if (this.state === "stalled") this.tick(now);
  }

  /** Stall and still detection, run on the clock. */
  tick(now: number): void {
    if (!this.showingStream && this.state !== "stalled") return;
    if (now - this.lastHeardAt > STALL_MS) this.state = "stalled";
    else if (this.v2 && now - this.lastFrameAt > this.stillAfterMs()) this.setStreaming("still", now);
    else this.setStreaming("live", now);
  }

  private stillAfterMs(): number {
    return Math.max(STILL_AFTER_MS, this.targetFps ? 3000 / this.targetFps : 0);
  }

  private setStreaming(next: "live" | "still", now: number): void {
    if (!this.showingStream) this.liveSince = now;
    this.everLive = true;
    this.state = next;
  }
}
