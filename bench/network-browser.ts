// Input -> display in Chromium through the shaped link: a page of `bun run index.ts` (the built-in scene
// rendered live, the engine taking the input) opened through bench/shaper.ts, arrow keys pressed one at a
// time, and the page's own measurement read back with vkcastStats(): frames carry the sequence of the
// last input applied before their render, and the page times each input from its send to the paint of
// the first frame that carries it.
// The original is not measured here: its frames carry no input sequence, and its producer (run_seed.py's
// loop) drops the input it gets, so nothing it shows answers an input; timing a picture change would
// measure an engine written for the benchmark, not the server.
import type { Browser, Page } from "playwright-core";
import { median } from "./lib.ts";
import { type ServerSpec, startServer } from "./servers.ts";
import { type LinkProfile, startShaper } from "./shaper.ts";

interface PageStats {
  inputToDisplayMs: number[];
  inputToDisplayCount: number;
}
const pageStats = (page: Page) => page.evaluate(() => (window as unknown as { vkcastStats: () => PageStats }).vkcastStats());

/** The page's input -> display delays (ms) for `o.inputs` key presses through `profile` after `o.warmup` s, and their median. */
export async function inputToDisplay(
  browser: Browser,
  spec: ServerSpec,
  profile: LinkProfile,
  o: { inputs: number; warmup: number },
): Promise<{ p50: number; samples: number[] }> {
  const server = await startServer(spec);
  const shaper = await startShaper({ host: "127.0.0.1", port: server.port }, profile);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    // JPEG, as the viewers of the other figures get it.
    const opened = performance.now();
    await page.goto(`http://127.0.0.1:${shaper.port}/?codec=jpeg`);
    await page.waitForFunction(() => Number(document.getElementById("view")!.dataset.painted ?? 0) >= 30, null, { timeout: 60_000 });
    await page.waitForFunction(() => /You are driving/.test(document.getElementById("control-badge")!.textContent ?? ""), null, { timeout: 10_000 });
    // The same warm-up as the other viewers: the link's first seconds, before the tier settles, are not measured.
    await Bun.sleep(Math.max(0, o.warmup * 1000 - (performance.now() - opened)));
    const inputs = o.inputs;
    await page.locator("#view").click({ position: { x: 50, y: 50 } });
    const from = (await pageStats(page)).inputToDisplayCount;
    let measured = 0;
    // One press at a time, the next once the page measured the last (a press whose frame never came is
    // given 5 s), so each delay is of one input, not of a queue of them.
    for (let i = 0; measured < inputs && i < inputs * 3; i++) {
      await page.keyboard.press(i % 2 === 0 ? "ArrowLeft" : "ArrowRight");
      await page
        .waitForFunction((n) => (window as unknown as { vkcastStats: () => PageStats }).vkcastStats().inputToDisplayCount > n, from + measured, { timeout: 5000 })
        .catch(() => {});
      measured = (await pageStats(page)).inputToDisplayCount - from;
    }
    const after = await pageStats(page);
    const samples = measured > 0 ? after.inputToDisplayMs.slice(-Math.min(measured, after.inputToDisplayMs.length)) : [];
    return { p50: median(samples), samples };
  } finally {
    await page.close();
    await shaper.close();
    await server.stop();
  }
}
