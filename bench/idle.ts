// Server CPU %, RSS and frames encoded per second with nobody watching: each server is started, given a
// few seconds to settle, then sampled from /proc (and its encode count) over a window with no viewer.
// What an idle server costs depends on its producer as much as on the server, so both servers are
// driven the same two ways, by the same kind of loop over a synthetic ring at the target fps:
//   checks:  the producer pushes only while anyone watches (vkcast: bench/library-server.ts, as index.ts's
//            engine does; the original: bench/original.py --when-watched, calling has_clients()),
//   always:  the producer pushes every tick regardless (vkcast: bench/library-server.ts --always; the
//            original: bench/original.py, run_seed.py's loop, which never calls has_clients()).
// Beside them, vkcast's main job as a user runs it: `bun run index.ts` (Vulkan scene; its engine checks).
// The original's encodes are counted by wrapping its _encode_jpeg on the instance (--count-file).
//
// Options: --size=1280x720, --fps=30, --quality=85, --warmup=S (settle time), --seconds=S, --repeat=N,
// --quick, --original=DIR.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { common, loadAverage, ratio, stamp, table } from "./lib.ts";
import { type Aggregate, measure, NO_ORIGINAL, originalDir, originalDriver, type ServerSpec, sideBySide, type Side, streamOptions, vkcastCli, vkcastLibrary } from "./servers.ts";

export const IDLE_CASES = [
  { key: "checks", label: "producer pushes only while anyone watches" },
  { key: "always", label: "producer pushes every tick regardless" },
  { key: "main", label: "vkcast's main job (bun run index.ts, Vulkan scene)" },
] as const;

export interface IdleRow {
  key: (typeof IDLE_CASES)[number]["key"];
  label: string;
  vkcast: Aggregate;
  original: Aggregate;
  cpuRatio: number;
  rssRatio: number;
}

export default async function idleBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const { warmup, seconds, ...p } = streamOptions(args, quick, 5);
  const { width, height, fps, quality } = p;
  const originalAt = originalDir(args);
  if (!originalAt) console.log(`  ${NO_ORIGINAL}`);
  const counter = join(tmpdir(), `vkcast-bench-idle-${process.pid}.count`);
  const specs: Record<IdleRow["key"], Record<Side, ServerSpec | null>> = {
    checks: {
      vkcast: vkcastLibrary(p, {}),
      original: originalAt ? originalDriver(p, originalAt, { whenWatched: true, encodeCounter: counter }) : null,
    },
    always: {
      vkcast: vkcastLibrary(p, { always: true }),
      original: originalAt ? originalDriver(p, originalAt, { encodeCounter: counter }) : null,
    },
    main: { vkcast: vkcastCli("vulkan", p), original: null },
  };
  try {
    const agg = await sideBySide(
      [...IDLE_CASES],
      repeat,
      (c, side: Side) => {
        const spec = specs[c.key][side];
        return spec ? measure(spec, { viewers: 0, stalled: 0, warmup, seconds }) : Promise.resolve(null);
      },
      (c, side, m, r) =>
        console.log(`  round ${r + 1} ${side.padEnd(8)} ${c.key.padEnd(6)} CPU ${m.cpuPercent.toFixed(1)}%, RSS ${m.rssMB.toFixed(0)} MB, encoded ${m.encodedPerSecond?.toFixed(1) ?? "?"}/s`),
    );
    const rows: IdleRow[] = IDLE_CASES.map((c) => {
      const { vkcast, original } = agg.get(c.key)!;
      return { key: c.key, label: c.label, vkcast, original, cpuRatio: ratio(vkcast.cpuPercent.median, original.cpuPercent.median), rssRatio: ratio(vkcast.rssMB.median, original.rssMB.median) };
    });
    console.log(`\nno viewer, ${width}x${height}, producer at ${fps} fps: server CPU (% of one core), RSS, frames encoded/s over ${seconds} s; median of ${repeat} run(s)`);
    console.log(
      table(
        ["producer", "vkcast CPU %", "original CPU %", "vkcast encoded/s", "original encoded/s", "vkcast RSS MB", "original RSS MB"],
        rows.map((r) => [r.label, r.vkcast.cpuPercent.median, r.original.cpuPercent.median, r.vkcast.encodedPerSecond?.median ?? NaN, r.original.encodedPerSecond?.median ?? NaN, r.vkcast.rssMB.median, r.original.rssMB.median]),
      ),
    );
    return {
      schema: 3,
      ...meta,
      loadAfter: loadAverage(),
      options: { width, height, fps, quality, warmup, seconds, repeat, quick },
      servers: Object.fromEntries(IDLE_CASES.map((c) => [c.key, { vkcast: specs[c.key].vkcast?.what ?? null, original: specs[c.key].original?.what ?? null }])),
      originalMeasured: originalAt !== null,
      rows,
    };
  } finally {
    await Bun.file(counter).delete().catch(() => {});
  }
}
