// Both JPEG backends on the same frames, in this thread, at 720p and 1080p: median ms and ratio.
import { loadBackend, type EncoderName } from "../src/encode/backend.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { summary, table } from "./lib.ts";

const SIZES = [
  [1280, 720],
  [1920, 1080],
] as const;
const QUALITY = 85;

export default async function encodeBench(args: string[]) {
  const iterations = Number(args.find((a) => a.startsWith("--iterations="))?.split("=")[1] ?? 40);
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  for (const [width, height] of SIZES) {
    const ring = makeRing(width, height, 8);
    const ms: Record<EncoderName, number[]> = { turbo: [], napi: [] };
    const bytes: Record<EncoderName, number> = { turbo: 0, napi: 0 };
    const backends = await Promise.all((["turbo", "napi"] as const).map((n) => loadBackend(n)));
    for (const b of backends) b.encode({ pixels: ring[0]!, width, height, stride: width * 4, format: "rgba" }, QUALITY, 0);
    // Interleaved, so both backends see the same machine load.
    for (let i = 0; i < iterations; i++) {
      for (const b of backends) {
        const image = { pixels: ring[i % ring.length]!, width, height, stride: width * 4, format: "rgba" as const };
        const t0 = performance.now();
        const jpeg = b.encode(image, QUALITY, 0);
        ms[b.name].push(performance.now() - t0);
        bytes[b.name] = jpeg.length;
      }
    }
    const turbo = summary(ms.turbo);
    const napi = summary(ms.napi);
    rows.push([`${width}x${height}`, turbo.median, napi.median, napi.median / turbo.median, bytes.turbo / 1024, bytes.napi / 1024]);
    results.push({ width, height, quality: QUALITY, turbo, napi, napiOverTurbo: napi.median / turbo.median, bytes });
  }
  console.log(`JPEG encode, q${QUALITY}, synthetic frames, ${iterations} runs each, median ms`);
  console.log(table(["size", "turbo ms", "napi ms", "napi/turbo", "turbo KB", "napi KB"], rows));
  return results;
}
