// Input to display in a real Chromium: the driving page presses keys and moves the pointer over the built-in
// engine loop's synthetic scene, and its overlay's "input→display" row turns from n/a into a plausible delay,
// for JPEG and for H.264 (WebCodecs); `vkcastStats()` gives the same samples to a benchmark. A page that only
// watches finds no input of its own in the frames and keeps n/a.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { runEngine } from "../src/engine.ts";
import { silentLogger } from "../src/log.ts";
import { StreamingServer } from "../src/server.ts";
import { SyntheticSource } from "../src/sources/synthetic.ts";
import { launchChromium } from "./helpers/browser.ts";

let server: StreamingServer;
let engine: ReturnType<typeof runEngine>;
let browser: Browser;

beforeAll(async () => {
  server = new StreamingServer({ host: "127.0.0.1", port: 0, fps: 30, quality: 80 });
  await server.start(640, 360);
  engine = runEngine(server, new SyntheticSource(640, 360), silentLogger);
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await engine?.stop();
  await server?.stop();
}, 20_000);

interface PageStats {
  inputToDisplayMs: number[];
  inputToDisplayCount: number;
  inputToDisplay: { p50: number; p90: number; count: number } | null;
}

const pageStats = (page: Page) => page.evaluate(() => (window as unknown as { vkcastStats: () => PageStats }).vkcastStats());

/** The overlay's value in the row labelled `label`. */
const overlayValue = (page: Page, label: string) =>
  page.evaluate((l) => {
    const dt = [...document.querySelectorAll("#stats-list dt")].find((e) => e.textContent === l);
    return dt?.nextElementSibling?.textContent ?? null;
  }, label);

async function openPage(query: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
  await page.goto(`${server.url}?stats=1${query}`);
  await page.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 2, null, { timeout: 20_000 });
  return page;
}

/** Keys and pointer moves until the page has measured `samples` more delays (bounded by a count of rounds, not time). */
async function actUntilMeasured(page: Page, samples: number): Promise<void> {
  const from = (await pageStats(page)).inputToDisplayCount;
  await page.locator("#view").click({ position: { x: 50, y: 50 } });
  for (let i = 0; i < 300 && (await pageStats(page)).inputToDisplayCount - from < samples; i++) {
    await page.keyboard.press(i % 2 ? "KeyA" : "KeyD");
    await page.mouse.move(100 + (i % 50) * 4, 100 + (i % 7) * 10);
  }
  expect((await pageStats(page)).inputToDisplayCount - from).toBeGreaterThanOrEqual(samples);
}

describe("the overlay's input→display", () => {
  for (const [codec, query] of [
    ["jpeg", "&codec=jpeg"],
    ["h264", ""],
  ] as const) {
    test(`${codec}: n/a before any input, then a plausible delay; a watcher keeps n/a`, async () => {
      const driver = await openPage(query);
      expect(await driver.evaluate(() => document.getElementById("app")!.dataset.codec)).toBe(codec);
      await driver.waitForFunction(() => /You are driving/.test(document.getElementById("control-badge")!.textContent ?? ""));
      const watcher = await openPage("&codec=jpeg");
      try {
        expect(await overlayValue(driver, "input→display")).toBe("n/a");
        expect((await pageStats(driver)).inputToDisplay).toBeNull();
        await actUntilMeasured(driver, 8);
        // The overlay redraws every 250 ms: wait for it to show what vkcastStats() has.
        await driver.waitForFunction(() => /^\d+ ms \(p90 \d+\)$/.test(
          [...document.querySelectorAll("#stats-list dt")].find((e) => e.textContent === "input→display")?.nextElementSibling
            ?.textContent ?? "",
        ));
        const [, p50, p90] = /^(\d+) ms \(p90 (\d+)\)$/.exec((await overlayValue(driver, "input→display"))!)!.map(Number);
        // More than nothing (a frame rendered after the input, encoded, sent, decoded and painted), less than seconds.
        expect(p50).toBeGreaterThan(0);
        expect(p90).toBeGreaterThanOrEqual(p50!);
        expect(p90).toBeLessThan(3000);
        const stats = await pageStats(driver);
        expect(stats.inputToDisplayMs.length).toBe(stats.inputToDisplayCount);
        for (const ms of stats.inputToDisplayMs) expect(ms > 0 && ms < 5000).toBe(true);
        // The watcher got the same frames, with the driver's input in them, none of its own.
        expect(await watcher.evaluate(() => document.getElementById("app")!.dataset.codec)).toBe("jpeg");
        expect(await overlayValue(watcher, "input→display")).toBe("n/a");
        expect((await pageStats(watcher)).inputToDisplayCount).toBe(0);
      } finally {
        await watcher.close();
        await driver.close();
      }
    }, 90_000);
  }
});
