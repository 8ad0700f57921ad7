// Each viewer gets the newest frame at its own pace: flow control, adaptive quality, unchanged
// frames, idle, control roles. Real sockets; the stuck viewer is a raw TCP client that never reads.
// Every wait is on a counter or a message, never a fixed sleep, so a loaded machine only slows it.
import { describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { runEngine } from "../src/engine.ts";
import type { Frame, FrameSource } from "../src/frame.ts";
import type { InputState } from "../src/input-state.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { CLOSE_TOO_SLOW, MAX_UNACKED } from "../src/server/viewer.ts";
import { pushFrames } from "./helpers/push.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor, waitForGrowth } from "./helpers/wait.ts";

const move = (x: number) => ({ type: "pointer_move", x, y: 10, button: 0, buttons: [], modifiers: [] });

/** A WebSocket client over raw TCP that stops reading after the handshake; it keeps every byte it
 *  reads, so once resumed the frames and the close frame the server queued can be read back. */
async function stuckViewer(port: number): Promise<{ socket: Socket; received: Buffer[] }> {
  const socket = connect(port, "127.0.0.1");
  const received: Buffer[] = [];
  socket.on("data", (d: Buffer) => received.push(d));
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await new Promise<void>((resolve) => socket.once("data", () => resolve()));
  socket.pause(); // from here on the kernel buffers fill up and then the server's
  return { socket, received };
}

/** The close frame in a server->client byte stream after the HTTP upgrade response, if it is there. */
function closeFrame(stream: Buffer): { code: number; reason: string } | null {
  let at = stream.indexOf("\r\n\r\n") + 4;
  while (at > 3 && at + 2 <= stream.length) {
    const opcode = stream[at]! & 0x0f;
    let length = stream[at + 1]! & 0x7f;
    let header = 2;
    if (length === 126) {
      if (at + 4 > stream.length) return null;
      length = stream.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (at + 10 > stream.length) return null;
      length = Number(stream.readBigUInt64BE(at + 2));
      header = 10;
    }
    if (at + header + length > stream.length) return null;
    if (opcode === 0x8) {
      const payload = stream.subarray(at + header, at + header + length);
      return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString("utf8") };
    }
    at += header + length;
  }
  return null;
}

/** Frames the server has dealt with: encoded (and published), skipped as unchanged, or failed. */
const processed = (s: StreamingServer) => s.stats.framesEncoded + s.stats.framesUnchanged + s.stats.encodeErrors;

