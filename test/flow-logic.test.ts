// The pure logic behind flow control and adaptive quality, case by case: the per-viewer rate limit,
// when a viewer counts as behind, acknowledgements, and which quality the next frame gets. Times are
// given, not read from a clock. The sockets behind it are covered in flow.test.ts.
import { describe, expect, test } from "bun:test";
import { frameKind, INTERACTION_QUIET_MS, QualityPolicy, type QualityMemory } from "../src/server/quality.ts";
import {
  behindReason,
  MAX_BUFFERED_FRAMES,
  MAX_UNACKED,
  newViewerData,
  noteAck,
  noteSent,
  type RateAllowance,
  type ViewerData,
  type ViewerEvents,
  withinRateLimit,
} from "../src/server/viewer.ts";

/** These tests open no socket, so nothing calls the stream's handlers. */
const NO_EVENTS = {} as ViewerEvents;
const viewer = (v2 = true) => newViewerData(1, NO_EVENTS, v2, false);

describe("rate limit: an allowance of `rate` messages, refilled at `rate` per second", () => {
  test("a new viewer may send a burst of `rate` messages at once, and no more", () => {
    const allowance = viewer().rate;
    const taken = Array.from({ length: 15 }, () => withinRateLimit(allowance, 10, 1000));
    expect(taken.filter(Boolean)).toHaveLength(10);
    expect(taken.slice(10).some(Boolean)).toBe(false);
  });

  // [rate, messages left, ms since the last refill, messages allowed now]
  const refills: [number, number, number, number][] = [
    [100, 0, 0, 0],
    [100, 0, 9, 0], // 0.9 of a message
    [100, 0, 15, 1], // 1.5
    [100, 0, 500, 50],
    [100, 0, 60_000, 100], // never more than one second's worth
    [500, 0.5, 1, 1], // 0.5 + 0.5
    [10, 3, 0, 3],
    [10, 3.5, 0, 3],
  ];
  for (const [rate, left, agoMs, allowed] of refills) {
    test(`rate ${rate}, ${left} left, refilled ${agoMs} ms ago: ${allowed} allowed`, () => {
      const allowance: RateAllowance = { messages: left, at: 5000 };
      const now = 5000 + agoMs;
      let n = 0;
      while (withinRateLimit(allowance, rate, now) && n < 10 * rate) n++;
      expect(n).toBe(allowed);
    });
  }

  test("a refused message spends nothing: the allowance refills from where it was", () => {
    const allowance: RateAllowance = { messages: 0, at: 0 };
    expect(withinRateLimit(allowance, 100, 5)).toBe(false); // 0.5
    expect(withinRateLimit(allowance, 100, 10)).toBe(true); // 1.0
    expect(allowance.messages).toBeCloseTo(0, 9);
  });
});

describe("behind: a viewer that cannot take another frame now", () => {
  const FRAME = 100_000;
  const acking = (unacked: number): ViewerData => {
    const d = viewer();
    d.hasAcked = true;
    d.unacked = Array.from({ length: unacked }, (_, i) => i + 1);
    return d;
  };
  // [case, viewer state, bytes buffered in its socket, frame size, behind?]
  const cases: [string, ViewerData, number, number, boolean][] = [
    ["nothing buffered, never acked", viewer(false), 0, FRAME, false],
    ["two frames buffered", viewer(false), MAX_BUFFERED_FRAMES * FRAME, FRAME, false],
    ["more than two frames buffered", viewer(false), MAX_BUFFERED_FRAMES * FRAME + 1, FRAME, true],
    // Small frames count as 16 KiB: a burst of tiny frames is not yet a backlog.
    ["small frames, 32 KiB buffered", viewer(false), 32 * 1024, 1000, false],
    ["small frames, over 32 KiB buffered", viewer(false), 32 * 1024 + 1, 1000, true],
    ["acks, two not acknowledged", acking(MAX_UNACKED), 0, FRAME, false],
    ["acks, three not acknowledged", acking(MAX_UNACKED + 1), 0, FRAME, true],
    // A viewer that never acked is paced by its socket alone, however many frames it was sent.
    ["never acked, many sent", { ...viewer(), unacked: [1, 2, 3, 4, 5] }, 0, FRAME, false],
  ];
  for (const [name, data, buffered, frameBytes, behind] of cases) {
    test(`${name}: ${behind ? "behind" : "keeps up"}`, () => {
      expect(behindReason(data, buffered, frameBytes, 0) !== null).toBe(behind);
    });
  }
});

