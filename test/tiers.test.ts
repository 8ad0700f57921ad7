// The tier choice and the link measurement as tables: pure functions of given times and acks.
import { describe, expect, test } from "bun:test";
import { halve } from "../src/encode/downscale.ts";
import { deliveredFps, goodputBps, linkAcked, linkSent, newLinkState, rttMs } from "../src/server/link.ts";
import { chooseTier, JPEG_TIERS, type LinkReading, newTierState, pinnedTier, tierBytes, UP_HOLD_MS } from "../src/server/tiers.ts";
import { behindReason, FIRST_ACK_WAIT_MS, newViewerData, noteAck, noteSent, type ViewerEvents } from "../src/server/viewer.ts";

const KB = 1024;
/** Bytes per frame of full, low, small: at 30 fps they need 24, 11 and 5 Mbit/s. */
const SIZES = [100 * KB, 45 * KB, 20 * KB];

const reading = (r: Partial<LinkReading>): LinkReading => ({
  now: 10_000,
  goodputBps: 50e6,
  rttMs: 40,
  queueMs: 0,
  msSinceSkip: Infinity,
  msSinceTimeSkip: Infinity,
  deliveredFps: 30,
  tierBytes: SIZES,
  fps: 30,
  pinned: null,
  ...r,
});

describe("tier choice", () => {
  // [case, tier before, when it last moved (ms before now), reading, tier after]
  const cases: [string, number, number, Partial<LinkReading>, number][] = [
    ["a calm link keeps the full tier", 0, 60_000, { goodputBps: 50e6 }, 0],
    ["a calm link that measures little is not full: the stream sends less than it carries", 0, 60_000, { goodputBps: 5e6 }, 0],
    ["a queue at 10 Mbit/s: straight to small, as full and low need more at 30 fps", 0, 60_000, { goodputBps: 10e6, queueMs: 80 }, 2],
    ["a queue at 16 Mbit/s: low", 0, 60_000, { goodputBps: 16e6, queueMs: 80 }, 1],
    ["a frame just skipped with some queue moves down too", 0, 60_000, { goodputBps: 16e6, msSinceSkip: 100, queueMs: 20 }, 1],
    ["a frame skipped without a queue is the viewer's hiccup", 0, 60_000, { goodputBps: 16e6, msSinceSkip: 100 }, 0],
    // The bound on time in flight keeps the queue short: a link too slow for the tier shows as too few frames.
    ["held back for time in flight at 8 fps with no queue: link-limited, down to small", 0, 60_000,
      { goodputBps: 7e6, msSinceSkip: 10, msSinceTimeSkip: 10, deliveredFps: 8 }, 2],
    ["held back for time in flight at 28 fps: a hiccup, not the link", 0, 60_000,
      { goodputBps: 28e6, msSinceSkip: 10, msSinceTimeSkip: 10, deliveredFps: 28 }, 0],
    ["few frames but none held back for time: the stream sends few", 0, 60_000, { goodputBps: 7e6, deliveredFps: 8 }, 0],
    ["few frames held back long ago: stays", 0, 60_000, { goodputBps: 7e6, msSinceTimeSkip: 1000, deliveredFps: 8 }, 0],
    ["fps not known yet (too soon after a move): stays", 0, 60_000, { goodputBps: 7e6, msSinceTimeSkip: 10, deliveredFps: null }, 0],
    ["link-limited at small: no probing up", 2, 60_000, { goodputBps: 2e6, msSinceTimeSkip: 10, deliveredFps: 11 }, 2],
    ["no second move down within 250 ms", 1, 100, { goodputBps: 3e6, queueMs: 80 }, 1],
    ["up when calm and the hold is over", 2, UP_HOLD_MS, { goodputBps: 50e6 }, 1],
    ["up to probe a calm link that measured little", 2, UP_HOLD_MS, { goodputBps: 5e6 }, 1],
    ["not up before the hold is over", 2, UP_HOLD_MS - 1, { goodputBps: 50e6 }, 2],
    ["not up while frames queue", 2, 60_000, { goodputBps: 50e6, queueMs: 30 }, 2],
    ["a near link (loopback, LAN) always gets full", 2, 0, { goodputBps: 1e6, rttMs: 3, queueMs: 80 }, 0],
    ["nothing measured yet: stays", 0, 60_000, { goodputBps: null, rttMs: null }, 0],
    ["a pinned tier wins", 0, 0, { goodputBps: 1e9, pinned: 2 }, 2],
  ];
  for (const [name, before, ago, r, after] of cases) {
    test(name, () => {
      const state = newTierState(null);
      state.tier = before;
      state.changedAt = 10_000 - ago;
      chooseTier(state, reading(r));
      expect(state.tier).toBe(after);
    });
  }

  test("a move down soon after an up doubles the wait before the next up", () => {
    const state = newTierState(null);
    state.tier = 2;
    state.changedAt = 0;
    expect(chooseTier(state, reading({ now: 5000 }))).toBe(true);
    expect(state.tier).toBe(1);
    expect(chooseTier(state, reading({ now: 5500, goodputBps: 10e6, queueMs: 80 }))).toBe(true);
    expect([state.tier, state.upHoldMs]).toEqual([2, 2 * UP_HOLD_MS]);
    expect(chooseTier(state, reading({ now: 5500 + 2 * UP_HOLD_MS - 1 }))).toBe(false);
    expect(chooseTier(state, reading({ now: 5500 + 2 * UP_HOLD_MS }))).toBe(true);
    expect(state.reason).toMatch(/^up/);
  });

  test("unmeasured tiers are estimated from a measured one", () => {
    expect(tierBytes([null, 45_000, null], [1, 0.45, 0.2])).toEqual([100_000, 45_000, 20_000]);
    expect(tierBytes([null, null, null], [1, 0.45, 0.2])).toEqual([0, 0, 0]);
  });

  test("?quality= names a tier, auto or nothing pins none, anything else is an error naming the field", () => {
    expect(pinnedTier("small")).toBe(2);
    expect(pinnedTier("full")).toBe(0);
    expect(pinnedTier(null)).toBeNull();
    expect(pinnedTier("auto")).toBeNull();
    expect(String(pinnedTier("best"))).toMatch(/quality must be/);
  });
});

