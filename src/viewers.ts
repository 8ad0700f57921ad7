// Per-viewer flow control. Viewers that keep up are subscribed to the frames topic and get each
// frame from one `publish`. A viewer that falls behind (too many frames not acknowledged, or too
// many bytes still buffered in its socket) is unsubscribed: it skips frames, nothing queues for it,
// and once it catches up it gets the newest frame at once and is subscribed again.
import type { ServerWebSocket } from "bun";

export const FRAMES_TOPIC = "frames";
/** A viewer with more frames than this not yet acknowledged skips frames (v2 viewers that ack). */
export const MAX_UNACKED = 2;
/** A viewer whose socket holds more than this many frames' worth of bytes skips frames. */
export const MAX_BUFFERED_FRAMES = 2;
/** Close code for a viewer that stopped reading for too long (private-use range 4000-4999). */
export const CLOSE_TOO_SLOW = 4008;

export type Role = "control" | "view";

export interface ViewerData {
  id: number;
  /** Speaks the v2 protocol: gets hello/config/pong/stats/error text messages. */
  v2: boolean;
  role: Role;
  /** Came in with the view-only token: never controls, whatever the control policy. */
  viewOnly: boolean;
  /** Sequence numbers sent and not yet acknowledged, oldest first (v2 viewers that ack). */
  unacked: number[];
  /** Whether this viewer has ever acknowledged a frame: only then do acks pace it. */
  acks: boolean;
  /** When it started skipping frames (performance.now), or null while it keeps up. */
  behindSince: number | null;
  framesSent: number;
  framesSkipped: number;
  inputDenied: number;
  /** Token bucket of the rate limit: messages allowed now, refilled at `rate` per second. */
  bucket: number;
  bucketAt: number;
}

export type Viewer = ServerWebSocket<ViewerData>;

export function newViewerData(id: number, v2: boolean, viewOnly = false): ViewerData {
  return {
    id,
    v2,
    role: "view",
    viewOnly,
    unacked: [],
    acks: false,
    behindSince: null,
    framesSent: 0,
    framesSkipped: 0,
    inputDenied: 0,
    bucket: Number.POSITIVE_INFINITY,
    bucketAt: 0,
  };
}

/** Takes one message from the viewer's token bucket (`rate` per second, bursts up to `rate`). */
export function takeToken(data: ViewerData, rate: number): boolean {
  const now = performance.now();
  data.bucket = Math.min(rate, data.bucket + ((now - data.bucketAt) * rate) / 1000);
  data.bucketAt = now;
  if (data.bucket < 1) return false;
  data.bucket--;
  return true;
}

/** Whether the viewer cannot take another frame now, given the size of a typical frame. */
export function isBehind(ws: Viewer, frameBytes: number): boolean {
  if (ws.data.acks && ws.data.unacked.length > MAX_UNACKED) return true;
  return ws.getBufferedAmount() > MAX_BUFFERED_FRAMES * Math.max(frameBytes, 16 * 1024);
}

export function markBehind(ws: Viewer, now: number): void {
  if (ws.data.behindSince !== null) return;
  ws.data.behindSince = now;
  ws.unsubscribe(FRAMES_TOPIC);
}

/** Subscribes a viewer that caught up again; `newest`, when given, is sent to it at once. */
export function markCaughtUp(ws: Viewer, newest: { seq: number; jpeg: Uint8Array } | null): void {
  ws.data.behindSince = null;
  if (newest) sendFrame(ws, newest.seq, newest.jpeg);
  ws.subscribe(FRAMES_TOPIC);
}

export function sendFrame(ws: Viewer, seq: number, jpeg: Uint8Array): void {
  ws.sendBinary(jpeg, false);
  noteSent(ws, seq);
}

export function noteSent(ws: Viewer, seq: number): void {
  ws.data.framesSent++;
  if (ws.data.acks) ws.data.unacked.push(seq);
}

/** Records an ack; returns whether it acknowledged anything new. */
export function noteAck(ws: Viewer, seq: number): boolean {
  ws.data.acks = true;
  const before = ws.data.unacked.length;
  ws.data.unacked = ws.data.unacked.filter((s) => s > seq);
  return ws.data.unacked.length !== before;
}