describe("flow control", () => {
  test("a viewer that never reads does not slow the others, is bounded, and is closed with 4008 naming the reason", async () => {
    const source = new SyntheticSource(1280, 720);
    const stallTimeout = 5;
    const server = new StreamingServer({ port: 0, fps: 30, stallTimeout });
    await server.start(1280, 720);
    const stopPushing = pushFrames(server, source, 30);
    const stuck = await stuckViewer(server.port);
    const viewers = await Promise.all([1, 2, 3, 4, 5].map(() => Viewer.connect(wsUrl(server.url), false)));
    // Once the kernel's buffers are full the stuck viewer is behind: the server skips its frames.
    await waitFor(() => server.stats.framesSkipped > 0, 20_000, "the stuck viewer to fall behind");
    const behindAt = Date.now();
    const rssStart = process.memoryUsage().rss;
    const counts = viewers.map((v) => v.frames.length);
    const [pushed0, published0] = [server.stats.framesPushed, server.stats.framesPublished];
    // It is closed once it has been behind for the stall timeout (checked once a second).
    await waitFor(() => server.stats.viewersClosedTooSlow > 0, (stallTimeout + 5) * 1000, "the stuck viewer to be closed");
    const closedAfter = Date.now() - behindAt;
    const pushed = server.stats.framesPushed - pushed0;
    const published = server.stats.framesPublished - published0;
    // Frames published just now may still be on their way to the readers.
    await waitFor(() => viewers.every((v, i) => v.frames.length - counts[i]! >= published - 2), 3000, "the readers to get what was published");
    const received = viewers.map((v, i) => v.frames.length - counts[i]!);
    const rssGrowth = process.memoryUsage().rss - rssStart;
    expect(server.viewerCount).toBe(5);

    // The stuck client reads again: what the server queued ends with a close frame giving the reason.
    stuck.socket.resume();
    await waitFor(() => closeFrame(Buffer.concat(stuck.received)) !== null, 5000, "the close frame");
    const close = closeFrame(Buffer.concat(stuck.received))!;
    stopPushing();
    for (const v of viewers) v.close();
    await server.stop();
    stuck.socket.destroy();

    expect(close.code).toBe(CLOSE_TOO_SLOW);
    expect(close.reason).toMatch(/too slow/);
    expect(closedAfter).toBeGreaterThanOrEqual(stallTimeout * 1000 - 100);
    expect(server.stats.viewersClosedTooSlow).toBe(1);
    // While it was stuck the server kept publishing what it was given, and every reader got it.
    expect(published).toBeGreaterThanOrEqual(0.8 * pushed);
    expect(published).toBeGreaterThan(stallTimeout * 10);
    for (const n of received) expect(n).toBeGreaterThanOrEqual(published - 2);
    expect(rssGrowth).toBeLessThan(48 * 1024 * 1024);
  }, 60_000);

  test("a v2 viewer that stops acknowledging skips frames, then gets the newest at once when it acks", async () => {
    const source = new SyntheticSource(160, 90);
    const server = new StreamingServer({ port: 0, fps: 30 });
    await server.start(160, 90);
    let stopPushing = pushFrames(server, source, 30);
    const viewer = await Viewer.connect(wsUrl(server.url, "ws?v=2"));
    await viewer.until(() => viewer.frames.length > 0, 3000, "a first frame");
    const ackedSeq = viewer.frames.at(-1)!.meta!.seq!;
    viewer.send({ type: "ack", seq: ackedSeq });
    // From its first ack on it is paced by acks: with no more of them it falls behind and skips.
    await waitForGrowth(() => server.stats.framesSkipped, 15, 5000, "frames the silent viewer skips");
    const sinceAck = viewer.frames.filter((f) => f.meta!.seq! > ackedSeq).length;
    // MAX_UNACKED frames may be unacknowledged and one more makes it behind; frames sent before the
    // server read the ack add at most one or two more. Fifteen or more were published meanwhile.
    expect(sinceAck).toBeLessThanOrEqual(MAX_UNACKED + 3);

    // The producer stops; once every pushed frame is dealt with, the newest frame's seq is the count.
    stopPushing();
    await waitFor(() => processed(server) + server.stats.framesDropped === server.stats.framesPushed, 3000, "the last frames");
    const newestSeq = server.stats.framesEncoded + server.stats.encodeErrors;
    const lastSeq = viewer.frames.at(-1)!.meta!.seq!;
    expect(newestSeq).toBeGreaterThan(lastSeq + 10);
    // Nothing new is pushed: the frame the ack brings is the newest one, sent because of the ack.
    viewer.send({ type: "ack", seq: lastSeq });
    await viewer.until(() => viewer.frames.at(-1)!.meta!.seq! > lastSeq, 3000, "the newest frame after an ack");
    expect(viewer.frames.at(-1)!.meta!.seq!).toBe(newestSeq);

    // Now it acks each frame as it comes, as the browser client does once a frame is painted.
    stopPushing = pushFrames(server, source, 30);
    for (let i = 0; i < 20; i++) {
      const seq = viewer.frames.at(-1)!.meta!.seq!;
      viewer.send({ type: "ack", seq });
      await viewer.until(() => viewer.frames.at(-1)!.meta!.seq! > seq, 3000, "the next frame after an ack");
    }
    // Capture->acknowledged latency from the metadata reaches the viewer in its stats message.
    type Stats = { type: string; latencyMs: { p50: number | null; count: number } };
    const latest = () => viewer.texts.filter((t) => t.type === "stats").at(-1) as Stats | undefined;
    await viewer.until(() => typeof latest()?.latencyMs.p50 === "number", 3000, "stats with latency");
    expect(latest()!.latencyMs.p50!).toBeGreaterThanOrEqual(0);
    expect(server.latencyMs.count).toBeGreaterThanOrEqual(15);
    stopPushing();
    await server.stop();
  }, 20_000);
});

