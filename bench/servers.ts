// The servers the benchmarks start (each in a process of its own) and one measuring window against
// one of them: viewers in a separate process, the server's CPU and RSS from /proc over exactly the
// window the viewers count in, and (for vkcast) the /api/stats counters over that window.
// The original (the SimVX StreamingServer, Python) is not part of this repository: it is measured only
// when its folder is found (originalDir), and every benchmark then says that only vkcast was measured.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, median, option, procUsage, quantile, spread, type Spread, waitForHttp } from "./lib.ts";

export const ROOT = join(import.meta.dir, "..");
/** run_seed.py's loop plus bench-only options (bench/original.py explains them). */
export const ORIGINAL_DRIVER = join(import.meta.dir, "original.py");
export const PYTHON = "/usr/bin/python3";
/** Where the original is looked for when no folder is given: beside the checkout. */
const ORIGINAL_BESIDE = join(ROOT, "..", "shared", "baseline");
const ORIGINAL_MARKER = "simvx_streaming_server.py";

/** A bad --original / VKCAST_ORIGINAL: the benchmarks exit 2 naming it. */
export class OriginalNotFound extends Error {}

/**
 * The original's folder (simvx_streaming_server.py and run_seed.py): `--original=DIR`, else
 * $VKCAST_ORIGINAL, else ../shared/baseline beside the checkout if it is there; null when none is.
 * A folder that was named but holds no original is an error, not a silent fallback.
 */
export function originalDir(args: readonly string[], env: Record<string, string | undefined> = process.env): string | null {
  const flag = option(args, "original", "");
  const given = flag || env.VKCAST_ORIGINAL || "";
  if (given) {
    if (!existsSync(join(given, ORIGINAL_MARKER))) {
      throw new OriginalNotFound(`${flag ? "--original" : "VKCAST_ORIGINAL"}: ${given} holds no ${ORIGINAL_MARKER}`);
    }
    return resolve(given);
  }
  return existsSync(join(ORIGINAL_BESIDE, ORIGINAL_MARKER)) ? ORIGINAL_BESIDE : null;
}

export const NO_ORIGINAL =
  "the original (SimVX StreamingServer) was not found, so only vkcast is measured: name its folder with " +
  "--original=DIR or VKCAST_ORIGINAL=DIR (default: ../shared/baseline beside the checkout)";

export type Side = "vkcast" | "original";

export interface ServerSpec {
  side: Side;
  /** What runs, for the tables' notes. */
  what: string;
  command(port: number): string[];
  /** vkcast servers answer /api/stats (and /api/config, whose device is recorded). */
  stats: boolean;
  /** Environment for the process (the original's folder for bench/original.py). */
  env?: Record<string, string>;
  /** A file the server writes its count of encoded frames into (the original through bench/original.py). */
  encodeCounter?: string;
}

export interface StreamParams {
  width: number;
  height: number;
  fps: number;
  quality: number;
}

/** The stream options several benchmarks share: `--size=WxH` (1280x720), `--fps`, `--quality`, and
 *  the measuring window `--warmup`/`--seconds` (shorter with --quick). */
export function streamOptions(args: readonly string[], quick: boolean, seconds: number): StreamParams & { warmup: number; seconds: number } {
  const [width, height] = option(args, "size", "1280x720").split("x").map(Number) as [number, number];
  return {
    width,
    height,
    fps: Number(option(args, "fps", "30")),
    quality: Number(option(args, "quality", "85")),
    warmup: Number(option(args, "warmup", quick ? "1" : "2")),
    seconds: Number(option(args, "seconds", quick ? "2" : String(seconds))),
  };
}

/** `bun run index.ts`: the real CLI, with the Vulkan renderer or the synthetic source. */
export function vkcastCli(source: "vulkan" | "synthetic", p: StreamParams): ServerSpec {
  return {
    side: "vkcast",
    // The Vulkan source is the default: run exactly what a user runs.
    what: source === "vulkan" ? "bun run index.ts" : `bun run index.ts --source ${source}`,
    stats: true,
    command: (port) => [
      "bun", "run", "index.ts", ...(source === "vulkan" ? [] : ["--source", source]), "--port", `${port}`, "--width", `${p.width}`, "--height", `${p.height}`,
      "--fps", `${p.fps}`, "--quality", `${p.quality}`, "--log-level", "warn",
    ],
  };
}

/** The library API (StreamingServer) fed by a producer loop: bench/library-server.ts (synthetic
 *  frames, one frame from `frameFile`, or the frames of `ringFile` by the clock), pushing only while
 *  anyone watches unless `always`. */
