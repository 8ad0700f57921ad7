// latest.json -> BENCHMARKS.md and the SVG charts in bench/results/. Run by bench/run.ts after every
// run; `bun run bench report` (or `bun bench/report.ts`) rewrites them without measuring anything.
import { join } from "node:path";
import { gpuSection } from "./gpu-report.ts";
import { scaleoutSection } from "./scaleout-report.ts";
import { type BarSeries, barChart } from "./chart.ts";
import { codecSection } from "./codec-report.ts";
import { table } from "./lib.ts";
import type { Aggregate } from "./servers.ts";

const ROOT = join(import.meta.dir, "..");
const RESULTS = join(import.meta.dir, "results");
const COLORS = { vkcast: "#2563eb", vkcastLight: "#93b4f5", original: "#f28e2b", originalLight: "#f9c99a", napi: "#7aa6f0" };

type Spread = { median: number | null; min: number | null; max: number | null; n: number; runs?: (number | null)[] };
type Agg = { [K in keyof Aggregate]?: Spread };
type VulkanDevices = { name: string; type: string }[] | { error: string };
type Meta = {
  schema?: number;
  date?: string;
  machine?: { cores: number; usableCores?: number; cpu: string; memoryGB?: number; clkTck?: number; vulkanDevices?: VulkanDevices };
  /** False when the original was not found and only vkcast was measured (absent in older results: measured). */
  originalMeasured?: boolean;
  /** How long the benchmark took (written by bench/run.ts). */
  durationSeconds?: number;
  loadBefore?: number;
  loadAfter?: number;
  options?: Record<string, unknown>;
  servers?: { vkcast: string | null; original: string | null };
  keptFromEarlierRun?: { sizes: string[]; date?: string };
};
type FanoutRow = { viewers: number; stalled: number; vkcast: Agg; original: Agg; fpsRatio: number | null; cpuRatio: number | null; rssRatio: number | null };
/** A size kept from an earlier run carries that run's options (its window length). */
type Fanout = Meta & { bySize: Record<string, { width: number; height: number; rows: FanoutRow[]; options?: Record<string, unknown> }> };
type Latency = Meta & { rows: { viewers: number; vkcast: Agg; original: Agg; p50Ratio: number | null; p99Ratio: number | null }[] };
type StreamRow = { width: number; height: number; viewers: number; vkcast: Agg & { device?: string }; original: Agg; fpsRatio: number | null; cpuRatio: number | null };
type Stream = Meta & { barFps720p: number; rows: StreamRow[] };
type IdleRow = { key: "checks" | "always" | "main"; label: string; vkcast: Agg; original: Agg; cpuRatio: number | null; rssRatio: number | null };
type Idle = Meta & { rows: IdleRow[]; servers?: Record<string, { vkcast: string | null; original: string | null }> };
type Static = Meta & { frame: string; vkcast: Agg; original: Agg; bytesRatio: number | null; fpsRatio: number | null; cpuRatio: number | null };
type Sum = { median: number; min: number; max: number; n: number };
type Encode = Meta & {
  iterations: number;
  frames: number;
  sizes: { width: number; height: number; quality: number; turbo: Sum; napi: Sum; pillow: Sum | null; turboOverPillow: number | null; napiOverPillow: number | null; napiOverTurbo: number; bytes: { turbo: number; napi: number; pillow: number | null } }[];
};
type RenderSize = { width: number; height: number; render: Sum; readback: Sum; handoff: Sum; total: Sum; fps: number };
type Render = Meta & { device: string; deviceType?: string; scene: string; frames: number; warmup?: number; gpuTimestamps: boolean; sizes: RenderSize[] };

type IngestPush = { client: "c" | "python"; width: number; height: number; us: Sum & { p99: number }; runMedians: Spread; dropped: number };
type IngestStream = { producer: "python" | "original" | "c"; what: string; viewers: number } & Pick<Required<Agg>, "fps" | "worstViewerFps" | "latencyP50" | "latencyP99">;
type Ingest = Meta & { bars: { pushUs1080p: number; pythonFps720p: number; cFps: number }; original: string; push: IngestPush[]; stream: IngestStream[] };
type NetViewer = { fps: Spread; latencyP50: Spread; latencyP99: Spread; ssim: Spread; qualityP50: Spread; tiers: Record<string, number>; statedTier: string | null };
type NetRow = {
  profile: string;
  link: { bps: number; delayMs: number; loss: number };
  vkcast: { shaped: NetViewer; loopback: NetViewer; inputToDisplayP50: Spread; inputs: number; inputErrors: string[] } | null;
  original: { shaped: NetViewer; loopback: NetViewer } | null;
};
type Network = Meta & {
  scene: { source: "vulkan" | "synthetic"; device: string; frames: number };
  servers: { vkcast: string; original: string | null; browser: string };
  bar: { profile: string; fps: number; latencyP50: number; latencyP99: number; loopbackFps: number; loopbackQuality: number };
  rows: NetRow[];
};

const ok = (x: number | null | undefined): x is number => typeof x === "number" && Number.isFinite(x);

/** A number for a table: n/a when missing; 3 significant-ish digits. */
export function num(x: number | null | undefined, digits?: number): string {
  if (!ok(x)) return "n/a";
  if (digits !== undefined) return x.toFixed(digits);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : a === 0 ? "0" : x.toPrecision(2);
}

