// Input to display on the server: a viewer's input messages carry a `seq`, and each frame's metadata (JPEG COM,
// H.264 SEI) says, by session id, the highest seq the engine had taken before that frame was rendered. Checked
// frame by frame against what a real engine drained before each push: a pushFrame embedder, the built-in engine
// loop, several drivers at once, and an ingest producer (vkcast --source ipc). Real server, real sockets, real
// encoders. Then the page's side as pure logic: which sent message a painted frame measures, and the overlay's
// quantiles.
import { afterEach, describe, expect, test } from "bun:test";
import { InputLatency } from "../client/input-latency.ts";
import { inputToDisplayText } from "../client/overlay.ts";
import { type FrameMeta, parseFrameMeta } from "../client/protocol.ts";
import { INPUT_QUANTILE_SAMPLES, INPUT_SAMPLES_KEPT, quantile, Stats } from "../client/stats.ts";
import { runEngine } from "../src/engine.ts";
import type { Frame, FrameSource } from "../src/frame.ts";
import type { InputState } from "../src/input-state.ts";
import { silentLogger } from "../src/log.ts";
import type { InputEvent } from "../src/protocol/input-schema.ts";
import { StreamingServer, type StreamingServerOptions } from "../src/server.ts";
import { PolicyControl } from "../src/server/control.ts";
import { APPLIED_INPUT_VIEWERS, StreamInput } from "../src/server/stream-input.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { H264Viewer } from "./helpers/h264-viewer.ts";
import { pattern, RawProducer, Vkcast } from "./helpers/ingest.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor } from "./helpers/wait.ts";

const W = 320;
const H = 180;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(options: StreamingServerOptions = {}): Promise<StreamingServer> {
  const server = new StreamingServer({ host: "127.0.0.1", port: 0, fps: 30, quality: 80, ...options });
  await server.start(W, H);
  cleanups.push(() => server.stop());
  return server;
}

/** A v2 viewer, once it knows its session id (presence's `you`). */
async function joinV2(server: StreamingServer): Promise<{ viewer: Viewer; you: number }> {
  const viewer = await Viewer.connect(`${wsUrl(server.url)}?v=2`, false);
  cleanups.push(() => viewer.close());
  await viewer.until(() => viewer.texts.some((t) => t.type === "presence"), 5000, "presence");
  return { viewer, you: viewer.texts.find((t) => t.type === "presence")!.you as number };
}

/** A key whose name says its seq, so the engine (which never sees seqs) can tell which it took. */
const key = (seq: number): InputEvent => ({ type: "key_down", key: `k${seq}`, modifiers: [], seq });
const seqOfKey = (e: InputEvent) => (e.type === "key_down" && /^k\d+$/.test(e.key) ? Number(e.key.slice(1)) : null);

/**
 * An embedder that drains input and pushes a synthetic frame every 20 ms, remembering for each push (by its
 * unique capture time) the highest seq it had drained by then, by the viewer that sent it (`owner` maps a key
 * name's seq to its sender).
 */
function embedder(server: StreamingServer, owner: (seq: number) => string = () => "") {
  const source = new SyntheticSource(W, H);
  const drained: InputEvent[] = [];
  const appliedAtPush = new Map<number, Record<string, number>>();
  const applied: Record<string, number> = {};
  let k = 0;
  const t0 = Date.now();
  const timer = setInterval(() => {
    for (const e of server.drainInput()) {
      drained.push(e);
      const seq = seqOfKey(e);
      if (seq !== null) applied[owner(seq)] = Math.max(applied[owner(seq)] ?? 0, seq);
    }
    const captureTime = t0 + k;
    appliedAtPush.set(captureTime, { ...applied });
    server.pushFrame({ ...source.frame(k++), captureTime });
  }, 20);
  cleanups.push(() => clearInterval(timer));
  return { drained, appliedAtPush };
}

