// The whole product end to end: `bun run index.ts` with its default Vulkan source (render on lavapipe
// or a GPU, readback, encode on Workers, send) at 720p and 1080p with 1, 20 and 100 viewers; fps per
// viewer, latency (from the rendered frame handed to the server to the viewer having it: the render
// itself is reported beside it, from /api/stats), CPU, RSS. The bar: >= 25 fps per viewer at 720p.
// Beside the 1-viewer cases, the original at the same size, quality and fps as its run_seed.py runs it
// (when its folder is found): its frames are precomputed (it renders nothing), so the comparison
// favours the original. The original with 20 and 100 viewers is in the fan-out benchmark.
//
// Options: --sizes=1280x720,1920x1080, --viewers=1,20,100, --fps=30, --quality=85, --warmup=S,
// --seconds=S, --repeat=N, --quick, --original=DIR.
import { common, loadAverage, option, ratio, stamp, table } from "./lib.ts";
import { parseSizes } from "./fanout.ts";
import { type Aggregate, measure, NO_ORIGINAL, originalDir, originalSeed, sideBySide, type Side, type StreamParams, vkcastCli } from "./servers.ts";

/** The fps per viewer vkcast must reach at 720p with the Vulkan source (one viewer). */
export const BAR_FPS_720P = 25;

export interface StreamRow {
  width: number;
  height: number;
  viewers: number;
  vkcast: Aggregate;
  /** Measured for one viewer only (n/a otherwise). */
  original: Aggregate;
  fpsRatio: number;
  cpuRatio: number;
}

export default async function streamBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const fps = Number(option(args, "fps", "30"));
  const quality = Number(option(args, "quality", "85"));
  const viewerCounts = option(args, "viewers", "1,20,100").split(",").filter(Boolean).map(Number);
  const warmup = Number(option(args, "warmup", quick ? "1" : "2"));
  const seconds = Number(option(args, "seconds", quick ? "2" : "5"));
  const sizes = parseSizes(args, "1280x720,1920x1080");
  const originalAt = originalDir(args);
  if (!originalAt) console.log(`  ${NO_ORIGINAL}`);
  const cases = sizes.flatMap(([width, height]) => viewerCounts.map((viewers) => ({ key: `${width}x${height}x${viewers}`, width, height, viewers })));
  const params = (c: { width: number; height: number }): StreamParams => ({ width: c.width, height: c.height, fps, quality });
  const agg = await sideBySide(
    cases,
    repeat,
    (c, side: Side) => {
      const window = { viewers: c.viewers, stalled: 0, warmup, seconds };
      if (side === "vkcast") return measure(vkcastCli("vulkan", params(c)), window);
      return originalAt && c.viewers === 1 ? measure(originalSeed(params(c), originalAt), window) : Promise.resolve(null);
    },
    (c, side, m, r) =>
      console.log(
        `  round ${r + 1} ${side.padEnd(8)} ${c.key}: ${m.fps.length ? Math.min(...m.fps).toFixed(1) : "-"}..${m.fps.length ? Math.max(...m.fps).toFixed(1) : "-"} fps, CPU ${m.cpuPercent.toFixed(0)}%` +
          (m.stats ? `, render ${m.stats.renderMsP50?.toFixed(1)} ms, encode ${m.stats.encodeMsP50?.toFixed(1)} ms` : ""),
      ),
  );
  const rows: StreamRow[] = cases.map((c) => {
    const { vkcast, original } = agg.get(c.key)!;
    return {
      width: c.width,
      height: c.height,
      viewers: c.viewers,
      vkcast,
      original,
      fpsRatio: ratio(vkcast.fps.median, original.fps.median),
      cpuRatio: ratio(vkcast.cpuPercent.median, original.cpuPercent.median),
    };
  });
  console.log(
    `\nend to end, vkcast rendering with Vulkan on ${rows[0]?.vkcast.device ?? "?"}, q${quality}, target ${fps} fps; the original (1 viewer) with precomputed frames; ` +
      `median of ${repeat} run(s); fps ±${(1 / seconds).toFixed(2)} (one frame in the ${seconds} s window)`,
  );
  console.log(
    table(
      ["size", "viewers", "vkcast fps", "worst viewer", "original fps", "vkcast/original", "latency p50 ms", "render ms", "encode ms", "vkcast CPU %", "original CPU %"],
      rows.map((r) => [
        `${r.width}x${r.height}`,
        r.viewers,
        r.vkcast.fps.median,
        r.vkcast.worstViewerFps.median,
        r.original.fps.median,
        r.fpsRatio,
        r.vkcast.latencyP50.median,
        r.vkcast.renderMsP50?.median ?? NaN,
        r.vkcast.encodeMsP50?.median ?? NaN,
        r.vkcast.cpuPercent.median,
        r.original.cpuPercent.median,
      ]),
    ),
  );
  const bar = rows.find((r) => r.height === 720 && r.viewers === 1);
  if (bar) console.log(`bar: >= ${BAR_FPS_720P} fps per viewer at 720p: ${bar.vkcast.fps.median >= BAR_FPS_720P ? "met" : "NOT met"} (${bar.vkcast.fps.median.toFixed(1)})`);
  return {
    schema: 3,
    ...meta,
    loadAfter: loadAverage(),
    options: { fps, quality, viewers: viewerCounts, warmup, seconds, repeat, quick },
    barFps720p: BAR_FPS_720P,
    servers: { vkcast: vkcastCli("vulkan", params({ width: 0, height: 0 })).what, original: originalAt ? originalSeed(params({ width: 0, height: 0 }), originalAt).what : null },
    originalMeasured: originalAt !== null,
    rows,
  };
}