/** "median (min-max)" over runs; just the median for a single run. */
export function cell(s: Spread | undefined, digits?: number, scale = 1): string {
  if (!s || !ok(s.median)) return "n/a";
  const f = (x: number | null) => num(ok(x) ? x * scale : x, digits);
  if (s.n <= 1 || !ok(s.min) || !ok(s.max) || f(s.min) === f(s.max)) return f(s.median);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

export const times = (r: number | null | undefined) => (ok(r) ? `${num(r)}×` : "n/a");

/** vkcast / original from the two medians; "∞" when the original delivered nothing and vkcast did. */
export function ratioCell(v: Spread | undefined, o: Spread | undefined): string {
  const a = v?.median;
  const b = o?.median;
  if (ok(a) && ok(b) && b === 0 && a > 0) return "∞ (original: 0)";
  return times(ok(a) && ok(b) && b !== 0 ? a / b : null);
}

const sizeName = (w: number, h: number) => (h === 720 ? "720p" : h === 1080 ? "1080p" : `${w}x${h}`);
const caseName = (r: { viewers: number; stalled: number }) => `${r.viewers}${r.stalled ? ` + ${r.stalled} stalled` : ""}`;

function measuredLine(m: Meta): string {
  const o = m.options ?? {};
  const parts = [`measured ${m.date?.slice(0, 16).replace("T", " ")} UTC`];
  if (o.repeat !== undefined) parts.push(`${o.repeat} run${o.repeat === 1 ? "" : "s"} per figure`);
  if (o.seconds !== undefined) parts.push(`${o.seconds} s window after ${o.warmup} s warm-up${o.stalledWarmup !== undefined ? ` (${o.stalledWarmup} s with stalled viewers)` : ""}`);
  if (o.quick) parts.push("**--quick: a smoke run, not numbers to quote**");
  if (ok(m.loadBefore)) parts.push(`load average ${m.loadBefore} → ${m.loadAfter ?? "?"}`);
  return `<sub>${parts.join(" · ")}</sub>`;
}

/** A section reads only results of its own shape; an older shape reads as not measured yet. */
const valid = <T extends Meta>(x: unknown, schema = 2): T | null => ((x as Meta | undefined)?.schema === schema ? (x as T) : null);
const notRun = (name: string) => `_Not measured yet (or measured by an older version of the benchmark): \`bun run bench ${name}\`._\n`;

/** fps per viewer is frames counted in the window / its length: one frame more or less is ±1/window fps. */
export function fpsPrecision(m: Meta): string {
  const seconds = Number(m.options?.seconds);
  return ok(seconds) && seconds > 0 ? `±${num(1 / seconds, 2)} fps (one frame more or less in the ${seconds} s window)` : "";
}
/** fps to one decimal: a window of a few seconds cannot tell more. */
const fpsCell = (s: Spread | undefined) => cell(s, 1);
const fps1 = (x: number | null | undefined) => num(x, 1);

/** Said wherever the original's side is empty because it was not found. */
function originalNote(m: Meta): string {
  return m.originalMeasured === false
    ? "> Only vkcast was measured here: the original was not found (name its folder with `--original=DIR` or `VKCAST_ORIGINAL=DIR`).\n\n"
    : "";
}

function fanoutChart(f: Fanout, key: string, file: string): string {
  const s = f.bySize[key]!;
  const o = f.options ?? {};
  const series = (side: "vkcast" | "original", name: string, color: string): BarSeries => ({
    name,
    color,
    values: s.rows.map((r) => ({ median: r[side].fps?.median ?? null, min: r[side].fps?.min ?? null, max: r[side].fps?.max ?? null })),
  });
  return writeSvg(
    file,
    barChart({
      title: `Frames per second each viewer receives, ${sizeName(s.width, s.height)} (${s.width}x${s.height})`,
      subtitle: `JPEG q${o.quality}, target ${o.fps} fps; median per viewer; "+ N stalled": 20 reading viewers beside N that never read`,
      groups: s.rows.map((r) => `${r.viewers} viewer${r.viewers === 1 ? "" : "s"}${r.stalled ? `\n+ ${r.stalled} stalled` : ""}`),
      digits: 1,
      width: 900,
      xLabel: "viewers connected at once (each in a separate viewer process)",
      yLabel: "frames per second per viewer (higher is better)",
      series: [series("vkcast", "vkcast", COLORS.vkcast), series("original", "original (Python, aiohttp + Pillow)", COLORS.original)],
      targets: [{ value: Number(o.fps ?? 30), label: `target ${o.fps ?? 30} fps` }],
      footnote: footnote(f),
    }),
  );
}

function footnote(m: Meta): string {
  return `${m.machine?.cores ?? "?"} cores, ${m.machine?.cpu ?? "?"} · ${m.date?.slice(0, 10) ?? ""} · ${m.options?.repeat ?? "?"} run(s) per bar`;
}

const svgs: string[] = [];
function writeSvg(file: string, svg: string): string {
  svgs.push(join(RESULTS, file));
  pendingWrites.push(Bun.write(join(RESULTS, file), svg));
  return `bench/results/${file}`;
}
const pendingWrites: Promise<number>[] = [];

function fanoutSection(f: Fanout | null): string {
  const out = ["## Fan-out: frames per second per viewer as viewers grow", ""];
  if (!f) return out.join("\n") + notRun("fanout");
  out.push(
    originalNote(f) +
      `Both servers get the same kind of input: a precomputed ring of 30 frames (vkcast: \`${f.servers?.vkcast}\`, the synthetic source; ` +
      `the original: ${f.servers?.original ? `its own \`${f.servers.original}\`, unchanged` : "not measured"}), so only the server is measured, not a renderer ` +
      "(the Vulkan scene with 20 and 100 viewers is under [End to end](#end-to-end-with-the-vulkan-renderer)). " +
      "A figure is the median fps over the reading viewers (to one decimal: the window's precision is under each table); the worst viewer is the slowest reading viewer. " +
      `CPU is the server process's, as % of one core (this machine has ${f.machine?.cores ?? "?"}); RSS at the end of the window. ` +
      "With stalled viewers the original stops: its broadcast awaits each socket in turn, so once a stalled socket's kernel buffers are full " +
      "(a few seconds in; the stalled cases warm up longer so that the window starts after that) none of the 20 readers gets another frame, and its CPU drops to about 0. " +
      "vkcast skips a stalled viewer's frames and closes it after `--stall-timeout` (30 s, longer than the window).",
    "",
  );
  for (const key of Object.keys(f.bySize).sort((a, b) => f.bySize[a]!.height - f.bySize[b]!.height)) {
    const s = f.bySize[key]!;
    const svg = fanoutChart(f, key, `fanout-${key}.svg`);
    out.push(`### ${sizeName(s.width, s.height)} (${key})`, "", `![fps per viewer against viewers, ${key}](${svg})`, "");
    out.push(
      table(
        ["viewers", "vkcast fps", "original fps", "vkcast / original", "worst viewer vkcast", "worst viewer original", "CPU % vkcast", "CPU % original", "RSS MB vkcast", "RSS MB original"],
        s.rows.map((r) => [
          caseName(r),
          fpsCell(r.vkcast.fps),
          fpsCell(r.original.fps),
          ratioCell(r.vkcast.fps, r.original.fps),
          fpsCell(r.vkcast.worstViewerFps),
          fpsCell(r.original.worstViewerFps),
          cell(r.vkcast.cpuPercent, 0),
          cell(r.original.cpuPercent, 0),
          cell(r.vkcast.rssMB, 0),
          cell(r.original.rssMB, 0),
        ]),
      ),
      "",
    );
    out.push(`<sub>${fpsPrecision({ options: s.options ?? f.options })}</sub>`, "");
    if (f.keptFromEarlierRun?.sizes.includes(key)) out.push(`<sub>this size kept from an earlier run (${f.keptFromEarlierRun.date ?? "?"})</sub>`, "");
  }
  out.push(measuredLine(f), "");
  return out.join("\n");
}

