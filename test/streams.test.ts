// Several named streams on one listener, over real sockets: /s/NAME/ serves stream NAME (its frames,
// its WebSocket, its config, its health, the client page), an unknown name is 404, and viewers of one
// stream count for that stream only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Transformer } from "@napi-rs/image";
import { runEngine } from "../src/engine.ts";
import { createLogger } from "../src/log.ts";
import { type Stream, StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { pageAssetRefs } from "./helpers/page-assets.ts";
import { parsePrometheus } from "./helpers/prometheus.ts";
import { Viewer, wsUrl } from "./helpers/viewer.ts";
import { waitFor } from "./helpers/wait.ts";

const W = 64;
const H = 48;
type Rgb = [number, number, number];
const RED: Rgb = [220, 30, 30];
const BLUE: Rgb = [30, 40, 220];
const GREEN: Rgb = [30, 200, 40];

/** A solid frame; `shade` nudges the colour so that consecutive frames differ and keep flowing. */
function solid([r, g, b]: Rgb, shade: number): Uint8Array {
  const pixels = new Uint8Array(W * H * 4);
  for (let i = 0; i < pixels.length; i += 4) pixels.set([r + shade, g, b - shade, 255], i);
  return pixels;
}

/** The colour a JPEG decodes to in its centre (decoded for real). */
async function centre(jpeg: Uint8Array): Promise<Rgb> {
  const { width, height } = await new Transformer(jpeg).metadata();
  const raw = await new Transformer(jpeg).rawPixels();
  const channels = raw.length / (width * height); // 3 or 4, as the decoder gives them
  const i = (Math.floor(height / 2) * width + Math.floor(width / 2)) * channels;
  return [raw[i]!, raw[i + 1]!, raw[i + 2]!];
}

/** Within JPEG error (and the shade) of `expected`. */
function expectColour(actual: Rgb, expected: Rgb): void {
  for (let c = 0; c < 3; c++) expect(Math.abs(actual[c]! - expected[c]!)).toBeLessThan(25);
}

let server: StreamingServer;
let red: Stream;
let blue: Stream;
let pushing: ReturnType<typeof setInterval>;

beforeAll(async () => {
  server = new StreamingServer({ port: 0, fps: 30 });
  red = server.addStream("red", { device: "red device" });
  await server.start(W, H);
  // A stream added while the server runs is served at once.
  blue = server.addStream("blue-2", { width: W, height: H });
  let k = 0;
  pushing = setInterval(() => {
    const shade = k++ % 2 ? 8 : 0;
    server.pushFrame(solid(GREEN, shade));
    red.pushFrame(solid(RED, shade));
    blue.pushFrame(solid(BLUE, shade));
  }, 1000 / 30);
});

afterAll(async () => {
  clearInterval(pushing);
  await server.stop();
});

describe("named streams on one listener", () => {
  test("/s/NAME/frame.jpg is stream NAME's picture; /frame.jpg is the default stream's", async () => {
    for (const [path, colour] of [["s/red/frame.jpg", RED], ["s/blue-2/frame.jpg", BLUE], ["frame.jpg", GREEN]] as const) {
      const res = await fetch(`${server.origin}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      expectColour(await centre(new Uint8Array(await res.arrayBuffer())), colour);
    }
  });

  test("/s/NAME/ws: each viewer gets frames of its own stream only", async () => {
    const redViewer = await Viewer.connect(wsUrl(server.origin, "s/red/ws?v=2"));
    const blueViewer = await Viewer.connect(wsUrl(server.origin, "s/blue-2/ws?v=2"));
    await redViewer.until(() => redViewer.frames.length >= 5, 10_000, "5 frames of the red stream");
    await blueViewer.until(() => blueViewer.frames.length >= 5, 10_000, "5 frames of the blue stream");
    redViewer.close();
    blueViewer.close();
    for (const f of redViewer.frames) expectColour(await centre(f.jpeg), RED);
    for (const f of blueViewer.frames) expectColour(await centre(f.jpeg), BLUE);
    // Each stream numbers its own frames and says hello with its own size.
    expect(redViewer.texts[0]).toMatchObject({ type: "hello", width: W, height: H });
  });

  test("an unknown stream name is 404 naming it, for every route; a malformed name is 404", async () => {
    for (const path of ["s/nope/", "s/nope/frame.jpg", "s/nope/api/config", "s/nope/ws", "s/nope/healthz", "s/nope/stream.mjpeg"]) {
      const res = await fetch(`${server.origin}${path}`);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain("no stream named 'nope'");
    }
    for (const path of ["s/Nope/", "s/-x/", "s/a.b/frame.jpg", `s/${"x".repeat(64)}/`]) {
      expect((await fetch(`${server.origin}${path}`)).status).toBe(404);
    }
    // A WebSocket to an unknown stream is refused before it opens.
    const viewer = new Viewer(wsUrl(server.origin, "s/nope/ws"));
    await expect(viewer.opened).rejects.toThrow();
  });

  test("a viewer of one stream makes only that stream's hasClients() true", async () => {
    // Viewers of the tests before have gone (their close takes a moment to reach the server).
    await waitFor(() => !(red.hasClients() || blue.hasClients() || server.hasClients()), 5000, "no viewers");
    const viewer = await Viewer.connect(wsUrl(server.origin, "s/red/ws"));
    await waitFor(() => red.hasClients(), 5000, "the red stream to count its viewer");
    expect(blue.hasClients()).toBe(false);
    expect(server.hasClients()).toBe(false);
    expect(red.viewerCount).toBe(1);
    viewer.close();
    await waitFor(() => !red.hasClients(), 5000, "the red stream to see its viewer leave");
  });

  test("/s/NAME/api/config, /api/stats and /healthz are the stream's; /metrics labels each stream", async () => {
    const config = await (await fetch(`${server.origin}s/red/api/config`)).json();
    expect(config).toMatchObject({ width: W, height: H, device: "red device", sourceError: null });
    expect((await (await fetch(`${server.origin}api/config`)).json()).device).toBe("");

    blue.health.failed("waiting for the engine");
    const health = await fetch(`${server.origin}s/blue-2/healthz`);
    expect(health.status).toBe(503);
    expect((await health.json()).error).toBe("waiting for the engine");
    expect((await (await fetch(`${server.origin}s/blue-2/api/config`)).json()).sourceError).toBe("waiting for the engine");
    expect((await fetch(`${server.origin}healthz`)).status).toBe(200);
    expect((await fetch(`${server.origin}s/red/healthz`)).status).toBe(200);
    blue.health.recovered("blue device");
    expect((await fetch(`${server.origin}s/blue-2/healthz`)).status).toBe(200);

    const stats = await (await fetch(`${server.origin}s/blue-2/api/stats`)).json();
    expect(stats.framesEncoded).toBe(blue.statsSnapshot().framesEncoded);
    expect(stats.device).toBe("blue device");

    const samples = parsePrometheus(await (await fetch(`${server.origin}metrics`)).text());
    for (const name of ["default", "red", "blue-2"]) {
      expect(samples.get(`vkcast_frames_encoded_total{stream="${name}"}`)).toBeGreaterThan(0);
    }
    expect(samples.get('vkcast_source_ok{stream="red"}')).toBe(1);
    expect(samples.has("vkcast_uptime_seconds")).toBe(true);
  });

  test("/s/NAME/ serves the client page and its assets; /s/NAME redirects to it", async () => {
    const redirect = await fetch(`${server.origin}s/red`, { redirect: "manual" });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get("location")).toBe("/s/red/");
    const page = await fetch(`${server.origin}s/red/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("<canvas");
    const refs = pageAssetRefs(html);
    expect(refs.length).toBeGreaterThanOrEqual(2);
    for (const { ref, type } of refs) {
      // Relative to the page, so that a proxy serving it under a further path prefix still finds them.
      expect(ref).toMatch(/^\.\/[^/]+$/);
      const res = await fetch(new URL(ref, `${server.origin}s/red/`));
      expect(res.status, ref).toBe(200);
      expect(res.headers.get("content-type") ?? "", ref).toMatch(type);
      expect(await res.text()).toBe(await (await fetch(new URL(ref, server.origin))).text());
    }
  });

  test("an engine loop drives a named stream like the default one", async () => {
    const synth = server.addStream("synth");
    const engine = runEngine(synth, new SyntheticSource(W, H), createLogger("silent"));
    const viewer = await Viewer.connect(wsUrl(server.origin, "s/synth/ws"));
    await viewer.until(() => viewer.frames.length >= 3, 10_000, "frames rendered for the named stream");
    expect(synth.health.renderMs.count).toBeGreaterThan(0);
    await engine.stop();
    viewer.close();
    await server.removeStream("synth");
  });

  test("removeStream closes its viewers (1001) and its URLs become 404; the others go on", async () => {
    const gone = server.addStream("gone");
    gone.pushFrame(solid(RED, 0));
    const viewer = await Viewer.connect(wsUrl(server.origin, "s/gone/ws"));
    await server.removeStream("gone");
    expect(await viewer.closed).toBe(1001);
    expect(server.stream("gone")).toBeUndefined();
    expect((await fetch(`${server.origin}s/gone/frame.jpg`)).status).toBe(404);
    expect((await fetch(`${server.origin}s/red/frame.jpg`)).status).toBe(200);
    expect(() => server.addStream("Bad Name")).toThrow(/stream name must match/);
    expect(() => server.addStream("red")).toThrow(/exists already/);
  });
});

test("with a token, /s/NAME/ needs it too, and the page's first visit keeps it in a cookie at /s/NAME/", async () => {
  const token = "streams-test-token";
  const guarded = new StreamingServer({ port: 0, fps: 30, token });
  guarded.addStream("cam");
  await guarded.start(W, H);
  try {
    for (const path of ["s/cam/", "s/cam/api/config", "s/cam/frame.jpg", "s/cam/ws", "s/nope/"]) {
      expect((await fetch(`${guarded.origin}${path}`)).status).toBe(401);
    }
    const first = await fetch(`${guarded.origin}s/cam/?token=${token}`, { redirect: "manual" });
    expect(first.status).toBe(302);
    expect(first.headers.get("location")).toBe("/s/cam/");
    expect(first.headers.get("set-cookie")).toContain("HttpOnly");
    const cookie = first.headers.get("set-cookie")!.split(";")[0]!;
    expect((await fetch(`${guarded.origin}s/cam/api/config`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${guarded.origin}s/nope/`, { headers: { cookie } })).status).toBe(404);
  } finally {
    await guarded.stop();
  }
});
