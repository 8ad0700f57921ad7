// Benchmarks for a GPU server, each printing one JSON line (scripts/gpu/*.sh run them on the H100):
//
//   bun bench/gpu.ts stream [--viewers=5] [--procs=5] [--warmup=3] [--seconds=8] -- SERVER COMMAND...
//     Starts the server command (with --port PORT appended), spreads the viewers over several
//     processes (bench/viewers.ts), and reports fps per viewer, capture->receive latency, the server's
//     CPU over the window and per frame sent, and its /api/stats.
//   bun bench/gpu.ts render [--size=3840x2160] [--frames=120] [--output=rgba|yuv420|yuv420-gpu]
//     The Vulkan source alone, one frame after another: render, readback and hand-off ms; with
//     yuv420-gpu each frame is also encoded by nvJPEG where it lies (render+encode ms, q85).
//   bun bench/gpu.ts nvjpeg [--size=3840x2160] [--frames=60] [--out=DIR]
//     nvJPEG on synthetic frames from host memory (upload, convert, encode, JPEG back).
import { join } from "node:path";
import { freePort, option, procUsage, quantile, waitForHttp } from "./lib.ts";

const [mode, ...rest] = process.argv.slice(2);
const dash = rest.indexOf("--");
const args = dash < 0 ? rest : rest.slice(0, dash);
const command = dash < 0 ? [] : rest.slice(dash + 1);
const size = option(args, "size", "3840x2160").split("x").map(Number) as [number, number];

const stats = (xs: number[]) => ({
  p50: quantile(xs, 0.5),
  p90: quantile(xs, 0.9),
  p99: quantile(xs, 0.99),
  mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length),
  n: xs.length,
});

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}

async function stream() {
  const viewers = Number(option(args, "viewers", "5"));
  const procs = Number(option(args, "procs", String(viewers)));
  const warmup = Number(option(args, "warmup", "3"));
  const seconds = Number(option(args, "seconds", "8"));
  const port = await freePort();
  const server = Bun.spawn([...command, "--port", String(port)], { stdout: "ignore", stderr: "pipe" });
  let stderr = "";
  const drained = (async () => {
    for await (const line of lines(server.stderr)) stderr = (stderr + line + "\n").slice(-6000);
  })();
  const api = (path: string) => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.json() as Promise<Record<string, unknown>>);
  try {
    await waitForHttp(`http://127.0.0.1:${port}/api/config`, 90_000).catch((err) => {
      throw new Error(`${err.message}\n${stderr}`);
    });
    const per = Array.from({ length: procs }, (_, i) => Math.floor(viewers / procs) + (i < viewers % procs ? 1 : 0));
    let window: { cpu0: number; t0: number; stats0: Record<string, unknown> } | null = null;
    let end: { cpu1: number; t1: number; stats1: Record<string, unknown> } | null = null;
    const results = await Promise.all(
      per.map(async (n, i) => {
        const viewerArgs = [`ws://127.0.0.1:${port}/ws`, `${n}`, `${warmup}`, `${seconds}`];
        const viewerScript = join(import.meta.dir, "viewers.ts");
        const proc = Bun.spawn([process.execPath, viewerScript, ...viewerArgs], { stdout: "pipe", stderr: "inherit" });
        let json = "";
        for await (const line of lines(proc.stdout)) {
          const cpu = async () => (await procUsage(server.pid)).cpuSeconds;
          if (line === "start" && i === 0) window = { cpu0: await cpu(), t0: performance.now(), stats0: await api("/api/stats") };
          else if (line === "stop" && i === 0) end = { cpu1: await cpu(), t1: performance.now(), stats1: await api("/api/stats") };
          else if (line.startsWith("{")) json = line;
        }
        if ((await proc.exited) !== 0 || !json) throw new Error(`viewer process ${i} failed\n${stderr}`);
        return JSON.parse(json) as { fps: number[]; latencies: number[]; bytesPerSecond: number[] };
      }),
    );
    const w = window!;
    const e = end!;
    const secs = (e.t1 - w.t0) / 1000;
    const cpuSeconds = e.cpu1 - w.cpu0;
    const published = Number(e.stats1.framesPublished) - Number(w.stats0.framesPublished);
    const fps = results.flatMap((r) => r.fps);
    console.log(
      JSON.stringify({
        mode: "stream",
        command: command.join(" "),
        viewers,
        procs,
        seconds: secs,
        fpsPerViewer: { min: Math.min(...fps), median: quantile(fps, 0.5), max: Math.max(...fps), each: fps },
        latencyMs: stats(results.flatMap((r) => r.latencies)),
        mbitPerViewer: (quantile(results.flatMap((r) => r.bytesPerSecond), 0.5) * 8) / 1e6,
        cpuPercent: (cpuSeconds / secs) * 100,
        cpuMsPerFrame: (cpuSeconds * 1000) / Math.max(1, published),
        publishedPerSecond: published / secs,
        config: await api("/api/config"),
        stats: e.stats1,
      }),
    );
  } finally {
    server.kill("SIGTERM");
    await server.exited;
    await drained;
  }
}

