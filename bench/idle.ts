// Server CPU % and RSS with nobody watching: started, given a few seconds to settle, then sampled
// from /proc over a window with no viewer connected.
// vkcast: `bun run index.ts` with its default Vulkan source (its engine renders only for viewers).
// The original: ../shared/baseline/run_seed.py, whose engine loop pushes frames whether or not anyone
// watches, and whose server encodes every frame it is given (as an engine using it would do unless it
// checked has_clients() itself).
//
// Options: --size=1280x720, --fps=30, --quality=85, --warmup=S (settle time), --seconds=S, --repeat=N, --quick.
import { common, loadAverage, ratio, stamp, table } from "./lib.ts";
import { measure, originalSeed, sideBySide, type Side, vkcastCli, streamOptions } from "./servers.ts";

export default async function idleBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = stamp();
  const { warmup, seconds, ...p } = streamOptions(args, quick, 5);
  const { width, height, fps, quality } = p;
  const spec = { vkcast: vkcastCli("vulkan", p), original: originalSeed(p) };
  const agg = await sideBySide(
    [{ key: "idle" }],
    repeat,
    (_c, side: Side) => measure(spec[side], { viewers: 0, stalled: 0, warmup, seconds }),
    (_c, side, m, r) => console.log(`  round ${r + 1} ${side.padEnd(8)} CPU ${m.cpuPercent.toFixed(1)}%, RSS ${m.rssMB.toFixed(0)} MB`),
  );
  const { vkcast, original } = agg.get("idle")!;
  const row = {
    vkcast,
    original,
    cpuRatio: ratio(vkcast.cpuPercent.median, original.cpuPercent.median),
    rssRatio: ratio(vkcast.rssMB.median, original.rssMB.median),
  };
  console.log(`\nno viewer, ${width}x${height}: server CPU (% of one core) and RSS over ${seconds} s; median of ${repeat} run(s)`);
  console.log(
    table(
      ["", "vkcast", "original", "vkcast/original"],
      [
        ["CPU %", vkcast.cpuPercent.median, original.cpuPercent.median, row.cpuRatio],
        ["RSS MB", vkcast.rssMB.median, original.rssMB.median, row.rssRatio],
        ["frames encoded/s", vkcast.encodedPerSecond?.median ?? NaN, "n/a", ""],
      ],
    ),
  );
  return {
    schema: 2,
    ...meta,
    loadAfter: loadAverage(),
    options: { width, height, fps, quality, warmup, seconds, repeat, quick },
    servers: { vkcast: spec.vkcast.what, original: spec.original.what },
    ...row,
  };
}
