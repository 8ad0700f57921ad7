// The codec section of BENCHMARKS.md, from `bun run bench codec` (bench/codec.ts) in latest.json: JPEG
// against H.264 on the same frames (bytes, SSIM, encode time), a slow viewer's skipping, and capture to
// shown in Chromium, each against issue 16's targets.
import type { CodecRow } from "./codec.ts";
import type { BrowserLatency } from "./codec-latency.ts";
import type { SlowViewerResult } from "./codec-slow.ts";
import { fmt, table } from "./lib.ts";

/** Issue 16's targets. */
export const CODEC_TARGETS = { bytesRatio: 2.5, addedLatencyMs: 5, encodeMs1080p: 12 } as const;

type Parity = { scene: string; size: string; jpegQ85: { bytesPerSecond: number; ssim: number }; tl1: number; tl2: number; jpegOverTl2: number };
export type CodecResult = {
  schema: number;
  date: string;
  loadBefore?: number;
  loadAfter?: number;
  machine: { cores: number; usableCores?: number; cpu: string };
  options: { quick: boolean; repeat: number; frames: number; sizes: string[]; scenes: string[]; qps: number[] };
  fps: number;
  defaultQp: number;
  maxThreads: number;
  conversion: { scene: string; size: string; msP50: number }[];
  rows: CodecRow[];
  parity: Parity[];
  slow: (SlowViewerResult & { scene: string; size: string; share: number })[];
  latency: BrowserLatency[];
  durationSeconds?: number;
};

const n = (x: number | null | undefined) => (typeof x === "number" && Number.isFinite(x) ? fmt(x) : "n/a");
const mb = (bytes: number) => n(bytes / 1e6);
const met = (ok: boolean) => (ok ? "met" : "**not met**");
const spreadCell = (s: BrowserLatency["p50"]) => (s.n > 1 && s.min !== s.max ? `${n(s.median)} (${n(s.min)}–${n(s.max)})` : n(s.median));
const sizeName = (size: string) => ({ "1280x720": "720p", "1920x1080": "1080p" })[size] ?? size;

/** H.264 at the server's settings (default quantiser, two temporal layers) for a scene and size. */
export function serverRow(r: CodecResult, scene: string, size: string): CodecRow | undefined {
  return r.rows.find((x) => x.scene === scene && x.size === size && x.codec === "h264" && x.qp === r.defaultQp && x.layers === 2);
}

/** H.264's capture-to-shown p50 minus JPEG's (medians over rounds), ms; null when either is missing. */
export function addedLatency(r: CodecResult): number | null {
  const [jpeg, h264] = [r.latency.find((l) => l.codec === "jpeg")?.p50.median, r.latency.find((l) => l.codec === "h264")?.p50.median];
  return typeof jpeg === "number" && typeof h264 === "number" && Number.isFinite(jpeg + h264) ? h264 - jpeg : null;
}

