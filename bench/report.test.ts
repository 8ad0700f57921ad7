// The benchmark report's pure parts: statistics, charts, merging, markdown. No timings are asserted:
// benchmarks report, they do not fail a build.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { barChart, niceScale, wrap } from "./chart.ts";
import { ratio, ringIndex, spread, untilNextSlot } from "./lib.ts";
import { cell, fpsPrecision, markdown, mergeResult, num, ratioCell, tierCell, times } from "./report.ts";
import { originalDir, OriginalNotFound } from "./servers.ts";

describe("statistics", () => {
  test("spread is the median, min and max over runs, ignoring missing runs", () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3, runs: [3, 1, 2] });
    expect(spread([NaN, 4]).median).toBe(4);
    expect(spread([]).n).toBe(0);
  });
  test("ratio is NaN when a side is missing", () => {
    expect(ratio(30, 10)).toBe(3);
    expect(ratio(30, undefined)).toBeNaN();
    expect(ratio(0, 0)).toBe(1);
  });
  test("cells show median (min–max), or n/a", () => {
    expect(cell({ median: 30, min: 29.5, max: 30.2, n: 3 })).toBe("30.0 (29.5–30.2)");
    expect(cell({ median: 30, min: 30, max: 30, n: 1 })).toBe("30.0");
    expect(cell({ median: null, min: null, max: null, n: 0 })).toBe("n/a");
    expect(num(0.00523)).toBe("0.0052");
    expect(times(12)).toBe("12.0×");
  });
});

