// Scale-out over NATS: one origin, E edges (default 2) and a real nats-server, on this machine. For each
// number of viewers per edge: fps per viewer (the capacity is the most viewers per edge at which every
// viewer gets >= 27 fps), the latency the NATS hop adds (the same frames timed at a viewer of the origin and
// at a viewer of an edge, in one process: p50/p99 of the difference), CPU of the origin, each edge and the
// broker over the window (% of one core), and the broker's CPU per frame. Then the time from the first
// viewer at an idle edge to its first freshly rendered frame (demand reaching the origin).
// The origin renders the synthetic source (a precomputed ring: the relay is measured, not the renderer)
// or, with --source=vulkan, the Vulkan scene.
//
// Options: --viewers=1,20,50 (per edge), --edges=2, --size=1280x720, --fps=30, --quality=85,
// --source=synthetic|vulkan, --warmup=S, --seconds=S, --first-frame-runs=N, --repeat=N, --quick.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFrameMeta } from "../client/protocol.ts";
import { common, freePort, loadAverage, machine, option, procUsage, quantile, spread, type Spread, stamp, table, waitForHttp } from "./lib.ts";
import { lines, ROOT } from "./servers.ts";

const NATS_SERVER = Bun.which("nats-server") ?? "/usr/sbin/nats-server";
const SESSION = "bench";

interface Proc {
  name: string;
  proc: ReturnType<typeof Bun.spawn>;
  port: number;
}

async function startBroker(): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), "vkcast-scaleout-"));
  const port = await freePort();
  writeFileSync(join(dir, "nats.conf"), `listen: 127.0.0.1:${port}\nmax_payload: 8MB\n`);
  const proc = Bun.spawn([NATS_SERVER, "-c", join(dir, "nats.conf")], { stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 200; i++) {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      return { name: "broker", proc, port };
    } catch {
      await Bun.sleep(20);
    }
  }
  throw new Error("nats-server did not start");
}

async function startVkcast(name: string, args: string[], ready: string): Promise<Proc> {
  const port = await freePort();
  const proc = Bun.spawn(["bun", "run", "index.ts", "--port", String(port), "--log-level", "warn", ...args], { cwd: ROOT, stdout: "ignore", stderr: "inherit" });
  await waitForHttp(`http://127.0.0.1:${port}/${ready}`, 60_000);
  return { name, proc, port };
}

/** Receive times of frames by seq at one WebSocket (the probe viewers of the hop latency). */
function probe(url: string): { times: Map<number, number>; socket: WebSocket } {
  const times = new Map<number, number>();
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (e) => {
    if (typeof e.data === "string") return;
    const seq = readFrameMeta(new Uint8Array(e.data as ArrayBuffer))?.seq;
    if (seq !== undefined) times.set(seq, performance.now());
  };
  return { times, socket };
}

/** One window of the scale-out run: a row of its table (bench/scaleout-report.ts). */
export interface ScaleoutWindow {
  viewersPerEdge: number;
  /** Median and slowest viewer's fps, over every edge's viewers. */
  fps: number;
  worstViewerFps: number;
  /** Capture -> receive at the edges' viewers (ms). */
  latencyP50: number;
  latencyP99: number;
  /** Extra delay of the same frame at an edge's viewer over the origin's (ms). */
  hopP50: number;
  hopP99: number;
  hopFrames: number;
  /** What one viewer received, and one edge sent to all its viewers (Mbit/s). */
  viewerMbit: number;
  edgeEgressMbit: number;
  cpu: Record<string, number>;
  framesPerSecond: number;
  brokerCpuMsPerFrame: number;
}

