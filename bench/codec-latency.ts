// Capture to shown in Chromium, for each codec: the server's capture-to-acknowledged latency (the page
// acks a frame once it has painted it, after createImageBitmap for JPEG, after VideoDecoder for H.264),
// with one page of Debian's Chromium watching a server fed the scene's frames at 30 fps. A fresh server
// for each codec, so each figure holds only its own frames.
import { StreamingServer } from "../src/server.ts";
import { launchChromium } from "../test/helpers/browser.ts";

export interface BrowserLatency {
  codec: "jpeg" | "h264";
  /** Capture to acknowledged, ms, over the frames of the window. */
  p50: number | null;
  p90: number | null;
  frames: number;
  /** The server's encode time for the codec, ms (p50). */
  encodeMsP50: number | null;
}

export async function browserLatency(frames: Uint8Array[], width: number, height: number, seconds: number): Promise<BrowserLatency[]> {
  const browser = await launchChromium();
  const results: BrowserLatency[] = [];
  try {
    for (const codec of ["jpeg", "h264"] as const) {
      const server = new StreamingServer({ port: 0, fps: 30 });
      await server.start(width, height);
      let k = 0;
      const timer = setInterval(() => server.pushFrame({ pixels: frames[k++ % frames.length]!, width, height, captureTime: Date.now() }), 1000 / 30);
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      try {
        await page.goto(codec === "jpeg" ? `${server.url}?codec=jpeg` : server.url);
        await page.waitForFunction((c) => document.getElementById("app")!.dataset.codec === c, codec, { timeout: 20_000 });
        await page.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 30, null, { timeout: 20_000 });
        await Bun.sleep(seconds * 1000); // the measurement window: the server keeps the latest 256 latencies
        const stats = server.statsSnapshot();
        const encode = codec === "h264" ? stats.h264EncodeMs : stats.encodeMs;
        results.push({ codec, p50: stats.latencyMs.p50, p90: stats.latencyMs.p90, frames: stats.latencyMs.count, encodeMsP50: encode.p50 });
      } finally {
        clearInterval(timer);
        await page.close();
        await server.stop();
      }
    }
  } finally {
    await browser.close();
  }
  return results;
}
