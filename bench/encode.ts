// JPEG encode, q85, the same frames for every backend, at 720p and 1080p: median (min-max) ms.
// vkcast's two backends (libjpeg-turbo via bun:ffi, @napi-rs/image) run in this thread, interleaved so
// both see the same load; the original's encode (its own _encode_jpeg: Pillow, alpha dropped) runs in a
// python3 process on the same frames, written to a temporary file. vkcast's times include the copy
// an encoder Worker makes of each JPEG, writing the frame metadata (COM segment) into it.
//
// Options: --iterations=N (40; 10 with --quick) encodes per backend and size.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyWithComment } from "../src/encode/jpeg-comment.ts";
import { loadJpegBackend } from "../src/encode/load.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { common, loadAverage, option, ratio, stamp, summary, table } from "./lib.ts";
import { NO_ORIGINAL, ORIGINAL_DRIVER, originalDir, PYTHON } from "./servers.ts";

const SIZES = [
  [1280, 720],
  [1920, 1080],
] as const;
const QUALITY = 85;
const FRAMES = 8;
/** Metadata of the size the server writes into each frame. */
const comment = new TextEncoder().encode(JSON.stringify({ seq: 123456, t: Date.now(), w: 1920, h: 1080, q: QUALITY }));

/** The original's encoder on the same frames; null when the original, python3 or its packages are missing. */
async function pillow(originalAt: string | null, ring: Uint8Array[], width: number, height: number, iterations: number) {
  if (!originalAt) return null;
  const file = join(tmpdir(), `vkcast-bench-encode-${process.pid}-${width}x${height}.rgba`);
  await Bun.write(file, new Blob(ring as Uint8Array<ArrayBuffer>[]));
  try {
    const proc = Bun.spawn([PYTHON, ORIGINAL_DRIVER, "--encode", file, `${width}`, `${height}`, `${ring.length}`, `${QUALITY}`, `${iterations}`], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, VKCAST_ORIGINAL: originalAt },
    });
    const [out, err, code] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text(), await proc.exited];
    if (code !== 0) {
      console.error(`original encoder (Pillow) failed: ${err.trim().split("\n").at(-1)}`);
      return null;
    }
    return JSON.parse(out) as { ms: number[]; bytes: number };
  } finally {
    await Bun.file(file).delete();
  }
}

export default async function encodeBench(args: string[]) {
  const { quick } = common(args);
  const meta = await stamp();
  const iterations = Number(option(args, "iterations", quick ? "10" : "40"));
  const originalAt = originalDir(args);
  if (!originalAt) console.log(`  ${NO_ORIGINAL}`);
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  for (const [width, height] of SIZES) {
    const ring = makeRing(width, height, FRAMES);
    const ms: Record<string, number[]> = { turbo: [], napi: [] };
    const bytes: Record<string, number> = { turbo: 0, napi: 0 };
    const backends = await Promise.all((["turbo", "napi"] as const).map((n) => loadJpegBackend(n)));
    for (const b of backends) b.encode({ pixels: ring[0]!, width, height, stride: width * 4, format: "rgba" }, QUALITY);
    // Interleaved, so both backends see the same machine load.
    for (let i = 0; i < iterations; i++) {
      for (const b of backends) {
        const image = { pixels: ring[i % ring.length]!, width, height, stride: width * 4, format: "rgba" as const };
        const t0 = performance.now();
        const jpeg = copyWithComment(b.encode(image, QUALITY), comment);
        ms[b.name]!.push(performance.now() - t0);
        bytes[b.name] = jpeg.length;
      }
    }
    const original = await pillow(originalAt, ring, width, height, iterations);
    const turbo = summary(ms.turbo);
    const napi = summary(ms.napi);
    const pil = original ? summary(original.ms) : null;
    rows.push([`${width}x${height}`, turbo.median, napi.median, pil?.median ?? NaN, ratio(turbo.median, pil?.median), ratio(napi.median, pil?.median), bytes.turbo / 1024, bytes.napi / 1024, (original?.bytes ?? NaN) / 1024]);
    results.push({
      width,
      height,
      quality: QUALITY,
      turbo,
      napi,
      pillow: pil,
      napiOverTurbo: napi.median / turbo.median,
      turboOverPillow: ratio(turbo.median, pil?.median),
      napiOverPillow: ratio(napi.median, pil?.median),
      bytes: { ...bytes, pillow: original?.bytes ?? null },
    });
  }
  console.log(`JPEG encode, q${QUALITY}, ${FRAMES} synthetic frames, ${iterations} runs each, median ms (original = Pillow, its _encode_jpeg)`);
  console.log(table(["size", "turbo ms", "napi ms", "original ms", "turbo/original", "napi/original", "turbo KB", "napi KB", "original KB"], rows));
  return { schema: 2, ...meta, loadAfter: loadAverage(), iterations, frames: FRAMES, originalMeasured: originalAt !== null, sizes: results };
}

if (import.meta.main) await encodeBench(process.argv.slice(2));
