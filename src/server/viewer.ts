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
/**
 * A v2 JPEG viewer's link is unknown until its first ack: it gets one frame, then waits for that frame's ack
 * (at most this long: a v2 viewer need not ack), so a slow link starts with one frame queued, not seconds.
 */
export const FIRST_ACK_WAIT_MS = 600;
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
  /** When it last skipped a frame, one of them for time in flight, and when it was last sent one (performance.now). */
  lastSkipAt: number;
  lastTimeSkipAt: number;
  lastSentAt: number;
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
    lastTimeSkipAt: -Infinity,
    lastSentAt: -Infinity,
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

/** Why a viewer cannot take another frame: frames not acknowledged, time in flight (or a first ack awaited), its socket's buffer. */
export type BehindReason = "acks" | "time" | "first-ack" | "buffer";

/**
 * Why a viewer cannot take another frame now, or null: too many unacked frames, frames in flight that would
 * stand for more than MAX_IN_FLIGHT_MS of its link (or a first frame not yet acknowledged), or too many bytes buffered.
 */
export function behindReason(data: ViewerData, bufferedBytes: number, frameBytes: number, now: number): BehindReason | null {
  if (data.hasAcked && data.unacked.length > MAX_UNACKED) return "acks";
  const link = data.link;
  if (awaitingFirstAck(data, now) && link.inFlight.size > 0) {
    // Held back longer than the bound: the link is slow, as much as a frame skipped for time in flight says.
    return now - link.firstSentAt! > MAX_IN_FLIGHT_MS ? "time" : "first-ack";
  }
  const goodput = goodputBps(link);
  if (goodput !== null && link.inFlight.size > 0) {
    if (((bytesInFlight(link) + frameBytes) * 8 * 1000) / goodput > MAX_IN_FLIGHT_MS) return "time";
  }
  return bufferedBytes > MAX_BUFFERED_FRAMES * Math.max(frameBytes, MIN_FRAME_BYTES) ? "buffer" : null;
}

/** A v2 JPEG viewer that has not acked yet, within FIRST_ACK_WAIT_MS of its first frame. */
function awaitingFirstAck(data: ViewerData, now: number): boolean {
  if (!data.v2 || data.hasAcked || data.codec !== "jpeg") return false;
  return data.link.firstSentAt === null || now - data.link.firstSentAt < FIRST_ACK_WAIT_MS;
}

/** A frame went to the viewer: tracked for acks once it acked (or while its first ack is awaited). */
export function noteSent(data: ViewerData, seq: number, bytes: number, now: number): void {
  data.framesSent++;
  // It took every frame offered since the last one: the stream, not the link, set the pace.
  const appLimited = data.lastSkipAt <= data.lastSentAt;
  data.lastSentAt = now;
  if (!data.hasAcked && !awaitingFirstAck(data, now)) return;
  data.unacked.push(seq);
  linkSent(data.link, seq, bytes, now, appLimited);
}

/** Records an ack; returns whether it acknowledged anything new. */
export function noteAck(data: ViewerData, seq: number): boolean {
  data.hasAcked = true;
  const before = data.unacked.length;
  data.unacked = data.unacked.filter((s) => s > seq);
  return data.unacked.length !== before;
}
