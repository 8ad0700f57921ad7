// ffmpeg and ffprobe (Debian's ffmpeg, installed by setup.sh test/bench) as independent judges of the
// streams vkcast writes: they decode, count frames, read the profile, and measure SSIM.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function run(cmd: string[], stdin?: Uint8Array): Promise<{ stdout: string; stderr: string; code: number }> {
  const proc = Bun.spawn(cmd, { stdin: stdin ? new Blob([stdin as Uint8Array<ArrayBuffer>]) : "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/** A scratch directory, removed by the returned function. */
export function scratch(): { dir: string; file: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "vkcast-codec-"));
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ProbedStream {
  codec: string;
  profile: string;
  width: number;
  height: number;
  /** Frames the decoder produced. */
  frames: number;
  /** Decoder complaints (ffmpeg -v error); empty when the stream decodes cleanly. */
  errors: string;
}

/** Decodes an H.264 Annex B file (or a concatenated MJPEG file) with ffmpeg and describes it. */
export async function probe(file: string, format: "h264" | "mjpeg" = "h264"): Promise<ProbedStream> {
  const info = await run([
    "ffprobe", "-v", "error", "-f", format, "-count_frames", "-select_streams", "v:0",
    "-show_entries", "stream=codec_name,profile,width,height,nb_read_frames", "-of", "json", file,
  ]);
  if (info.code !== 0) throw new Error(`ffprobe failed: ${info.stderr}`);
  const s = (JSON.parse(info.stdout) as { streams: Record<string, string | number>[] }).streams[0]!;
  const decode = await run(["ffmpeg", "-v", "error", "-f", format, "-i", file, "-f", "null", "-"]);
  return {
    codec: String(s.codec_name),
    profile: String(s.profile ?? ""),
    width: Number(s.width),
    height: Number(s.height),
    frames: Number(s.nb_read_frames),
    errors: decode.stderr.trim() + (decode.code !== 0 ? `\nffmpeg exited ${decode.code}` : ""),
  };
}

/**
 * SSIM (ffmpeg's ssim filter, all planes) of a coded stream against the raw RGBA frames it was made from,
 * frame by frame, both compared as yuv420p (BT.601, limited range: swscale's default conversion).
 * With `upscale`, a coded stream smaller than the reference is first scaled up to it (bilinear, as a
 * page's canvas draws a smaller frame). Returns the mean over all frames and the per-frame values.
 */
export async function ssim(
  referenceRgba: string,
  width: number,
  height: number,
  coded: string,
  format: "h264" | "mjpeg",
  opts: { upscale?: boolean } = {},
): Promise<{ all: number; perFrame: number[] }> {
  const fit = opts.upscale ? `scale=${width}:${height}:flags=bilinear,` : "";
  const graph = `[0:v]format=yuv420p[ref];[1:v]${fit}format=yuv420p[dist];[dist][ref]ssim=stats_file=-`;
  const out = await run([
    "ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgba", "-s", `${width}x${height}`, "-i", referenceRgba,
    "-f", format, "-i", coded, "-lavfi", graph, "-f", "null", "-",
  ]);
  if (out.code !== 0) throw new Error(`ffmpeg ssim failed: ${out.stderr}`);
  const perFrame = [...out.stdout.matchAll(/All:([0-9.]+)/g)].map((m) => Number(m[1]));
  if (perFrame.length === 0) throw new Error(`no SSIM in ffmpeg's output: ${out.stdout.slice(0, 200)} ${out.stderr}`);
  return { all: perFrame.reduce((a, b) => a + b, 0) / perFrame.length, perFrame };
}

/** Decodes a coded file to raw yuv420p frames (BT.601 limited range for JPEG's full-range YUV too). */
export async function decodeToYuv(file: string, format: "h264" | "mjpeg", out: string): Promise<void> {
  const r = await run(["ffmpeg", "-v", "error", "-y", "-f", format, "-i", file, "-pix_fmt", "yuv420p", "-f", "rawvideo", out]);
  if (r.code !== 0) throw new Error(`ffmpeg decode failed: ${r.stderr}`);
}

/** Per-frame SSIM (all planes) of two raw yuv420p files of the same size and frame count. */
export async function ssimYuv(a: string, b: string, width: number, height: number): Promise<number[]> {
  const raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", `${width}x${height}`];
  const out = await run(["ffmpeg", "-v", "error", ...raw, "-i", a, ...raw, "-i", b, "-lavfi", "ssim=stats_file=-", "-f", "null", "-"]);
  if (out.code !== 0) throw new Error(`ffmpeg ssim failed: ${out.stderr}`);
  return [...out.stdout.matchAll(/All:([0-9.]+)/g)].map((m) => Number(m[1]));
}