describe("a stream's applied input (StreamInput, no sockets)", () => {
  const setup = () => {
    const control = new PolicyControl("all");
    const counters = { inputAccepted: 0, inputDenied: 0, inputDropped: 0 };
    const input = new StreamInput({ capacity: 16, control, counters, noteInput: () => {} });
    return { control, input };
  };

  test("only drained input counts; by session id; a paced resize drained late never takes the seq back", async () => {
    const { control, input } = setup();
    control.join("a", true);
    control.join("b", true);
    input.submit("a", { type: "resize", width: 100, height: 100, ratio: 1, seq: 1 });
    input.submit("a", { type: "resize", width: 200, height: 100, ratio: 1, seq: 2 }); // paced: waits its turn
    input.submit("a", key(3));
    expect(input.appliedInput).toBeUndefined(); // queued, not drained
    expect(input.drain().map((e) => e.type)).toEqual(["resize", "key_down"]);
    expect(input.appliedInput).toEqual({ "1": 3 });
    input.submit("b", key(40));
    const before = input.appliedInput;
    await waitFor(() => input.drain().some((e) => e.type === "resize"), 2000, "the paced resize");
    expect(input.appliedInput).toEqual({ "1": 3, "2": 40 });
    expect(before).toEqual({ "1": 3 }); // a frame's copy never changes under it
    // Input without a seq (an older client) changes nothing; a viewer that leaves is no longer named.
    input.submit("b", { type: "focus_in" });
    input.drain();
    control.leave("a");
    expect(input.appliedInput).toEqual({ "2": 40 });
  });

  test("a frame names at most the viewers whose input was drained most lately", () => {
    const { control, input } = setup();
    const n = APPLIED_INPUT_VIEWERS + 3;
    for (let i = 1; i <= n; i++) control.join(`v${i}`, true);
    for (let i = 1; i <= n; i++) {
      input.submit(`v${i}`, key(i));
      input.drain();
    }
    input.submit("v1", key(100));
    input.drain();
    const named = Object.keys(input.appliedInput!).map(Number).sort((x, y) => x - y);
    expect(named).toEqual([1, ...Array.from({ length: APPLIED_INPUT_VIEWERS - 1 }, (_, i) => n - APPLIED_INPUT_VIEWERS + 2 + i)]);
    expect(input.appliedInput!["1"]).toBe(100);
  });
});