function latencySection(l: Latency | null): string {
  const out = ["## Latency: capture → receive", ""];
  if (!l) return out.join("\n") + notRun("latency");
  const o = l.options ?? {};
  const svg = writeSvg(
    "latency.svg",
    barChart({
      title: `Capture → receive latency, ${o.width}x${o.height}`,
      subtitle: `JPEG q${o.quality}, target ${o.fps} fps; p50 and p99 over every frame every viewer received`,
      groups: l.rows.map((r) => `${r.viewers} viewer${r.viewers === 1 ? "" : "s"}`),
      xLabel: "viewers connected at once",
      yLabel: "milliseconds (lower is better)",
      digits: 0,
      log: true,
      series: [
        { name: "vkcast p50", color: COLORS.vkcast, values: l.rows.map((r) => r.vkcast.latencyP50 ?? null) },
        { name: "vkcast p99", color: COLORS.vkcastLight, values: l.rows.map((r) => r.vkcast.latencyP99 ?? null) },
        { name: "original p50", color: COLORS.original, values: l.rows.map((r) => r.original.latencyP50 ?? null) },
        { name: "original p99", color: COLORS.originalLight, values: l.rows.map((r) => r.original.latencyP99 ?? null) },
      ],
      footnote: footnote(l),
    }),
  );
  out.push(
    originalNote(l) +
      `From the moment a frame is captured to the moment the viewer process has the whole message, on the same clock; vkcast: \`${l.servers?.vkcast}\` ` +
      "(the synthetic source: capture = the source handing the frame over, so no render is in the interval). " +
      "Both servers carry the capture time in a JPEG COM segment: vkcast always does; the original is run by " +
      `\`${l.servers?.original ?? "bench/original.py --stamp"}\` (run_seed.py's loop; its server code unchanged, the segment added around its encoder on the instance, capture = \`push_frame()\`). ` +
      "The original's 4-frame queue (FIFO) is part of its latency.",
    "",
    `![latency p50 and p99](${svg})`,
    "",
    table(
      ["viewers", "p50 ms vkcast", "p50 ms original", "p50 vkcast / original", "p99 ms vkcast", "p99 ms original", "p99 vkcast / original", "CPU % vkcast", "CPU % original"],
      l.rows.map((r) => [
        String(r.viewers),
        cell(r.vkcast.latencyP50, 0),
        cell(r.original.latencyP50, 0),
        times(r.p50Ratio),
        cell(r.vkcast.latencyP99, 0),
        cell(r.original.latencyP99, 0),
        times(r.p99Ratio),
        cell(r.vkcast.cpuPercent, 0),
        cell(r.original.cpuPercent, 0),
      ]),
    ),
    "",
    measuredLine(l),
    "",
  );
  return out.join("\n");
}

/** The device vkcast reported while streaming; results from before it was recorded name none. */
const streamDevice = (s: Stream) => s.rows.find((r) => r.vkcast.device)?.vkcast.device ?? "the default Vulkan device";

function streamSection(s: Stream | null): string {
  const out = ["## End to end with the Vulkan renderer", ""];
  if (!s) return out.join("\n") + notRun("stream");
  const o = s.options ?? {};
  const rows = [...s.rows].sort((a, b) => a.height - b.height || a.viewers - b.viewers);
  const device = streamDevice(s);
  const group = (r: StreamRow) => `${sizeName(r.width, r.height)}\n${r.viewers} viewer${r.viewers === 1 ? "" : "s"}`;
  const svg = writeSvg(
    "stream.svg",
    barChart({
      title: `End to end: frames per second each viewer receives, vkcast rendering with Vulkan on ${device}`,
      subtitle: `vkcast: render + readback + encode + send; original (1 viewer): precomputed frames, encode + send. q${o.quality}, target ${o.fps} fps`,
      groups: rows.map(group),
      xLabel: "frame size and viewers connected at once",
      yLabel: "frames per second per viewer (higher is better)",
      digits: 1,
      width: 900,
      series: [
        { name: "vkcast, Vulkan source (bun run index.ts)", color: COLORS.vkcast, values: rows.map((r) => r.vkcast.fps ?? null) },
        { name: "original, precomputed frames (run_seed.py)", color: COLORS.original, values: rows.map((r) => r.original.fps ?? null) },
      ],
      targets: [
        { value: Number(o.fps ?? 30), label: `target ${o.fps ?? 30} fps`, color: "#777" },
        { value: s.barFps720p, label: `bar at 720p: ${s.barFps720p} fps` },
      ],
      footnote: footnote(s),
    }),
  );
  const bar = rows.find((r) => r.height === 720 && r.viewers === 1);
  out.push(
    originalNote(s) +
      `\`${s.servers?.vkcast}\`, i.e. its default Vulkan source (the orbit scene, rendered on ${device}), with ${[...new Set(rows.map((r) => r.viewers))].join(", ")} viewer(s). ` +
      `The bar: at least ${s.barFps720p} fps per viewer at 720p with one viewer` +
      (bar && ok(bar.vkcast.fps?.median) ? ` — **${bar.vkcast.fps!.median! >= s.barFps720p ? "met" : "not met"}** (${fps1(bar.vkcast.fps!.median)} fps).` : ".") +
      ` Beside the 1-viewer cases, the original as its run_seed.py feeds it: its frames cost nothing to make, so this comparison favours the original ` +
      "(the original with more viewers is under Fan-out). " +
      `fps per viewer is the median over the viewers, ${fpsPrecision(s)}. ` +
      "Render ms is the engine's own median from `/api/stats`: the whole `nextFrame` of the Vulkan source (render, readback and hand-off, on the CPU clock) while streaming. " +
      "Latency is from the rendered frame handed to the server to the viewer having it, so **the render is not in it**: from the start of a render to the viewer is render ms + latency. " +
      "The engine loop already runs at the target fps, so the server does not pace its frames again.",
    "",
    `![end to end fps](${svg})`,
    "",
    table(
      ["size", "viewers", "vkcast fps", "worst viewer", "original fps", "vkcast / original", "render ms", "latency p50 ms (after render)", "encode ms", "CPU % vkcast", "CPU % original", "RSS MB vkcast"],
      rows.map((r) => [
        sizeName(r.width, r.height),
        String(r.viewers),
        fpsCell(r.vkcast.fps),
        fpsCell(r.vkcast.worstViewerFps),
        fpsCell(r.original.fps),
        ratioCell(r.vkcast.fps, r.original.fps),
        cell(r.vkcast.renderMsP50),
        cell(r.vkcast.latencyP50, 0),
        cell(r.vkcast.encodeMsP50),
        cell(r.vkcast.cpuPercent, 0),
        cell(r.original.cpuPercent, 0),
        cell(r.vkcast.rssMB, 0),
      ]),
    ),
    "",
    measuredLine(s),
    "",
  );
  return out.join("\n");
}

