// Input -> display in Chromium through the shaped link: a page of `bun run index.ts` (the built-in scene
// rendered live, so that input changes it) opened through bench/shaper.ts, a key pressed a number of
// times, and the page's own measurement read back: frames carry the sequence of the last input applied
// before their render, and the page times each input to the first painted frame that carries it.
// The original is not measured here: its frames carry no input sequence, and its producer (run_seed.py's
// loop) drops the input it gets, so nothing it shows answers an input; timing a picture change would
// measure an engine written for the benchmark, not the server.
import type { Browser } from "playwright-core";
import { type ServerSpec, startServer } from "./servers.ts";
import { type LinkProfile, startShaper } from "./shaper.ts";

/** The page's input -> display p50 (ms) after `inputs` key presses through `profile`; NaN when none was measured. */
export async function inputToDisplay(browser: Browser, spec: ServerSpec, profile: LinkProfile, inputs: number): Promise<number> {
  const server = await startServer(spec);
  const shaper = await startShaper({ host: "127.0.0.1", port: server.port }, profile);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    // JPEG, as the viewers of the other figures get it.
    await page.goto(`http://127.0.0.1:${shaper.port}/?codec=jpeg`);
    await page.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 30, null, { timeout: 60_000 });
    await page.click("#view");
    for (let i = 0; i < inputs; i++) {
      const before = await measuredInputs(page);
      await page.keyboard.press(i % 2 === 0 ? "ArrowLeft" : "ArrowRight");
      await page.waitForFunction((n) => Number(document.getElementById("view")!.dataset.inputs ?? 0) > n, before, { timeout: 10_000 });
    }
    return Number(await page.evaluate(() => document.getElementById("view")!.dataset.inputToDisplayP50 ?? NaN));
  } finally {
    await page.close();
    await shaper.close();
    await server.stop();
  }
}

async function measuredInputs(page: import("playwright-core").Page): Promise<number> {
  return Number(await page.evaluate(() => document.getElementById("view")!.dataset.inputs ?? 0));
}