describe("link measurement from acks", () => {
  test("frames queued behind each other: goodput is the bytes acked over the time they took", () => {
    const link = newLinkState();
    // 8 Mbit/s = 1 KB per ms, 40 ms round trip: 40 KB frames sent every 40 ms keep the link full.
    // In time order: frame k leaves at 40(k-1) ms, after the ack of frame k-2 came at 40 + 40(k-2) ms.
    for (let seq = 1; seq <= 10; seq++) {
      if (seq > 2) linkAcked(link, seq - 2, 40 + 40 * (seq - 2));
      linkSent(link, seq, 40_000, (seq - 1) * 40, false);
    }
    expect(rttMs(link)).toBe(80);
    expect(goodputBps(link)! / 1e6).toBeCloseTo(8, 0);
    expect(link.queueMs).toBe(0);
  });

  test("frames sent slower than the link carries: the goodput says at most what was sent", () => {
    const link = newLinkState();
    // 10 KB every 100 ms on the same link: 0.8 Mbit/s sent, each frame alone in flight.
    for (let seq = 1; seq <= 8; seq++) {
      linkSent(link, seq, 10_000, seq * 100, true);
      linkAcked(link, seq, seq * 100 + 50);
    }
    expect(goodputBps(link)! / 1e6).toBeLessThanOrEqual(8);
    expect(goodputBps(link)! / 1e6).toBeGreaterThan(0.8);
  });

  test("acks growing late build a queue", () => {
    const link = newLinkState();
    for (let seq = 1; seq <= 8; seq++) {
      linkSent(link, seq, 10_000, seq * 100, true);
      linkAcked(link, seq, seq * 100 + 50 + seq * 20);
    }
    expect(link.queueMs).toBeGreaterThan(50);
    expect(goodputBps(link)).not.toBeNull();
  });

  test("frames sent only as fast as the stream offers them (app-limited) do not lower what the link was measured to carry", () => {
    const link = newLinkState();
    // 8 Mbit/s measured with frames queued behind each other, as above.
    for (let seq = 1; seq <= 10; seq++) {
      if (seq > 2) linkAcked(link, seq - 2, 40 + 40 * (seq - 2));
      linkSent(link, seq, 40_000, (seq - 1) * 40, false);
    }
    linkAcked(link, 9, 400);
    linkAcked(link, 10, 440);
    // Then a long calm stretch of small frames, each alone in flight: they say 1.6 Mbit/s was sent, not what the link carries.
    for (let seq = 11; seq <= 200; seq++) {
      linkSent(link, seq, 10_000, seq * 100, true);
      linkAcked(link, seq, seq * 100 + 50);
    }
    expect(goodputBps(link)! / 1e6).toBeCloseTo(8, 0);
    // A frame sent after frames were skipped is not app-limited: its sample counts even when lower.
    linkSent(link, 201, 10_000, 30_000, false);
    linkAcked(link, 201, 30_050);
    expect(link.samples.at(-1)! / 1e6).toBeCloseTo(1.6, 1);
  });

  test("frames sent alone of two sizes give the link's rate without the round trip that dilutes each one's sample", () => {
    const link = newLinkState();
    // 100 Mbit/s, 120 ms round trip: 100 KB alone takes 128 ms (6.25 Mbit/s as a sample), 20 KB 121.6 ms.
    linkSent(link, 1, 100_000, 0, true);
    linkAcked(link, 1, 128);
    expect(goodputBps(link)! / 1e6).toBeCloseTo(6.25, 1);
    linkSent(link, 2, 20_000, 200, false);
    linkAcked(link, 2, 321.6);
    expect(goodputBps(link)! / 1e6).toBeCloseTo(100, 0);
    // Sizes too close together say nothing.
    const near = newLinkState();
    linkSent(near, 1, 100_000, 0, true);
    linkAcked(near, 1, 128);
    linkSent(near, 2, 60_000, 200, false);
    linkAcked(near, 2, 324.8);
    expect(goodputBps(near)! / 1e6).toBeCloseTo(6.25, 1);
  });

  test("frames delivered per second: from the acks of the last second, unknown over less than 300 ms", () => {
    const link = newLinkState();
    for (let seq = 1; seq <= 20; seq++) {
      linkSent(link, seq, 10_000, seq * 100, true);
      linkAcked(link, seq, seq * 100 + 50);
    }
    expect(deliveredFps(link, 2060, -Infinity)).toBe(10);
    expect(deliveredFps(link, 2060, 1800)).toBeNull();
  });

  test("frames in flight stand for at most 100 ms of the link; the first one always goes", () => {
    const data = newViewerData(1, {} as ViewerEvents, true, false);
    noteAck(data, 0);
    for (let i = 0; i < 5; i++) data.link.samples.push(8e6); // 8 Mbit/s: 100 KB per 100 ms
    expect(behindReason(data, 0, 150_000, 0)).toBeNull();
    noteSent(data, 1, 60_000, 0);
    expect(behindReason(data, 0, 40_000, 0)).toBeNull();
    expect(behindReason(data, 0, 41_000, 0)).toBe("time");
  });

  test("before its link is measured a v2 viewer gets one frame, then waits for its ack (not forever: it need not ack)", () => {
    const data = newViewerData(1, {} as ViewerEvents, true, false);
    expect(behindReason(data, 0, 100_000, 0)).toBeNull();
    noteSent(data, 1, 100_000, 0);
    expect(behindReason(data, 0, 100_000, 50)).toBe("first-ack");
    // Held longer than the bound on time in flight: as good as a frame skipped for it.
    expect(behindReason(data, 0, 100_000, 150)).toBe("time");
    expect(behindReason(data, 0, 100_000, FIRST_ACK_WAIT_MS)).toBeNull();
    // A v1 viewer never acks: its socket alone paces it.
    const v1 = newViewerData(2, {} as ViewerEvents, false, false);
    noteSent(v1, 1, 100_000, 0);
    expect(behindReason(v1, 0, 100_000, 50)).toBeNull();
  });
});