describe("charts", () => {
  test("the axis covers the data with round ticks", () => {
    expect(niceScale(33)).toEqual({ top: 40, step: 10 });
    expect(niceScale(1450)).toEqual({ top: 1500, step: 500 });
    expect(niceScale(0)).toEqual({ top: 1, step: 0.2 });
  });
  test("long subtitles wrap", () => {
    expect(wrap("a bb ccc dddd", 6)).toEqual(["a bb", "ccc", "dddd"]);
  });
  test("a bar chart is one SVG with a bar per value, the legend, the labels and the target line", () => {
    const svg = barChart({
      title: "fps <per> viewer",
      groups: ["1 viewer", "20 viewers\n+ 1 stalled"],
      xLabel: "viewers",
      yLabel: "fps",
      series: [
        { name: "vkcast", color: "#00f", values: [{ median: 30, min: 29, max: 30 }, { median: 29.5 }] },
        { name: "original", color: "#f80", values: [{ median: 22 }, null] },
      ],
      targets: [{ value: 30, label: "target 30 fps" }],
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("fps &lt;per&gt; viewer");
    expect(svg.match(/<rect [^>]*><title>/g)?.length).toBe(3);
    expect(svg).toContain("n/a");
    expect(svg).toContain("target 30 fps");
    expect(svg).toContain("stroke-dasharray");
    expect(svg).toContain("+ 1 stalled");
    expect(svg).toContain("whiskers");
  });
  test("a log axis keeps small values visible", () => {
    const svg = barChart({ title: "t", groups: ["a"], xLabel: "x", yLabel: "ms", log: true, series: [{ name: "s", color: "#000", values: [{ median: 3 }, { median: 1200 }] }] });
    expect(svg).toContain("log scale");
    expect(svg).toContain(">1000<");
  });
});

describe("results", () => {
  test("a run of one size keeps the other size of the previous run", () => {
    const prev = { schema: 2, date: "d1", options: { seconds: 4 }, bySize: { "1280x720": { a: 1 }, "1920x1080": { b: 1 } } };
    const next = { schema: 2, date: "d2", options: { seconds: 1 }, bySize: { "1280x720": { a: 2 } } };
    expect(mergeResult(prev, next)).toEqual({
      schema: 2,
      date: "d2",
      options: { seconds: 1 },
      // The kept size keeps the window it was measured with.
      bySize: { "1280x720": { a: 2 }, "1920x1080": { b: 1, options: { seconds: 4 } } },
      keptFromEarlierRun: { sizes: ["1920x1080"], date: "d1" },
    });
    expect(mergeResult(undefined, next)).toBe(next);
  });
  test("the markdown names what was not measured and how to measure it", () => {
    const md = markdown({});
    expect(md).toContain("# vkcast benchmarks");
    expect(md).toContain("`bun run bench fanout`");
    expect(md).toContain("`bun run bench static`");
  });
});

test("a ratio over an original that delivered nothing reads as infinite, not n/a", () => {
  expect(ratioCell({ median: 30, min: 30, max: 30, n: 3 }, { median: 0, min: 0, max: 0, n: 3 })).toBe("∞ (original: 0)");
  expect(ratioCell({ median: 30, min: 30, max: 30, n: 3 }, { median: 15, min: 15, max: 15, n: 3 })).toBe("2.00×");
});

describe("what the report says is what was measured", () => {
  const meta = (extra: object) => ({ schema: 2, date: "2026-01-01T00:00:00Z", options: { repeat: 1, seconds: 4, warmup: 1 }, ...extra });
  const encode = (extra: object) => ({
    ...meta(extra),
    iterations: 1,
    frames: 1,
    sizes: [{ width: 1280, height: 720, quality: 85, turbo: { median: 2, min: 2, max: 2, n: 1 }, napi: { median: 9, min: 9, max: 9, n: 1 }, pillow: null, turboOverPillow: null, napiOverPillow: null, napiOverTurbo: 4.5, bytes: { turbo: 1, napi: 1, pillow: null } }],
  });

  test("fps carries the precision of its window", () => {
    expect(fpsPrecision({ options: { seconds: 4 } })).toBe("±0.25 fps (one frame more or less in the 4 s window)");
    expect(fpsPrecision({ options: {} })).toBe("");
  });

  test("the machine line names the cores and Vulkan devices recorded, and says 'no GPU' only when none was listed", () => {
    const cpuOnly = markdown({ encode: encode({ machine: { cores: 3, cpu: "Test CPU", vulkanDevices: [{ name: "llvmpipe", type: "cpu" }] } }) });
    expect(cpuOnly).toContain("**Machine:** 3 cores, Test CPU");
    expect(cpuOnly).toContain("llvmpipe (cpu) — no GPU");
    expect(cpuOnly).toContain("share the machine's 3 cores");
    const gpu = markdown({ encode: encode({ machine: { cores: 16, cpu: "Test CPU", vulkanDevices: [{ name: "NVIDIA H100", type: "discrete" }, { name: "llvmpipe", type: "cpu" }] } }) });
    expect(gpu).toContain("NVIDIA H100 (discrete)");
    expect(gpu).not.toContain("no GPU");
  });

  test("an ingest run shows its push costs against the 1080p bar and each producer's end-to-end row", () => {
    const sp = (median: number, min = median, max = median) => ({ median, min, max, n: 3 });
    const push = (client: string, height: number, median: number) => ({
      client, width: height === 1080 ? 1920 : 1280, height, us: { median, min: median / 2, max: median * 3, n: 450, p99: median * 2 }, runMedians: sp(median, median - 10, median + 10), dropped: 1,
    });
    const row = (producer: string, viewers: number, worst: number) => ({
      producer, what: `${producer} loop`, viewers, fps: sp(29.9), worstViewerFps: sp(worst, worst - 1, worst + 1), latencyP50: sp(41), latencyP99: sp(120),
    });
    const ingest = {
      ...meta({ machine: { cores: 2, cpu: "x" } }),
      options: { repeat: 3, seconds: 4, warmup: 1, pushes: 150, width: 1280, height: 720, fps: 30, quality: 85 },
      bars: { pushUs1080p: 1000, pythonFps720p: 27, cFps: 27 },
      original: "absent: no folder",
      push: [push("c", 720, 310), push("python", 1080, 1400), push("c", 1080, 620)],
      stream: [row("python", 20, 28.5), row("c", 5, 20)],
    };
    const md = markdown({ ingest });
    const section = md.slice(md.indexOf("## Ingest"), md.indexOf("## How it is measured"));
    expect(section).toContain("| python | 1920x1080 | 1400 (1390–1410) | 2800");
    expect(section).toContain("≤ 1000: not met");
    expect(section).toContain("| c      | 1920x1080 | 620 (610–630)");
    expect(section).toContain("≤ 1000: met");
    expect(section).toMatch(/\| python +\| 20 +\| 29\.9 +\| 28\.5 \(27\.5–29\.5\) \| 41 +\| 120 +\| ≥ 27: met/);
    expect(section).toContain("- python: python loop");
    expect(section).toContain("≥ 27: not met");
    expect(section).toContain("Only vkcast was measured end to end: no folder.");
    expect(section).toContain("1280x720 q85");
    expect(markdown({})).toContain("`bun run bench ingest`");
  });

  test("a benchmark run without the original says so, and quotes no original figure", () => {
    const md = markdown({ encode: encode({ machine: { cores: 2, cpu: "x" }, originalMeasured: false }) });
    expect(md).toContain("Only vkcast was measured here: the original was not found");
    expect(md).not.toContain("the original's Pillow");
  });
});

describe("the network section", () => {
  const sp = (median: number, min = median, max = median) => ({ median, min, max, n: 3 });
  const viewer = (fps: number, p50: number, p99: number, tiers: Record<string, number>, q: number | null = 85) => ({
    fps: sp(fps, fps - 1, fps), latencyP50: sp(p50), latencyP99: sp(p99), ssim: sp(0.958, 0.95, 0.96), qualityP50: q === null ? sp(NaN) : sp(q), tiers, statedTier: null,
  });
  const network = (shapedFps: number, originalMeasured = true) => ({
    schema: 1,
    date: "2026-01-01T00:00:00Z",
    machine: { cores: 2, cpu: "Test CPU" },
    options: { width: 1280, height: 720, fps: 30, quality: 85, warmup: 3, seconds: 4, samples: 20, inputs: 10, repeat: 3, quick: false },
    scene: { source: "vulkan", device: "llvmpipe", frames: 30 },
    servers: { vkcast: "bench/library-server.ts", original: originalMeasured ? "bench/original.py --stamp --ring-file FILE" : null, browser: "bun run index.ts" },
    originalMeasured,
    bar: { profile: "8mbit-20ms", fps: 20, latencyP50: 150, latencyP99: 400, loopbackFps: 30, loopbackQuality: 85 },
    rows: [{
      profile: "8mbit-20ms",
      link: { bps: 8e6, delayMs: 20, loss: 0 },
      vkcast: { shaped: viewer(shapedFps, 51, 114, { small: 0.9, low: 0.1 }), loopback: viewer(30, 4, 6, { full: 1 }), inputToDisplayP50: sp(95), inputs: 10, inputErrors: [] },
      original: originalMeasured ? { shaped: viewer(11.5, 738, 962, { none: 1 }, null), loopback: viewer(10, 700, 900, { none: 1 }, null) } : null,
    }],
  });
  const section = (md: string) => md.slice(md.indexOf("## Real networks"), md.indexOf("## How it is measured"));

  test("a row per server: fps, latency, tier shares, SSIM, input -> display for vkcast only, the loopback viewer beside it", () => {
    const md = section(markdown({ network: network(26) }));
    expect(md).toContain("the built-in Vulkan scene, rendered on llvmpipe,");
    expect(md).toContain("`bench/library-server.ts --ring-file FILE`");
    const cells = (side: string) => md.split("\n").find((l) => l.includes(`| ${side} `))!.split("|").slice(1, -1).map((c) => c.trim());
    expect(cells("vkcast")).toEqual([
      "8mbit-20ms (8.00 Mbit/s, 20 ms)", "vkcast", "26.0 (25.0–26.0)", "51", "114", "small 90%, low 10%", "0.958 (0.950–0.960)", "95", "30.0 (29.0–30.0)", "q85, full 100%", "0.958 (0.950–0.960)",
    ]);
    expect(cells("original")).toEqual([
      "8mbit-20ms (8.00 Mbit/s, 20 ms)", "original", "11.5 (10.5–11.5)", "738", "962", "one quality", "0.958 (0.950–0.960)", "n/a", "10.0 (9.0–10.0)", "q85", "0.958 (0.950–0.960)",
    ]);
    expect(md).toContain("**met** (26.0 fps ≥ 20 ✓, p50 51 ms ≤ 150 ✓, p99 114 ms ≤ 400 ✓, loopback 30.0 fps ✓, loopback q85, full 100% ✓)");
    expect(md).toContain("2 cores, Test CPU");
  });

  test("the bar says which part was not met; a run without the original says so and quotes none of it", () => {
    const md = markdown({ network: network(12, false) });
    expect(section(md)).toContain("**not met** (12.0 fps ≥ 20 ✗");
    expect(section(md)).toContain("Only vkcast was measured here");
    expect(section(md)).not.toContain("| original |");
    expect(md).toContain("**Through a shaped link, 8.00 Mbit/s, 20 ms each way**");
    expect(md).not.toContain("(original: 11.5 fps");
    expect(markdown({})).toContain("`bun run bench network`");
  });

  test("tiers read as shares, most used first; frames without tiers as one quality", () => {
    expect(tierCell({ low: 0.25, small: 0.75 })).toBe("small 75%, low 25%");
    expect(tierCell({ none: 1 })).toBe("one quality");
  });
});

test("the ring on the wall clock: a tick lands mid-slot, so consecutive ticks push consecutive frames, never one twice", () => {
  const fps = 30;
  let now = 1_700_000_000_123;
  const pushed: number[] = [];
  for (let i = 0; i < 40; i++) {
    now += untilNextSlot(now, fps) + (i % 3) * 5; // late by 0-10 ms, as timers are
    pushed.push(ringIndex(now, fps, 30));
  }
  for (let i = 1; i < pushed.length; i++) expect(pushed[i]).toBe((pushed[i - 1]! + 1) % 30);
  // A viewer's capture time of that push names the same frame.
  expect(ringIndex(Math.round(now), fps, 30)).toBe(pushed.at(-1)!);
});

describe("where the original is", () => {
  const withOriginal = () => {
    const dir = mkdtempSync(join(tmpdir(), "vkcast-original-"));
    writeFileSync(join(dir, "simvx_streaming_server.py"), "");
    return dir;
  };
  const empty = () => mkdtempSync(join(tmpdir(), "vkcast-no-original-"));

  test("--original=DIR beats VKCAST_ORIGINAL", () => {
    const [a, b] = [withOriginal(), withOriginal()];
    expect(originalDir([`--original=${a}`], { VKCAST_ORIGINAL: b })).toBe(a);
    expect(originalDir([], { VKCAST_ORIGINAL: b })).toBe(b);
  });

  test("a folder that was named but holds no original is an error naming the flag or variable", () => {
    const dir = empty();
    expect(() => originalDir([`--original=${dir}`], {})).toThrow(OriginalNotFound);
    expect(() => originalDir([`--original=${dir}`], {})).toThrow(/--original/);
    expect(() => originalDir([], { VKCAST_ORIGINAL: dir })).toThrow(/VKCAST_ORIGINAL/);
  });
});

describe("the codec section", () => {
  const sp = (median: number, min = median, max = median, n = 3) => ({ median, min, max, n, runs: [] });
  const row = (scene: string, size: string, codec: "jpeg" | "h264", setting: string, bytes: number, ssim: number, ms: number, extra = {}) => ({
    scene, size, codec, setting, bytesPerSecond: bytes, ssim, encodeMsP50: ms, encodeMsP95: ms * 2, encodeCpuMsP50: ms * 1.5, ...extra,
  });
  const codec = (latency: [number, number]) => ({
    schema: 2,
    date: "2026-01-01T12:00:00Z",
    loadBefore: 0.5,
    loadAfter: 0.7,
    machine: { cores: 2, usableCores: 2, cpu: "Test CPU" },
    options: { quick: false, repeat: 3, frames: 60, sizes: ["1280x720", "1920x1080"], scenes: ["rich"], qps: [22] },
    fps: 30,
    defaultQp: 22,
    maxThreads: 2,
    conversion: [{ scene: "rich", size: "1280x720", msP50: 0.4 }, { scene: "rich", size: "1920x1080", msP50: 0.9 }],
    rows: [
      row("rich", "1280x720", "jpeg", "q85", 6_000_000, 0.98, 6),
      row("rich", "1280x720", "h264", "qp22 tl1", 1_900_000, 0.98, 8, { layers: 1, qp: 22, threads: 2 }),
      row("rich", "1280x720", "h264", "qp22 tl2", 2_000_000, 0.979, 7, { layers: 2, qp: 22, threads: 2 }),
      row("rich", "1920x1080", "h264", "qp22 tl2", 4_000_000, 0.981, 13.5, { layers: 2, qp: 22, threads: 2 }),
    ],
    parity: [{ scene: "rich", size: "1280x720", jpegQ85: { bytesPerSecond: 6_000_000, ssim: 0.98 }, tl1: 1_900_000, tl2: 2_000_000, jpegOverTl2: 3 }],
    slow: [{ scene: "rich", size: "1280x720", share: 0.5, policy: "layers", linkBytesPerSecond: 1, shownFps: 15, idrPerSecond: 0, streamBytesPerSecond: 2e6, latencyP50: 80, latencyP95: 120, longestFreezeMs: 70 }],
    latency: [
      { codec: "jpeg", p50: sp(latency[0], latency[0] - 4, latency[0] + 6), p90: sp(90), frames: 900, encodeMsP50: sp(3) },
      { codec: "h264", p50: sp(latency[1], latency[1] - 2, latency[1] + 3), p90: sp(40), frames: 900, encodeMsP50: sp(4) },
    ],
  });
  const section = (md: string) => md.slice(md.indexOf("## Codecs"), md.indexOf("## ", md.indexOf("## Codecs") + 3));

  test("each figure against issue 16's target: bytes at q85's SSIM, 1080p encode time, added latency", () => {
    const s = section(markdown({ codec: codec([50, 12]) }));
    expect(s).toMatch(/\| rich +\| 720p +\| 0\.9800 +\| 6 +\| 2 +\| 3× +\| met/);
    // The server's settings (qp 22, two layers) at 1080p: 13.5 ms is over the 12 ms target.
    expect(s).toMatch(/\| rich +\| 1080p +\| 0\.90 +\| 2 +\| 13\.5 +\| 20\.3 +\| \*\*not met\*\*/);
    expect(s).toContain("H.264 − JPEG at p50: -38 ms (target ≤ +5 ms: met)");
    expect(s).toContain("| H.264 | 12 (10–15) | 40 ");
    expect(s).toContain("1080p encode p50: rich 13.5 ms");
    // Only the server's two-layer sweep is listed beside JPEG.
    expect(s).not.toContain("qp22 tl1");
    expect(s).toContain("load average 0.5 → 0.7");
    expect(section(markdown({ codec: codec([50, 60]) }))).toContain("H.264 − JPEG at p50: 10 ms (target ≤ +5 ms: **not met**)");
  });

  test("a quick run says so; an older result reads as not measured", () => {
    const quick = { ...codec([50, 12]), options: { ...codec([50, 12]).options, quick: true, repeat: 1 } };
    expect(section(markdown({ codec: quick }))).toContain("--quick: a smoke run, not numbers to quote");
    expect(section(markdown({ codec: { schema: 1, rows: [] } }))).toContain("`bun run bench codec`");
  });
});
