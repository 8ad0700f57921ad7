// Capture to shown in Chromium, for each codec: the server's capture-to-acknowledged latency (the page
// acks a frame once it has painted it: after createImageBitmap and the next animation frame for JPEG, after
// VideoDecoder and the copy to RGBA for H.264), with one page of Debian's Chromium watching a server fed the
// scene's frames at 30 fps. A fresh server for each codec and round, so each figure holds only its own
// frames; the codecs alternate round after round, so both see the same spells of load.
import { StreamingServer } from "../src/server.ts";
import { launchChromium } from "../test/helpers/browser.ts";
import { type Spread, spread } from "./lib.ts";

export interface BrowserLatency {
  codec: "jpeg" | "h264";
  /** Capture to acknowledged, ms: each round's p50 and p90 over the frames of its window, as a spread over rounds. */
  p50: Spread;
  p90: Spread;
  /** Frames acknowledged in the windows, all rounds. */
  frames: number;
  /** The server's encode time for the codec, ms (each round's p50). */
  encodeMsP50: Spread;
}

const CODECS = ["jpeg", "h264"] as const;

export async function browserLatency(frames: Uint8Array[], width: number, height: number, seconds: number, rounds: number): Promise<BrowserLatency[]> {
  const browser = await launchChromium();
  const runs = new Map(CODECS.map((c) => [c, { p50: [] as number[], p90: [] as number[], frames: 0, encode: [] as number[] }]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const codec of CODECS) {
        const m = await oneWindow(browser, codec, frames, width, height, seconds);
        const r = runs.get(codec)!;
        r.p50.push(m.p50 ?? NaN);
        r.p90.push(m.p90 ?? NaN);
        r.frames += m.frames;
        r.encode.push(m.encodeMsP50 ?? NaN);
      }
    }
  } finally {
    await browser.close();
  }
  return CODECS.map((codec) => {
    const r = runs.get(codec)!;
    return { codec, p50: spread(r.p50), p90: spread(r.p90), frames: r.frames, encodeMsP50: spread(r.encode) };
  });
}

type Browser = Awaited<ReturnType<typeof launchChromium>>;

async function oneWindow(browser: Browser, codec: "jpeg" | "h264", frames: Uint8Array[], width: number, height: number, seconds: number) {
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
    return { p50: stats.latencyMs.p50, p90: stats.latencyMs.p90, frames: stats.latencyMs.count, encodeMsP50: encode.p50 };
  } finally {
    clearInterval(timer);
    await page.close();
    await server.stop();
  }
}
