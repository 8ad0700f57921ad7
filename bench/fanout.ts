// fps per viewer as viewers grow: vkcast and the original, one after the other in the same run,
// same machine, same frame size, quality and target fps. Viewers run in a separate process.
// vkcast: `bun run index.ts --source synthetic` (a precomputed ring, like run_seed.py's, so only the
// server is measured); the original: its own run_seed.py unchanged, when its folder is found
// (--original=DIR, VKCAST_ORIGINAL, or ../shared/baseline beside the checkout). The Vulkan scene with
// many viewers is in bench/stream.ts.
//
// Options: --sizes=1280x720,1920x1080 (or --width= --height= for one size), --viewers=1,20,100,
// --stalled=1,5 (runs of 20 reading viewers beside that many stalled ones), --fps=30, --quality=85,
// --warmup=S, --stalled-warmup=S (warm-up of the stalled cases), --seconds=S, --repeat=N, --quick,
// --original=DIR.
import { common, loadAverage, machine, option, ratio, stamp, table } from "./lib.ts";
import { type Aggregate, measure, NO_ORIGINAL, originalDir, originalSeed, sideBySide, type Side, type StreamParams, vkcastCli } from "./servers.ts";

export interface FanoutCase {
  key: string;
  viewers: number;
  stalled: number;
}

export interface FanoutRow extends FanoutCase {
  vkcast: Aggregate;
  original: Aggregate;
  /** vkcast / original, on the medians. */
  fpsRatio: number;
  cpuRatio: number;
  rssRatio: number;
}

export interface FanoutSize {
  width: number;
  height: number;
  rows: FanoutRow[];
}

export const caseLabel = (c: { viewers: number; stalled: number }) => `${c.viewers}${c.stalled ? ` + ${c.stalled} stalled` : ""}`;

export function parseSizes(args: string[], fallback: string): [number, number][] {
  const w = option(args, "width", "");
  const h = option(args, "height", "");
  if (w || h) return [[Number(w || 1280), Number(h || 720)]];
  return option(args, "sizes", fallback)
    .split(",")
    .filter(Boolean)
    .map((s) => s.split("x").map(Number) as [number, number]);
}

export default async function fanoutBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const fps = Number(option(args, "fps", "30"));
  const quality = Number(option(args, "quality", "85"));
  const warmup = Number(option(args, "warmup", quick ? "1" : "2"));
  const seconds = Number(option(args, "seconds", quick ? "2" : "4"));
  // Stalled sockets need a few seconds to fill their kernel buffers (~0.6 MB receive + the sender's)
  // before a server that waits on them shows it: count only after that.
  const stalledWarmup = Number(option(args, "stalled-warmup", quick ? "3" : "5"));
  const viewers = option(args, "viewers", "1,20,100").split(",").filter(Boolean).map(Number);
  const stalled = option(args, "stalled", "1,5").split(",").filter(Boolean).map(Number);
  const sizes = parseSizes(args, "1280x720,1920x1080");
  const originalAt = originalDir(args);
  if (!originalAt) console.log(`  ${NO_ORIGINAL}`);
  const cases: FanoutCase[] = [
    ...viewers.map((n) => ({ key: `${n}+0`, viewers: n, stalled: 0 })),
    ...stalled.map((s) => ({ key: `20+${s}`, viewers: 20, stalled: s })),
  ];
  const bySize: Record<string, FanoutSize> = {};
  for (const [width, height] of sizes) {
    const p: StreamParams = { width, height, fps, quality };
    const spec = { vkcast: vkcastCli("synthetic", p), original: originalAt ? originalSeed(p, originalAt) : null };
    console.log(`-- ${width}x${height}: ${repeat} round(s) of ${cases.length} cases x ${originalAt ? 2 : 1} server(s), ${seconds} s after ${warmup} s warm-up`);
    const agg = await sideBySide(
      cases,
      repeat,
      (c, side: Side) => {
        const server = spec[side];
        const window = { viewers: c.viewers, stalled: c.stalled, warmup: c.stalled ? Math.max(warmup, stalledWarmup) : warmup, seconds };
        return server ? measure(server, window) : Promise.resolve(null);
      },
      (c, side, m, r) => console.log(`  round ${r + 1} ${side.padEnd(8)} ${caseLabel(c).padEnd(14)} ${m.fps.length ? Math.min(...m.fps).toFixed(1) : "-"}..${m.fps.length ? Math.max(...m.fps).toFixed(1) : "-"} fps per viewer, CPU ${m.cpuPercent.toFixed(0)}%`),
    );
    const rows: FanoutRow[] = cases.map((c) => {
      const { vkcast, original } = agg.get(c.key)!;
      return {
        ...c,
        vkcast,
        original,
        fpsRatio: ratio(vkcast.fps.median, original.fps.median),
        cpuRatio: ratio(vkcast.cpuPercent.median, original.cpuPercent.median),
        rssRatio: ratio(vkcast.rssMB.median, original.rssMB.median),
      };
    });
    bySize[`${width}x${height}`] = { width, height, rows };
    console.log(
      `\nfps per viewer, ${width}x${height} q${quality}, target ${fps} fps; median of ${repeat} run(s) (${machine().cores} cores, ${machine().cpu}); ` +
        `±${(1 / seconds).toFixed(2)} fps (one frame in the ${seconds} s window)`,
    );
    console.log(
      table(
        ["viewers", "vkcast fps", "original fps", "vkcast/original", "vkcast worst viewer", "original worst viewer", "vkcast CPU %", "original CPU %", "vkcast RSS MB", "original RSS MB"],
        rows.map((r) => [caseLabel(r), r.vkcast.fps.median, r.original.fps.median, r.fpsRatio, r.vkcast.worstViewerFps.median, r.original.worstViewerFps.median, r.vkcast.cpuPercent.median, r.original.cpuPercent.median, r.vkcast.rssMB.median, r.original.rssMB.median]),
      ),
    );
  }
  return {
    schema: 2,
    ...meta,
    loadAfter: loadAverage(),
    options: { fps, quality, warmup, stalledWarmup, seconds, repeat, quick, viewers, stalled },
    servers: { vkcast: vkcastCli("synthetic", { width: 0, height: 0, fps, quality }).what, original: originalAt ? originalSeed({ width: 0, height: 0, fps, quality }, originalAt).what : null },
    bySize,
  };
}
