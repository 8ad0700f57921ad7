// A static scene: what each server sends, and the CPU it spends, when the picture does not change.
// The Vulkan scene of `bun run index.ts` animates, so no CLI run is static. Instead one frame of it is
// rendered here (the orbit scene at t=0; the synthetic pattern when Vulkan is unavailable), written to a
// temporary raw RGBA file, and both servers are fed that same frame every tick at the target fps:
// vkcast through its library API (bench/library-server.ts --frame-file: StreamingServer.pushFrame), the
// original (when its folder is found) through bench/original.py --frame-file (run_seed.py's loop over a
// ring of that one frame).
// One viewer reads; bytes/s and frames/s are counted by the viewer process.
//
// Options: --size=1280x720, --viewers=1, --fps=30, --quality=85, --warmup=S, --seconds=S, --repeat=N, --quick,
// --original=DIR.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputState } from "../src/input-state.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { VulkanSource } from "../src/sources/vulkan.ts";
import { common, loadAverage, option, ratio, stamp, table } from "./lib.ts";
import { measure, NO_ORIGINAL, originalDir, originalDriver, sideBySide, type Side, streamOptions, vkcastLibrary } from "./servers.ts";

/** One frame of the Vulkan scene as tightly packed RGBA, or the synthetic pattern without Vulkan. */
async function staticFrame(width: number, height: number): Promise<{ pixels: Uint8Array; from: string }> {
  try {
    const source = await VulkanSource.create({ width, height });
    try {
      const frame = await source.nextFrame(0, new InputState());
      const stride = frame.stride ?? width * 4;
      const pixels = new Uint8Array(width * height * 4);
      for (let y = 0; y < height; y++) pixels.set(frame.pixels.subarray(y * stride, y * stride + width * 4), y * width * 4);
      if (frame.format === "bgra") for (let i = 0; i < pixels.length; i += 4) [pixels[i], pixels[i + 2]] = [pixels[i + 2]!, pixels[i]!];
      frame.release?.();
      return { pixels, from: `the Vulkan orbit scene at t=0 rendered on ${source.device}` };
    } finally {
      source.close();
    }
  } catch (err) {
    console.error(`static: no Vulkan frame (${err instanceof Error ? err.message : err}); using the synthetic pattern`);
    return { pixels: makeRing(width, height, 1)[0]!, from: "frame 0 of the synthetic pattern (Vulkan unavailable)" };
  }
}

export default async function staticBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const { warmup, seconds, ...p } = streamOptions(args, quick, 4);
  const { width, height, fps, quality } = p;
  const viewers = Number(option(args, "viewers", "1"));
  const { pixels, from } = await staticFrame(width, height);
  const file = join(tmpdir(), `vkcast-bench-static-${process.pid}-${width}x${height}.rgba`);
  await Bun.write(file, pixels as Uint8Array<ArrayBuffer>);
  const originalAt = originalDir(args);
  if (!originalAt) console.log(`  ${NO_ORIGINAL}`);
  const spec = { vkcast: vkcastLibrary(p, { frameFile: file }), original: originalAt ? originalDriver(p, originalAt, { frameFile: file }) : null };
  try {
    const agg = await sideBySide(
      [{ key: "static" }],
      repeat,
      (_c, side: Side) => (spec[side] ? measure(spec[side], { viewers, stalled: 0, warmup, seconds }) : Promise.resolve(null)),
      (_c, side, m, r) =>
        console.log(`  round ${r + 1} ${side.padEnd(8)} ${(m.bytesPerSecond[0]! / 1024).toFixed(1)} KB/s, ${m.fps[0]!.toFixed(1)} frames/s, CPU ${m.cpuPercent.toFixed(1)}%`),
    );
    const { vkcast, original } = agg.get("static")!;
    const row = {
      vkcast,
      original,
      bytesRatio: ratio(vkcast.bytesPerSecond.median, original.bytesPerSecond.median),
      fpsRatio: ratio(vkcast.fps.median, original.fps.median),
      cpuRatio: ratio(vkcast.cpuPercent.median, original.cpuPercent.median),
    };
    console.log(`\nstatic scene (${from}), ${width}x${height} q${quality}, pushed at ${fps} fps, ${viewers} viewer(s); median of ${repeat} run(s)`);
    console.log(
      table(
        ["", "vkcast", "original", "vkcast/original"],
        [
          ["KB/s per viewer", vkcast.bytesPerSecond.median / 1024, original.bytesPerSecond.median / 1024, row.bytesRatio],
          ["frames/s per viewer", vkcast.fps.median, original.fps.median, row.fpsRatio],
          ["server CPU %", vkcast.cpuPercent.median, original.cpuPercent.median, row.cpuRatio],
        ],
      ),
    );
    return {
      schema: 2,
      ...meta,
      loadAfter: loadAverage(),
      options: { width, height, fps, quality, viewers, warmup, seconds, repeat, quick },
      frame: from,
      servers: { vkcast: spec.vkcast.what, original: spec.original?.what ?? null },
      originalMeasured: originalAt !== null,
      ...row,
    };
  } finally {
    await Bun.file(file).delete();
  }
}
