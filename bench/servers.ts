// The servers the benchmarks start (each in a process of its own) and one measuring window against
// one of them: viewers in a separate process, the server's CPU and RSS from /proc over exactly the
// window the viewers count in, and (for vkcast) the /api/stats counters over that window.
import { join } from "node:path";
import { freePort, median, option, procUsage, quantile, spread, type Spread, waitForHttp } from "./lib.ts";

export const ROOT = join(import.meta.dir, "..");
/** The original, as ../shared/baseline ships it. */
export const RUN_SEED = join(ROOT, "..", "shared", "baseline", "run_seed.py");
/** run_seed.py's loop plus --stamp / --frame-file (bench/original.py explains them). */
export const ORIGINAL_DRIVER = join(import.meta.dir, "original.py");
export const PYTHON = "/usr/bin/python3";

export type Side = "vkcast" | "original";

export interface ServerSpec {
  side: Side;
  /** What runs, for the tables' notes. */
  what: string;
  command(port: number): string[];
  /** vkcast servers answer /api/stats. */
  stats: boolean;
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

/** The library API (StreamingServer) fed one RGBA frame over and over: bench/static-server.ts. */
export function vkcastStatic(p: StreamParams, frameFile: string): ServerSpec {
  return {
    side: "vkcast",
    what: "bench/static-server.ts (StreamingServer, the same frame pushed every tick)",
    stats: true,
    command: (port) => ["bun", join(import.meta.dir, "static-server.ts"), `${port}`, `${p.width}`, `${p.height}`, `${p.fps}`, `${p.quality}`, frameFile],
  };
}

/** The original exactly as ../shared/baseline/run_seed.py runs it (push fps = server fps). */
export function originalSeed(p: StreamParams): ServerSpec {
  return {
    side: "original",
    what: "../shared/baseline/run_seed.py",
    stats: false,
    command: (port) => [PYTHON, RUN_SEED, `${port}`, `${p.width}`, `${p.height}`, `${p.fps}`, `${p.quality}`, `${p.fps}`],
  };
}

/** The original through bench/original.py: capture times in COM (--stamp) and/or one repeated frame. */
export function originalDriver(p: StreamParams, opts: { stamp?: boolean; frameFile?: string }): ServerSpec {
  const extra = [...(opts.stamp ? ["--stamp"] : []), ...(opts.frameFile ? ["--frame-file", opts.frameFile] : [])];
  return {
    side: "original",
    what: `bench/original.py ${extra.join(" ").replace(/ \/.*$/, " FILE")}`.trim(),
    stats: false,
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
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
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

/** Starts the server, runs one window against it, stops it. */
export async function measure(spec: ServerSpec, w: Window): Promise<Measurement> {
  const port = await freePort();
  const server = Bun.spawn(spec.command(port), { cwd: ROOT, stdout: "ignore", stderr: "pipe" });
  // Its stderr is kept (the last few KB) for the error message if it fails, not printed: the original
  // logs a traceback when the viewers leave mid-broadcast, which is its known fault, not news.
  let stderr = "";
  const drained = (async () => {
    for await (const line of lines(server.stderr)) stderr = (stderr + line + "\n").slice(-4000);
  })();
  try {
    try {
      await waitForHttp(`http://127.0.0.1:${port}/api/config`, 60_000);
    } catch (err) {
      throw new Error(`${spec.what} did not start: ${(err as Error).message}\n${stderr}`);
    }
    let before: Awaited<ReturnType<typeof procUsage>>;
    let after: Awaited<ReturnType<typeof procUsage>>;
    let statsBefore: StatsJson | null = null;
    let statsAfter: StatsJson | null = null;
    let t0 = 0;
    let t1 = 0;
    let result: { fps: number[]; bytesPerSecond: number[]; latencies: number[] } = { fps: [], bytesPerSecond: [], latencies: [] };
    if (w.viewers === 0 && w.stalled === 0) {
      await Bun.sleep(w.warmup * 1000);
      [before, statsBefore, t0] = [await procUsage(server.pid), spec.stats ? await readStats(port) : null, performance.now()];
      await Bun.sleep(w.seconds * 1000);
      [after, statsAfter, t1] = [await procUsage(server.pid), spec.stats ? await readStats(port) : null, performance.now()];
    } else {
      const viewerProc = Bun.spawn(
        ["bun", join(import.meta.dir, "viewers.ts"), `ws://127.0.0.1:${port}/ws`, `${w.viewers}`, `${w.warmup}`, `${w.seconds}`, `${w.stalled}`],
        { stdout: "pipe", stderr: "inherit" },
      );
      let json = "";
      for await (const line of lines(viewerProc.stdout)) {
        if (line === "start") {
          before = await procUsage(server.pid);
          t0 = performance.now();
          if (spec.stats) statsBefore = await readStats(port);
        } else if (line === "stop") {
          after = await procUsage(server.pid);
          t1 = performance.now();
          if (spec.stats) statsAfter = await readStats(port);
        } else if (line.startsWith("{")) json = line;
      }
      if ((await viewerProc.exited) !== 0 || !json) {
        throw new Error(`viewer process failed against ${spec.what} (${w.viewers} viewers + ${w.stalled} stalled); server stderr:\n${stderr}`);
      }
      result = JSON.parse(json);
    }
    const cpuPercent = ((after!.cpuSeconds - before!.cpuSeconds) / ((t1 - t0) / 1000)) * 100;
    return {
      side: spec.side,
      fps: result.fps,
      bytesPerSecond: result.bytesPerSecond,
      latencyP50: quantile(result.latencies, 0.5),
      latencyP99: quantile(result.latencies, 0.99),
      latencyCount: result.latencies.length,
      cpuPercent,
      rssMB: after!.rss / 2 ** 20,
      windowSeconds: (t1 - t0) / 1000,
      stats: delta(statsBefore, statsAfter, (t1 - t0) / 1000),
    };
  } finally {
    server.kill("SIGTERM");
    const killer = setTimeout(() => server.kill("SIGKILL"), 5000);
    await server.exited;
    clearTimeout(killer);
    await drained;
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
  /** vkcast only: /api/stats over the window. */
  encodedPerSecond?: Spread;
  unchangedPerSecond?: Spread;
  encodeMsP50?: Spread;
  renderMsP50?: Spread;
}

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
  };
  if (runs.every((m) => m.stats)) {
    a.encodedPerSecond = s((m) => m.stats!.encodedPerSecond);
    a.unchangedPerSecond = s((m) => m.stats!.unchangedPerSecond);
    a.encodeMsP50 = s((m) => m.stats!.encodeMsP50 ?? NaN);
    a.renderMsP50 = s((m) => m.stats!.renderMsP50 ?? NaN);
  }
  return a;
}

/** Runs `repeat` rounds; each round measures every case on both sides, one after the other, so both
 *  sides see the same machine load. Returns the aggregates by case key and side. */
export async function sideBySide<C extends { key: string }>(
  cases: C[],
  repeat: number,
  run: (c: C, side: Side) => Promise<Measurement>,
  log: (c: C, side: Side, m: Measurement, round: number) => void,
): Promise<Map<string, Record<Side, Aggregate>>> {
  const raw = new Map<string, Record<Side, Measurement[]>>();
  for (let r = 0; r < repeat; r++) {
    for (const c of cases) {
      // Alternate which side goes first, so neither always runs on the warmer/cooler machine.
      const order: Side[] = r % 2 === 0 ? ["vkcast", "original"] : ["original", "vkcast"];
      for (const side of order) {
        const m = await run(c, side);
        const entry = raw.get(c.key) ?? { vkcast: [], original: [] };
        entry[side].push(m);
        raw.set(c.key, entry);
        log(c, side, m, r);
      }
    }
  }
  const out = new Map<string, Record<Side, Aggregate>>();
  for (const [key, e] of raw) out.set(key, { vkcast: aggregate(e.vkcast), original: aggregate(e.original) });
  return out;
}