describe("adaptive quality and unchanged frames", () => {
  test("interactive quality while input arrives, one still frame when it stops", async () => {
    const source = new SyntheticSource(160, 90);
    const server = new StreamingServer({ port: 0, fps: 30, quality: 80, interactiveQuality: 50, stillQuality: 95 });
    await server.start(160, 90);
    const stopPushing = pushFrames(server, source, 30);
    const viewer = await Viewer.connect(wsUrl(server.url));
    const q = () => viewer.frames.map((f) => f.meta!.q!);
    await viewer.until(() => viewer.frames.length >= 3, 3000, "first frames");
    expect(new Set(q())).toEqual(new Set([80]));
    let x = 0;
    const moving = setInterval(() => viewer.send(move(x++)), 25);
    await viewer.until(() => q().at(-1) === 50, 3000, "a frame at the interactive quality");
    clearInterval(moving);
    const mark = viewer.frames.length;
    const after = () => q().slice(mark);
    await viewer.until(() => after().includes(95) && after().length - after().indexOf(95) > 5, 5000, "the still frame and frames after it");
    const still = after().indexOf(95);
    expect(after().filter((v) => v === 95)).toHaveLength(1);
    expect(after().slice(0, still).every((v) => v === 50)).toBe(true);
    expect(after().slice(still + 1).every((v) => v === 80)).toBe(true);
    stopPushing();
    await server.stop();
  });

  test("a static picture: one still frame, then nothing; the first push of a change goes out", async () => {
    const source = new SyntheticSource(160, 90);
    const server = new StreamingServer({ port: 0, fps: 30 });
    await server.start(160, 90);
    const viewer = await Viewer.connect(wsUrl(server.url));
    /** Pushes one frame and waits until the server has dealt with it. */
    const push = async (frame: Frame) => {
      const before = processed(server);
      server.pushFrame(frame);
      await waitFor(() => processed(server) > before, 3000, "the pushed frame to be dealt with");
    };
    await push(source.frame(0));
    await push(source.frame(0));
    await viewer.until(() => viewer.frames.length === 2, 3000, "two frames");
    // The first frame is "normal"; the same picture again is worth one still frame, then nothing.
    expect(viewer.frames.map((f) => f.meta!.q)).toEqual([85, 90]);
    for (let i = 0; i < 40; i++) await push(source.frame(0));
    expect(server.stats.framesUnchanged).toBe(40);
    expect(server.stats.framesEncoded).toBe(2);
    expect(server.stats.framesPublished).toBe(2);
    await push(source.frame(1));
    await viewer.until(() => viewer.frames.length === 3, 3000, "the changed frame");
    expect(viewer.frames[2]!.meta).toMatchObject({ seq: 3, q: 85 });
    expect(server.stats.framesUnchanged).toBe(40);
    await server.stop();
  });
});

describe("idle", () => {
  /** A server that counts how often the engine loop asks whether anyone watches (once a tick). */
  class CountingServer extends StreamingServer {
    asked = 0;
    override hasClients(): boolean {
      this.asked++;
      return super.hasClients();
    }
  }

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
    const server = new CountingServer({ port: 0, fps: 30 });
    await server.start(64, 64);
    const engine = runEngine(server, counting, console as never);
    await waitForGrowth(() => server.asked, 30, 5000, "30 engine ticks");
    expect(rendered).toBe(0);
    expect(server.stats.framesEncoded).toBe(0);
    const viewer = await Viewer.connect(wsUrl(server.url));
    await viewer.until(() => viewer.frames.length > 5, 3000, "frames once a viewer is there");
    viewer.close();
    await viewer.closed;
    await waitFor(() => server.viewerCount === 0, 3000, "the viewer to be gone");
    // A tick that started before it left may still render and push one frame: let it finish.
    await waitForGrowth(() => server.asked, 2, 3000, "two engine ticks");
    await waitFor(() => processed(server) + server.stats.framesDropped === server.stats.framesPushed, 3000, "the last frame");
    const [renderedThen, encodedThen] = [rendered, server.stats.framesEncoded];
    await waitForGrowth(() => server.asked, 30, 5000, "30 more engine ticks");
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
    await second.until(() => first.texts.length > 0 && second.texts.length > 0, 2000, "hello");
    expect(first.texts[0]).toMatchObject({ type: "hello", role: "control" });
    expect(second.texts[0]).toMatchObject({ type: "hello", role: "view" });
    first.send(move(1));
    second.send(move(2));
    await waitFor(() => server.stats.inputAccepted + server.stats.inputDenied === 2, 3000, "both messages");
    expect(server.drainInput()).toEqual([move(1) as never]);
    expect(server.stats.inputDenied).toBe(1);
    first.close();
    await second.until(() => second.texts.some((t) => t.type === "config" && t.role === "control"), 2000, "control");
    second.send(move(3));
    await waitFor(() => server.stats.inputAccepted === 2, 3000, "the new controller's input");
    expect(server.drainInput()).toEqual([move(3) as never]);
    expect(server.stats.inputDenied).toBe(1);
    await server.stop();
  });

  test("view-only: nobody's input reaches the engine", async () => {
    const server = new StreamingServer({ port: 0, control: "none" });
    await server.start(64, 64);
    const viewer = await Viewer.connect(wsUrl(server.url));
    viewer.send(move(1));
    await waitFor(() => server.stats.inputDenied === 1, 3000, "the denied input");
    expect(server.drainInput()).toEqual([]);
    expect(server.stats.inputAccepted).toBe(0);
    await server.stop();
  });
});
