// Tiers: a few encodings of each frame, best first, and the choice of one per viewer by what its link
// delivers (pure: times and measurements are given). Down fast when the link cannot carry the tier at the
// stream's rate (frames queue, or frames held back for time in flight leave it short of the stream's fps),
// up one step at a time once the link has room and has been calm for a while; an up that
// fails soon after doubles the wait before the next one. A codec brings its own ladder (JPEG: quality and
// scale; H.264: bitrates); the choice only sees indices and bytes per frame.

/** One JPEG tier: the frame scaled by `scale`, at `quality` of the quality the policy picked. */
export interface JpegTier {
  name: string;
  scale: number;
  quality(policyQuality: number): number;
  /** Bytes per frame relative to the first tier, before any was measured. */
  relativeSize: number;
}

export const JPEG_TIERS: readonly JpegTier[] = [
  { name: "full", scale: 1, quality: (q) => q, relativeSize: 1 },
  { name: "low", scale: 1, quality: (q) => Math.min(q, 40), relativeSize: 0.45 },
  { name: "small", scale: 0.5, quality: (q) => Math.min(q, 60), relativeSize: 0.2 },
];

/** The tier names a viewer may pin with `?quality=`. */
export const TIER_NAMES: readonly string[] = JPEG_TIERS.map((t) => t.name);

/** The tier a `?quality=` value pins: null for none (absent or "auto"), or an error naming the field. */
export function pinnedTier(value: string | null): number | null | Error {
  if (value === null || value === "auto") return null;
  const tier = TIER_NAMES.indexOf(value);
  return tier >= 0 ? tier : new Error(`quality must be auto, ${TIER_NAMES.join(", ")} (got ${JSON.stringify(value.slice(0, 40))})`);
}

/** Share of the goodput a tier may use at the stream's rate; going up needs more room still. */
const UTILIZATION = 0.8;
const UP_HEADROOM = 0.85;
/** Frames queued this long above the base round trip (smoothed), or a frame skipped this recently with some queue, move it down. */
const QUEUE_DOWN_MS = 50;
const SKIP_RECENT_MS = 300;
/** A viewer held back for time in flight that delivers less than this share of the stream's fps is link-limited. */
const LINK_LIMITED_FPS = 0.8;
/** Queueing below this counts as calm for going up. */
const QUEUE_CALM_MS = 15;
/** The least time between two moves down, so that the first takes effect before the next. */
const DOWN_SPACING_MS = 250;
/** Wait before going up, doubled (up to the max) when a move down follows an up within UP_FAILED_MS. */
export const UP_HOLD_MS = 2000;
const UP_HOLD_MAX_MS = 30_000;
const UP_FAILED_MS = 3000;
/** A link whose base round trip is this short (loopback, LAN) always gets the first tier. */
export const NEAR_RTT_MS = 10;

export interface TierState {
  tier: number;
  /** Why it is at this tier, for the overlay. */
  reason: string;
  changedAt: number;
  lastUpAt: number;
  upHoldMs: number;
}

export function newTierState(pinned: number | null): TierState {
  return {
    tier: pinned ?? 0,
    reason: pinned === null ? "start" : "pinned (?quality=)",
    changedAt: -Infinity,
    lastUpAt: -Infinity,
    upHoldMs: UP_HOLD_MS,
  };
}

export interface LinkReading {
  now: number;
  /** Measured goodput (bits/s) and base round trip (ms), null before known. */
  goodputBps: number | null;
  rttMs: number | null;
  /** Queueing delay of recent frames, smoothed (ms). */
  queueMs: number;
  /** How long ago the viewer last skipped a frame (any reason), and one because its frames in flight stood for too long (ms). */
  msSinceSkip: number;
  msSinceTimeSkip: number;
  /** Frames its link delivered per second at this tier (recent acks), null before that is known. */
  deliveredFps: number | null;
  /** Bytes per frame of each tier (recent encodes, or estimates). */
  tierBytes: readonly number[];
  fps: number;
  /** A tier the viewer pinned, or null. */
  pinned: number | null;
}

/** Moves `state` to the tier this reading calls for; returns whether it changed. */
export function chooseTier(state: TierState, r: LinkReading): boolean {
  if (r.pinned !== null) return move(state, r.pinned, "pinned (?quality=)", r.now);
  if (r.rttMs !== null && r.rttMs <= NEAR_RTT_MS) return move(state, 0, `near link (${Math.round(r.rttMs)} ms)`, r.now);
  if (r.goodputBps === null || r.rttMs === null) return false;
  const budget = r.goodputBps * UTILIZATION;
  const need = (tier: number) => r.tierBytes[tier]! * 8 * r.fps;
  const last = r.tierBytes.length - 1;
  const mbit = (r.goodputBps / 1e6).toFixed(1);
  // The goodput is a lower bound while the stream sends less than the link carries: only a queue (or frames
  // skipped for time in flight) says the link is full; the goodput then says how far down to go.
  const queued = r.queueMs > QUEUE_DOWN_MS || (r.msSinceSkip < SKIP_RECENT_MS && r.queueMs > QUEUE_CALM_MS);
  // The bound on time in flight keeps the queue short, so a link too slow for the tier shows as too few frames.
  const short = r.msSinceTimeSkip < SKIP_RECENT_MS && r.deliveredFps !== null && r.deliveredFps < LINK_LIMITED_FPS * r.fps;
  if (state.tier < last && (queued || short) && r.now - state.changedAt >= DOWN_SPACING_MS) {
    let to = state.tier + 1;
    while (to < last && need(to) > budget) to++;
    if (r.now - state.lastUpAt < UP_FAILED_MS) state.upHoldMs = Math.min(state.upHoldMs * 2, UP_HOLD_MAX_MS);
    const why = queued ? `queue ${Math.round(r.queueMs)} ms` : `${Math.round(r.deliveredFps!)} fps`;
    return move(state, to, `down: ${why} at ${mbit} Mbit/s`, r.now);
  }
  const calm = r.queueMs < QUEUE_CALM_MS && !short && r.now - state.changedAt >= state.upHoldMs;
  // A link far from full measures no more than the stream sends: after the hold, going up is how it is probed.
  const fits = need(state.tier - 1) <= budget * UP_HEADROOM;
  if (state.tier > 0 && calm) {
    state.lastUpAt = r.now;
    return move(state, state.tier - 1, fits ? `up: ${mbit} Mbit/s has room` : "up: probing a calm link", r.now);
  }
  // Calm for long after the last move: a later failed up waits the shortest time again.
  if (r.now - state.changedAt > UP_HOLD_MAX_MS) state.upHoldMs = UP_HOLD_MS;
  return false;
}

function move(state: TierState, tier: number, reason: string, now: number): boolean {
  if (state.tier === tier) {
    if (state.changedAt === -Infinity) state.reason = reason;
    return false;
  }
  state.tier = tier;
  state.reason = reason;
  state.changedAt = now;
  return true;
}

/** Bytes per frame of each tier: measured where known, else scaled from a measured one by relative size. */
export function tierBytes(measured: readonly (number | null)[], relativeSizes: readonly number[]): number[] {
  const known = measured.findIndex((b) => b !== null);
  return relativeSizes.map((rel, i) => {
    const m = measured[i];
    if (m !== null && m !== undefined) return m;
    if (known < 0) return 0;
    return (measured[known]! * rel) / relativeSizes[known]!;
  });
}