describe("a pushFrame embedder", () => {
  test("each frame names the highest seq drained before its push; the engine never sees a seq", async () => {
    const server = await startServer();
    const { viewer, you } = await joinV2(server);
    const engine = embedder(server, () => String(you));
    await viewer.until(() => viewer.frames.length >= 2, 8000, "frames before any input");
    for (const seq of [1, 2, 5, 9]) {
      viewer.send(key(seq));
      await viewer.until(() => viewer.frames.some((f) => f.meta?.in?.[String(you)] === seq), 8000, `a frame after seq ${seq}`);
    }
    const checked = viewer.frames.filter((f) => engine.appliedAtPush.has(f.meta!.t!));
    // At least the two before any input and one after each key.
    expect(checked.length).toBeGreaterThanOrEqual(6);
    expect(checked[0]!.meta!.in).toBeUndefined();
    for (const { meta } of checked) {
      const want = engine.appliedAtPush.get(meta!.t!)![String(you)];
      // Before the first drained key a frame has no entry for this viewer.
      expect(meta!.in?.[String(you)]).toBe(want);
    }
    expect(engine.drained.filter((e) => e.type === "key_down").map((e) => (e as { key: string }).key)).toEqual(["k1", "k2", "k5", "k9"]);
    for (const e of engine.drained) expect(Object.hasOwn(e, "seq")).toBe(false);
  }, 30_000);

  test("with every viewer driving, a frame names each one's seq; one that leaves is no longer named", async () => {
    const server = await startServer({ control: "all" });
    const a = await joinV2(server);
    const b = await joinV2(server);
    const owner = (seq: number) => String(seq < 100 ? a.you : b.you);
    const engine = embedder(server, owner);
    a.viewer.send(key(3));
    b.viewer.send(key(104));
    const both = (m: FrameMeta | null) => m?.in?.[String(a.you)] === 3 && m?.in?.[String(b.you)] === 104;
    await a.viewer.until(() => a.viewer.frames.some((f) => both(f.meta)), 8000, "a frame naming both viewers' input");
    // b sees the same frame: one encode for everyone, each finds its own entry.
    await b.viewer.until(() => b.viewer.frames.some((f) => both(f.meta)), 8000, "b's copy of that frame");
    for (const { meta } of a.viewer.frames.filter((f) => engine.appliedAtPush.has(f.meta!.t!))) {
      expect(meta!.in ?? {}).toEqual(engine.appliedAtPush.get(meta!.t!)!);
    }
    b.viewer.close();
    const left = a.viewer.frames.length;
    await a.viewer.until(
      () => a.viewer.frames.slice(left).some((f) => f.meta?.in?.[String(a.you)] === 3 && f.meta.in[String(b.you)] === undefined),
      8000,
      "a frame without the viewer that left",
    );
  }, 30_000);

  test("a bad seq is refused naming the field, and nothing reaches the engine", async () => {
    const server = await startServer();
    const { viewer } = await joinV2(server);
    for (const seq of [-1, 1.5, "7", Number.MAX_SAFE_INTEGER + 2]) {
      const before = viewer.texts.length;
      viewer.send({ type: "key_down", key: "a", modifiers: [], seq });
      await viewer.until(() => viewer.texts.slice(before).some((t) => t.type === "error"), 5000, `the error for seq ${seq}`);
      expect(viewer.texts.slice(before).find((t) => t.type === "error")!.error).toBe(
        `key_down.seq must be an integer in [0, ${Number.MAX_SAFE_INTEGER}]`,
      );
    }
    // The socket stays open and a good one still goes through; the bad ones never did.
    viewer.send(key(1));
    await waitFor(() => server.stats.inputAccepted >= 1, 5000, "the good key accepted");
    expect(server.stats.inputRejected).toBe(4);
    expect(server.drainInput().filter((e) => e.type === "key_down")).toEqual([{ type: "key_down", key: "k1", modifiers: [] }]);
  }, 30_000);
});

/** The synthetic scene, remembering for each frame it rendered (by a unique capture time) the keys held then. */
class RecordingSource implements FrameSource {
  readonly name = "recording";
  readonly device = "synthetic (CPU)";
  readonly width = W;
  readonly height = H;
  readonly keysAt = new Map<number, string[]>();
  private readonly inner = new SyntheticSource(W, H);
  private readonly t0 = Date.now();
  private k = 0;

  async nextFrame(t: number, input: InputState): Promise<Frame> {
    const frame = await this.inner.nextFrame(t, input);
    const captureTime = this.t0 + this.k++;
    this.keysAt.set(captureTime, [...input.keys]);
    return { ...frame, captureTime };
  }
  resize(): void {}
  close(): void {}
}

describe("the built-in engine loop", () => {
  test("a frame names a seq exactly when the scene rendered it with that key held", async () => {
    const server = await startServer();
    const source = new RecordingSource();
    const engine = runEngine(server, source, silentLogger);
    cleanups.push(() => engine.stop());
    const { viewer, you } = await joinV2(server);
    const h264 = server.config().codecs.includes("h264") ? await H264Viewer.connect(server.url) : null;
    if (h264) cleanups.push(() => h264.close());
    await viewer.until(() => viewer.frames.length >= 3, 8000, "frames before any input");
    viewer.send(key(7));
    await viewer.until(() => viewer.frames.some((f) => f.meta?.in?.[String(you)] === 7), 8000, "a frame after seq 7");
    const frames = viewer.frames.filter((f) => source.keysAt.has(f.meta!.t!));
    expect(frames.some((f) => f.meta!.in === undefined)).toBe(true);
    for (const { meta } of frames) {
      expect(meta!.in?.[String(you)] === 7).toBe(source.keysAt.get(meta!.t!)!.includes("k7"));
    }
    if (h264) {
      // The H.264 SEI carries the same metadata object.
      await h264.until(() => h264.units.some((u) => (u.meta as FrameMeta).in?.[String(you)] === 7), 8000, "an H.264 frame after seq 7");
      for (const u of h264.units.filter((u) => source.keysAt.has(u.meta.t))) {
        expect((u.meta as FrameMeta).in?.[String(you)] === 7).toBe(source.keysAt.get(u.meta.t)!.includes("k7"));
      }
    }
  }, 30_000);
});

