// fps per viewer as viewers grow: vkcast and the original, one after the other in the same run,
// same machine, same frame size, quality and target fps. Viewers run in a separate process.
import { join } from "node:path";
import { freePort, machine, median, procUsage, quantile, summary, table, waitForHttp } from "./lib.ts";

const ROOT = join(import.meta.dir, "..");
const BASELINE = join(ROOT, "..", "shared", "baseline", "run_seed.py");

interface Point {
  server: "vkcast" | "original";
  viewers: number;
  stalled: number;
  fps: ReturnType<typeof summary>;
  latencyP50: number;
  latencyP99: number;
  cpuPercent: number;
  rssMB: number;
}

function startServer(kind: Point["server"], port: number, w: number, h: number, fps: number, quality: number) {
  const cmd =
    kind === "vkcast"
      ? ["bun", "run", "index.ts", "--source", "synthetic", "--port", `${port}`, "--width", `${w}`, "--height", `${h}`,
         "--fps", `${fps}`, "--quality", `${quality}`, "--log-level", "warn"]
      : ["/usr/bin/python3", BASELINE, `${port}`, `${w}`, `${h}`, `${fps}`, `${quality}`, `${fps}`];
  return Bun.spawn(cmd, { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
}

async function measurePoint(kind: Point["server"], viewers: number, stalled: number, opts: Options): Promise<Point> {
  const port = await freePort();
  const server = startServer(kind, port, opts.width, opts.height, opts.fps, opts.quality);
  try {
    await waitForHttp(`http://127.0.0.1:${port}/api/config`);
    const viewerProc = Bun.spawn(
      ["bun", join(import.meta.dir, "viewers.ts"), `ws://127.0.0.1:${port}/ws`, `${viewers}`, `${opts.warmup}`, `${opts.seconds}`, `${stalled}`],
      { stdout: "pipe", stderr: "inherit" },
    );
    // CPU and RSS of the server over the measuring window only.
    await Bun.sleep(opts.warmup * 1000 + 300);
    const before = await procUsage(server.pid);
    const t0 = performance.now();
    await Bun.sleep(opts.seconds * 1000 - 600);
    const after = await procUsage(server.pid);
    const cpuPercent = ((after.cpuSeconds - before.cpuSeconds) / ((performance.now() - t0) / 1000)) * 100;
    const out = await new Response(viewerProc.stdout).text();
    if ((await viewerProc.exited) !== 0) throw new Error(`viewer process failed for ${kind} x${viewers}+${stalled}`);
    const { fps, latencies } = JSON.parse(out) as { fps: number[]; latencies: number[] };
    return {
      server: kind,
      viewers,
      stalled,
      fps: summary(fps),
      latencyP50: quantile(latencies, 0.5),
      latencyP99: quantile(latencies, 0.99),
      cpuPercent,
      rssMB: after.rss / 2 ** 20,
    };
  } finally {
    server.kill("SIGTERM");
    await server.exited;
  }
}

interface Options {
  width: number;
  height: number;
  fps: number;
  quality: number;
  warmup: number;
  seconds: number;
  viewers: number[];
  /** Runs of 20 reading viewers beside this many stalled ones. */
  stalled: number[];
}

export default async function fanoutBench(args: string[]) {
  const get = (name: string, dflt: string) => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt;
  const opts: Options = {
    width: Number(get("width", "1280")),
    height: Number(get("height", "720")),
    fps: Number(get("fps", "30")),
    quality: Number(get("quality", "85")),
    warmup: Number(get("warmup", "2")),
    seconds: Number(get("seconds", "5")),
    viewers: get("viewers", "1,20,100").split(",").map(Number),
    stalled: get("stalled", "1,5").split(",").filter(Boolean).map(Number),
  };
  const runs: [number, number][] = [...opts.viewers.map((n) => [n, 0] as [number, number]), ...opts.stalled.map((s) => [20, s] as [number, number])];
  const points: Point[] = [];
  for (const [viewers, stalled] of runs) {
    for (const kind of ["vkcast", "original"] as const) {
      const p = await measurePoint(kind, viewers, stalled, opts);
      points.push(p);
      console.log(`  ${kind} x${viewers}${stalled ? ` + ${stalled} stalled` : ""}: median ${p.fps.median.toFixed(1)} fps per viewer`);
    }
  }
  const rows = runs.map(([n, stalled]) => {
    const v = points.find((p) => p.server === "vkcast" && p.viewers === n && p.stalled === stalled)!;
    const o = points.find((p) => p.server === "original" && p.viewers === n && p.stalled === stalled)!;
    return [`${n}${stalled ? ` + ${stalled} stalled` : ""}`, v.fps.median, v.fps.min, o.fps.median, o.fps.min, v.fps.median / o.fps.median, v.latencyP50, v.latencyP99, v.cpuPercent, o.cpuPercent, v.rssMB, o.rssMB];
  });
  console.log(`\nfps per viewer, ${opts.width}x${opts.height} q${opts.quality}, target ${opts.fps} fps, ${opts.seconds} s after ${opts.warmup} s warm-up (${machine().cores} cores, ${machine().cpu})`);
  console.log(
    table(
      ["viewers", "vkcast median", "vkcast min", "original median", "original min", "vkcast/original", "latency p50 ms", "p99 ms", "vkcast CPU %", "original CPU %", "vkcast RSS MB", "original RSS MB"],
      rows,
    ),
  );
  return { machine: machine(), options: opts, points, medianRatio: median(rows.map((r) => Number(r[5]))) };
}
