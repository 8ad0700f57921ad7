// The page in a real Chromium: where WebCodecs can decode H.264 (localhost is a secure context) it asks
// for H.264, decodes it with VideoDecoder and shows the scene: the same picture as the JPEG page. When the
// decoder fails, the page goes back to JPEG without a reload.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { InputState } from "../src/input-state.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { launchChromium } from "./helpers/browser.ts";
import { run, scratch } from "./helpers/ffmpeg.ts";
import { pushFrames } from "./helpers/push.ts";

const SHOTS = process.env.VKCAST_SHOTS ?? "/tmp/vkcast-shots";
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
});
afterAll(() => browser?.close());

const dataset = (page: Page, element: string, key: string) =>
  page.evaluate(([id, k]) => document.getElementById(id!)!.dataset[k!], [element, key]);

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
  await page.goto(url);
  return page;
}

/** SSIM (all planes) of two pictures of the same size, by ffmpeg. */
async function ssimOf(a: string, b: string): Promise<number> {
  const out = await run(["ffmpeg", "-v", "error", "-i", a, "-i", b, "-lavfi", "ssim=stats_file=-", "-f", "null", "-"]);
  const m = /All:([0-9.]+)/.exec(out.stdout);
  if (!m) throw new Error(`no SSIM from ffmpeg: ${out.stderr}`);
  return Number(m[1]);
}

test("Chromium decodes H.264 and shows the scene, as the JPEG page shows it", async () => {
  // The Vulkan scene at t = 0, rendered again and again: a still picture both pages can be compared on.
  const [W, H] = [640, 360];
  const source = await VulkanSource.create({ width: W, height: H });
  const input = new InputState();
  const first = await source.nextFrame(0, input);
  const rendered = first.pixels.slice(0, W * H * 4);
  first.release?.();
  source.close();
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(W, H);
  const timer = setInterval(() => server.pushFrame({ pixels: rendered, width: W, height: H, captureTime: Date.now() }), 33);
  const dir = scratch();
  try {
    const h264Page = await openPage(server.url);
    await h264Page.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 2, null, { timeout: 20_000 });
    expect(await dataset(h264Page, "app", "codec")).toBe("h264");
    expect(server.stats.h264FramesEncoded).toBeGreaterThan(0);
    // The overlay says which codec, and how long a frame takes to decode.
    await h264Page.evaluate(() => document.getElementById("btn-stats")!.click());
    await h264Page.waitForFunction(() => /decode\d+\.\d ms/.test(document.getElementById("stats-list")!.textContent ?? ""), null, {
      timeout: 10_000,
    });
    expect(await h264Page.evaluate(() => document.getElementById("stats-list")!.textContent)).toContain("codecH.264 (WebCodecs)");
    await h264Page.evaluate(() => document.getElementById("btn-stats")!.click()); // out of the screenshot
    // JPEG was not made while only H.264 was watched: a JPEG viewer joining gets the picture anew.
    const jpegPage = await openPage(`${server.url}?codec=jpeg`);
    // It watches (the H.264 page controls), so nothing it does changes the still picture: one frame is all it gets.
    await jpegPage.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 1, null, { timeout: 20_000 });
    expect(await dataset(jpegPage, "app", "codec")).toBe("jpeg");
    // Both have shown their still frame (the last, at the still quality): nothing more is coming.
    await waitUntilStill(h264Page);
    await waitUntilStill(jpegPage);
    const [h264Shot, jpegShot] = [`${SHOTS}/h264-page.png`, `${SHOTS}/h264-jpeg-page.png`];
    // Only the picture: the controller's and the watcher's pages lay different controls over it.
    for (const page of [h264Page, jpegPage]) {
      await page.evaluate(() => {
        for (const el of document.querySelectorAll<HTMLElement>("body *")) el.style.visibility = el.id === "view" ? "visible" : "hidden";
      });
    }
    await h264Page.locator("#view").screenshot({ path: h264Shot });
    await jpegPage.locator("#view").screenshot({ path: jpegShot });
    expect(await ssimOf(h264Shot, jpegShot)).toBeGreaterThanOrEqual(0.95);
    // And it is the scene: the rendered frame, scaled to the canvas's size on the page, looks the same.
    await Bun.write(dir.file("rendered.rgba"), rendered);
    const size = await h264Page.locator("#view").boundingBox();
    const scaled = dir.file("rendered.png");
    const scale = await run([
      "ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgba", "-s", `${W}x${H}`, "-i", dir.file("rendered.rgba"),
      "-vf", `scale=${Math.round(size!.width)}:${Math.round(size!.height)}`, scaled,
    ]);
    expect(scale.stderr).toBe("");
    expect(await ssimOf(h264Shot, scaled)).toBeGreaterThanOrEqual(0.9);
  } finally {
    clearInterval(timer);
    await server.stop();
    dir.remove();
  }
}, 90_000);

