// The tier choice and the link measurement as tables: pure functions of given times and acks.
import { describe, expect, test } from "bun:test";
import { halve } from "../src/encode/downscale.ts";
import { goodputBps, linkAcked, linkSent, newLinkState, rttMs } from "../src/server/link.ts";
import { chooseTier, type LinkReading, newTierState, pinnedTier, tierBytes, UP_HOLD_MS } from "../src/server/tiers.ts";
import { isBehind, newViewerData, noteAck, noteSent, type ViewerEvents } from "../src/server/viewer.ts";

const KB = 1024;
/** Bytes per frame of full, low, small: at 30 fps they need 24, 11 and 5 Mbit/s. */
const SIZES = [100 * KB, 45 * KB, 20 * KB];

const reading = (r: Partial<LinkReading>): LinkReading => ({
  now: 10_000,
  goodputBps: 50e6,
  rttMs: 40,
  queueMs: 0,
  msSinceSkip: Infinity,
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
      linkSent(link, seq, 40_000, (seq - 1) * 40);
    }
    expect(rttMs(link)).toBe(80);
    expect(goodputBps(link)! / 1e6).toBeCloseTo(8, 0);
    expect(link.queueMs).toBe(0);
  });

  test("frames sent slower than the link carries: the goodput says at most what was sent", () => {
    const link = newLinkState();
    // 10 KB every 100 ms on the same link: 0.8 Mbit/s sent, each frame alone in flight.
    for (let seq = 1; seq <= 8; seq++) {
      linkSent(link, seq, 10_000, seq * 100);
      linkAcked(link, seq, seq * 100 + 50);
    }
    expect(goodputBps(link)! / 1e6).toBeLessThanOrEqual(8);
    expect(goodputBps(link)! / 1e6).toBeGreaterThan(0.8);
  });

  test("acks growing late build a queue", () => {
    const link = newLinkState();
    for (let seq = 1; seq <= 8; seq++) {
      linkSent(link, seq, 10_000, seq * 100);
      linkAcked(link, seq, seq * 100 + 50 + seq * 20);
    }
    expect(link.queueMs).toBeGreaterThan(50);
    expect(goodputBps(link)).not.toBeNull();
  });

  test("frames in flight stand for at most 100 ms of the link; the first one always goes", () => {
    const data = newViewerData(1, {} as ViewerEvents, true, false);
    noteAck(data, 0);
    for (let i = 0; i < 5; i++) data.link.samples.push(8e6); // 8 Mbit/s: 100 KB per 100 ms
    expect(isBehind(data, 0, 150_000)).toBe(false);
    noteSent(data, 1, 60_000, 0);
    expect(isBehind(data, 0, 40_000)).toBe(false);
    expect(isBehind(data, 0, 41_000)).toBe(true);
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