async function measureWindow(procs: Proc[], origin: Proc, edges: Proc[], viewersPerEdge: number, warmup: number, seconds: number): Promise<ScaleoutWindow> {
  const originProbe = probe(`ws://127.0.0.1:${origin.port}/ws`);
  const edgeProbe = probe(`ws://127.0.0.1:${edges[0]!.port}/s/${SESSION}/ws`);
  const viewerProcs = edges.map((edge) =>
    Bun.spawn(["bun", join(import.meta.dir, "viewers.ts"), `ws://127.0.0.1:${edge.port}/s/${SESSION}/ws`, `${viewersPerEdge}`, `${warmup}`, `${seconds}`], {
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
  let started = 0;
  type Sample = { at: number; cpu: Record<string, number>; frames: number };
  const samples: { before?: Sample; after?: Sample } = {};
  const sample = async (): Promise<Sample> => ({
    at: performance.now(),
    cpu: Object.fromEntries(await Promise.all(procs.map(async (p) => [p.name, (await procUsage(p.proc.pid)).cpuSeconds] as const))),
    frames: Number(((await (await fetch(`http://127.0.0.1:${origin.port}/api/stats`)).json()) as { framesEncoded: number }).framesEncoded),
  });
  const results = await Promise.all(
    viewerProcs.map(async (vp) => {
      let json = "";
      for await (const line of lines(vp.stdout as ReadableStream<Uint8Array>)) {
        if (line === "start" && ++started === viewerProcs.length) samples.before = await sample();
        else if (line === "stop" && !samples.after) samples.after = await sample();
        else if (line.startsWith("{")) json = line;
      }
      if ((await vp.exited) !== 0 || !json) throw new Error("a viewer process failed");
      return JSON.parse(json) as { fps: number[]; bytesPerSecond: number[]; latencies: number[] };
    }),
  );
  originProbe.socket.close();
  edgeProbe.socket.close();
  const { before: b, after: a } = samples;
  if (!b || !a) throw new Error("the window was not sampled");
  const span = (a.at - b.at) / 1000;
  const fps = results.flatMap((r) => r.fps);
  const mbit = (bytesPerSecond: number) => (bytesPerSecond * 8) / 1e6;
  const egress = results.map((r) => mbit(r.bytesPerSecond.reduce((x, y) => x + y, 0)));
  const latencies = results.flatMap((r) => r.latencies);
  const hops: number[] = [];
  for (const [seq, at] of edgeProbe.times) {
    const direct = originProbe.times.get(seq);
    if (direct !== undefined) hops.push(at - direct);
  }
  const cpu = Object.fromEntries(procs.map((p) => [p.name, ((a.cpu[p.name]! - b.cpu[p.name]!) / span) * 100]));
  const framesPerSecond = (a.frames - b.frames) / span;
  return {
    viewersPerEdge,
    fps: quantile(fps, 0.5),
    worstViewerFps: Math.min(...fps),
    latencyP50: quantile(latencies, 0.5),
    latencyP99: quantile(latencies, 0.99),
    hopP50: quantile(hops, 0.5),
    hopP99: quantile(hops, 0.99),
    hopFrames: hops.length,
    viewerMbit: mbit(quantile(results.flatMap((r) => r.bytesPerSecond), 0.5)),
    edgeEgressMbit: quantile(egress, 0.5),
    cpu,
    framesPerSecond,
    brokerCpuMsPerFrame: framesPerSecond > 0 ? ((cpu.broker! / 100) * 1000) / framesPerSecond : NaN,
  };
}

/** Time from a viewer's socket opening at an idle edge to the first frame rendered after it (ms). */
async function firstFreshFrame(origin: Proc, edge: Proc): Promise<number> {
  // Idle first: the origin stops rendering once nobody watches anywhere.
  const pushed = async () => Number(((await (await fetch(`http://127.0.0.1:${origin.port}/api/stats`)).json()) as { framesPushed: number }).framesPushed);
  for (let last = await pushed(); ; ) {
    await Bun.sleep(300);
    const now = await pushed();
    if (now === last) break;
    last = now;
  }
  const socket = new WebSocket(`ws://127.0.0.1:${edge.port}/s/${SESSION}/ws`);
  socket.binaryType = "arraybuffer";
  let openedAt = 0;
  let firstSeq: number | null = null;
  const ms = await new Promise<number>((resolve, reject) => {
    socket.onopen = () => (openedAt = performance.now());
    socket.onerror = () => reject(new Error("the probe could not connect"));
    socket.onmessage = (e) => {
      if (typeof e.data === "string") return;
      const seq = readFrameMeta(new Uint8Array(e.data as ArrayBuffer))?.seq ?? 0;
      // The edge sends its newest frame at once; a fresh one has a higher number.
      if (firstSeq === null) firstSeq = seq;
      else if (seq > firstSeq) resolve(performance.now() - openedAt);
    };
  });
  socket.close();
  return ms;
}

export default async function scaleoutBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const viewers = option(args, "viewers", quick ? "1,20" : "1,20,50").split(",").filter(Boolean).map(Number);
  const edgeCount = Number(option(args, "edges", "2"));
  const [width, height] = option(args, "size", "1280x720").split("x").map(Number) as [number, number];
  const fps = Number(option(args, "fps", "30"));
  const quality = Number(option(args, "quality", "85"));
  const source = option(args, "source", "synthetic");
  const warmup = Number(option(args, "warmup", quick ? "1" : "2"));
  const seconds = Number(option(args, "seconds", quick ? "3" : "5"));
  const firstFrameRuns = Number(option(args, "first-frame-runs", quick ? "3" : "7"));
  const stream = ["--width", String(width), "--height", String(height), "--fps", String(fps), "--quality", String(quality)];

  const broker = await startBroker();
  const nats = `nats://127.0.0.1:${broker.port}`;
  const running: Proc[] = [broker];
  try {
    const origin = await startVkcast("origin", ["--source", source, ...stream, "--control", "all", "--nats", nats, "--session", SESSION], "api/config");
    running.push(origin);
    const edges: Proc[] = [];
    for (let i = 0; i < edgeCount; i++) {
      // Room for the most viewers asked for, plus the probes.
      const maxViewers = String(Math.max(...viewers) + 10);
      const edge = await startVkcast(`edge${i + 1}`, ["--edge", "--nats", nats, "--session", SESSION, "--max-viewers", maxViewers], `s/${SESSION}/healthz`);
      edges.push(edge);
      running.push(edge);
    }
    const device = String(((await (await fetch(`http://127.0.0.1:${origin.port}/api/config`)).json()) as { device: string }).device);
    console.log(`-- origin (${source}, ${device}) + ${edgeCount} edges, ${width}x${height} q${quality} at ${fps} fps; ${seconds} s windows after ${warmup} s`);
    const rows: (Omit<ScaleoutWindow, "viewersPerEdge" | "cpu"> & { viewersPerEdge: number; cpu: Record<string, number>; runs: ScaleoutWindow[] })[] = [];
    for (const n of viewers) {
      const runs: ScaleoutWindow[] = [];
      for (let r = 0; r < repeat; r++) {
        const w = await measureWindow(running, origin, edges, n, warmup, seconds);
        runs.push(w);
        const cpu = Object.entries(w.cpu).map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(", ");
        console.log(`  ${n} per edge, run ${r + 1}: ${w.fps.toFixed(1)} fps (worst ${w.worstViewerFps.toFixed(1)}), hop p50 ${w.hopP50.toFixed(1)} ms, ${cpu}`);
      }
      const med = (f: (w: ScaleoutWindow) => number) => spread(runs.map(f)).median;
      rows.push({
        viewersPerEdge: n,
        fps: med((w) => w.fps),
        worstViewerFps: med((w) => w.worstViewerFps),
        latencyP50: med((w) => w.latencyP50),
        latencyP99: med((w) => w.latencyP99),
        hopP50: med((w) => w.hopP50),
        hopP99: med((w) => w.hopP99),
        hopFrames: med((w) => w.hopFrames),
        viewerMbit: med((w) => w.viewerMbit),
        edgeEgressMbit: med((w) => w.edgeEgressMbit),
        cpu: Object.fromEntries(running.map((p) => [p.name, med((w) => w.cpu[p.name]!)])),
        framesPerSecond: med((w) => w.framesPerSecond),
        brokerCpuMsPerFrame: med((w) => w.brokerCpuMsPerFrame),
        runs,
      });
    }
    const firstFrame: number[] = [];
    for (let i = 0; i < firstFrameRuns; i++) firstFrame.push(await firstFreshFrame(origin, edges[0]!));
    const firstFrameMs: Spread & { p90: number } = { ...spread(firstFrame), p90: quantile(firstFrame, 0.9) };
    const capacity = Math.max(0, ...rows.filter((r) => r.worstViewerFps >= 27).map((r) => r.viewersPerEdge));

    console.log(
      `\nscale-out: ${width}x${height} ${source}, ${edgeCount} edges; median of ${repeat} run(s); ${machine().cores} cores (${machine().cpu}); ` +
        "CPU in % of one core; hop = the same frame at an edge's viewer minus at the origin's",
    );
    console.log(
      table(
        ["viewers/edge", "fps", "worst fps", "capture->viewer p50/p99 ms", "hop p50/p99 ms", "Mbit/s per viewer", "egress per edge Mbit/s", "origin CPU", ...edges.map((e) => `${e.name} CPU`), "broker CPU", "broker ms/frame"],
        rows.map((r) => [
          r.viewersPerEdge,
          r.fps,
          r.worstViewerFps,
          `${r.latencyP50.toFixed(1)} / ${r.latencyP99.toFixed(1)}`,
          `${r.hopP50.toFixed(2)} / ${r.hopP99.toFixed(2)}`,
          r.viewerMbit,
          r.edgeEgressMbit,
          r.cpu.origin!,
          ...edges.map((e) => r.cpu[e.name]!),
          r.cpu.broker!,
          r.brokerCpuMsPerFrame,
        ]),
      ),
    );
    console.log(`viewers per edge at >= 27 fps (every viewer): ${capacity} of those measured (${viewers.join(", ")})`);
    console.log(`first viewer at an idle edge -> first fresh frame: p50 ${firstFrameMs.median.toFixed(0)} ms, p90 ${firstFrameMs.p90.toFixed(0)} ms, max ${firstFrameMs.max.toFixed(0)} ms (${firstFrameRuns} runs)`);
    return {
      schema: 1,
      ...meta,
      loadAfter: loadAverage(),
      options: { viewers, edges: edgeCount, width, height, fps, quality, source, warmup, seconds, repeat, quick },
      device,
      viewersPerEdgeAt27fps: capacity,
      rows: rows.map(({ runs: _runs, ...r }) => r),
      firstFreshFrameMs: firstFrameMs,
    };
  } finally {
    for (const p of running.reverse()) {
      p.proc.kill("SIGTERM");
      await Promise.race([p.proc.exited, Bun.sleep(3000)]);
      p.proc.kill("SIGKILL");
    }
  }
}