describe("acknowledgements", () => {
  // [unacked before, acked seq, unacked after, anything new?]
  const cases: [number[], number, number[], boolean][] = [
    [[5, 6, 7], 6, [7], true],
    [[5, 6, 7], 7, [], true],
    [[5, 6, 7], 4, [5, 6, 7], false],
    [[5, 6, 7], 100, [], true],
    [[], 3, [], false],
  ];
  for (const [before, seq, after, fresh] of cases) {
    test(`ack ${seq} of [${before}] leaves [${after}]`, () => {
      const data = viewer();
      data.unacked = [...before];
      expect(noteAck(data, seq)).toBe(fresh);
      expect(data.unacked).toEqual(after);
      expect(data.hasAcked).toBe(true);
    });
  }

  test("frames sent are counted, and tracked for acks only once the viewer has acked (a v2 viewer's first frame awaits its ack)", () => {
    const v1 = viewer(false);
    noteSent(v1, 1, 1000, 1);
    expect([v1.framesSent, v1.unacked]).toEqual([1, []]);
    const data = viewer();
    noteSent(data, 1, 1000, 1);
    expect([data.framesSent, data.unacked]).toEqual([1, [1]]);
    noteAck(data, 1);
    noteSent(data, 2, 1000, 2);
    noteSent(data, 3, 1000, 3);
    expect([data.framesSent, data.unacked]).toEqual([3, [2, 3]]);
  });
});

describe("quality: which kind of frame comes next", () => {
  const A = 1n;
  const B = 2n;
  const memory = (m: Partial<QualityMemory>): QualityMemory => ({ lastHash: null, lastWasStill: false, interacting: false, ...m });
  // [case, what the policy remembers, the next frame's hash, ms since the last input, kind]
  const cases: [string, QualityMemory, bigint, number, ReturnType<typeof frameKind>][] = [
    ["the first frame", memory({}), A, Infinity, "normal"],
    ["a new picture", memory({ lastHash: A }), B, Infinity, "normal"],
    ["input just now", memory({ lastHash: A }), B, 0, "interactive"],
    ["input at the end of the quiet time", memory({ lastHash: A }), B, INTERACTION_QUIET_MS, "interactive"],
    ["input just past the quiet time, after interactive frames", memory({ lastHash: A, interacting: true }), B, INTERACTION_QUIET_MS + 1, "still"],
    ["the same picture again", memory({ lastHash: A }), A, Infinity, "still"],
    ["the same picture after its still frame", memory({ lastHash: A, lastWasStill: true }), A, Infinity, null],
    ["the same picture after its still frame, with input", memory({ lastHash: A, lastWasStill: true }), A, 10, "interactive"],
    ["a new picture after a still frame", memory({ lastHash: A, lastWasStill: true }), B, Infinity, "normal"],
  ];
  for (const [name, mem, hash, sinceInput, kind] of cases) {
    test(`${name}: ${kind ?? "skipped"}`, () => {
      expect(frameKind(mem, hash, sinceInput)).toBe(kind);
    });
  }

  test("a session: normal, interactive while input arrives, one still frame, then nothing until it changes", () => {
    const policy = new QualityPolicy({ quality: 80, interactiveQuality: 50, stillQuality: 95 });
    const q = (hash: bigint, now: number) => policy.qualityFor(hash, now);
    expect(q(1n, 0)).toBe(80);
    expect(q(2n, 33)).toBe(80);
    policy.noteInput(50);
    expect(q(3n, 66)).toBe(50);
    policy.noteInput(90);
    expect(q(4n, 100)).toBe(50);
    expect(q(4n, 90 + INTERACTION_QUIET_MS)).toBe(50); // the last input is still recent
    expect(q(4n, 91 + INTERACTION_QUIET_MS)).toBe(95); // quiet: one still frame
    expect(q(4n, 124 + INTERACTION_QUIET_MS)).toBeNull(); // the same picture: not sent
    expect(q(4n, 157 + INTERACTION_QUIET_MS)).toBeNull();
    expect(q(5n, 190 + INTERACTION_QUIET_MS)).toBe(80); // it changed
  });

  test("a frame that was never sent is forgotten: the same picture next is not skipped", () => {
    const policy = new QualityPolicy({ quality: 80, interactiveQuality: 50, stillQuality: 95 });
    expect(policy.qualityFor(7n, 0)).toBe(80);
    expect(policy.qualityFor(7n, 33)).toBe(95);
    policy.forgetLastFrame(); // e.g. its encode failed
    expect(policy.qualityFor(7n, 66)).not.toBeNull();
  });
});