export function codecSection(result: unknown): string {
  const out = ["## Codecs: JPEG and H.264 on the same frames", ""];
  const r = result as CodecResult | undefined;
  if (r?.schema !== 2) return out.join("\n") + "_Not measured yet (or measured by an older version of the benchmark): `bun run bench codec`._\n";
  const o = r.options;
  const h264Rows = r.rows.filter((x) => x.codec === "jpeg" || x.layers === 2);
  const added = addedLatency(r);
  const at1080 = r.options.scenes.map((scene) => [scene, serverRow(r, scene, "1920x1080")] as const).filter(([, row]) => row);
  out.push(
    `${o.frames} frames per scene and size: the built-in Vulkan scene (rendered by lavapipe at t = k/30) and a richer synthetic one ` +
      "(bench/codec-scene.ts: a panning textured background under 48 textured moving objects). JPEG is libjpeg-turbo 4:2:0 (the server's encoder); " +
      `H.264 is OpenH264 at constant quantisers with two temporal layers (the server's setting; its default is qp ${r.defaultQp}), ` +
      `each encode called from one thread of this process, the RGBA → I420 conversion (libyuv) included, OpenH264 itself on up to ${r.maxThreads} threads ` +
      `(one slice each, as the server gives it on ${r.machine.usableCores ?? r.machine.cores} usable CPUs). Bytes per second at ${r.fps} fps; ` +
      "SSIM is ffmpeg's (all planes) of each decoded stream against the rendered frames; encode ms is wall time (p50, p95) and CPU time " +
      "(user + system of all threads, p50).",
    "",
    table(
      ["scene", "size", "codec", "setting", "MB/s", "Mbit/s", "SSIM", "encode ms p50", "p95", "CPU ms p50"],
      h264Rows.map((x) => [x.scene, sizeName(x.size), x.codec === "jpeg" ? "JPEG" : "H.264", x.setting, mb(x.bytesPerSecond),
        n((x.bytesPerSecond * 8) / 1e6), x.ssim.toFixed(4), n(x.encodeMsP50), n(x.encodeMsP95), n(x.encodeCpuMsP50)]),
    ),
    "",
    `At JPEG q85's SSIM (H.264 bytes interpolated along the quantiser sweep), target: H.264 ≤ 1/${CODEC_TARGETS.bytesRatio} of JPEG's bytes.`,
    "",
    table(
      ["scene", "size", "q85 SSIM", "JPEG q85 MB/s", "H.264 MB/s", "JPEG / H.264", "target"],
      r.parity.map((p) => [p.scene, sizeName(p.size), p.jpegQ85.ssim.toFixed(4), mb(p.jpegQ85.bytesPerSecond), mb(p.tl2), `${n(p.jpegOverTl2)}×`,
        met(p.jpegOverTl2 >= CODEC_TARGETS.bytesRatio)]),
    ),
    "",
    `Stages of an H.264 encode at qp ${r.defaultQp}, target for 1080p30: ≤ ${CODEC_TARGETS.encodeMs1080p} ms (p50 wall).`,
    "",
    table(
      ["scene", "size", "RGBA → I420 ms p50", "threads", "encode ms p50 (I420 included)", "CPU ms p50", "target"],
      r.conversion.map((c) => {
        const row = serverRow(r, c.scene, c.size);
        const target = c.size === "1920x1080" && row ? met(row.encodeMsP50 <= CODEC_TARGETS.encodeMs1080p) : "";
        return [c.scene, sizeName(c.size), n(c.msP50), String(row?.threads ?? "n/a"), n(row?.encodeMsP50), n(row?.encodeCpuMsP50), target];
      }),
    ),
    "",
    `One slow viewer, simulated (bench/codec-slow.ts: the server's skipping rule over a link of a share of the one-layer stream's rate), at qp ${r.defaultQp}:`,
    "",
    table(
      ["scene", "size", "link", "policy", "shown fps", "IDR/s", "stream MB/s", "latency p50 ms", "p95", "longest freeze ms"],
      r.slow.map((s) => [s.scene, sizeName(s.size), `${Math.round(s.share * 100)}%`, s.policy, n(s.shownFps), n(s.idrPerSecond),
        mb(s.streamBytesPerSecond), n(s.latencyP50), n(s.latencyP95), n(s.longestFreezeMs)]),
    ),
    "",
    `Capture to shown in Chromium (Debian's, headless, no GPU): one page watching a server fed the Vulkan scene's ${sizeName(o.sizes[0] ?? "")} frames ` +
      "at 30 fps; the server's capture-to-acknowledged latency, the page acking each frame once painted (JPEG: createImageBitmap, then the next " +
      `animation frame; H.264: VideoDecoder, then VideoFrame.copyTo RGBA and putImageData). p50 and p90 of each 10 s window; median (min–max) over ${o.repeat} ` +
      `round(s), the codecs alternating. Target: H.264 adds ≤ ${CODEC_TARGETS.addedLatencyMs} ms at p50.`,
    "",
    table(
      ["codec", "p50 ms", "p90 ms", "frames", "server encode ms p50"],
      r.latency.map((l) => [l.codec === "jpeg" ? "JPEG" : "H.264", spreadCell(l.p50), spreadCell(l.p90), String(l.frames), n(l.encodeMsP50.median)]),
    ),
    "",
    `H.264 − JPEG at p50: ${added === null ? "n/a" : `${n(added)} ms`} (target ≤ +${CODEC_TARGETS.addedLatencyMs} ms: ${added === null ? "n/a" : met(added <= CODEC_TARGETS.addedLatencyMs)}).` +
      (at1080.length ? ` 1080p encode p50: ${at1080.map(([scene, row]) => `${scene} ${n(row!.encodeMsP50)} ms`).join(", ")}.` : ""),
    "",
    `<sub>${r.machine.cores} cores, ${r.machine.cpu} · measured ${r.date.slice(0, 16).replace("T", " ")} UTC` +
      `${o.quick ? " · **--quick: a smoke run, not numbers to quote**" : ""} · load average ${r.loadBefore ?? "?"} → ${r.loadAfter ?? "?"}` +
      `${r.durationSeconds ? ` · took ${r.durationSeconds} s` : ""}</sub>`,
    "",
  );
  return out.join("\n");
}