describe("an ingest producer", () => {
  test("input delivered to the producer before it submits a frame counts as applied to that frame", async () => {
    const [w, h] = [64, 48];
    const vkcast = await Vkcast.start(`${mkdtempSync(`${tmpdir()}/vkcast-inseq-`)}/ingest.sock`, [`--width=${w}`, `--height=${h}`]);
    cleanups.push(() => vkcast.stop());
    const producer = await RawProducer.connect(vkcast.socketPath);
    cleanups.push(() => producer.close());
    await producer.handshake({ stream: "main", width: w, height: h });
    const viewer = await Viewer.connect(wsUrl(vkcast.url, "ws?v=2"), false);
    cleanups.push(() => viewer.close());
    await viewer.until(() => viewer.texts.some((t) => t.type === "presence"), 10_000, "presence");
    const you = String(viewer.texts.find((t) => t.type === "presence")!.you);
    expect(await producer.next("watching")).toEqual({ type: "watching", value: true });
    const frameAt = async (t: number) => {
      await viewer.until(() => viewer.frames.some((f) => f.meta?.t === t), 10_000, `the frame submitted at t=${t}`);
      return viewer.frames.find((f) => f.meta?.t === t)!.meta!;
    };
    const t0 = Date.now();
    producer.submit(0, w, h, pattern(w, h), { t: t0 });
    expect((await frameAt(t0)).in).toBeUndefined();
    viewer.send(key(5));
    // The producer gets the event without its seq; a frame it submits after that follows seq 5.
    expect((await producer.next("input")).event).toEqual({ type: "key_down", key: "k5", modifiers: [] });
    producer.submit(1, w, h, pattern(w, h, 8), { t: t0 + 1 });
    expect((await frameAt(t0 + 1)).in).toEqual({ [you]: 5 });
  }, 60_000);
});

