// JPEG against H.264 on the same frames: bytes per second, SSIM and encode time per frame.
//
// Two scenes: the built-in Vulkan scene (rendered by VulkanSource, t = k / 30, no input) and a richer
// synthetic one (bench/codec-scene.ts: a panning textured background under 48 textured moving objects).
// JPEG is libjpeg-turbo at q60/q85/q90 (the server's encoder, 4:2:0); H.264 is OpenH264 (src/encode/
// openh264.ts) at a sweep of constant quantisers, with one and with two temporal layers. SSIM is
// ffmpeg's ssim filter (all planes, yuv420p) of each decoded stream against the rendered frames. Bytes
// per second are at 30 fps. Encode ms: one frame in this thread (H.264 includes the RGBA -> I420
// conversion, timed on its own too; OpenH264 uses the threads the server gives it: threadsFor(usable CPUs)),
// median and p95 of the wall time, and the median CPU time of this process over the encode (user + system,
// all threads: what the encode cost, also on a machine busy with other work). "parity" interpolates the
// H.264 bytes at JPEG q85's SSIM along the sweep.
// Then a viewer slower than the stream under both skipping policies (bench/codec-slow.ts), and last the
// capture-to-shown latency of each codec in Chromium, on the first size's Vulkan scene (bench/codec-latency.ts).
//
// Options: --frames=N (60; 20 with --quick), --sizes=1280x720,1920x1080, --scenes=vulkan,rich,
// --qps=16,19,22,25,28,31 (19,22,25,28 with --quick), --repeat=N rounds of the Chromium latency (3; 1 with --quick).
import { loadJpegBackend } from "../src/encode/load.ts";
import { usableCpus } from "../src/encode/cpus.ts";
import { I420Picture } from "../src/encode/h264-i420.ts";
import { DEFAULT_QP, H264Encoder, threadsFor } from "../src/encode/openh264.ts";
import { InputState } from "../src/input-state.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { scratch, ssim } from "../test/helpers/ffmpeg.ts";
import { browserLatency, type BrowserLatency } from "./codec-latency.ts";
import { makeRichScene } from "./codec-scene.ts";
import { simulateSlowViewer } from "./codec-slow.ts";
import { common, loadAverage, option, quantile, type Spread, stamp, table } from "./lib.ts";

const FPS = 30;
const JPEG_QUALITIES = [60, 85, 90];
const LINK_SHARES = [0.3, 0.5, 0.7, 0.9, 1.5];

type Scene = "vulkan" | "rich";

async function sceneFrames(scene: Scene, width: number, height: number, count: number): Promise<Uint8Array[]> {
  if (scene === "rich") return makeRichScene(width, height, count);
  const source = await VulkanSource.create({ width, height });
  const input = new InputState();
  const frames: Uint8Array[] = [];
  try {
    for (let k = 0; k < count; k++) {
      const frame = await source.nextFrame(k / FPS, input);
      frames.push(frame.pixels.slice(0, width * height * 4));
      frame.release?.();
    }
  } finally {
    source.close();
  }
  return frames;
}

/** One encoding of one scene and size: a row of the codec tables (bench/codec-report.ts). */
export interface CodecRow {
  scene: Scene;
  size: string;
  codec: "jpeg" | "h264";
  setting: string;
  layers?: number;
  qp?: number;
  quality?: number;
  bytesPerSecond: number;
  ssim: number;
  encodeMsP50: number;
  encodeMsP95: number;
  encodeCpuMsP50: number;
  /** H.264: the threads (and slices) OpenH264 used. */
  threads?: number;
  idrBytes?: number;
  pMedianBytes?: number;
}

/** Times calls: wall ms and this process's CPU ms (user + system) for each. */
function timer() {
  const wall: number[] = [];
  const cpu: number[] = [];
  return {
    samples: [wall, cpu],
    time<T>(f: () => T): T {
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      const out = f();
      const c = process.cpuUsage(c0);
      wall.push(performance.now() - t0);
      cpu.push((c.user + c.system) / 1000);
      return out;
    },
  };
}