function encodeSection(e: Encode | null): string {
  const out = ["## JPEG encode per backend", ""];
  if (!e) return out.join("\n") + notRun("encode");
  const q = e.sizes[0]?.quality ?? 85;
  const sv = (k: "turbo" | "napi" | "pillow") => e.sizes.map((s) => (s[k] ? { median: s[k]!.median, min: null, max: null } : null));
  const svg = writeSvg(
    "encode.svg",
    barChart({
      title: `JPEG encode time per frame, q${q}`,
      subtitle: `the same ${e.frames} synthetic frames for every encoder; median of ${e.iterations} encodes (min-max in the table)`,
      groups: e.sizes.map((s) => `${sizeName(s.width, s.height)} (${s.width}x${s.height})`),
      xLabel: "frame size",
      yLabel: "milliseconds per frame (lower is better)",
      series: [
        { name: "vkcast: libjpeg-turbo (bun:ffi, default)", color: COLORS.vkcast, values: sv("turbo") },
        { name: "vkcast: @napi-rs/image (fallback)", color: COLORS.napi, values: sv("napi") },
        { name: "original: Pillow", color: COLORS.original, values: sv("pillow") },
      ],
      footnote: `${e.machine?.cores ?? "?"} cores, ${e.machine?.cpu ?? "?"} · ${e.date?.slice(0, 10) ?? ""} · one thread each`,
    }),
  );
  const c = (s: Sum | null) => (s ? cell({ ...s }) : "n/a");
  out.push(
    originalNote(e) +
      "One encode at a time in one thread (vkcast runs two encoder Workers, so its throughput is about twice this). " +
      "vkcast's backends run in Bun, interleaved; the original's is its own `_encode_jpeg` (drop alpha, Pillow) in python3 on the same frames. " +
      "KB is the size of the last JPEG.",
    "",
    `![encode ms per backend](${svg})`,
    "",
    table(
      ["size", "libjpeg-turbo ms", "@napi-rs/image ms", "original (Pillow) ms", "turbo / original", "napi / original", "KB turbo", "KB napi", "KB original"],
      e.sizes.map((s) => [
        sizeName(s.width, s.height),
        c(s.turbo),
        c(s.napi),
        c(s.pillow),
        times(s.turboOverPillow),
        times(s.napiOverPillow),
        num(s.bytes.turbo / 1024, 0),
        num(s.bytes.napi / 1024, 0),
        ok(s.bytes.pillow) ? num(s.bytes.pillow / 1024, 0) : "n/a",
      ]),
    ),
    "",
    measuredLine(e),
    "",
  );
  return out.join("\n");
}

function renderSection(r: Render | null): string {
  const out = ["## Vulkan render + readback", ""];
  if (!r) return out.join("\n") + notRun("render");
  const c = (s: Sum) => cell({ ...s });
  out.push(
    `The Vulkan source alone, scene "${r.scene}" on ${r.device}${r.deviceType ? ` (a device of type ${r.deviceType})` : ""}: ${r.frames} frames one after another after ${r.warmup ?? "?"} warm-up, released at once (no encoder). ` +
      `Render and readback ${r.gpuTimestamps ? "from GPU timestamps" : "on the CPU clock"}; hand-off is the rest until the frame is in JavaScript. ` +
      "The original has no renderer (its engine hands it pixels), so there is no ratio here.",
    "",
    table(
      ["size", "render ms", "readback ms", "hand-off ms", "total ms", "frames/s (one at a time)"],
      r.sizes.map((s) => [`${s.width}x${s.height}`, c(s.render), c(s.readback), c(s.handoff), c(s.total), num(s.fps)]),
    ),
    "",
    measuredLine(r),
    "",
  );
  return out.join("\n");
}

function idleSection(i: Idle | null): string {
  const out = ["## Idle: nobody watching", ""];
  if (!i) return out.join("\n") + notRun("idle");
  const o = i.options ?? {};
  out.push(
    originalNote(i) +
      `Server CPU (% of one core), RSS and frames encoded per second over ${o.seconds} s with no viewer, ${o.width}x${o.height}, producer at ${o.fps} fps. ` +
      "What an idle server costs depends on whether its producer asks if anyone watches, so both servers are driven both ways by the same kind of loop over a synthetic ring: " +
      "pushing only while anyone watches (vkcast: `bench/library-server.ts`, as its engine does; the original: `bench/original.py --when-watched`, which calls `has_clients()`) " +
      "and pushing every tick regardless (vkcast: `bench/library-server.ts --always`; the original: `bench/original.py`, run_seed.py's loop, which never calls `has_clients()`). " +
      "The last row is vkcast's main job as a user runs it (`bun run index.ts`, Vulkan scene; its engine asks). n/a: not measured. " +
      "Frames encoded/s: vkcast's `/api/stats`; the original's counted by wrapping its `_encode_jpeg` on the instance.",
    "",
    table(
      ["producer", "CPU % vkcast", "CPU % original", "vkcast / original", "encoded/s vkcast", "encoded/s original", "RSS MB vkcast", "RSS MB original"],
      i.rows.map((r) => [
        r.label,
        cell(r.vkcast.cpuPercent),
        cell(r.original.cpuPercent),
        times(r.cpuRatio),
        cell(r.vkcast.encodedPerSecond),
        cell(r.original.encodedPerSecond),
        cell(r.vkcast.rssMB, 0),
        cell(r.original.rssMB, 0),
      ]),
    ),
    "",
    measuredLine(i),
    "",
  );
  return out.join("\n");
}