describe("the page's measurement (pure)", () => {
  const move = { type: "pointer_move", x: 1, y: 2, button: 0, buttons: [], modifiers: [] } as const;

  test("seqs count from 1 per connection; a painted frame measures the newest key or pointer message it follows", () => {
    const m = new InputLatency();
    m.viewerId = 3;
    expect(m.stamp({ type: "resize", width: 10, height: 10, ratio: 1 }, 0).seq).toBe(1);
    expect(m.stamp(move, 100).seq).toBe(2);
    expect(m.stamp({ type: "key_down", key: "a", modifiers: [] }, 110).seq).toBe(3);
    expect(m.stamp(move, 120).seq).toBe(4);
    // Frame 10 follows viewer 3's seq 3 (and another viewer's 9): painted at 150, it shows the key sent at 110.
    m.frameArrived(10, { "3": 3, "7": 9 });
    expect(m.framePainted(10, 150)).toBe(40);
    // A later frame that follows seq 3 still measures nothing new; one that follows 4 measures the move.
    m.frameArrived(11, { "3": 3 });
    expect(m.framePainted(11, 160)).toBeNull();
    m.frameArrived(12, { "3": 4 });
    expect(m.framePainted(12, 200)).toBe(80);
    // Only a resize (not measured) before seq 1 was applied: nothing to measure.
    const fresh = new InputLatency();
    fresh.viewerId = 1;
    fresh.stamp({ type: "focus_in" }, 0);
    fresh.frameArrived(1, { "1": 1 });
    expect(fresh.framePainted(1, 50)).toBeNull();
  });

  test("frames of other viewers, frames overtaken before their paint, and a new connection", () => {
    const m = new InputLatency();
    m.viewerId = 2;
    m.stamp(move, 0);
    m.frameArrived(5, { "1": 1 }); // another viewer's input only
    expect(m.framePainted(5, 10)).toBeNull();
    // Frame 6 is overtaken by 7 (never painted); 7 follows the same input and measures it at its own paint.
    m.frameArrived(6, { "2": 1 });
    m.frameArrived(7, { "2": 1 });
    expect(m.framePainted(7, 90)).toBe(90);
    expect(m.framePainted(6, 95)).toBeNull();
    // A new connection numbers from 1 again and has no session id until presence says it.
    m.reset();
    expect(m.stamp(move, 100).seq).toBe(1);
    m.frameArrived(8, { "2": 1 });
    expect(m.framePainted(8, 130)).toBeNull();
    m.viewerId = 4;
    m.frameArrived(9, { "4": 1 });
    expect(m.framePainted(9, 140)).toBe(40);
  });

  test("memory stays bounded: only the newest send times are kept", () => {
    const m = new InputLatency();
    m.viewerId = 1;
    for (let i = 0; i < 10_000; i++) m.stamp(move, i);
    m.frameArrived(1, { "1": 10 }); // long forgotten
    expect(m.framePainted(1, 20_000)).toBeNull();
    m.frameArrived(2, { "1": 10_000 });
    expect(m.framePainted(2, 20_000)).toBe(20_000 - 9_999);
  });

  test("quantiles by nearest rank", () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([7], 0.9)).toBe(7);
    const tens = [100, 10, 90, 20, 80, 30, 70, 40, 60, 50];
    expect(quantile(tens, 0.5)).toBe(50);
    expect(quantile(tens, 0.9)).toBe(90);
    expect(quantile(tens, 1)).toBe(100);
  });

  test("the overlay: n/a before any input, then p50 and p90 of the newest samples; a benchmark gets the newest kept", () => {
    const stats = new Stats();
    expect(stats.snapshot(0).inputToDisplay).toBeNull();
    expect(inputToDisplayText(stats.snapshot(0).inputToDisplay)).toBe("n/a");
    // Slow at first, then fast: the quantiles follow the newest INPUT_QUANTILE_SAMPLES.
    for (let i = 0; i < 100; i++) stats.inputShown(900);
    for (let i = 1; i <= INPUT_QUANTILE_SAMPLES; i++) stats.inputShown(i);
    const s = stats.snapshot(0).inputToDisplay!;
    const count = 100 + INPUT_QUANTILE_SAMPLES;
    expect(s).toEqual({ p50: INPUT_QUANTILE_SAMPLES / 2, p90: Math.ceil(INPUT_QUANTILE_SAMPLES * 0.9), count });
    expect(inputToDisplayText({ p50: 33.6, p90: 51.2, count: 2 })).toBe("34 ms (p90 51)");
    for (let i = 0; i < INPUT_SAMPLES_KEPT; i++) stats.inputShown(5);
    const kept = stats.inputToDisplaySamples();
    expect(kept.samplesMs).toHaveLength(INPUT_SAMPLES_KEPT);
    expect(kept.count).toBe(100 + INPUT_QUANTILE_SAMPLES + INPUT_SAMPLES_KEPT);
    // A new connection keeps them: they measured this page.
    stats.resetConnection();
    expect(stats.snapshot(0).inputToDisplay!.p50).toBe(5);
  });

  test("a frame's `in` is read as seqs by session id; anything else is left out", () => {
    const meta = (json: string) => parseFrameMeta(new TextEncoder().encode(json));
    expect(meta('{"seq":4,"t":1,"w":2,"h":3,"q":80,"in":{"3":17,"5":2}}')!.in).toEqual({ "3": 17, "5": 2 });
    expect(meta('{"seq":4,"in":{"3":-1,"4":1.5,"5":"7","6":9}}')!.in).toEqual({ "6": 9 });
    expect(meta('{"seq":4,"in":[1,2]}')!.in).toBeUndefined();
    const proto = meta('{"seq":4,"in":{"__proto__":5}}')!.in!;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(proto["__proto__"]).toBe(5);
  });
});