/**
 * A v2 viewer behind a link of `bps` and `rttMs` (one frame after another, each acked when it arrived), fed
 * 30 fps by the pieces the hub joins: the bound on what it may have in flight, its acks, the tier choice. Like
 * the hub, a frame held back is replaced by the newest, sent as soon as an ack lets it. Returns each frame's
 * tier and latency (send to arrival, plus how old the frame was when sent), by arrival time.
 */
function simulate(bps: number, roundTripMs: number, seconds: number) {
  const data = newViewerData(1, {} as ViewerEvents, true, false);
  const FRAME_MS = 1000 / 30;
  const acks: { at: number; seq: number; tier: number; madeAt: number }[] = [];
  const got: { at: number; tier: number; latencyMs: number }[] = [];
  let linkFreeAt = 0;
  let seq = 0;
  let behind = false;
  let lastMade = { seq: 0, at: 0 };
  const send = (now: number, madeAt: number, s: number) => {
    const tier = data.tier.tier;
    const bytes = SIZES[tier]!;
    noteSent(data, s, bytes, now);
    linkFreeAt = Math.max(now, linkFreeAt) + (bytes * 8 * 1000) / bps;
    acks.push({ at: linkFreeAt + roundTripMs, seq: s, tier, madeAt });
  };
  const tryToSend = (now: number, madeAt: number, s: number, skipped: () => void) => {
    const why = behindReason(data, 0, SIZES[data.tier.tier]!, now);
    behind = why !== null;
    if (!behind) return send(now, madeAt, s);
    data.lastSkipAt = now;
    if (why === "time") data.lastTimeSkipAt = now;
    skipped();
  };
  for (let now = 0; now < seconds * 1000; now++) {
    for (const a of acks.filter((x) => x.at <= now)) {
      acks.splice(acks.indexOf(a), 1);
      got.push({ at: now, tier: a.tier, latencyMs: now - a.madeAt - roundTripMs / 2 });
      noteAck(data, a.seq);
      linkAcked(data.link, a.seq, now);
      const r = {
        now, goodputBps: goodputBps(data.link), rttMs: rttMs(data.link), queueMs: data.link.queueMs, msSinceSkip: now - data.lastSkipAt,
        msSinceTimeSkip: now - data.lastTimeSkipAt, deliveredFps: deliveredFps(data.link, now, data.tier.changedAt),
        tierBytes: SIZES, fps: 30, pinned: null,
      };
      chooseTier(data.tier, r);
      if (behind) tryToSend(now, lastMade.at, lastMade.seq, () => {});
    }
    if (now >= seq * FRAME_MS) {
      seq++;
      lastMade = { seq, at: now };
      tryToSend(now, now, seq, () => {});
    }
  }
  return got;
}

