// The browser client says when the stream's frame source is gone: a real vkcast with `--source ipc`, a
// real producer over the ingest socket, a real Chromium. The producer leaves: the page keeps the last
// picture and reads "waiting for the engine"; a new producer's frames clear it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./helpers/browser.ts";
import { pattern, RawProducer, Vkcast } from "./helpers/ingest.ts";

const W = 320;
const H = 180;
const SHOTS = process.env.VKCAST_SHOTS ?? "/tmp/vkcast-shots";

let vkcast: Vkcast;
let browser: Browser;
const producers: RawProducer[] = [];

/** A producer that submits a new frame into each slot vkcast releases, every 40 ms, until closed. */
async function feed(shift: number): Promise<RawProducer> {
  const p = await RawProducer.connect(vkcast.socketPath);
  producers.push(p);
  await p.handshake({ width: W, height: H });
  const free = new Set([0, 1, 2]);
  let n = 0;
  const timer = setInterval(() => {
    if (p.closed) return clearInterval(timer);
    for (const m of p.messages.splice(0)) if (m.type === "release") free.add(m.slot as number);
    const slot = free.values().next().value;
    if (slot === undefined) return;
    free.delete(slot);
    p.submit(slot, W, H, pattern(W, H, shift + (n++ % 8) * 16));
  }, 40);
  return p;
}

async function pill(page: Page): Promise<{ text: string; state: string; sourceError: boolean; painted: number }> {
  return page.evaluate(() => ({
    text: document.getElementById("status-text")!.textContent ?? "",
    state: document.getElementById("app")!.dataset.state ?? "",
    sourceError: document.getElementById("app")!.classList.contains("source-error"),
    painted: Number(document.getElementById("view")!.dataset.painted ?? 0),
  }));
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  vkcast = await Vkcast.start(`${mkdtempSync(`${tmpdir()}/vkcast-client-src-`)}/ingest.sock`, [`--width=${W}`, `--height=${H}`]);
  browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  for (const p of producers) p.close();
  await browser?.close();
  await vkcast?.stop();
});

test("the page shows 'waiting for the engine' while no producer feeds the stream, and clears it when frames come back", async () => {
  const page = await browser.newPage({ viewport: { width: 800, height: 450 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const first = await feed(0);
  await page.goto(vkcast.url);
  await page.waitForFunction(() => document.getElementById("app")!.dataset.state === "live", null, { timeout: 15_000 });
  expect((await pill(page)).text).not.toContain("waiting for the engine");

  // The producer goes away: the server's config says so, the page shows it and keeps the picture.
  first.close();
  await page.waitForFunction(() => document.getElementById("status-text")!.textContent === "waiting for the engine", null, {
    timeout: 10_000,
  });
  const gone = await pill(page);
  expect(gone.sourceError).toBe(true);
  expect(gone.painted).toBeGreaterThan(0);
  await page.screenshot({ path: `${SHOTS}/source-waiting.png` });
  // The pill stays readable (not shrunk to its dot) while the engine is gone.
  expect(await page.locator("#status-text").isVisible()).toBe(true);

  // A page opened now learns it from /api/config, with the last picture, before any new frame.
  const late = await browser.newPage({ viewport: { width: 800, height: 450 } });
  await late.goto(vkcast.url);
  // The late page watches (the first one controls), so its pill adds its role after the source's state.
  await late.waitForFunction(
    () => document.getElementById("status-text")!.textContent!.startsWith("waiting for the engine"),
    null,
    { timeout: 10_000 },
  );

  // A new producer: frames resume and the text clears on both pages.
  await feed(100);
  for (const p of [page, late]) {
    await p.waitForFunction(
      () =>
        // Shown again: live, or "still" once the new producer's unchanging picture has had its still frame.
        ["live", "still"].includes(document.getElementById("app")!.dataset.state!) &&
        !document.getElementById("app")!.classList.contains("source-error") &&
        !document.getElementById("status-text")!.textContent!.includes("waiting for the engine"),
      null,
      { timeout: 10_000 },
    );
  }
  await page.screenshot({ path: `${SHOTS}/source-resumed.png` });
  expect(errors).toEqual([]);
}, 60_000);