/** The page shows a still picture (a v2 server sends nothing once the picture stops changing). */
function waitUntilStill(page: Page): Promise<unknown> {
  return page.waitForFunction(() => document.getElementById("app")!.dataset.state === "still", null, { timeout: 20_000 });
}

test("a failing decoder: the page goes back to JPEG on the same page, without a reload", async () => {
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(640, 360);
  const stop = pushFrames(server, new SyntheticSource(640, 360), 30);
  const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
  try {
    // A VideoDecoder that fails on its 10th chunk, as a hardware decoder that gives up would.
    await page.addInitScript(() => {
      const Real = VideoDecoder;
      class Failing extends Real {
        private chunks = 0;
        private readonly fail: (e: DOMException) => void;
        constructor(init: VideoDecoderInit) {
          super(init);
          this.fail = init.error;
        }
        override decode(chunk: EncodedVideoChunk): void {
          if (++this.chunks === 10) return this.fail(new DOMException("injected decoder failure", "EncodingError"));
          super.decode(chunk);
        }
      }
      (window as unknown as { VideoDecoder: typeof VideoDecoder }).VideoDecoder = Failing;
    });
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById("app")!.dataset.codec === "h264", null, { timeout: 20_000 });
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await page.waitForFunction(() => document.getElementById("app")!.dataset.codec === "jpeg", null, { timeout: 20_000 });
    expect(await dataset(page, "app", "h264Error")).toContain("injected decoder failure");
    const painted = Number(await dataset(page, "view", "painted"));
    await page.waitForFunction((n) => Number(document.getElementById("view")!.dataset.painted) >= n + 20, painted, { timeout: 20_000 });
    // The same document all along: a reload would have lost the marker.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(server.viewerCount).toBe(1);
  } finally {
    await page.close();
    stop();
    await server.stop();
  }
}, 60_000);

test("a browser whose VideoFrame.copyTo cannot make RGBA: the page draws the frames themselves, still H.264", async () => {
  const server = new StreamingServer({ port: 0, fps: 30 });
  await server.start(640, 360);
  const stop = pushFrames(server, new SyntheticSource(640, 360), 30);
  const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
  try {
    await page.addInitScript(() => {
      const w = window as unknown as { rgbaRefused: number };
      w.rgbaRefused = 0;
      const real = VideoFrame.prototype.copyTo;
      VideoFrame.prototype.copyTo = function (this: VideoFrame, ...args: Parameters<typeof real>) {
        if (args[1]?.format) {
          w.rgbaRefused++;
          return Promise.reject(new DOMException("no format conversion", "NotSupportedError"));
        }
        return real.apply(this, args);
      };
    });
    await page.goto(server.url);
    await page.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 20, null, { timeout: 20_000 });
    expect(await dataset(page, "app", "codec")).toBe("h264");
    expect(await dataset(page, "app", "h264Error")).toBeUndefined();
    // Asked once; after the refusal every frame is drawn as it is.
    expect(await page.evaluate(() => (window as unknown as { rgbaRefused: number }).rgbaRefused)).toBe(1);
  } finally {
    await page.close();
    stop();
    await server.stop();
  }
}, 60_000);
