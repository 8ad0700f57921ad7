// Flow control's pure logic, case by case: the per-viewer rate limit (a token bucket), when a viewer
// counts as behind, and acknowledgements. The sockets behind it are covered in flow.test.ts.
import { describe, expect, test } from "bun:test";
import {
  isBehind,
  MAX_BUFFERED_FRAMES,
  MAX_UNACKED,
  newViewerData as newViewer,
  noteAck,
  type ViewerData,
  type ViewerEvents,
  withinRateLimit,
} from "../src/server/viewer.ts";

/** These tests open no socket, so nothing calls the stream's handlers. */
const NO_EVENTS = {} as ViewerEvents;
const newViewerData = (id: number, v2: boolean) => newViewer(id, NO_EVENTS, v2, false);
const takeToken = (data: ViewerData, rate: number) => withinRateLimit(data.rate, rate, performance.now());

describe("rate limit: a bucket of `rate` messages, refilled at `rate` per second", () => {
  test("a new viewer may send a burst of `rate` messages at once, and no more", () => {
    const data = newViewerData(1, false);
    const taken = Array.from({ length: 15 }, () => takeToken(data, 10));
    expect(taken.filter(Boolean)).toHaveLength(10);
    expect(taken.slice(10).some(Boolean)).toBe(false);
  });

  // [rate, messages left in the bucket, ms since it was last filled, messages allowed now]
  const refills: [number, number, number, number][] = [
    [100, 0, 0, 0],
    [100, 0, 15, 1], // 1.5 refilled
    [100, 0, 500, 50],
    [100, 0, 60_000, 100], // never more than one second's worth
    [500, 0.5, 1, 1], // 0.5 + 0.5
    [10, 3, 0, 3],
  ];
  for (const [rate, left, agoMs, allowed] of refills) {
    test(`rate ${rate}, ${left} left, last filled ${agoMs} ms ago: ${allowed} allowed`, () => {
      const data = newViewerData(1, false);
      data.rate.messages = left;
      data.rate.at = performance.now() - agoMs;
      let n = 0;
      while (takeToken(data, rate) && n < 10 * rate) n++;
      // The bucket keeps filling while this runs: allow the fraction of a message that adds.
      expect(n).toBeGreaterThanOrEqual(allowed);
      expect(n).toBeLessThanOrEqual(allowed + 1);
    });
  }
});

describe("behind: a viewer that cannot take another frame now", () => {
  const FRAME = 100_000;
  const withAcks = (unacked: number) => {
    const d = newViewerData(1, true);
    d.hasAcked = true;
    d.unacked = Array.from({ length: unacked }, (_, i) => i + 1);
    return d;
  };
  // [case, viewer state, bytes buffered in its socket, frame size, behind?]
  const cases: [string, ViewerData, number, number, boolean][] = [
    ["nothing buffered, never acked", newViewerData(1, false), 0, FRAME, false],
    ["two frames buffered", newViewerData(1, false), MAX_BUFFERED_FRAMES * FRAME, FRAME, false],
    ["more than two frames buffered", newViewerData(1, false), MAX_BUFFERED_FRAMES * FRAME + 1, FRAME, true],
    // Small frames: the floor of 16 KiB a frame keeps tiny frames from counting as a backlog.
    ["small frames, 32 KiB buffered", newViewerData(1, false), 32 * 1024, 1000, false],
    ["small frames, over 32 KiB buffered", newViewerData(1, false), 32 * 1024 + 1, 1000, true],
    ["acks, two not acknowledged", withAcks(MAX_UNACKED), 0, FRAME, false],
    ["acks, three not acknowledged", withAcks(MAX_UNACKED + 1), 0, FRAME, true],
    // A viewer that never acked is paced by its socket alone, however many frames it was sent.
    ["never acked, many sent", { ...newViewerData(1, true), unacked: [1, 2, 3, 4, 5] }, 0, FRAME, false],
  ];
  for (const [name, data, buffered, frameBytes, behind] of cases) {
    test(`${name}: ${behind ? "behind" : "keeps up"}`, () => {
      expect(isBehind(data, buffered, frameBytes)).toBe(behind);
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
      const data = newViewerData(1, true);
      data.unacked = [...before];
      expect(noteAck(data, seq)).toBe(fresh);
      expect(data.unacked).toEqual(after);
      expect(data.hasAcked).toBe(true);
    });
  }
});
