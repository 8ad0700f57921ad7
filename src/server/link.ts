// What a viewer's link delivers, measured from its acks (pure, times given): goodput, base RTT, the
// queueing delay of recent frames and the frames it delivers per second. A frame's ack comes back once it
// is painted, so the time from its send to its ack is the link's round trip plus its transmit time (plus
// the viewer's paint).
//
// Goodput as BBR measures delivery rate: when a frame is acked, the bytes acked since the ack that was the
// newest when it was sent, over the time since that ack. Each sample is at most what the link carries
// (less while the stream sends less than the link could), so the goodput is the largest recent sample.
// A sample of a frame sent while the viewer took every frame (app-limited: the stream, not the link, set
// the pace) only counts where it is larger: it says what was sent, not what the link carries.
// A frame sent alone into an idle link measures its bytes over the round trip plus its transmit time, far
// below the link's rate where the round trip is long; frames alone of two sizes (two tiers) give the rate
// without the round trip: the difference of their bytes over the difference of their delays.

/** Goodput samples kept (about two seconds of frames), and delays kept for the base RTT (a few seconds). */
const SAMPLE_WINDOW = 60;
const DELAY_WINDOW = 120;
/** Frames sent alone kept for the rate between two sizes; sizes count as two when one is at most this share of the other. */
const LONE_WINDOW = 120;
const LONE_SIZE_RATIO = 0.5;
/** Frames delivered per second are counted over this much of the recent past, and not over less than the minimum. */
const FPS_WINDOW_MS = 1000;
const MIN_FPS_WINDOW_MS = 300;

interface SentFrame {
  sentAt: number;
  bytes: number;
  /** Bytes acked, and when the newest ack came (or when it was sent into an idle link), at its send. */
  delivered: number;
  deliveredAt: number;
  appLimited: boolean;
  /** Sent into an idle link (nothing else in flight). */
  alone: boolean;
}

export interface LinkState {
  /** Frames sent and not yet acknowledged, by seq. */
  inFlight: Map<number, SentFrame>;
  /** Bytes acknowledged so far, and when the newest ack came (or the link went busy after idling). */
  delivered: number;
  deliveredAt: number;
  /** Recent (ack - send) delays, for the base RTT. */
  delays: number[];
  /** Recent goodput samples (bits/s). */
  samples: number[];
  /** Queueing delay of recent frames above the base, smoothed (a single late ack is a hiccup, not a queue) (ms). */
  queueMs: number;
  /** When the first frame was sent, and when each recently acknowledged frame was. */
  firstSentAt: number | null;
  ackTimes: number[];
  /** Recent frames sent alone: bytes and (ack - send) delay (ms). */
  alone: { bytes: number; delayMs: number }[];
}

export function newLinkState(): LinkState {
  return {
    inFlight: new Map(),
    delivered: 0,
    deliveredAt: -Infinity,
    delays: [],
    samples: [],
    queueMs: 0,
    firstSentAt: null,
    ackTimes: [],
    alone: [],
  };
}

/** A frame sent; `appLimited`: the viewer took every frame the stream offered since its last one. */
export function linkSent(link: LinkState, seq: number, bytes: number, now: number, appLimited: boolean): void {
  const alone = link.inFlight.size === 0;
  if (alone) link.deliveredAt = now;
  link.firstSentAt ??= now;
  link.inFlight.set(seq, { sentAt: now, bytes, delivered: link.delivered, deliveredAt: link.deliveredAt, appLimited, alone });
}

/** Bytes sent and not yet acknowledged. */
export function bytesInFlight(link: LinkState): number {
  let sum = 0;
  for (const f of link.inFlight.values()) sum += f.bytes;
  return sum;
}

/** An ack of `seq`: it acknowledges every frame up to it. */
export function linkAcked(link: LinkState, seq: number, now: number): void {
  const frame = link.inFlight.get(seq);
  for (const [s, f] of [...link.inFlight]) {
    if (s > seq) continue;
    link.delivered += f.bytes;
    link.inFlight.delete(s);
    link.ackTimes.push(now);
  }
  while (link.ackTimes.length > 0 && link.ackTimes[0]! < now - FPS_WINDOW_MS) link.ackTimes.shift();
  link.deliveredAt = now;
  if (!frame) return;
  const delay = now - frame.sentAt;
  push(link.delays, delay, DELAY_WINDOW);
  if (frame.alone) push(link.alone, { bytes: frame.bytes, delayMs: delay }, LONE_WINDOW);
  link.queueMs = 0.7 * link.queueMs + 0.3 * Math.max(0, delay - rttMs(link)!);
  const ms = now - frame.deliveredAt;
  if (ms <= 0) return;
  const sample = ((link.delivered - frame.delivered) * 8 * 1000) / ms;
  if (frame.appLimited && sample <= (goodputBps(link) ?? 0)) return;
  push(link.samples, sample, SAMPLE_WINDOW);
}

/** Goodput in bits per second (the largest recent sample, or the rate between two sizes of frames sent alone), null before the first. */
export function goodputBps(link: LinkState): number | null {
  if (link.samples.length === 0) return null;
  return Math.max(...link.samples, rateBetweenSizes(link) ?? 0);
}

/** The link's rate from the fastest frame alone of the largest size and of a size at most half of it; null without both. */
function rateBetweenSizes(link: LinkState): number | null {
  const largest = Math.max(0, ...link.alone.map((f) => f.bytes));
  let big: { bytes: number; delayMs: number } | null = null;
  let small: { bytes: number; delayMs: number } | null = null;
  for (const f of link.alone) {
    if (f.bytes > largest * (1 + LONE_SIZE_RATIO) / 2 && (!big || f.delayMs < big.delayMs)) big = f;
    if (f.bytes <= largest * LONE_SIZE_RATIO && (!small || f.delayMs < small.delayMs)) small = f;
  }
  if (!big || !small || big.delayMs <= small.delayMs) return null;
  return ((big.bytes - small.bytes) * 8 * 1000) / (big.delayMs - small.delayMs);
}

/** The base round trip: the smallest recent (ack - send) delay (ms), or null before the first ack. */
export function rttMs(link: LinkState): number | null {
  return link.delays.length === 0 ? null : Math.min(...link.delays);
}

/** Frames acknowledged per second since `since` (at most the last second), or null while that is too short to tell. */
export function deliveredFps(link: LinkState, now: number, since: number): number | null {
  if (link.firstSentAt === null) return null;
  const from = Math.max(now - FPS_WINDOW_MS, link.firstSentAt, since);
  if (now - from < MIN_FPS_WINDOW_MS) return null;
  return (link.ackTimes.filter((t) => t >= from).length * 1000) / (now - from);
}

function push<T>(list: T[], item: T, keep: number): void {
  list.push(item);
  if (list.length > keep) list.shift();
}