export function vkcastLibrary(p: StreamParams, opts: { frameFile?: string; ringFile?: string; always?: boolean }): ServerSpec {
  const extra = [
    ...(opts.frameFile ? [`--frame-file=${opts.frameFile}`] : []),
    ...(opts.ringFile ? [`--ring-file=${opts.ringFile}`] : []),
    ...(opts.always ? ["--always"] : []),
  ];
  const frames = opts.frameFile ? "the same frame" : opts.ringFile ? "a ring of frames from a file, on the wall clock," : "a synthetic ring";
  return {
    side: "vkcast",
    what: `bench/library-server.ts${opts.always ? " --always" : ""} (StreamingServer; ${frames} pushed every tick${opts.always ? ", watched or not" : " while anyone watches"})`,
    stats: true,
    command: (port) => ["bun", join(import.meta.dir, "library-server.ts"), `${port}`, `${p.width}`, `${p.height}`, `${p.fps}`, `${p.quality}`, ...extra],
  };
}

/** The original exactly as its run_seed.py runs it (push fps = server fps). */
export function originalSeed(p: StreamParams, dir: string): ServerSpec {
  return {
    side: "original",
    what: "run_seed.py",
    stats: false,
    command: (port) => [PYTHON, join(dir, "run_seed.py"), `${port}`, `${p.width}`, `${p.height}`, `${p.fps}`, `${p.quality}`, `${p.fps}`],
  };
}

/** The original through bench/original.py: capture times in COM (stamp), one repeated frame
 *  (frameFile) or a ring of frames by the clock (ringFile), pushing only while anyone watches
 *  (whenWatched), counting encodes (encodeCounter). */
export function originalDriver(
  p: StreamParams,
  dir: string,
  opts: { stamp?: boolean; frameFile?: string; ringFile?: string; whenWatched?: boolean; encodeCounter?: string },
): ServerSpec {
  const extra = [
    ...(opts.stamp ? ["--stamp"] : []),
    ...(opts.frameFile ? ["--frame-file", opts.frameFile] : []),
    ...(opts.ringFile ? ["--ring-file", opts.ringFile] : []),
    ...(opts.whenWatched ? ["--when-watched"] : []),
    ...(opts.encodeCounter ? ["--count-file", opts.encodeCounter] : []),
  ];
  const shown = [
    ...(opts.stamp ? ["--stamp"] : []),
    ...(opts.frameFile ? ["--frame-file FILE"] : []),
    ...(opts.ringFile ? ["--ring-file FILE"] : []),
    ...(opts.whenWatched ? ["--when-watched"] : []),
  ];
  return {
    side: "original",
    what: `bench/original.py ${shown.join(" ")}`.trim(),
    stats: false,
    env: { VKCAST_ORIGINAL: dir },
    encodeCounter: opts.encodeCounter,
    command: (port) => [PYTHON, ORIGINAL_DRIVER, `${port}`, `${p.width}`, `${p.height}`, `${p.fps}`, `${p.quality}`, `${p.fps}`, ...extra],
  };
}

export interface Window {
  /** Reading viewers (0: nobody connects, the idle case). */
  viewers: number;
  /** Viewers that do the WebSocket handshake and then never read. */
  stalled: number;
  /** Seconds after connecting before counting. */
  warmup: number;
  /** Seconds counted. */
  seconds: number;
}

/** /api/stats counters of interest, per second over the window, plus recent timings (ms). */
export interface StatsDelta {
  encodedPerSecond: number;
  unchangedPerSecond: number;
  publishedPerSecond: number;
  bytesSentPerSecond: number;
  encodeMsP50: number | null;
  renderMsP50: number | null;
}

export interface Measurement {
  side: Side;
  /** Frames per second each reading viewer received. */
  fps: number[];
  /** Bytes per second each reading viewer received. */
  bytesPerSecond: number[];
  latencyP50: number;
  latencyP99: number;
  latencyCount: number;
  /** Server CPU over the window, % of one core (200 = both cores of this machine). */
  cpuPercent: number;
  rssMB: number;
  /** The window as the server's CPU was sampled over it. */
  windowSeconds: number;
  stats: StatsDelta | null;
  /** Frames the server encoded per second over the window: /api/stats for vkcast, the encode
   *  counter for the original when it keeps one; null when not counted. */
  encodedPerSecond: number | null;
  /** The rendering device vkcast reported in /api/config (null for the original). */
  device: string | null;
}

type StatsJson = Record<string, unknown> & { encodeMs?: { p50: number | null }; renderMs?: { p50: number | null } };