function staticSection(s: Static | null): string {
  const out = ["## Static scene: bytes per second when nothing changes", ""];
  if (!s) return out.join("\n") + notRun("static");
  const o = s.options ?? {};
  out.push(
    originalNote(s) +
      `No CLI run is static (the Vulkan scene animates), so one frame, ${s.frame}, is pushed to both servers every tick at ${o.fps} fps: ` +
      `vkcast through its library API (\`${s.servers?.vkcast?.split(" (")[0]}\`), the original through ${s.servers?.original ? `\`${s.servers.original}\`` : "nothing (not measured)"}. ` +
      `${o.viewers} viewer, ${o.width}x${o.height} q${o.quality}. vkcast sends the picture once (and once more at the still quality), then nothing until it changes.`,
    "",
    table(
      ["", "vkcast", "original", "vkcast / original"],
      [
        ["KB/s per viewer", cell(s.vkcast.bytesPerSecond, undefined, 1 / 1024), cell(s.original.bytesPerSecond, undefined, 1 / 1024), times(s.bytesRatio)],
        ["frames/s per viewer", cell(s.vkcast.fps), cell(s.original.fps), times(s.fpsRatio)],
        ["server CPU %", cell(s.vkcast.cpuPercent), cell(s.original.cpuPercent), times(s.cpuRatio)],
        ["frames encoded/s (vkcast /api/stats)", cell(s.vkcast.encodedPerSecond), "", ""],
        ["unchanged frames skipped/s", cell(s.vkcast.unchangedPerSecond), "", ""],
      ],
    ),
    "",
    measuredLine(s),
    "",
  );
  return out.join("\n");
}

function ingestSection(g: Ingest | null): string {
  const out = ["## Ingest: an engine's own frames (`--source ipc`)", ""];
  if (!g) return out.join("\n") + notRun("ingest");
  const o = g.options ?? {};
  const bar = (met: boolean) => (met ? "met" : "not met");
  const pushBar = (x: IngestPush) => (x.height === 1080 ? `≤ ${g.bars.pushUs1080p}: ${bar((x.us.median ?? Infinity) <= g.bars.pushUs1080p)}` : "");
  const fpsBar = (s: IngestStream) => {
    const want = s.producer === "python" ? g.bars.pythonFps720p : s.producer === "c" ? g.bars.cFps : null;
    return want === null ? "" : `≥ ${want}: ${bar((s.worstViewerFps.median ?? 0) >= want)}`;
  };
  const absent = g.original.startsWith("absent") ? `> Only vkcast was measured end to end: ${g.original.replace(/^absent: /, "")}.\n\n` : "";
  out.push(
    "Push cost: the time of one `push_frame` call that submitted its frame (the copy into the shared-memory slot and the frame message), " +
      "from the C client (`test/fixtures/c/producer.c`, -O2) and the Python client (`bench/ingest_producer.py`, numpy), RGBA, " +
      `${o.pushes} pushes per client, size and run at ${o.fps} fps into a fresh \`bun run index.ts --source ipc\` with one viewer watching (so the encoder runs meanwhile). ` +
      "Median over all pushes, with the spread of the runs' medians in brackets.",
    "",
    table(
      ["client", "size", "median µs (runs)", "p99 µs", "max µs", "pushes", "dropped", "bar"],
      g.push.map((x) => [x.client, `${x.width}x${x.height}`, `${num(x.us.median, 0)} (${num(x.runMedians.min, 0)}–${num(x.runMedians.max, 0)})`,
        num(x.us.p99, 0), num(x.us.max, 0), String(x.us.n), String(x.dropped), pushBar(x)]),
    ),
    "",
    absent +
      `End to end, ${o.width}x${o.height} q${o.quality}, target ${o.fps} fps: each producer's own synthetic frames, viewers in a separate process. ` +
      "fps per viewer over the window; latency from the producer's submit (its capture time, stamped into the frame) to the whole JPEG at a viewer. " +
      `The original, where measured, runs the same loop on its own server (\`bench/original.py --stamp\`). ${fpsPrecision(g)}`,
    "",
    table(
      ["producer", "viewers", "fps per viewer", "worst viewer fps", "latency p50 ms", "latency p99 ms", "bar (worst viewer)"],
      g.stream.map((s) => [s.producer, String(s.viewers), fpsCell(s.fps), fpsCell(s.worstViewerFps), cell(s.latencyP50, 0), cell(s.latencyP99, 0), fpsBar(s)]),
    ),
    "",
    ...g.stream.map((s) => `- ${s.producer}: ${s.what}`),
    "",
    measuredLine(g),
    "",
  );
  return out.join("\n");
}

/** Tiers as shares of the frames received, most used first; the original has one quality and no tiers. */
export function tierCell(tiers: Record<string, number>): string {
  const used = Object.entries(tiers).filter(([t]) => t !== "none").sort((a, b) => b[1] - a[1]);
  return used.length ? used.map(([t, share]) => `${t} ${Math.round(share * 100)}%`).join(", ") : "one quality";
}

const linkName = (l: NetRow["link"]) => `${num(l.bps / 1e6)} Mbit/s, ${l.delayMs} ms${l.loss ? `, ${num(l.loss * 100)}% loss` : ""}`;

/** The bar of issue 18 against the measured medians: each part met or not, with its figure. */
export function networkBar(n: Network): { met: boolean; text: string } | null {
  const row = n.rows.find((r) => r.profile === n.bar.profile)?.vkcast;
  if (!row) return null;
  // fps is counted in a window: one frame less than the target is within its precision.
  const slack = 1 / Number(n.options?.seconds ?? 1);
  const parts: [string, boolean][] = [
    [`${fps1(row.shaped.fps.median)} fps ≥ ${n.bar.fps}`, (row.shaped.fps.median ?? 0) >= n.bar.fps],
    [`p50 ${num(row.shaped.latencyP50.median, 0)} ms ≤ ${n.bar.latencyP50}`, (row.shaped.latencyP50.median ?? Infinity) <= n.bar.latencyP50],
    [`p99 ${num(row.shaped.latencyP99.median, 0)} ms ≤ ${n.bar.latencyP99}`, (row.shaped.latencyP99.median ?? Infinity) <= n.bar.latencyP99],
    [`loopback ${fps1(row.loopback.fps.median)} fps`, (row.loopback.fps.median ?? 0) >= n.bar.loopbackFps - slack],
    [`loopback q${num(row.loopback.qualityP50.median, 0)}, ${tierCell(row.loopback.tiers)}`,
      row.loopback.qualityP50.median === n.bar.loopbackQuality && (row.loopback.tiers.full ?? 0) === 1],
  ];
  const met = parts.every(([, m]) => m);
  return { met, text: parts.map(([t, m]) => `${t} ${m ? "✓" : "✗"}`).join(", ") };
}

