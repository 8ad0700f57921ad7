// One WebSocket viewer: what the server keeps about it, its input rate limit, and its flow control.
// A viewer that keeps up is subscribed to its stream's frames topic and gets each frame from one
// `publish`. One that falls behind (too many frames not acknowledged, or too many bytes still buffered
// in its socket) is unsubscribed and skips frames until it catches up (see viewer-hub.ts).
import type { ServerWebSocket } from "bun";
import type { EncoderKind } from "../encode/backend.ts";
import type { Role } from "../protocol/viewer-messages.ts";
import { bytesInFlight, goodputBps, type LinkState, linkSent, newLinkState } from "./link.ts";
import { newTierState, type TierState } from "./tiers.ts";

/** A viewer with more frames than this not yet acknowledged skips frames (v2 viewers that ack). */
export const MAX_UNACKED = 2;
/** A viewer whose socket holds more than this many frames' worth of bytes skips frames. */
export const MAX_BUFFERED_FRAMES = 2;
/** A viewer's frames in flight may stand for at most this much of its link's time (beyond, it skips to the newest). */
export const MAX_IN_FLIGHT_MS = 100;
/** Frames smaller than this count as this big when judging the socket's buffer (tiny frames, bursts). */
const MIN_FRAME_BYTES = 16 * 1024;
/** Close code for a viewer that stopped reading for too long (private-use range 4000-4999). */
export const CLOSE_TOO_SLOW = 4008;

/** What the listener calls for a viewer's socket events: the stream the viewer watches. */
export interface ViewerEvents {
  onViewerOpen(ws: Viewer): void;
  onViewerMessage(ws: Viewer, message: string | Buffer): void;
  /** The socket's send buffer emptied: a viewer that was skipping frames may catch up. */
  onViewerDrain(ws: Viewer): void;
  onViewerClose(ws: Viewer): void;
}

export interface ViewerData {
  id: number;
  /** The stream this viewer watches. */
  events: ViewerEvents;
  /** Speaks the v2 protocol: gets hello/config/pong/stats/error text messages. */
  v2: boolean;
  role: Role;
  /** Came in with the view-only token: never controls, whatever the control policy. */
  viewOnly: boolean;
  /** Sequence numbers sent and not yet acknowledged, oldest first (v2 viewers that ack). */
  unacked: number[];
  /** Whether this viewer has ever acknowledged a frame: only then do acks pace it. */
  hasAcked: boolean;
  /** When it started skipping frames (performance.now), or null while it keeps up. */
  behindSince: number | null;
  framesSent: number;
  framesSkipped: number;
  rate: RateAllowance;
  /** The codec of the frames it gets (h264: v2 viewers that asked for it, where offered). */
  codec: EncoderKind;
  /** H.264 viewers: waiting for an IDR (since when, and how long it waits before it asks), and the frames sent not yet acknowledged. */
  h264: H264ViewerState | null;
  /** What its link delivers (from its acks), the tier it wants, the tier it is subscribed to, and a pinned tier. */
  link: LinkState;
  tier: TierState;
  subscribedTier: number;
  pinnedTier: number | null;
  /** When it last skipped a frame (performance.now). */
  lastSkipAt: number;
  /** Gamepad events have a rate limit of their own (GAMEPAD_RATE), as messages longer than an event's (a paste). */
  gamepadRate: RateAllowance;
  largeRate: RateAllowance;
  /** Its page is hidden: it is sent nothing (and so never stalls) until it is shown again. */
  hidden: boolean;
  /** Clipboard text from the engine that arrived while its page was hidden, sent when it is shown. */
  clipboard: string | null;
}

export type Viewer = ServerWebSocket<ViewerData>;

export interface H264ViewerState {
  /** It waits for an IDR (a joiner, or it lost its place). */
  gated: boolean;
  /** When it last got an IDR, and when it last lost its place (performance.now). */
  syncedAt: number;
  lostAt: number;
  /** How long after losing its place it waits before it asks for an IDR. */
  idrWaitMs: number;
  /** Frames sent and not yet acknowledged: bytes, and when sent. */
  sent: Map<number, { bytes: number; at: number }>;
}

export function newViewerData(
  id: number,
  events: ViewerEvents,
  v2: boolean,
  viewOnly: boolean,
  codec: EncoderKind = "jpeg",
  pinnedTier: number | null = null,
): ViewerData {
  return {
    id,
    events,
    v2,
    role: "view",
    viewOnly,
    unacked: [],
    hasAcked: false,
    behindSince: null,
    framesSent: 0,
    framesSkipped: 0,
    rate: { messages: Number.POSITIVE_INFINITY, at: 0 },
    codec,
    h264: codec === "h264" ? { gated: true, syncedAt: 0, lostAt: -Infinity, idrWaitMs: 0, sent: new Map() } : null,
    link: newLinkState(),
    tier: newTierState(pinnedTier),
    subscribedTier: pinnedTier ?? 0,
    pinnedTier,
    lastSkipAt: -Infinity,
    gamepadRate: { messages: Number.POSITIVE_INFINITY, at: 0 },
    largeRate: { messages: Number.POSITIVE_INFINITY, at: 0 },
    hidden: false,
    clipboard: null,
  };
}

/** Gamepad events a viewer may send per second (the client polls its gamepads at most this often). */
export const GAMEPAD_RATE = 60;
/** Messages longer than an input event's limit (pastes) a viewer may send per second. */
export const LARGE_MESSAGE_RATE = 4;

/** The rate limit of one viewer: messages it may send now, refilled at `rate` per second up to `rate`. */
export interface RateAllowance {
  messages: number;
  /** When it was last refilled (performance.now). */
  at: number;
}

/** Spends one message of the allowance; returns false (and spends nothing) when none is left. */
export function withinRateLimit(allowance: RateAllowance, rate: number, now: number): boolean {
  allowance.messages = Math.min(rate, allowance.messages + ((now - allowance.at) * rate) / 1000);
  allowance.at = now;
  if (allowance.messages < 1) return false;
  allowance.messages--;
  return true;
}

/**
 * Whether a viewer cannot take another frame now: too many unacked frames, frames in flight that would
 * stand for more than MAX_IN_FLIGHT_MS of its link, or too many bytes buffered.
 */
export function isBehind(data: ViewerData, bufferedBytes: number, frameBytes: number): boolean {
  if (data.hasAcked && data.unacked.length > MAX_UNACKED) return true;
  const goodput = goodputBps(data.link);
  if (goodput !== null && data.link.inFlight.size > 0) {
    if (((bytesInFlight(data.link) + frameBytes) * 8 * 1000) / goodput > MAX_IN_FLIGHT_MS) return true;
  }
  return bufferedBytes > MAX_BUFFERED_FRAMES * Math.max(frameBytes, MIN_FRAME_BYTES);
}

export function noteSent(data: ViewerData, seq: number, bytes: number, now: number): void {
  data.framesSent++;
  if (!data.hasAcked) return;
  data.unacked.push(seq);
  linkSent(data.link, seq, bytes, now);
}

/** Records an ack; returns whether it acknowledged anything new. */
export function noteAck(data: ViewerData, seq: number): boolean {
  data.hasAcked = true;
  const before = data.unacked.length;
  data.unacked = data.unacked.filter((s) => s > seq);
  return data.unacked.length !== before;
}