async function readStats(port: number): Promise<StatsJson | null> {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/api/stats`)).json()) as StatsJson;
  } catch {
    return null;
  }
}

function delta(before: StatsJson | null, after: StatsJson | null, seconds: number): StatsDelta | null {
  if (!before || !after) return null;
  const d = (k: string) => (Number(after[k] ?? 0) - Number(before[k] ?? 0)) / seconds;
  return {
    encodedPerSecond: d("framesEncoded"),
    unchangedPerSecond: d("framesUnchanged"),
    publishedPerSecond: d("framesPublished"),
    bytesSentPerSecond: d("bytesSent"),
    encodeMsP50: after.encodeMs?.p50 ?? null,
    renderMsP50: after.renderMs?.p50 ?? null,
  };
}

/** Reads a process's stdout line by line. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
  if (buffered) yield buffered;
}

/** The server's counters at one instant: what a window is the difference of. */
interface Sample {
  at: number;
  usage: Awaited<ReturnType<typeof procUsage>>;
  stats: StatsJson | null;
  encodes: number | null;
}

async function readCounter(file: string | undefined): Promise<number | null> {
  if (!file) return null;
  const text = await Bun.file(file).text().catch(() => "");
  return Number(text.trim() || 0);
}

/** A server process started from a spec, answering on `port`. */
export interface RunningServer {
  port: number;
  pid: number;
  /** The last few KB of its stderr, for error messages. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it exited and its stderr is drained. */
  stop(): Promise<void>;
}

/** Starts the server on a free port and waits until it answers /api/config (or throws with its stderr). */
export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  const port = await freePort();
  if (spec.encodeCounter) await Bun.write(spec.encodeCounter, "0");
  const server = Bun.spawn(spec.command(port), { cwd: ROOT, stdout: "ignore", stderr: "pipe", env: { ...process.env, ...spec.env } });
  // Its stderr is kept (the last few KB) for the error message if it fails, not printed: the original
  // logs a traceback when the viewers leave mid-broadcast, which is its known fault, not news.
  let stderr = "";
  const drained = (async () => {
    for await (const line of lines(server.stderr)) stderr = (stderr + line + "\n").slice(-4000);
  })();
  const stop = async () => {
    server.kill("SIGTERM");
    const killer = setTimeout(() => server.kill("SIGKILL"), 5000);
    await server.exited;
    clearTimeout(killer);
    await drained;
  };
  try {
    // A server that exits at start (a missing package, a bad flag) fails at once, not after the wait.
    const exited = server.exited.then((code) => Promise.reject(new Error(`it exited with code ${code}`)));
    await Promise.race([waitForHttp(`http://127.0.0.1:${port}/api/config`, 60_000), exited]);
  } catch (err) {
    await stop();
    throw new Error(`${spec.what} did not start: ${(err as Error).message}\n${stderr}`);
  }
  return { port, pid: server.pid, stderr: () => stderr, stop };
}

/** Starts the server, runs one window against it, stops it. */
export async function measure(spec: ServerSpec, w: Window): Promise<Measurement> {
  const server = await startServer(spec);
  const port = server.port;
  const sample = async (): Promise<Sample> => ({
    usage: await procUsage(server.pid),
    stats: spec.stats ? await readStats(port) : null,
    encodes: await readCounter(spec.encodeCounter),
    at: performance.now(),
  });
  try {
    const device = spec.stats ? String(((await (await fetch(`http://127.0.0.1:${port}/api/config`)).json()) as { device?: string }).device ?? "") : null;
    let before: Sample | null = null;
    let after: Sample | null = null;
    let result: { fps: number[]; bytesPerSecond: number[]; latencies: number[] } = { fps: [], bytesPerSecond: [], latencies: [] };
    if (w.viewers === 0 && w.stalled === 0) {
      await Bun.sleep(w.warmup * 1000);
      before = await sample();
      await Bun.sleep(w.seconds * 1000);
      after = await sample();
    } else {
      const viewerProc = Bun.spawn(
        ["bun", join(import.meta.dir, "viewers.ts"), `ws://127.0.0.1:${port}/ws`, `${w.viewers}`, `${w.warmup}`, `${w.seconds}`, `${w.stalled}`],
        { stdout: "pipe", stderr: "inherit" },
      );
      let json = "";
      for await (const line of lines(viewerProc.stdout)) {
        if (line === "start") before = await sample();
        else if (line === "stop") after = await sample();
        else if (line.startsWith("{")) json = line;
      }
      if ((await viewerProc.exited) !== 0 || !json || !before || !after) {
        throw new Error(`viewer process failed against ${spec.what} (${w.viewers} viewers + ${w.stalled} stalled); server stderr:\n${server.stderr()}`);
      }
      result = JSON.parse(json);
    }
    const seconds = (after!.at - before!.at) / 1000;
    const stats = delta(before!.stats, after!.stats, seconds);
    const encodes = before!.encodes !== null && after!.encodes !== null ? (after!.encodes - before!.encodes) / seconds : null;
    return {
      side: spec.side,
      fps: result.fps,
      bytesPerSecond: result.bytesPerSecond,
      latencyP50: quantile(result.latencies, 0.5),
      latencyP99: quantile(result.latencies, 0.99),
      latencyCount: result.latencies.length,
      cpuPercent: ((after!.usage.cpuSeconds - before!.usage.cpuSeconds) / seconds) * 100,
      rssMB: after!.usage.rss / 2 ** 20,
      windowSeconds: seconds,
      stats,
      encodedPerSecond: stats?.encodedPerSecond ?? encodes,
      device,
    };
  } finally {
    await server.stop();
  }
}