function networkSection(n: Network | null): string {
  const out = ["## Real networks: a viewer through a shaped link", ""];
  if (!n) return out.join("\n") + notRun("network");
  const o = n.options ?? {};
  const scene = n.scene.source === "vulkan" ? `the built-in Vulkan scene, rendered on ${n.scene.device},` : `the synthetic source (${n.scene.device})`;
  const bar = networkBar(n);
  out.push(
    originalNote(n) +
      `Each link is bench/shaper.ts, a TCP proxy on loopback that gives each direction the profile's bandwidth and one-way delay (lost packets arrive a round trip late, holding up what follows, as TCP does). ` +
      `Frames: ${n.scene.frames} frames of ${scene} at ${o.width}x${o.height}, rendered ahead and replayed at ${o.fps} fps with the scene on the wall clock, the same to both servers ` +
      `(vkcast: its library API in \`${n.servers.vkcast.split(" (")[0]} --ring-file FILE\`, JPEG q${o.quality}; ` +
      `the original: ${n.servers.original ? `\`${n.servers.original}\`, its server unchanged` : "not measured"}), so the render is not in the figures. ` +
      "Per link and server, one viewer through the link and one on loopback beside it (a Bun process apart from the server; vkcast's viewers ack each frame on arrival, as a page does once it painted it). " +
      `fps: frames received in the ${o.seconds} s window after a ${o.warmup} s warm-up (a new viewer's first frames go out before its link is known, and on the slowest links take seconds to drain: ` +
      "that start is not in these figures); latency: from capture (the frame handed to the server) to the whole frame at the viewer, same clock. " +
      "Tier: vkcast's per-viewer encodings (full, low = full size at quality ≤ 40, small = half size), as shares of the frames received. " +
      `SSIM: ffmpeg's, of ${o.samples} received frames per viewer spread over the window against the very frames rendered (a small tier scaled up, as the page draws it). ` +
      `Input → display: Chromium (Debian's) on the page of \`${n.servers.browser}\` (the scene live, answering input) through the same link, ${o.inputs} arrow-key presses one at a time after the same warm-up, ` +
      "the page's own median from each input to the first painted frame rendered after it; the original has no figure: its frames carry no input sequence and its producer drops input, so nothing it shows answers one.",
    "",
    table(
      ["link", "server", "fps", "latency p50 ms", "p99 ms", "tier", "SSIM", "input → display p50 ms", "loopback fps", "loopback quality", "loopback SSIM"],
      n.rows.flatMap((r) =>
        (["vkcast", "original"] as const).flatMap((side) => {
          const x = r[side];
          if (!x) return [];
          const input = side === "vkcast" ? cell(r.vkcast!.inputToDisplayP50, 0) : "n/a";
          const q = side === "vkcast" ? `q${num(x.loopback.qualityP50.median, 0)}, ${tierCell(x.loopback.tiers)}` : `q${o.quality}`;
          return [[`${r.profile} (${linkName(r.link)})`, side, fpsCell(x.shaped.fps), cell(x.shaped.latencyP50, 0), cell(x.shaped.latencyP99, 0),
            tierCell(x.shaped.tiers), cell(x.shaped.ssim, 3), input, fpsCell(x.loopback.fps), q, cell(x.loopback.ssim, 3)]];
        }),
      ),
    ),
    "",
    bar
      ? `The bar (${n.bar.profile}: ≥ ${n.bar.fps} fps, latency p50 ≤ ${n.bar.latencyP50} ms and p99 ≤ ${n.bar.latencyP99} ms, a loopback viewer beside it at ${n.bar.loopbackFps} fps and q${n.bar.loopbackQuality}): ` +
        `**${bar.met ? "met" : "not met"}** (${bar.text}).`
      : "",
    "",
    `<sub>${n.machine ? `${n.machine.cores} cores, ${n.machine.cpu}; ` : ""}${fpsPrecision(n)}</sub>`,
    "",
    measuredLine(n),
    "",
  );
  const failed = n.rows.flatMap((r) => r.vkcast?.inputErrors ?? []);
  if (failed.length) out.push(`<sub>input → display not measured in ${failed.length} run(s): ${[...new Set(failed)].join("; ")}</sub>`, "");
  return out.join("\n");
}

