// Shared pieces of the benchmarks: statistics, tables, processes and their CPU/RSS.
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";

export const median = (xs: number[]) => quantile(xs, 0.5);

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export function summary(xs: number[]) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

export const fmt = (x: number) => (Number.isNaN(x) ? "n/a" : Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(x >= 10 ? 1 : 2));

/** A number the system reports through getconf (e.g. CLK_TCK, PAGESIZE). */
function getconf(name: string): number {
  const run = Bun.spawnSync(["getconf", name], { stdout: "pipe", stderr: "pipe" });
  const value = Number(run.stdout.toString().trim());
  if (run.exitCode !== 0 || !(value > 0)) throw new Error(`getconf ${name} failed: ${run.stderr.toString().trim() || "no value"}`);
  return value;
}

/** Clock ticks per second of /proc's CPU times, and the page size of its RSS, from this machine. */
const CLK_TCK = getconf("CLK_TCK");
const PAGE_SIZE = getconf("PAGESIZE");

/** The machine as it reports itself: cores (all, and those this process may use), CPU model, clock ticks. */
export function machine() {
  const c = cpus();
  return { cores: c.length, usableCores: availableParallelism(), cpu: c[0]?.model ?? "unknown", clkTck: CLK_TCK };
}

/** CPU seconds (user + system) and RSS bytes of a process, from /proc. */
export async function procUsage(pid: number): Promise<{ cpuSeconds: number; rss: number }> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  const rssPages = Number(fields[21]);
  return { cpuSeconds: ticks / CLK_TCK, rss: rssPages * PAGE_SIZE };
}

export async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

/** Polls `url` until it answers, or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await Bun.sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

// ---- Options, repeats and aggregation over repeated runs ----

/** `--name=value` from args, else the fallback. */
export function option(args: readonly string[], name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return args.findLast((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

/** `--name` (or `--name=true`) present. */
export function hasFlag(args: readonly string[], name: string): boolean {
  return args.some((a) => a === `--${name}` || a === `--${name}=true` || a === `--${name}=1`);
}

/** The options every benchmark shares: `--repeat=N` (default 3, 1 with --quick) and `--quick`. */
export function common(args: readonly string[]) {
  const quick = hasFlag(args, "quick");
  const repeat = Math.max(1, Math.round(Number(option(args, "repeat", quick ? "1" : "3"))) || 1);
  return { quick, repeat };
}

/** A figure over repeated runs: median, min, max and each run's value. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
  runs: number[];
}

export function spread(xs: number[]): Spread {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (ok.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0, runs: xs };
  return { median: median(ok), min: Math.min(...ok), max: Math.max(...ok), n: ok.length, runs: xs };
}

/** a / b, NaN when either is missing or b is 0 and a is not. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return NaN;
  if (b === 0) return a === 0 ? 1 : NaN;
  return a / b;
}

/** The frame of a ring shown at capture time `t` (ms since the epoch) when the scene runs on the wall clock
 *  at `fps`: a viewer on the same clock knows from a frame's capture time which frame of the ring it is. */
export function ringIndex(t: number, fps: number, frames: number): number {
  return Math.floor((t * fps) / 1000) % frames;
}

/** Ms until the middle of the next frame slot of the wall clock at `fps` (a tick there never lands twice in one slot). */
export function untilNextSlot(now: number, fps: number): number {
  const slot = 1000 / fps;
  return (Math.floor(now / slot) + 1.5) * slot - now;
}

/** 1-minute load average, to judge how quiet the machine was. */
export function loadAverage(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

/** The Vulkan devices the renderer library lists (name and kind: cpu, discrete, integrated, ...). */
async function vulkanDevices(): Promise<{ name: string; type: string }[] | { error: string }> {
  try {
    const { VulkanSource } = await import("../src/sources/vulkan.ts");
    return VulkanSource.listDevices().map((d) => ({ name: d.name, type: d.type }));
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** What a result records about where and when it was measured, read from the machine. */
export async function stamp() {
  return {
    date: new Date().toISOString(),
    machine: { ...machine(), memoryGB: Math.round(totalmem() / 2 ** 30), vulkanDevices: await vulkanDevices() },
    loadBefore: loadAverage(),
  };
}