describe("a viewer behind a simulated link", () => {
  const stats = (got: { at: number; tier: number; latencyMs: number }[], from: number, to: number) => {
    const window = got.filter((f) => f.at >= from && f.at < to);
    const lat = window.map((f) => f.latencyMs).sort((a, b) => a - b);
    const tiers = new Set(window.map((f) => JPEG_TIERS[f.tier]!.name));
    return { fps: (window.length * 1000) / (to - from), tiers, p50: lat[lat.length >> 1] };
  };

  test("10 Mbit/s, 50 ms round trip: the bound keeps the queue short, yet it leaves the full tier and gets >= 25 fps", () => {
    const got = simulate(10e6, 50, 6);
    const late = stats(got, 3000, 6000);
    expect([...late.tiers], JSON.stringify(late)).not.toContain("full");
    expect(late.fps, JSON.stringify(late)).toBeGreaterThanOrEqual(25);
  });

  test("3 Mbit/s, 100 ms round trip: the first second is no backlog of full frames; then small at its best rate", () => {
    const got = simulate(3e6, 100, 6);
    const first = stats(got, 0, 1000);
    // Before its link was known only its first frame went: nothing waited behind it.
    expect(first.p50, JSON.stringify(first)).toBeLessThanOrEqual(400);
    expect(Math.max(...got.filter((f) => f.at < 1000).map((f) => f.latencyMs))).toBeLessThanOrEqual(450);
    const late = stats(got, 2000, 6000);
    expect([...late.tiers]).toEqual(["small"]);
    expect(late.p50, JSON.stringify(late)).toBeLessThanOrEqual(150);
  });

  test("100 Mbit/s, 120 ms round trip: a frame alone stands for the round trip, yet the viewer settles on the full tier", () => {
    const late = stats(simulate(100e6, 120, 10), 6000, 10_000);
    expect([...late.tiers], JSON.stringify(late)).toEqual(["full"]);
    // Three frames unacknowledged per round trip at most (MAX_UNACKED).
    expect(late.fps, JSON.stringify(late)).toBeGreaterThanOrEqual(20);
  });

  test("50 Mbit/s, 20 ms round trip: stays on the full tier at 30 fps", () => {
    const late = stats(simulate(50e6, 20, 6), 1000, 6000);
    expect([...late.tiers]).toEqual(["full"]);
    expect(late.fps).toBeGreaterThanOrEqual(29);
  });
});

describe("halving a frame for the small tier", () => {
  test("each pixel is the rounded mean of its 2x2 block, four-byte and three-byte formats alike", () => {
    const rgba = new Uint8Array([0, 10, 255, 1, 4, 20, 255, 2, 8, 0, 0, 0, 9, 0, 0, 0, 1, 30, 255, 3, 2, 40, 255, 4, 8, 0, 0, 0, 9, 0, 0, 0]);
    const half = halve({ pixels: rgba, width: 4, height: 2, stride: 16, format: "rgba" });
    expect([half.width, half.height, half.stride]).toEqual([2, 1, 8]);
    expect([...half.pixels]).toEqual([2, 25, 255, 3, 9, 0, 0, 0]);
    const rgb = new Uint8Array([0, 10, 255, 4, 20, 255, 1, 30, 255, 2, 40, 255]);
    expect([...halve({ pixels: rgb, width: 2, height: 2, stride: 6, format: "rgb" }).pixels]).toEqual([2, 25, 255]);
  });
});