/** The few numbers a reader wants first, each saying what was measured. */
export function headline(results: Record<string, unknown>): string[] {
  const lines: string[] = [];
  const f = valid<Fanout>(results.fanout);
  const row = (size: string, v: number, st: number) => f?.bySize[size]?.rows.find((r) => r.viewers === v && r.stalled === st);
  const orig = (m: Meta | null) => m?.originalMeasured !== false;
  for (const [size, name] of [["1280x720", "720p"], ["1920x1080", "1080p"]] as const) {
    const r100 = row(size, 100, 0);
    const r1 = row(size, 1, 0);
    if (r1 && r100) {
      lines.push(
        `**Fan-out, ${name}, synthetic source** (\`--source synthetic\`: precomputed frames, so only the server is measured): ` +
          `${fps1(r1.vkcast.fps?.median)} fps per viewer with 1 viewer and ${fps1(r100.vkcast.fps?.median)} with 100` +
          (orig(f) ? ` (original: ${fps1(r1.original.fps?.median)} and ${fps1(r100.original.fps?.median)}; ${times(r100.fpsRatio)} at 100 viewers)` : "") +
          `; ${fpsPrecision({ options: f!.bySize[size]!.options ?? f!.options })}.`,
      );
    }
  }
  const st = row("1280x720", 20, 5);
  if (st) {
    lines.push(
      `**Stalled viewers, 720p, synthetic source:** 20 viewers beside 5 that stopped reading get ${fps1(st.vkcast.fps?.median)} fps each (worst ${fps1(st.vkcast.worstViewerFps?.median)})` +
        (orig(f) ? `; the original's get ${fps1(st.original.fps?.median)}${st.original.fps?.median === 0 ? " (frozen: it waits on the stalled sockets)" : ""}` : "") +
        ".",
    );
  }
  const l = valid<Latency>(results.latency);
  const l1 = l?.rows.find((r) => r.viewers === 1);
  const l100 = l?.rows.find((r) => r.viewers === 100);
  if (l1) {
    lines.push(
      `**Latency, 720p, synthetic source** (capture → receive, no render in it): p50 ${num(l1.vkcast.latencyP50?.median, 0)} ms / p99 ${num(l1.vkcast.latencyP99?.median, 0)} ms with 1 viewer` +
        (l100 ? `, ${num(l100.vkcast.latencyP50?.median, 0)} / ${num(l100.vkcast.latencyP99?.median, 0)} ms with 100` : "") +
        (orig(l)
          ? ` (original: ${num(l1.original.latencyP50?.median, 0)} / ${num(l1.original.latencyP99?.median, 0)} ms` +
            (l100 ? `, ${num(l100.original.latencyP50?.median, 0)} / ${num(l100.original.latencyP99?.median, 0)} ms` : "") +
            ")"
          : "") +
        ".",
    );
  }
  const s = valid<Stream>(results.stream, 3);
  const sr = (h: number, v: number) => s?.rows.find((r) => r.height === h && r.viewers === v);
  for (const [h, name] of [[720, "720p"], [1080, "1080p"]] as const) {
    const one = sr(h, 1);
    if (!s || !one) continue;
    const more = s.rows.filter((r) => r.height === h && r.viewers > 1).sort((a, b) => a.viewers - b.viewers);
    lines.push(
      `**End to end with Vulkan rendering, ${name}** (\`bun run index.ts\` on ${streamDevice(s)}): ${fps1(one.vkcast.fps?.median)} fps with 1 viewer` +
        more.map((r) => `, ${fps1(r.vkcast.fps?.median)} with ${r.viewers}`).join("") +
        `; render ${num(one.vkcast.renderMsP50?.median)} ms, then ${num(one.vkcast.latencyP50?.median, 0)} ms (p50) from the rendered frame to the viewer` +
        (h === 720 ? ` (bar: ≥ ${s.barFps720p} fps, ${ok(one.vkcast.fps?.median) && one.vkcast.fps!.median! >= s.barFps720p ? "met" : "**not met**"})` : "") +
        ".",
    );
  }
  const e = valid<Encode>(results.encode);
  const e720 = e?.sizes.find((x) => x.height === 720);
  if (e720) {
    lines.push(
      `**JPEG encode, 720p q${e720.quality}:** libjpeg-turbo ${num(e720.turbo.median)} ms, @napi-rs/image ${num(e720.napi.median)} ms` +
        (e720.pillow ? `, the original's Pillow ${num(e720.pillow.median)} ms` : "") +
        ".",
    );
  }
  const i = valid<Idle>(results.idle, 3);
  const ir = (key: IdleRow["key"]) => i?.rows.find((r) => r.key === key);
  if (i && ir("checks") && ir("always")) {
    const [checks, always] = [ir("checks")!, ir("always")!];
    lines.push(
      `**Idle (no viewer), ${i.options?.width}x${i.options?.height}, producer at ${i.options?.fps} fps:** with a producer that asks whether anyone watches, vkcast ${num(checks.vkcast.cpuPercent?.median)}% CPU` +
        (orig(i) ? `, the original ${num(checks.original.cpuPercent?.median)}%` : "") +
        `; with one that pushes regardless, vkcast ${num(always.vkcast.cpuPercent?.median)}%` +
        (orig(i) ? `, the original ${num(always.original.cpuPercent?.median)}%` : "") +
        (ir("main") ? `; \`bun run index.ts\` ${num(ir("main")!.vkcast.cpuPercent?.median)}%` : "") +
        ".",
    );
  }
  const t = valid<Static>(results.static);
  if (t) {
    lines.push(
      `**Static scene:** vkcast sends ${num((t.vkcast.bytesPerSecond?.median ?? NaN) / 1024)} KB/s to a viewer` +
        (orig(t) ? `, the original ${num((t.original.bytesPerSecond?.median ?? NaN) / 1024)} KB/s` : "") +
        ".",
    );
  }
  const n = valid<Network>(results.network, 1);
  const nb = n?.rows.find((r) => r.profile === n.bar.profile);
  if (n && nb?.vkcast) {
    const [v, og] = [nb.vkcast, nb.original];
    lines.push(
      `**Through a shaped link, ${linkName(nb.link)} each way** (${n.scene.source === "vulkan" ? "the Vulkan scene's" : "synthetic"} frames, ${n.options?.width}x${n.options?.height}): ` +
        `${fps1(v.shaped.fps.median)} fps, latency p50 ${num(v.shaped.latencyP50.median, 0)} / p99 ${num(v.shaped.latencyP99.median, 0)} ms, ${tierCell(v.shaped.tiers)}, SSIM ${num(v.shaped.ssim.median, 3)}` +
        (og && orig(n) ? ` (original: ${fps1(og.shaped.fps.median)} fps, ${num(og.shaped.latencyP50.median, 0)} / ${num(og.shaped.latencyP99.median, 0)} ms)` : "") +
        `; a loopback viewer beside it gets ${fps1(v.loopback.fps.median)} fps` +
        (og && orig(n) ? ` (original: ${fps1(og.loopback.fps.median)})` : "") +
        (networkBar(n) ? ` (bar: ${networkBar(n)!.met ? "met" : "**not met**"})` : "") +
        ".",
    );
  }
  return lines;
}

/** Cores, CPU, memory and the Vulkan devices, as the machine reported them in the results. */
function machineLine(results: Record<string, unknown>): string {
  const metas = Object.values(results).filter((r): r is Meta => typeof (r as Meta | undefined)?.schema === "number");
  const m = metas.find((x) => x.machine)?.machine;
  const dates = metas.map((x) => x.date).filter((d): d is string => !!d).sort();
  const loads = metas.flatMap((x) => [x.loadBefore, x.loadAfter]).filter(ok);
  const devices = metas.map((x) => x.machine?.vulkanDevices).find((d) => d !== undefined);
  let vulkan = "";
  if (Array.isArray(devices)) {
    const gpus = devices.filter((d) => ["discrete", "integrated", "virtual"].includes(d.type));
    vulkan =
      `; Vulkan devices: ${devices.map((d) => `${d.name} (${d.type})`).join(", ") || "none"}` +
      (devices.length && gpus.length === 0 ? " — no GPU: Vulkan rasterizes on the same CPU cores" : "");
  } else if (devices) {
    vulkan = `; no Vulkan device (${devices.error})`;
  } else {
    // Results from before the devices were recorded: only the device the renderer used is known.
    const render = valid<Render>(results.render);
    if (render) vulkan = `; Vulkan on ${render.device}${render.deviceType ? ` (${render.deviceType})` : ""}`;
  }
  return (
    `**Machine:** ${m ? `${m.cores} cores${m.usableCores !== undefined && m.usableCores !== m.cores ? ` (${m.usableCores} usable by the benchmarks)` : ""}, ${m.cpu}${m.memoryGB ? `, ${m.memoryGB} GB RAM` : ""}` : "unknown"}` +
    vulkan +
    `. **Measured:** ${dates.length ? `${dates[0]!.slice(0, 10)}${dates.at(-1)!.slice(0, 10) !== dates[0]!.slice(0, 10) ? ` to ${dates.at(-1)!.slice(0, 10)}` : ""}` : "never"}` +
    (loads.length ? ` (1-minute load average ${Math.min(...loads)}–${Math.max(...loads)} at the starts and ends of the benchmarks)` : "") +
    "."
  );
}

