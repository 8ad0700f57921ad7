// H.264 viewers of a real server over real sockets, judged by ffmpeg: negotiation, the stream's start,
// joiners gated until an IDR, IDRs at most one a second, slow and stalled viewers, resizes, the still
// picture, and the bar: the Vulkan scene at 720p30 to a JPEG and an H.264 viewer at once.
import { expect, test } from "bun:test";
import { connect } from "node:net";
import { NAL_IDR, NAL_PPS, NAL_SEI, NAL_SLICE, NAL_SPS, nalUnits } from "../src/encode/h264-annexb.ts";
import { runEngine } from "../src/engine.ts";
import { silentLogger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { decodeToYuv, probe, scratch, ssimYuv } from "./helpers/ffmpeg.ts";
import { H264Viewer } from "./helpers/h264-viewer.ts";
import { pushFrames } from "./helpers/push.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor, waitForGrowth } from "./helpers/wait.ts";

/** The NAL unit types of an access unit, a frame's slices (one per encoder thread at 720p and up) counted once. */
const types = (au: Uint8Array) =>
  [...nalUnits(au)].map((n) => n.type).filter((t, i, all) => !(i > 0 && t === all[i - 1] && (t === NAL_IDR || t === NAL_SLICE)));
const START = [NAL_SPS, NAL_PPS, NAL_SEI, NAL_IDR];

async function serve(options: ConstructorParameters<typeof StreamingServer>[0] = {}, width = 640, height = 360) {
  const server = new StreamingServer({ port: 0, fps: 30, ...options });
  await server.start(width, height);
  const source = new SyntheticSource(width, height);
  const stop = pushFrames(server, source, 30);
  return {
    server,
    source,
    async close() {
      stop();
      await server.stop();
    },
  };
}

test("the bar: Vulkan scene at 720p30 to a JPEG and an H.264 viewer at once", async () => {
  const source = await VulkanSource.create({ width: 1280, height: 720 });
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(1280, 720);
  const engine = runEngine(server, source, silentLogger);
  const dir = scratch();
  try {
    const jpeg = await Viewer.connect(`${wsUrl(server.url)}?v=2`);
    const h264 = await H264Viewer.connect(server.url);
    await h264.until(() => h264.units.length >= 15, 20000, "the first H.264 frames");
    expect(h264.hello?.codec).toBe("h264");
    expect(types(h264.units[0]!.data)).toEqual(START);

    // A window of 90 frames after the start: its rate, its bytes against JPEG's for the same frames.
    const from = h264.units.length;
    await h264.until(() => h264.units.length >= from + 90, 20000, "90 more H.264 frames");
    const window = h264.units.slice(from, from + 90);
    const fps = 89 / ((window.at(-1)!.at - window[0]!.at) / 1000);
    const [first, last] = [window[0]!.meta.seq, window.at(-1)!.meta.seq];
    await waitFor(() => (jpeg.frames.at(-1)?.meta?.seq ?? 0) >= last, 10000, "the JPEG viewer to reach the same frame");
    const jpegWindow = jpeg.frames.filter((f) => f.meta!.seq! >= first && f.meta!.seq! <= last);
    const bytes = (xs: { byteLength: number }[]) => xs.reduce((a, x) => a + x.byteLength, 0);
    const h264Bytes = bytes(window.map((u) => u.data));
    const jpegBytes = bytes(jpegWindow.map((f) => f.jpeg));
    expect(jpegWindow.length).toBeGreaterThanOrEqual(80);
    expect(h264Bytes / window.length).toBeLessThanOrEqual((jpegBytes / jpegWindow.length) / 2);

    // The whole H.264 stream decodes cleanly, frame for frame.
    const units = [...h264.units];
    await Bun.write(dir.file("all.h264"), new Uint8Array(Buffer.concat(units.map((u) => u.data))));
    expect(await probe(dir.file("all.h264"))).toMatchObject({ profile: "Constrained Baseline", frames: units.length, errors: "" });

    // Frames of the same seq look alike in both codecs.
    const common = jpegWindow.slice(0, 30).filter((f) => units.some((u) => u.meta.seq === f.meta!.seq));
    expect(common.length).toBeGreaterThanOrEqual(20);
    await decodeToYuv(dir.file("all.h264"), "h264", dir.file("h264.yuv"));
    const frameBytes = 1280 * 720 * 1.5;
    const decoded = new Uint8Array(await Bun.file(dir.file("h264.yuv")).arrayBuffer());
    const picked = common.map((f) => {
      const k = units.findIndex((u) => u.meta.seq === f.meta!.seq);
      return decoded.subarray(k * frameBytes, (k + 1) * frameBytes);
    });
    await Bun.write(dir.file("h264-common.yuv"), new Uint8Array(Buffer.concat(picked)));
    await Bun.write(dir.file("jpeg.mjpeg"), new Uint8Array(Buffer.concat(common.map((f) => f.jpeg))));
    await decodeToYuv(dir.file("jpeg.mjpeg"), "mjpeg", dir.file("jpeg.yuv"));
    const ssims = await ssimYuv(dir.file("h264-common.yuv"), dir.file("jpeg.yuv"), 1280, 720);
    expect(ssims).toHaveLength(common.length);
    expect(Math.min(...ssims)).toBeGreaterThanOrEqual(0.95);
    expect(fps).toBeGreaterThanOrEqual(27);
    jpeg.close();
    h264.close();
  } finally {
    await engine.stop();
    await server.stop();
    source.close();
    dir.remove();
  }
}, 90000);

test("negotiation: hello says the codec, /api/config lists them, bad asks get 400 naming the field", async () => {
  const s = await serve();
  try {
    expect((await (await fetch(`${s.server.url}api/config`)).json()).codecs).toEqual(["jpeg", "h264"]);
    const viewer = await H264Viewer.connect(s.server.url);
    await viewer.until(() => viewer.units.length > 0, 10000, "an H.264 frame");
    expect(viewer.hello).toMatchObject({ type: "hello", codec: "h264" });
    viewer.close();
    const jpeg = await Viewer.connect(`${wsUrl(s.server.url)}?v=2`);
    await jpeg.until(() => jpeg.frames.length > 0, 10000, "a JPEG frame");
    expect(jpeg.texts[0]).toMatchObject({ type: "hello", codec: "jpeg" });
    jpeg.close();
    const upgrade = { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" };
    for (const [query, error] of [
      ["?v=2&codec=vp9", "codec must be jpeg or h264"],
      ["?codec=h264", "codec=h264 needs v=2"],
    ] as const) {
      const res = await fetch(`${s.server.url}ws${query}`, { headers: upgrade });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(error);
    }
  } finally {
    await s.close();
  }
});

test("--codecs jpeg: a viewer asking for H.264 gets JPEG, and the hello says so; bad lists are refused", async () => {
  const s = await serve({ codecs: ["jpeg"] });
  try {
    expect(s.server.config().codecs).toEqual(["jpeg"]);
    const viewer = new Viewer(`${wsUrl(s.server.url)}?v=2&codec=h264`);
    await viewer.opened;
    await viewer.until(() => viewer.frames.length > 0, 10000, "a frame");
    expect(viewer.texts[0]).toMatchObject({ type: "hello", codec: "jpeg" });
    expect([...viewer.frames[0]!.jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    viewer.close();
  } finally {
    await s.close();
  }
  expect(() => new StreamingServer({ codecs: ["h264"] })).toThrow(/codecs must include jpeg/);
  expect(() => new StreamingServer({ codecs: ["jpeg", "vp9" as never] })).toThrow(/codecs must be a list of jpeg, h264/);
  const cli = Bun.spawnSync(["bun", "run", "index.ts", "--codecs", "jpeg,av1"], { cwd: `${import.meta.dir}/..`, stderr: "pipe" });
  expect(cli.exitCode).toBe(2);
  expect(cli.stderr.toString()).toContain("--codecs");
});

test("joiners wait for an IDR; IDRs asked for together are coalesced, at most one a second; only H.264 is encoded", async () => {
  const s = await serve();
  try {
    const first = await H264Viewer.connect(s.server.url);
    await first.until(() => first.units.length >= 10, 10000, "the first viewer's frames");
    const joiners = await Promise.all([0, 1, 2].map(() => H264Viewer.connect(s.server.url)));
    await waitFor(() => joiners.every((j) => j.units.length >= 10), 15000, "every joiner's frames");
    const dir = scratch();
    try {
      for (const [k, joiner] of joiners.entries()) {
        expect(types(joiner.units[0]!.data)).toEqual(START); // nothing before the IDR
        const units = joiner.units.length;
        await Bun.write(dir.file(`j${k}.h264`), joiner.stream(0, units));
        expect(await probe(dir.file(`j${k}.h264`))).toMatchObject({ frames: units, errors: "" });
      }
    } finally {
      dir.remove();
    }
    // The first viewer saw every IDR the stream made: the first, then those for the joiners.
    // The joiners came a third of a second after the first IDR: theirs waited for the second's turn,
    // and one IDR served all three.
    const idrTimes = first.units.filter((u) => u.idr).map((u) => u.meta.t);
    expect(idrTimes).toHaveLength(2);
    expect(idrTimes[1]! - idrTimes[0]!).toBeGreaterThanOrEqual(1000 - 40);
    // Nobody watches JPEG: no JPEG is made.
    expect(s.server.stats.framesEncoded).toBe(0);
    expect(s.server.stats.h264FramesEncoded).toBeGreaterThan(20);
    for (const v of [first, ...joiners]) v.close();
  } finally {
    await s.close();
  }
}, 60000);

test("a v2 H.264 viewer that never acks is paced by its socket buffer alone: it keeps getting every frame", async () => {
  const s = await serve();
  try {
    const viewer = await H264Viewer.connect(s.server.url, { ack: false });
    await viewer.until(() => viewer.units.length >= 90, 20000, "90 frames without an ack");
    expect(viewer.units.filter((u) => u.idr)).toHaveLength(1);
    // Every frame made since its IDR reached it: none skipped, however many went unacknowledged.
    const seqs = viewer.units.map((u) => u.meta.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(s.server.stats.framesSkipped).toBe(0);
    viewer.close();
  } finally {
    await s.close();
  }
});

/** A client-to-server WebSocket text frame (masked, as clients must send them). */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = payload.map((b, i) => b ^ mask[i % 4]!);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

test("a stalled H.264 viewer (it acked, then stopped reading) costs the others nothing: no IDRs for it, and it is closed", async () => {
  const s = await serve({ stallTimeout: 3 }, 1280, 720);
  try {
    const good = await H264Viewer.connect(s.server.url);
    await good.until(() => good.units.length >= 10, 10000, "the good viewer's frames");
    const socket = connect(s.server.port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      "GET /ws?v=2&codec=h264 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await new Promise<void>((resolve) => socket.once("data", () => resolve()));
    socket.write(maskedText(JSON.stringify({ type: "ack", seq: 1 }))); // a client that acks, as the page does
    socket.pause();
    // It joins as anyone does: with an IDR (which the good viewer gets too). Then its buffers fill, it
    // skips frame after frame (it lost its place), and from then on nobody pays for it.
    await good.until(() => good.units.filter((u) => u.idr).length === 2, 10000, "the stalled viewer's IDR");
    const skipped = s.server.stats.framesSkipped;
    await waitFor(() => s.server.stats.framesSkipped >= skipped + 30, 30000, "the stalled viewer to skip 30 frames");
    const from = good.units.length;
    await good.until(() => good.units.length >= from + 60, 20000, "60 more frames for the good viewer");
    expect(good.units.slice(from).filter((u) => u.idr)).toHaveLength(0);
    await waitFor(() => s.server.stats.viewersClosedTooSlow === 1, 15000, "the stalled viewer to be closed");
    socket.destroy();
    good.close();
  } finally {
    await s.close();
  }
}, 90000);

test("a resize re-creates the encoder: the new size starts with SPS+PPS+IDR and the stream decodes across it", async () => {
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(640, 360);
  let source = new SyntheticSource(640, 360);
  let k = 0;
  const timer = setInterval(() => server.pushFrame({ ...source.frame(k++), captureTime: Date.now() }), 33);
  const dir = scratch();
  try {
    const viewer = await H264Viewer.connect(server.url);
    await viewer.until(() => viewer.units.length >= 10, 10000, "frames at 640x360");
    source = new SyntheticSource(480, 270);
    await viewer.until(() => viewer.units.filter((u) => u.meta.w === 480).length >= 10, 10000, "frames at 480x270");
    const firstSmall = viewer.units.find((u) => u.meta.w === 480)!;
    expect(types(firstSmall.data)).toEqual(START);
    expect(viewer.texts.some((t) => t.type === "config" && t.width === 480 && t.height === 270)).toBe(true);
    const units = viewer.units.length;
    await Bun.write(dir.file("resize.h264"), viewer.stream(0, units));
    expect(await probe(dir.file("resize.h264"))).toMatchObject({ frames: units, errors: "" });
    viewer.close();
  } finally {
    clearInterval(timer);
    await server.stop();
    dir.remove();
  }
});

test("a still picture: one refinement frame at the still quality, then nothing", async () => {
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(640, 360);
  const frame = new SyntheticSource(640, 360).frame(0);
  const timer = setInterval(() => server.pushFrame({ ...frame, captureTime: Date.now() }), 33);
  try {
    const viewer = await H264Viewer.connect(server.url);
    await waitForGrowth(() => server.stats.framesUnchanged, 30, 15000, "unchanged frames");
    const sent = viewer.units.length;
    expect(viewer.units.at(-1)!.meta.q).toBe(90);
    expect(viewer.units.at(-1)!.idr).toBe(false); // a refinement of the picture it has, not a new one
    await waitForGrowth(() => server.stats.framesUnchanged, 30, 15000, "more unchanged frames");
    expect(viewer.units.length).toBe(sent);
    viewer.close();
  } finally {
    clearInterval(timer);
    await server.stop();
  }
});

test("a JPEG viewer joining after only H.264 was watched gets the picture of now, not the last JPEG made", async () => {
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(640, 360);
  const ring = new SyntheticSource(640, 360);
  let current = ring.frame(0);
  const timer = setInterval(() => server.pushFrame({ ...current, captureTime: Date.now() }), 33);
  try {
    const h264 = await H264Viewer.connect(server.url);
    await waitForGrowth(() => server.stats.framesUnchanged, 10, 15000, "the first picture to be still");
    const before = h264.units.at(-1)!.meta.seq;
    current = ring.frame(15); // a new picture, seen by H.264 only, then still again
    await h264.until(() => h264.units.some((u) => u.meta.seq > before), 10000, "the new picture in H.264");
    await waitForGrowth(() => server.stats.framesUnchanged, 10, 15000, "the new picture to be still");
    const newPicture = h264.units.find((u) => u.meta.seq > before)!.meta.seq;
    const jpeg = await Viewer.connect(`${wsUrl(server.url)}?v=2`);
    await jpeg.until(() => jpeg.frames.some((f) => f.meta!.seq! >= newPicture), 10000, "a JPEG of the new picture");
    h264.close();
    jpeg.close();
  } finally {
    clearInterval(timer);
    await server.stop();
  }
});
