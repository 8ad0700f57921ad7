// The ingest (`--source ipc`): what a producer pays per frame, and what its viewers get.
//
// Push cost: the time of one push_frame call that submitted its frame (copy into the shared-memory
// slot + the frame message), from the C client (test/fixtures/c/producer.c, built -O2) and the Python
// client (bench/ingest_producer.py, numpy), RGBA at each size, pushed at 30 fps into a fresh
// `bun run index.ts --source ipc:PATH` with one viewer watching (so the encoder runs meanwhile).
//
// End to end: fps per viewer and capture -> receive latency (capture = the producer's submit, which
// the client stamps into the frame; receive = the whole JPEG at a viewer; viewers in a separate
// process, bench/viewers.ts), for
//   - python:   run_seed.py's loop with only its import changed (StreamingServer from clients/python,
//               which launches vkcast itself), N viewers;
//   - original: the same loop on the original server (bench/original.py --stamp), N viewers, when
//               the original is found (--original=DIR, VKCAST_ORIGINAL, default ../shared/baseline); it computes its ring of frames after start(), so its
//               window opens --original-warmup seconds after its port answers (default 10);
//   - c:        clients/c/example.c (renders its pattern into the slot) into vkcast --source ipc, M viewers.
//
// Options: --sizes=1280x720,1920x1080 (push cost), --pushes=N (timed pushes per client, size and run),
// --size=1280x720 --viewers=20 --c-viewers=5 --fps=30 --quality=85 --warmup=S --original-warmup=S
// --seconds=S --original=DIR (end to end),
// --repeat=N, --quick.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSizes } from "./fanout.ts";
import { common, loadAverage, machine, option, spread, stamp, summary, table } from "./lib.ts";
import { aggregate, type Aggregate, measure, type Measurement, NO_ORIGINAL, originalDir, originalDriver, PYTHON, ROOT, type ServerSpec, streamOptions } from "./servers.ts";

const BARS = { pushUs1080p: 1000, pythonFps720p: 27, cFps: 27 };

type Client = "c" | "python";
type Producer = "python" | "original" | "c";

function build(dir: string): { producer: string; example: string } {
  const out = { producer: join(dir, "producer"), example: join(dir, "example") };
  for (const [bin, src] of [[out.producer, "test/fixtures/c/producer.c"], [out.example, "clients/c/example.c"]] as const) {
    const cc = Bun.spawnSync(["cc", "-std=c99", "-O2", "-Iclients/c", src, "-o", bin, "-lm"], { cwd: ROOT, stderr: "pipe" });
    if (cc.exitCode !== 0) throw new Error(`cc ${src} failed:\n${cc.stderr.toString()}`);
  }
  return out;
}

