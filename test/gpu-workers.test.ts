// Encoders sized to the machine: --encoder-workers N|auto, the pool growing and shrinking, frames
// delivered in order when Workers finish out of order, and the stage timings in /api/stats and /metrics.
import { describe, expect, test } from "bun:test";
import { ptr } from "bun:ffi";
import { parseCli, UsageError } from "../src/cli.ts";
import { EncoderPool } from "../src/encode/pool.ts";
import { StreamingServer } from "../src/server.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { startMainJob } from "./helpers/main-job.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { Viewer } from "./helpers/viewer.ts";
import { waitFor, waitForAsync } from "./helpers/wait.ts";

describe("--encoder-workers", () => {
  test.each([
    [["--encoder-workers", "3"], 3],
    [["--encoder-workers=auto"], "auto"],
    [[], 2],
  ])("%p -> %p", (args, want) => {
    expect(parseCli(args, {}).encoderWorkers).toBe(want as number | "auto");
  });

  test.each(["0", "17", "x", "2.5", "-1", ""])("'%s' is refused naming the flag", (raw) => {
    expect(() => parseCli(["--encoder-workers", raw], {})).toThrow(UsageError);
    expect(() => parseCli(["--encoder-workers", raw], {})).toThrow(/--encoder-workers must be/);
  });

  test("the server refuses a bad count naming the option", () => {
    expect(() => new StreamingServer({ encoderWorkers: 0 })).toThrow(/encoderWorkers must be an integer from 1 to 16/);
  });

  test("the main job with --encoder-workers 3 reports 3 Workers, streams through them, and never faster than --fps", async () => {
    const { proc, url } = await startMainJob(["--source", "synthetic", "--encoder-workers", "3", "--fps", "30"]);
    try {
      const stats = async () => (await fetch(`${url}api/stats`)).json();
      expect((await (await fetch(`${url}api/config`)).json()).encoderWorkers).toBe(3);
      const viewer = await Viewer.connect(`${url.replace("http", "ws")}ws`, false);
      // The rate it reaches is the benchmarks' to measure (a busy machine slows it); what the settings
      // promise is that frames keep flowing through the pool and never leave faster than --fps.
      await waitFor(() => viewer.frames.length >= 10, 10_000, "the first frames");
      const before = await stats();
      await waitForAsync(async () => (await stats()).framesPublished - before.framesPublished >= 30, 20_000, "30 more frames");
      const after = await stats();
      const fps = (after.framesPublished - before.framesPublished) / (after.uptimeSeconds - before.uptimeSeconds);
      expect(after.encoderWorkers).toBe(3);
      expect(fps).toBeLessThanOrEqual(30 * 1.1);
      expect(after.framesEncoded).toBeGreaterThan(before.framesEncoded);
      viewer.close();
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
  });
});

describe("EncoderPool.resize", () => {
  test("grows to the size asked for, every Worker encoding, and shrinks back", async () => {
    const pool = await EncoderPool.create("turbo", 1, (msg) => {
      throw new Error(msg);
    });
    try {
      expect(pool.size).toBe(1);
      pool.resize(3);
      expect(pool.size).toBe(3);
      const [frame] = makeRing(64, 48, 1);
      const job = (seq: number) => ({
        type: "encode" as const,
        address: ptr(frame!),
        byteLength: frame!.byteLength,
        width: 64,
        height: 48,
        stride: 256,
        format: "rgba" as const,
        meta: { seq, t: Date.now(), w: 64, h: 48, q: 80 },
      });
      // Three encodes at once need three Workers that have started; given in one go, each takes its own.
      await waitFor(() => pool.idleWorkers === 3, 5000, "three started Workers");
      const encodes = [1, 2, 3].map((seq) => pool.encode(job(seq)));
      expect(pool.idleWorkers).toBe(0);
      await Promise.all(encodes);
      pool.resize(1);
      expect(pool.size).toBe(1);
      await pool.encode(job(4));
    } finally {
      pool.close();
    }
  });
});

describe("in-order delivery", () => {
  test("a small frame that finishes before a large one waits for it: every frame arrives, in order", async () => {
    const server = new StreamingServer({ port: 0, fps: 240, encoderWorkers: 3, encoder: "turbo" });
    await server.start(64, 64);
    try {
      const viewer = await Viewer.connect(`ws://127.0.0.1:${server.port}/ws`, false);
      const [large] = makeRing(3840, 2160, 1);
      const small = makeRing(32, 32, 8);
      const dispatched = () => server.statsSnapshot().stages.queueMs!.count;
      const finished = () => server.stats.framesEncoded + server.stats.encodeErrors;
      // A large frame (tens of ms to encode), then a small one (well under one) handed to a second
      // Worker while the large one is still encoding: the small one finishes first.
      const pairs = 8;
      for (let i = 0; i < pairs; i++) {
        server.pushFrame({ pixels: large!, width: 3840, height: 2160 });
        await waitFor(() => dispatched() === 2 * i + 1, 5000, `large frame ${i} handed to a Worker`);
        server.pushFrame({ pixels: small[i]!, width: 32, height: 32 });
        await waitFor(() => dispatched() === 2 * i + 2, 5000, `small frame ${i} handed to a Worker`);
        await waitFor(() => finished() === 2 * i + 2, 20_000, `pair ${i} encoded`);
      }
      await waitFor(() => viewer.frames.length >= server.stats.framesPublished, 5000, "every published frame");
      const seqs = viewer.frames.map((f) => f.meta!.seq as number);
      // In order, and none lost: the encoded frames are exactly the ones published, in sequence.
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(server.stats.framesPublished).toBe(server.stats.framesEncoded);
      expect(seqs).toEqual(Array.from({ length: 2 * pairs }, (_, k) => k + 1));
      // Both sizes were sent, so small frames did overtake large ones in the Workers.
      expect(new Set(viewer.frames.map((f) => f.meta!.w))).toEqual(new Set([3840, 32]));
      viewer.close();
    } finally {
      await server.stop();
    }
  });
});

describe("stage timings", () => {
  test("/api/stats and /metrics time the stages a frame goes through and count the Workers", async () => {
    const server = new StreamingServer({ port: 0, fps: 60, encoderWorkers: 2 });
    await server.start(320, 240);
    try {
      const viewer = await Viewer.connect(`ws://127.0.0.1:${server.port}/ws`, false);
      const ring = makeRing(320, 240, 4);
      for (let i = 0; viewer.frames.length < 10; i++) {
        server.pushFrame(ring[i % 4]!);
        await Bun.sleep(16);
      }
      const stats = await (await fetch(`http://127.0.0.1:${server.port}/api/stats`)).json();
      expect(stats.encoderWorkers).toBe(2);
      for (const stage of ["queueMs", "encodeMs", "publishMs"]) {
        expect(stats.stages[stage].count).toBeGreaterThanOrEqual(10);
        expect(stats.stages[stage].p50).toBeGreaterThanOrEqual(0);
      }
      // A pushed frame has no source stages: they stay empty rather than made up.
      expect(stats.stages.renderMs.count).toBe(0);
      const metrics = parsePrometheus(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text());
      expect(metrics.get('vkcast_encoder_workers{stream="default"}')).toBe(2);
      expect(metrics.get('vkcast_stage_seconds_count{stream="default",stage="encode"}')).toBeGreaterThanOrEqual(10);
      expect(metrics.get('vkcast_stage_seconds_count{stream="default",stage="ring_wait"}')).toBe(0);
      viewer.close();
    } finally {
      await server.stop();
    }
  });
});