/** How long the benchmarks took when last run, from their own records. */
function durationNote(results: Record<string, unknown>): string {
  const durations = Object.values(results).map((r) => (r as Meta | undefined)?.durationSeconds);
  if (durations.length === 0 || !durations.every(ok)) return "";
  return ` (the last runs took ${Math.round((durations as number[]).reduce((a, b) => a + b, 0) / 60)} minutes in all)`;
}

export function markdown(results: Record<string, unknown>): string {
  const quick = Object.values(results).some((r) => (r as Meta | undefined)?.options?.quick);
  const machine = Object.values(results).map((r) => (r as Meta | undefined)?.machine).find((m) => m);
  const cores = machine ? `${machine.cores}` : "?";
  return [
    "# vkcast benchmarks",
    "",
    "vkcast beside the original it grows from (the SimVX `StreamingServer`: Python, aiohttp + Pillow), " +
      "measured on the same machine in the same run, with the same frame size, JPEG quality and target fps. " +
      "The original is not part of this repository: the benchmarks measure it when they find its folder " +
      "(`--original=DIR`, `VKCAST_ORIGINAL=DIR`, or `../shared/baseline` beside the checkout) and say so where they did not. " +
      "Viewers run in a separate process from the server. Every figure is the median over repeated runs, with min–max in brackets; " +
      "ratios are vkcast / original on the medians. _This file is generated by `bun run bench`: edit `bench/report.ts`, not this file._",
    "",
    quick ? "> **These results include --quick smoke runs (1 run, short windows): rerun `bun run bench` before quoting them.**\n" : "",
    machineLine(results),
    "",
    "## Headline",
    "",
    ...headline(results).map((l) => `- ${l}`),
    "",
    "## Rerun",
    "",
    "```sh",
    "bash scripts/bench.sh            # installs python3-aiohttp python3-pil python3-numpy for the original, then runs everything",
    "bun run bench                    # every benchmark, 3 runs per figure",
    "bun run bench --original=DIR     # the original's folder (simvx_streaming_server.py, run_seed.py), if not ../shared/baseline",
    "bun run bench fanout latency     # only these; the others keep their previous results",
    "bun run bench --repeat=5         # more runs per figure; --quick for a 1-run smoke test",
    "bun run bench report             # rewrite this file and the charts from bench/results/latest.json",
    "```",
    "",
    `Raw results: \`bench/results/latest.json\` (each run's value, not only the medians)${durationNote(results)}. ` +
      "Benchmarks report; they never fail a build. `bun test` asserts no figure of this file: the only times it checks are ones the product promises " +
      "by its settings (frames leave at `--fps` and never faster; a viewer is closed after `--stall-timeout`; the input rate limit per second; " +
      "a frame pushed on time is not held back by a second pacing clock; frames dropped when behind are not queued), each measured against what the test itself pushed, with a margin.",
    "",
    fanoutSection(valid(results.fanout)),
    latencySection(valid(results.latency)),
    streamSection(valid(results.stream, 3)),
    encodeSection(valid(results.encode)),
    codecSection(results.codec),
    renderSection(valid(results.render)),
    idleSection(valid(results.idle, 3)),
    staticSection(valid(results.static)),
    ingestSection(valid(results.ingest)),
    scaleoutSection(results.scaleout),
    networkSection(valid(results.network, 1)),
    "## How it is measured",
    "",
    "- Each server runs in its own process, started fresh for every measurement; viewers run in another process (`bench/viewers.ts`: Bun WebSocket clients; stalled viewers do the WebSocket handshake over raw TCP and never read).",
    "- vkcast and the original are measured one after the other for each case, alternating which goes first, round after round; a figure is the median over the rounds, min–max over the rounds in brackets.",
    "- fps per viewer = frames a viewer received in the window / window length, so one frame more or less is ±1/window fps: figures are given to one decimal. " +
      `CPU = the server's user+system time over the window (from \`/proc/PID/stat\`, in clock ticks of ${machine?.clkTck ?? "getconf CLK_TCK"} a second as \`getconf CLK_TCK\` reports), as % of one core. RSS = resident memory at the end of the window.`,
    `- The viewers share the machine's ${cores} cores with the server (and with the Vulkan rasterizer in the Vulkan runs when it runs on the CPU): at 100 viewers the viewer process itself takes a good share of the CPU, so these are lower bounds for a server whose viewers are elsewhere.`,
    "- The original runs unchanged from its folder; `bench/original.py` is run_seed.py's loop plus bench-only options (capture time in a COM segment for latency; one repeated frame for the static scene; pushing only while `has_clients()` and counting encodes for the idle comparison) and the original's encoder for the encode benchmark.",
    "- Numbers on a shared or busy machine are noisy: the load average is recorded with each section.",
    "",
  ]
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd() + "\n";
}

/** A benchmark's new result over its previous one: per-size parts not measured this time are kept. */
export function mergeResult(previous: unknown, next: unknown): unknown {
  const prev = previous as (Meta & { bySize?: Record<string, unknown> }) | undefined;
  const cur = next as Meta & { bySize?: Record<string, unknown> };
  if (prev?.schema === cur.schema && prev?.bySize && cur.bySize) {
    const kept = Object.keys(prev.bySize).filter((k) => !(k in cur.bySize!));
    if (kept.length) {
      // A kept size keeps the options it was measured with (the window length, the repeats).
      const keptSizes = Object.fromEntries(kept.map((k) => [k, { options: prev.options, ...(prev.bySize![k] as object) }]));
      return { ...cur, bySize: { ...keptSizes, ...cur.bySize }, keptFromEarlierRun: { sizes: kept, date: prev.date } };
    }
  }
  return next;
}

/** Writes BENCHMARKS.md and the charts; returns the paths written. */
export async function writeReport(latest: { results: Record<string, unknown> }): Promise<string[]> {
  svgs.length = 0;
  pendingWrites.length = 0;
  // The GPU server section comes from its own runs on a GPU machine (bench/gpu-report.ts), not from latest.json.
  const gpu = gpuSection();
  const md = markdown(latest.results) + (gpu ? `\n${gpu}` : "");
  await Promise.all(pendingWrites);
  await Bun.write(join(ROOT, "BENCHMARKS.md"), md);
  return ["BENCHMARKS.md", ...svgs.map((p) => p.slice(ROOT.length + 1))];
}

if (import.meta.main) {
  const latest = (await Bun.file(join(RESULTS, "latest.json")).json()) as { results: Record<string, unknown> };
  console.log(`wrote ${(await writeReport(latest)).join(", ")}`);
}
