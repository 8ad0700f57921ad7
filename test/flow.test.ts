// Each viewer gets the newest frame at its own pace: flow control, adaptive quality, unchanged
// frames, idle, control roles. Real sockets; the stuck viewer is a raw TCP client that never reads.
import { describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { runEngine } from "../src/engine.ts";
import type { Frame, FrameSource } from "../src/frame.ts";
import type { InputState } from "../src/input.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { CLOSE_TOO_SLOW } from "../src/viewers.ts";
import { pushFrames } from "./helpers/push.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";

const move = (x: number) => ({ type: "pointer_move", x, y: 10, button: 0, buttons: [], modifiers: [] });

/** A WebSocket handshake over raw TCP, after which the client never reads another byte. */
async function stuckViewer(port: number): Promise<Socket> {
  const socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await new Promise<void>((resolve) => socket.once("data", () => resolve()));
  socket.pause(); // from here on the kernel buffers fill up and then the server's
  socket.on("error", () => {});
  return socket;
}

describe("flow control", () => {
  test("a viewer that never reads does not slow the others, is bounded, and is closed in time", async () => {
    const source = new SyntheticSource(1280, 720);
    const server = new StreamingServer({ port: 0, fps: 30, stallTimeout: 5 });
    await server.start(1280, 720);
    const stopPushing = pushFrames(server, source, 30);
    const stuck = await stuckViewer(server.port);
    const viewers = await Promise.all([1, 2, 3, 4, 5].map(() => Viewer.connect(wsUrl(server.url), false)));
    await Bun.sleep(2000);
    const rssStart = process.memoryUsage().rss;
    const counts = viewers.map((v) => v.frames.length);
    const t0 = Date.now();
    // The paused client cannot see its socket close, so watch the server's side of it.
    let closedAfter = -1;
    const watch = setInterval(() => {
      if (closedAfter < 0 && server.stats.viewersClosedTooSlow > 0) closedAfter = Date.now() - t0;
    }, 50);
    await Bun.sleep(18000);
    clearInterval(watch);
    expect(server.viewerCount).toBe(5);
    const seconds = (Date.now() - t0) / 1000;
    const fps = viewers.map((v, i) => (v.frames.length - counts[i]!) / seconds);
    const rssGrowth = process.memoryUsage().rss - rssStart;
    stopPushing();
    for (const v of viewers) v.close();
    await server.stop();
    stuck.destroy();

    for (const f of fps) expect(f).toBeGreaterThanOrEqual(0.9 * 30);
    // Stuck after the kernel's buffers filled, then closed 5 s later.
    expect(closedAfter).toBeGreaterThan(0);
    expect(closedAfter).toBeLessThan(14000);
    expect(server.stats.viewersClosedTooSlow).toBe(1);
    expect(server.stats.framesSkipped).toBeGreaterThan(0);
    expect(rssGrowth).toBeLessThan(48 * 1024 * 1024);
  }, 40000);

  test("a v2 viewer that stops acknowledging skips frames, then gets the newest when it acks", async () => {
    const source = new SyntheticSource(160, 90);
    const server = new StreamingServer({ port: 0, fps: 30 });
    await server.start(160, 90);
    const stopPushing = pushFrames(server, source, 30);
    const viewer = await Viewer.connect(wsUrl(server.url, "ws?v=2"));
    await viewer.until(() => viewer.frames.length > 0, 3000, "a first frame");
    viewer.send({ type: "ack", seq: viewer.frames.at(-1)!.meta!.seq! });
    const before = viewer.frames.length;
    await Bun.sleep(1000);
    // Two frames beyond the last ack may be in flight, and a third makes it "behind".
    expect(viewer.frames.length - before).toBeLessThanOrEqual(3);
    const lastSeq = viewer.frames.at(-1)!.meta!.seq!;
    const sentAt = Date.now();
    viewer.send({ type: "ack", seq: lastSeq });
    await viewer.until(() => viewer.frames.at(-1)!.meta!.seq! > lastSeq, 1000, "the newest frame after an ack");
    expect(Date.now() - sentAt).toBeLessThan(100);
    // The frame it gets is the newest one, not the next in line.
    expect(viewer.frames.at(-1)!.meta!.seq!).toBeGreaterThan(lastSeq + 10);
    // Now it acks each frame as it comes, as the browser client does once a frame is painted.
    for (let i = 0; i < 60; i++) {
      viewer.send({ type: "ack", seq: viewer.frames.at(-1)!.meta!.seq! });
      await Bun.sleep(20);
    }
    // Capture->acknowledged latency from the metadata reaches the viewer in its stats message.
    type Stats = { type: string; latencyMs: { p50: number | null } };
    const latest = () => viewer.texts.filter((t) => t.type === "stats").at(-1) as Stats | undefined;
    await viewer.until(() => typeof latest()?.latencyMs.p50 === "number", 2500, "stats with latency");
    expect(latest()!.latencyMs.p50!).toBeGreaterThanOrEqual(0);
    expect(server.latencyMs.quantile(0.5)!).toBeLessThan(200);
    stopPushing();
    await server.stop();
  }, 15000);
});

describe("adaptive quality and unchanged frames", () => {
  test("interactive quality while input arrives, one still frame when it stops", async () => {
    const source = new SyntheticSource(160, 90);
    const server = new StreamingServer({ port: 0, fps: 30, quality: 80, interactiveQuality: 50, stillQuality: 95 });
    await server.start(160, 90);
    const stopPushing = pushFrames(server, source, 30);
    const viewer = await Viewer.connect(wsUrl(server.url));
    await Bun.sleep(300);
    const q = () => viewer.frames.map((f) => f.meta!.q!);
    expect(q().at(-1)).toBe(80);
    for (let i = 0; i < 20; i++) {
      viewer.send(move(i));
      await Bun.sleep(25);
    }
    expect(q().at(-1)).toBe(50);
    const mark = viewer.frames.length;
    await Bun.sleep(600);
    const after = q().slice(mark);
    const still = after.indexOf(95);
    expect(still).toBeGreaterThanOrEqual(0);
    expect(after.filter((x) => x === 95)).toHaveLength(1);
    expect(after.slice(still + 1).every((x) => x === 80)).toBe(true);
    stopPushing();
    await server.stop();
  });

  test("a static picture: one still frame, then nothing for seconds; a change goes out at once", async () => {
    const source = new SyntheticSource(160, 90);
    const server = new StreamingServer({ port: 0, fps: 30 });
    await server.start(160, 90);
    const viewer = await Viewer.connect(wsUrl(server.url));
    let frame = source.frame(0);
    const timer = setInterval(() => server.pushFrame(frame), 1000 / 30);
    await Bun.sleep(500);
    const qualities = viewer.frames.map((f) => f.meta!.q);
    // The first frame is "normal"; the same picture again is worth one still frame, then nothing.
    expect(qualities).toEqual([85, 90]);
    const encodedBefore = server.stats.framesEncoded;
    await Bun.sleep(2000);
    expect(viewer.frames).toHaveLength(2);
    expect(server.stats.framesEncoded).toBe(encodedBefore);
    expect(server.stats.framesUnchanged).toBeGreaterThan(50);
    frame = source.frame(1);
    const changedAt = Date.now();
    await viewer.until(() => viewer.frames.length > 2, 1000, "the changed frame");
    expect(Date.now() - changedAt).toBeLessThan(80);
    clearInterval(timer);
    await server.stop();
  });
});

describe("idle", () => {
  test("with no viewer connected the engine neither renders nor encodes", async () => {
    let rendered = 0;
    const inner = new SyntheticSource(64, 64);
    const counting: FrameSource = {
      name: "counting",
      device: "test",
      width: 64,
      height: 64,
      nextFrame: (t: number, input: InputState): Promise<Frame> => {
        rendered++;
        return inner.nextFrame(t, input);
      },
      resize: () => {},
      close: () => {},
    };
    const server = new StreamingServer({ port: 0, fps: 30 });
    await server.start(64, 64);
    const engine = runEngine(server, counting, console as never);
    await Bun.sleep(1000);
    expect(rendered).toBe(0);
    expect(server.stats.framesEncoded).toBe(0);
    const viewer = await Viewer.connect(wsUrl(server.url));
    await viewer.until(() => viewer.frames.length > 5, 3000, "frames once a viewer is there");
    viewer.close();
    await viewer.closed;
    await Bun.sleep(200);
    const renderedThen = rendered;
    const encodedThen = server.stats.framesEncoded;
    await Bun.sleep(1000);
    expect(rendered).toBe(renderedThen);
    expect(server.stats.framesEncoded).toBe(encodedThen);
    await engine.stop();
    await server.stop();
  });
});

describe("control", () => {
  test("first viewer controls; input from others is dropped and counted; control passes on", async () => {
    const server = new StreamingServer({ port: 0, control: "first" });
    await server.start(64, 64);
    const first = await Viewer.connect(wsUrl(server.url, "ws?v=2"));
    const second = await Viewer.connect(wsUrl(server.url, "ws?v=2"));
    await second.until(() => second.texts.length > 0, 2000, "hello");
    expect(first.texts[0]).toMatchObject({ type: "hello", role: "control" });
    expect(second.texts[0]).toMatchObject({ type: "hello", role: "view" });
    first.send(move(1));
    second.send(move(2));
    await Bun.sleep(100);
    expect(server.drainInput()).toEqual([move(1) as never]);
    expect(server.stats.inputDenied).toBe(1);
    first.close();
    await second.until(() => second.texts.some((t) => t.type === "config" && t.role === "control"), 2000, "control");
    second.send(move(3));
    await Bun.sleep(100);
    expect(server.drainInput()).toEqual([move(3) as never]);
    await server.stop();
  });

  test("view-only: nobody's input reaches the engine", async () => {
    const server = new StreamingServer({ port: 0, control: "none" });
    await server.start(64, 64);
    const viewer = await Viewer.connect(wsUrl(server.url));
    viewer.send(move(1));
    await Bun.sleep(100);
    expect(server.drainInput()).toEqual([]);
    expect(server.stats.inputDenied).toBe(1);
    await server.stop();
  });
});

test("the stall close code is in the private range and names the reason", () => {
  expect(CLOSE_TOO_SLOW).toBeGreaterThanOrEqual(4000);
});