/** `bun run index.ts --source ipc:SOCKET` on a free port, with one viewer; stopped by the returned function. */
async function ingestServer(socket: string, width: number, height: number) {
  const proc = Bun.spawn(["bun", "run", "index.ts", "--source", `ipc:${socket}`, "--port", "0", "--width", `${width}`, "--height", `${height}`, "--log-level", "warn"], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!/open (http:\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error("vkcast --source ipc exited before it listened");
    out += new TextDecoder().decode(value);
  }
  void (async () => {
    while (!(await reader.read()).done) {}
  })();
  const ws = new WebSocket(/open (http:\S+)/.exec(out)![1]!.replace(/^http/, "ws") + "ws");
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  return async () => {
    ws.close();
    proc.kill("SIGTERM");
    await proc.exited;
  };
}

/** One client's timed pushes against a running server: microseconds per submitted frame. */
async function timePushes(client: Client, bin: string, socket: string, width: number, height: number, pushes: number) {
  const command =
    client === "c"
      ? [bin, socket, "time", `${width}`, `${height}`, "rgba", `${pushes}`]
      : [PYTHON, join(import.meta.dir, "ingest_producer.py"), "time", socket, `${width}`, `${height}`, `${pushes}`];
  const proc = Bun.spawn(command, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, PYTHONPATH: join(ROOT, "clients/python") } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${client} producer failed (${code}):\n${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as { us: number[]; dropped: number };
}

/** The C example feeding a fresh vkcast: the example starts once the socket is there (and again if it
 *  was refused in between) and ends with vkcast, whose pid this is. */
function cExample(example: string, width: number, height: number, fps: number, quality: number, dir: string): ServerSpec {
  const script = 'sock=$1; ex=$2; shift 2; ( while kill -0 $$ 2>/dev/null; do "$ex" "$sock" >/dev/null && break; sleep 0.1; done ) & exec "$@"';
  return {
    side: "vkcast",
    what: "clients/c/example.c (-O2) into bun run index.ts --source ipc:PATH",
    stats: true,
    command: (port) => {
      const socket = join(dir, `example-${port}.sock`);
      return ["sh", "-c", script, "sh", socket, example, "bun", "run", "index.ts", "--source", `ipc:${socket}`, "--port", `${port}`,
        "--width", `${width}`, "--height", `${height}`, "--fps", `${fps}`, "--quality", `${quality}`, "--log-level", "warn"];
    },
  };
}

function pythonLoop(width: number, height: number, fps: number, quality: number): ServerSpec {
  return {
    side: "vkcast",
    what: "run_seed.py's loop through clients/python (bench/ingest_producer.py loop; its start() launches vkcast)",
    stats: true,
    command: (port) => ["env", `PYTHONPATH=${join(ROOT, "clients/python")}`, PYTHON, join(import.meta.dir, "ingest_producer.py"), "loop", `${port}`,
      `${width}`, `${height}`, `${fps}`, `${quality}`, `${fps}`],
  };
}

export default async function ingestBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const sizes = parseSizes(args.filter((a) => !/^--(width|height)=/.test(a)), "1280x720,1920x1080");
  const pushes = Number(option(args, "pushes", quick ? "60" : "150"));
  const { warmup, seconds, ...p } = streamOptions(args, quick, 4);
  const viewers = Number(option(args, "viewers", "20"));
  const cViewers = Number(option(args, "c-viewers", "5"));
  const originalWarmup = Number(option(args, "original-warmup", "10"));
  const baseline = originalDir(args);
  const dir = mkdtempSync(join(tmpdir(), "vkcast-bench-ingest-"));
  try {
    const bin = build(dir);

    // ---- push cost ----
    const push: { client: Client; width: number; height: number; us: ReturnType<typeof summary> & { p99: number }; runMedians: ReturnType<typeof spread>; dropped: number }[] = [];
    for (const [width, height] of sizes) {
      const raw: Record<Client, { us: number[]; medians: number[]; dropped: number }> = { c: { us: [], medians: [], dropped: 0 }, python: { us: [], medians: [], dropped: 0 } };
      for (let r = 0; r < repeat; r++) {
        const socket = join(dir, `push-${width}-${r}.sock`);
        const stop = await ingestServer(socket, width, height);
        try {
          for (const client of (r % 2 === 0 ? ["c", "python"] : ["python", "c"]) as Client[]) {
            const t = await timePushes(client, bin.producer, socket, width, height, pushes);
            raw[client].us.push(...t.us);
            raw[client].medians.push(summary(t.us).median);
            raw[client].dropped += t.dropped;
            console.log(`  round ${r + 1} push ${client.padEnd(6)} ${width}x${height}: median ${summary(t.us).median.toFixed(0)} µs over ${t.us.length} pushes (${t.dropped} dropped)`);
          }
        } finally {
          await stop();
        }
      }
      for (const client of ["c", "python"] as Client[]) {
        const all = raw[client].us;
        const sorted = [...all].sort((a, b) => a - b);
        push.push({ client, width, height, us: { ...summary(all), p99: sorted[Math.floor(0.99 * (sorted.length - 1))]! }, runMedians: spread(raw[client].medians), dropped: raw[client].dropped });
      }
    }
    console.log(`\npush_frame cost per submitted frame, RGBA, µs (over ${repeat} run(s) x ${pushes} pushes at 30 fps; one viewer watching; bar at 1080p: ≤ ${BARS.pushUs1080p} µs)`);
    console.log(
      table(
        ["client", "size", "median µs", "min µs", "p99 µs", "max µs", "pushes", "dropped"],
        push.map((x) => [x.client, `${x.width}x${x.height}`, x.us.median, x.us.min, x.us.p99, x.us.max, x.us.n, x.dropped]),
      ),
    );

    // ---- end to end ----
    const { width, height, fps, quality } = p;
    const originalMissing = !baseline
      ? NO_ORIGINAL
      : Bun.spawnSync([PYTHON, "-c", "import aiohttp, PIL, numpy"]).exitCode !== 0
        ? "its Python packages are missing: bash scripts/bench.sh installs them"
        : null;
    const originalSpec = baseline && originalMissing === null ? originalDriver(p, baseline, { stamp: true }) : null;
    const cases: { producer: Producer; viewers: number; spec: ServerSpec }[] = [
      { producer: "python", viewers, spec: pythonLoop(width, height, fps, quality) },
      ...(originalSpec ? [{ producer: "original" as const, viewers, spec: originalSpec }] : []),
      { producer: "c", viewers: cViewers, spec: cExample(bin.example, width, height, fps, quality, dir) },
    ];
    if (!originalSpec) console.log(`  the original is absent (${originalMissing}): end to end without it`);
    const runs = new Map<string, Measurement[]>();
    for (let r = 0; r < repeat; r++) {
      for (const c of r % 2 === 0 ? cases : [...cases].reverse()) {
        const m = await measure(c.spec, { viewers: c.viewers, stalled: 0, warmup: c.producer === "original" ? originalWarmup : warmup, seconds });
        runs.set(c.producer, [...(runs.get(c.producer) ?? []), m]);
        const f = m.fps;
        console.log(`  round ${r + 1} ${c.producer.padEnd(8)} x${c.viewers}: ${f.length ? Math.min(...f).toFixed(1) : "-"}..${f.length ? Math.max(...f).toFixed(1) : "-"} fps per viewer, latency p50 ${m.latencyP50.toFixed(0)} ms`);
      }
    }
    const stream = cases.map((c) => {
      const a: Aggregate = aggregate(runs.get(c.producer)!);
      return { producer: c.producer, what: c.spec.what, viewers: c.viewers, fps: a.fps, worstViewerFps: a.worstViewerFps, latencyP50: a.latencyP50, latencyP99: a.latencyP99 };
    });
    const bar = (s: (typeof stream)[number]) =>
      s.producer === "python" ? `≥ ${BARS.pythonFps720p}: ${s.worstViewerFps.median >= BARS.pythonFps720p ? "met" : "not met"}`
        : s.producer === "c" ? `≥ ${BARS.cFps}: ${s.worstViewerFps.median >= BARS.cFps ? "met" : "not met"}` : "";
    console.log(`\nend to end, ${width}x${height} q${quality}, target ${fps} fps; median of ${repeat} run(s) (${machine().cores} cores, ${machine().cpu})`);
    console.log(
      table(
        ["producer", "viewers", "fps per viewer", "worst viewer fps", "latency p50 ms", "latency p99 ms", "bar (worst viewer)"],
        stream.map((s) => [s.producer, s.viewers, s.fps.median, s.worstViewerFps.median, s.latencyP50.median, s.latencyP99.median, bar(s)]),
      ),
    );
    const push1080 = push.filter((x) => x.height === 1080);
    for (const x of push1080) console.log(`push_frame at 1080p, ${x.client}: median ${x.us.median.toFixed(0)} µs (bar ≤ ${BARS.pushUs1080p}: ${x.us.median <= BARS.pushUs1080p ? "met" : "not met"})`);
    return {
      schema: 2,
      ...meta,
      loadAfter: loadAverage(),
      options: { sizes: sizes.map(([w, h]) => `${w}x${h}`), pushes, width, height, fps, quality, warmup, originalWarmup, seconds, viewers, cViewers, repeat, quick },
      bars: BARS,
      original: originalSpec ? baseline : `absent: ${originalMissing}`,
      push,
      stream,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
