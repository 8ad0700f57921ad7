// The whole product end to end: `bun run index.ts` with its default Vulkan source (render on lavapipe,
// readback, encode on Workers, send) at 720p and 1080p with one viewer; fps per viewer, latency, CPU,
// RSS, and the server's own render/encode ms from /api/stats. The bar: >= 25 fps per viewer at 720p.
// Beside it, the original at the same size, quality and fps as run_seed.py runs it: note that its
// frames are precomputed (it renders nothing), so the comparison favours the original.
//
// Options: --sizes=1280x720,1920x1080, --viewers=1, --fps=30, --quality=85, --warmup=S, --seconds=S,
// --repeat=N, --quick.
import { common, loadAverage, option, ratio, stamp, table } from "./lib.ts";
import { parseSizes } from "./fanout.ts";
import { type Aggregate, measure, originalSeed, sideBySide, type Side, type StreamParams, vkcastCli } from "./servers.ts";

/** The fps per viewer vkcast must reach at 720p with the Vulkan source. */
export const BAR_FPS_720P = 25;

export interface StreamRow {
  width: number;
  height: number;
  vkcast: Aggregate;
  original: Aggregate;
  fpsRatio: number;
  cpuRatio: number;
}

export default async function streamBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = stamp();
  const fps = Number(option(args, "fps", "30"));
  const quality = Number(option(args, "quality", "85"));
  const viewers = Number(option(args, "viewers", "1"));
  const warmup = Number(option(args, "warmup", quick ? "1" : "2"));
  const seconds = Number(option(args, "seconds", quick ? "2" : "5"));
  const sizes = parseSizes(args, "1280x720,1920x1080");
  const bySize: Record<string, StreamRow> = {};
  const cases = sizes.map(([width, height]) => ({ key: `${width}x${height}`, width, height }));
  const params = (c: { width: number; height: number }): StreamParams => ({ width: c.width, height: c.height, fps, quality });
  const agg = await sideBySide(
    cases,
    repeat,
    (c, side: Side) => measure(side === "vkcast" ? vkcastCli("vulkan", params(c)) : originalSeed(params(c)), { viewers, stalled: 0, warmup, seconds }),
    (c, side, m, r) =>
      console.log(
        `  round ${r + 1} ${side.padEnd(8)} ${c.key}: ${m.fps[0]?.toFixed(1)} fps, CPU ${m.cpuPercent.toFixed(0)}%` +
          (m.stats ? `, render ${m.stats.renderMsP50?.toFixed(1)} ms, encode ${m.stats.encodeMsP50?.toFixed(1)} ms` : ""),
      ),
  );
  for (const c of cases) {
    const { vkcast, original } = agg.get(c.key)!;
    bySize[c.key] = {
      width: c.width,
      height: c.height,
      vkcast,
      original,
      fpsRatio: ratio(vkcast.fps.median, original.fps.median),
      cpuRatio: ratio(vkcast.cpuPercent.median, original.cpuPercent.median),
    };
  }
  const rows = Object.values(bySize);
  console.log(`\nend to end, ${viewers} viewer(s), q${quality}, target ${fps} fps (vkcast renders with Vulkan; the original's frames are precomputed); median of ${repeat} run(s)`);
  console.log(
    table(
      ["size", "vkcast fps", "original fps", "vkcast/original", "vkcast latency p50 ms", "render ms", "encode ms", "vkcast CPU %", "original CPU %"],
      rows.map((r) => [`${r.width}x${r.height}`, r.vkcast.fps.median, r.original.fps.median, r.fpsRatio, r.vkcast.latencyP50.median, r.vkcast.renderMsP50?.median ?? NaN, r.vkcast.encodeMsP50?.median ?? NaN, r.vkcast.cpuPercent.median, r.original.cpuPercent.median]),
    ),
  );
  const r720 = bySize["1280x720"];
  if (r720) console.log(`bar: >= ${BAR_FPS_720P} fps per viewer at 720p: ${r720.vkcast.fps.median >= BAR_FPS_720P ? "met" : "NOT met"} (${r720.vkcast.fps.median.toFixed(1)})`);
  return {
    schema: 2,
    ...meta,
    loadAfter: loadAverage(),
    options: { fps, quality, viewers, warmup, seconds, repeat, quick },
    barFps720p: BAR_FPS_720P,
    servers: { vkcast: vkcastCli("vulkan", { width: 0, height: 0, fps, quality }).what, original: originalSeed({ width: 0, height: 0, fps, quality }).what },
    bySize,
  };
}