/** One figure of one side over repeated runs. */
export interface Aggregate {
  /** Median fps over the reading viewers, per run. */
  fps: Spread;
  /** The slowest reading viewer's fps, per run. */
  worstViewerFps: Spread;
  /** Median bytes/s over the reading viewers, per run. */
  bytesPerSecond: Spread;
  latencyP50: Spread;
  latencyP99: Spread;
  cpuPercent: Spread;
  rssMB: Spread;
  /** The measuring window's length as sampled, per run (fps is frames counted / this). */
  windowSeconds: Spread;
  /** Frames encoded per second: vkcast's /api/stats, the original's encode counter where it has one. */
  encodedPerSecond?: Spread;
  /** vkcast only: /api/stats over the window. */
  unchangedPerSecond?: Spread;
  encodeMsP50?: Spread;
  renderMsP50?: Spread;
  /** vkcast only: the device named in /api/config. */
  device?: string;
}

/** Median, min and max of each figure over the runs; with no runs (a side not measured) every figure is n/a. */
export function aggregate(runs: Measurement[]): Aggregate {
  const s = (f: (m: Measurement) => number) => spread(runs.map(f));
  const a: Aggregate = {
    fps: s((m) => median(m.fps)),
    worstViewerFps: s((m) => (m.fps.length ? Math.min(...m.fps) : NaN)),
    bytesPerSecond: s((m) => median(m.bytesPerSecond)),
    latencyP50: s((m) => m.latencyP50),
    latencyP99: s((m) => m.latencyP99),
    cpuPercent: s((m) => m.cpuPercent),
    rssMB: s((m) => m.rssMB),
    windowSeconds: s((m) => m.windowSeconds),
  };
  if (runs.length && runs.every((m) => m.encodedPerSecond !== null)) a.encodedPerSecond = s((m) => m.encodedPerSecond!);
  if (runs.length && runs.every((m) => m.stats)) {
    a.unchangedPerSecond = s((m) => m.stats!.unchangedPerSecond);
    a.encodeMsP50 = s((m) => m.stats!.encodeMsP50 ?? NaN);
    a.renderMsP50 = s((m) => m.stats!.renderMsP50 ?? NaN);
  }
  const device = runs.find((m) => m.device)?.device;
  if (device) a.device = device;
  return a;
}

/** Runs `repeat` rounds; each round measures every case on both sides, one after the other, so both
 *  sides see the same machine load. `run` returns null for a side not measured in a case (the
 *  original when it is not there). Returns the aggregates by case key and side. */
export async function sideBySide<C extends { key: string }>(
  cases: C[],
  repeat: number,
  run: (c: C, side: Side) => Promise<Measurement | null>,
  log: (c: C, side: Side, m: Measurement, round: number) => void,
): Promise<Map<string, Record<Side, Aggregate>>> {
  const raw = new Map<string, Record<Side, Measurement[]>>(cases.map((c) => [c.key, { vkcast: [], original: [] }]));
  for (let r = 0; r < repeat; r++) {
    for (const c of cases) {
      // Alternate which side goes first, so neither always runs on the warmer/cooler machine.
      const order: Side[] = r % 2 === 0 ? ["vkcast", "original"] : ["original", "vkcast"];
      for (const side of order) {
        const m = await run(c, side);
        if (!m) continue;
        raw.get(c.key)![side].push(m);
        log(c, side, m, r);
      }
    }
  }
  const out = new Map<string, Record<Side, Aggregate>>();
  for (const [key, e] of raw) out.set(key, { vkcast: aggregate(e.vkcast), original: aggregate(e.original) });
  return out;
}