/** Bytes at `target` SSIM along a sweep, interpolating log(bytes) between the two points around it. */
function bytesAtSsim(points: CodecRow[], target: number): number {
  const sorted = [...points].sort((a, b) => a.ssim - b.ssim);
  for (let i = 1; i < sorted.length; i++) {
    const [lo, hi] = [sorted[i - 1]!, sorted[i]!];
    if (lo.ssim <= target && target <= hi.ssim) {
      const f = hi.ssim === lo.ssim ? 0 : (target - lo.ssim) / (hi.ssim - lo.ssim);
      return Math.exp(Math.log(lo.bytesPerSecond) + f * (Math.log(hi.bytesPerSecond) - Math.log(lo.bytesPerSecond)));
    }
  }
  return NaN;
}

export default async function codecBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const count = Number(option(args, "frames", quick ? "20" : "60"));
  const sizes = option(args, "sizes", "1280x720,1920x1080").split(",").map((s) => s.split("x").map(Number) as [number, number]);
  const scenes = option(args, "scenes", "vulkan,rich").split(",") as Scene[];
  const qps = option(args, "qps", quick ? "19,22,25,28" : "16,19,22,25,28,31").split(",").map(Number);
  const jpeg = await loadJpegBackend("turbo");
  const rows: CodecRow[] = [];
  const maxThreads = usableCpus().cpus;
  /** RGBA -> I420 (libyuv), the first stage of every H.264 encode: ms p50 per scene and size. */
  const conversion: { scene: Scene; size: string; msP50: number }[] = [];
  const parity: Record<string, unknown>[] = [];
  const slow: Record<string, unknown>[] = [];
  let latency: BrowserLatency[] = [];
  const dir = scratch();
  try {
    for (const scene of scenes) {
      for (const [width, height] of sizes) {
        const size = `${width}x${height}`;
        const frames = await sceneFrames(scene, width, height, count);
        const images = frames.map((pixels) => ({ pixels, width, height, stride: width * 4, format: "rgba" as const }));
        await Bun.write(dir.file("ref.rgba"), new Blob(frames as Uint8Array<ArrayBuffer>[]));
        const measure = async (file: string, format: "h264" | "mjpeg", parts: Uint8Array[], [ms, cpu]: number[][]) => {
          await Bun.write(dir.file(file), new Blob(parts as Uint8Array<ArrayBuffer>[]));
          const { all } = await ssim(dir.file("ref.rgba"), width, height, dir.file(file), format);
          const bytes = parts.reduce((a, p) => a + p.length, 0);
          const timing = { encodeMsP50: quantile(ms!, 0.5), encodeMsP95: quantile(ms!, 0.95), encodeCpuMsP50: quantile(cpu!, 0.5) };
          return { bytesPerSecond: (bytes / parts.length) * FPS, ssim: all, ...timing };
        };
        for (const quality of JPEG_QUALITIES) {
          const times = timer();
          const parts = images.map((image) => times.time(() => jpeg.encode(image, quality).slice()));
          rows.push({ scene, size, codec: "jpeg", setting: `q${quality}`, quality, ...(await measure("j.mjpeg", "mjpeg", parts, times.samples)) });
        }
        const picture = new I420Picture(width, height);
        const convertTimes = timer();
        for (const image of images) convertTimes.time(() => picture.convert(image));
        conversion.push({ scene, size, msP50: quantile(convertTimes.samples[0]!, 0.5) });
        const threads = threadsFor(maxThreads, width, height);
        for (const layers of [1, 2] as const) {
          for (const qp of qps) {
            const encoder = new H264Encoder({ fps: FPS, qp, temporalLayers: layers, maxThreads });
            const times = timer();
            const parts = images.map((image) => times.time(() => encoder.encode(image).data));
            encoder.close();
            const pSizes = parts.slice(1).map((p) => p.length);
            const measured = await measure("h.h264", "h264", parts, times.samples);
            const row = { scene, size, codec: "h264" as const, setting: `qp${qp} tl${layers}`, layers, qp, threads, ...measured };
            rows.push({ ...row, idrBytes: parts[0]!.length, pMedianBytes: quantile(pSizes, 0.5) });
          }
        }
        const q85 = rows.find((r) => r.scene === scene && r.size === size && r.quality === 85)!;
        const sweep = (layers: number) => rows.filter((r) => r.scene === scene && r.size === size && r.layers === layers);
        const [tl1, tl2] = [bytesAtSsim(sweep(1), q85.ssim), bytesAtSsim(sweep(2), q85.ssim)];
        parity.push({ scene, size, jpegQ85: { bytesPerSecond: q85.bytesPerSecond, ssim: q85.ssim }, tl1, tl2, jpegOverTl1: q85.bytesPerSecond / tl1, jpegOverTl2: q85.bytesPerSecond / tl2 });

        if (width === sizes[0]![0] && height === sizes[0]![1]) {
          // 10 s (5 with --quick) of stream: the frames forth and back, so that the motion never jumps.
          const loop = [...images, ...[...images].reverse()];
          const long = Array.from({ length: FPS * (quick ? 5 : 10) }, (_, k) => loop[k % loop.length]!);
          // Link shares are of the one-layer stream with nobody behind.
          const base = simulateSlowViewer(long, FPS, DEFAULT_QP, "idr", Infinity).streamBytesPerSecond;
          for (const share of LINK_SHARES) {
            for (const policy of ["idr", "layers"] as const) {
              slow.push({ scene, size, share, ...simulateSlowViewer(long, FPS, DEFAULT_QP, policy, base * share) });
            }
          }
          // 10 s: more frames than the 256 latencies the server keeps, so the start of the page is not in them.
          if (scene === "vulkan") latency = await browserLatency(frames, width, height, 10, repeat);
        }
      }
    }
  } finally {
    dir.remove();
  }

  const mb = (x: number) => x / 1e6;
  console.log(`JPEG (libjpeg-turbo) and H.264 (OpenH264), ${count} frames per scene and size, bytes at ${FPS} fps, SSIM by ffmpeg`);
  console.log(`H.264 encodes include RGBA -> I420 (libyuv); OpenH264 threads (one slice each) per size, of ${maxThreads} usable CPUs:`);
  console.log(table(["scene", "size", "I420 ms p50", "threads"], conversion.map((c) => [c.scene, c.size, c.msP50, threadsFor(maxThreads, ...(c.size.split("x").map(Number) as [number, number]))])));
  console.log(
    table(
      ["scene", "size", "codec", "setting", "MB/s", "Mbit/s", "SSIM", "enc ms p50", "enc ms p95", "enc CPU ms p50", "IDR KB", "P KB"],
      rows.map((r) => [
        r.scene, r.size, r.codec, r.setting, mb(r.bytesPerSecond), mb(r.bytesPerSecond) * 8, r.ssim.toFixed(4),
        r.encodeMsP50, r.encodeMsP95, r.encodeCpuMsP50, (r.idrBytes ?? NaN) / 1024, (r.pMedianBytes ?? NaN) / 1024,
      ]),
    ),
  );
  console.log("\nAt JPEG q85's SSIM: H.264 bytes interpolated along the quantiser sweep");
  console.log(
    table(
      ["scene", "size", "q85 SSIM", "q85 MB/s", "tl1 MB/s", "q85/tl1", "tl2 MB/s", "q85/tl2"],
      parity.map((p: any) => [p.scene, p.size, p.jpegQ85.ssim.toFixed(4), mb(p.jpegQ85.bytesPerSecond), mb(p.tl1), p.jpegOverTl1, mb(p.tl2), p.jpegOverTl2]),
    ),
  );
  console.log(`\nOne slow viewer (simulated link, a share of the one-layer stream's rate) at qp ${DEFAULT_QP}`);
  console.log(
    table(
      ["scene", "link", "policy", "shown fps", "IDR/s", "stream MB/s", "latency p50", "p95", "longest freeze ms"],
      slow.map((s: any) => [s.scene, `${Math.round(s.share * 100)}%`, s.policy, s.shownFps, s.idrPerSecond, mb(s.streamBytesPerSecond), s.latencyP50, s.latencyP95, s.longestFreezeMs]),
    ),
  );
  console.log(`\nCapture to shown (acknowledged) in Chromium, one page, the Vulkan scene's frames at 30 fps, ms: median (min-max) of ${repeat} round(s)`);
  const spreadCell = (s: Spread) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}-${s.max.toFixed(0)})`;
  console.log(table(["codec", "p50", "p90", "frames", "encode ms p50"], latency.map((l) => [l.codec, spreadCell(l.p50), spreadCell(l.p90), l.frames, l.encodeMsP50.median])));
  const options = { quick, repeat, frames: count, sizes: sizes.map((s) => s.join("x")), scenes, qps };
  return { schema: 2, ...meta, loadAfter: loadAverage(), options, fps: FPS, defaultQp: DEFAULT_QP, maxThreads, conversion, rows, parity, slow, latency };
}

if (import.meta.main) await codecBench(process.argv.slice(2));
