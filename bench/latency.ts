// Capture -> receive latency at 720p for 1 and 100 viewers, vkcast beside the original.
// Both servers put the frame's capture time (ms since the epoch) in a JPEG COM segment; the viewer
// process (same machine, same clock) subtracts it from the time the whole message arrived.
// vkcast: `bun run index.ts --source synthetic` (capture = the source handing the frame over).
// The original (when its folder is found): bench/original.py --stamp, i.e. run_seed.py's loop with capture = push_frame() time;
// its server code is unchanged (the COM segment is added around its _encode_jpeg on the instance).
//
// Options: --size=1280x720, --viewers=1,100, --fps=30, --quality=85, --warmup=S, --seconds=S,
// --repeat=N, --quick, --original=DIR (where the original is; without it only vkcast is measured).
import { common, loadAverage, option, ratio, stamp, table } from "./lib.ts";
import { type Aggregate, measure, NO_ORIGINAL, originalDir, originalDriver, sideBySide, type Side, streamOptions, vkcastCli } from "./servers.ts";

export default async function latencyBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const { warmup, seconds, ...p } = streamOptions(args, quick, 4);
  const { width, height, fps, quality } = p;
  const viewers = option(args, "viewers", "1,100").split(",").filter(Boolean).map(Number);
  const originalAt = originalDir(args);
  if (!originalAt) console.log(`  ${NO_ORIGINAL}`);
  const spec = { vkcast: vkcastCli("synthetic", p), original: originalAt ? originalDriver(p, originalAt, { stamp: true }) : null };
  const cases = viewers.map((n) => ({ key: `${n}`, viewers: n }));
  const agg = await sideBySide(
    cases,
    repeat,
    (c, side: Side) => (spec[side] ? measure(spec[side], { viewers: c.viewers, stalled: 0, warmup, seconds }) : Promise.resolve(null)),
    (c, side, m, r) => console.log(`  round ${r + 1} ${side.padEnd(8)} x${c.viewers}: p50 ${m.latencyP50.toFixed(0)} ms, p99 ${m.latencyP99.toFixed(0)} ms over ${m.latencyCount} frames`),
  );
  const rows = cases.map((c) => {
    const { vkcast, original } = agg.get(c.key)! as Record<Side, Aggregate>;
    return {
      viewers: c.viewers,
      vkcast,
      original,
      p50Ratio: ratio(vkcast.latencyP50.median, original.latencyP50.median),
      p99Ratio: ratio(vkcast.latencyP99.median, original.latencyP99.median),
    };
  });
  console.log(`\ncapture -> receive latency, ${width}x${height} q${quality}, target ${fps} fps, ms; median of ${repeat} run(s)`);
  console.log(
    table(
      ["viewers", "vkcast p50", "original p50", "p50 vkcast/original", "vkcast p99", "original p99", "p99 vkcast/original"],
      rows.map((r) => [r.viewers, r.vkcast.latencyP50.median, r.original.latencyP50.median, r.p50Ratio, r.vkcast.latencyP99.median, r.original.latencyP99.median, r.p99Ratio]),
    ),
  );
  return {
    schema: 2,
    ...meta,
    loadAfter: loadAverage(),
    options: { width, height, fps, quality, warmup, seconds, repeat, quick, viewers },
    servers: { vkcast: spec.vkcast.what, original: spec.original?.what ?? null },
    rows,
  };
}