async function render() {
  const { VulkanSource } = await import("../src/sources/vulkan.ts");
  const { InputState } = await import("../src/input-state.ts");
  const frames = Number(option(args, "frames", "120"));
  const output = option(args, "output", "rgba") as "rgba" | "yuv420" | "yuv420-gpu";
  const source = await VulkanSource.create({ width: size[0], height: size[1], output });
  const encoder = output === "yuv420-gpu" ? (await import("../src/encode/nvjpeg.ts")).NvjpegEncoder.open(source.uuid) : null;
  const input = new InputState();
  const ms = { render: [] as number[], readback: [] as number[], handoff: [] as number[], total: [] as number[], encode: [] as number[] };
  let bytes = 0;
  let t = 0;
  const one = async (measure: boolean) => {
    const started = performance.now();
    const frame = await source.nextFrame((t += 1 / 60), input);
    const encodeStart = performance.now();
    if (encoder) bytes = encoder.encodeExported(frame.gpu!, frame.width, frame.height, 85).length;
    const done = performance.now();
    frame.release?.();
    if (!measure) return;
    const s = source.lastTimings!;
    ms.render.push(s.renderMs);
    ms.readback.push(s.readbackMs);
    ms.handoff.push(s.handoffMs);
    ms.encode.push(done - encodeStart);
    ms.total.push(done - started);
  };
  for (let i = 0; i < 20; i++) await one(false);
  const t0 = performance.now();
  for (let i = 0; i < frames; i++) await one(true);
  const wall = performance.now() - t0;
  source.close();
  console.log(
    JSON.stringify({
      mode: "render",
      device: source.device,
      output,
      size: size.join("x"),
      jpegBytes: bytes,
      framesPerSecond: (frames * 1000) / wall,
      renderMs: stats(ms.render),
      readbackMs: stats(ms.readback),
      handoffMs: stats(ms.handoff),
      encodeMs: stats(ms.encode),
      totalMs: stats(ms.total),
    }),
  );
}

async function nvjpeg() {
  const { NvjpegEncoder } = await import("../src/encode/nvjpeg.ts");
  const { makeRing } = await import("../src/sources/synthetic.ts");
  const frames = Number(option(args, "frames", "60"));
  const out = option(args, "out", "");
  const [w, h] = size;
  const ring = makeRing(w, h, 4);
  const t0 = performance.now();
  const encoder = NvjpegEncoder.open();
  const openMs = performance.now() - t0;
  const result: Record<string, unknown> = { mode: "nvjpeg", device: encoder.device, size: size.join("x"), openMs };
  for (const q of [85, 60]) {
    const ms: number[] = [];
    let bytes = 0;
    for (let i = -5; i < frames; i++) {
      const s = performance.now();
      const jpeg = encoder.encodePixels(ring[(i + 5) % ring.length]!, w, h, w * 4, false, q);
      if (i >= 0) ms.push(performance.now() - s);
      bytes = jpeg.length;
      if (out && i === 0) {
        await Bun.write(join(out, `nvjpeg-${w}x${h}-q${q}.jpg`), jpeg);
        if (q === 85) await Bun.write(join(out, `frame-${w}x${h}.rgba`), ring[1]!);
      }
    }
    result[`q${q}`] = { encodeMs: stats(ms), bytes };
  }
  encoder.close();
  console.log(JSON.stringify(result));
}

const modes: Record<string, () => Promise<void>> = { stream, render, nvjpeg };
if (!mode || !modes[mode]) {
  console.error("usage: bun bench/gpu.ts stream|render|nvjpeg [options] [-- server command]");
  process.exit(2);
}
await modes[mode]!();
process.exit(0);
