// bun run bench [NAME...] [--repeat=N] [--quick] [bench options]: runs the named benchmarks (all when
// none is named), prints their tables, and updates bench/results/latest.json and BENCHMARKS.md (with the
// SVG charts in bench/results/). A benchmark run alone replaces only its own part of latest.json; the
// others keep their previous results (fanout also keeps the sizes it did not measure this time).
// `bun run bench report` only rewrites BENCHMARKS.md and the charts from latest.json.
import { mergeResult, writeReport } from "./report.ts";
import { NO_ORIGINAL, originalDir, OriginalNotFound } from "./servers.ts";

export const BENCHMARKS = ["encode", "render", "fanout", "latency", "stream", "idle", "static", "codec", "ingest", "scaleout", "network"] as const;
type Name = (typeof BENCHMARKS)[number];
const LATEST = `${import.meta.dir}/results/latest.json`;

const argv = process.argv.slice(2);
const asked = argv.filter((a) => !a.startsWith("--"));
const extra = argv.filter((a) => a.startsWith("--"));
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(
    [
      "usage: bun run bench [NAME...] [--repeat=N] [--quick] [options]",
      `  NAME     one of ${BENCHMARKS.join(", ")} (all when none is given), or 'report' to only rewrite BENCHMARKS.md`,
      "  --repeat=N  runs per figure (median, min, max over them); default 3",
      "  --quick     1 run and short windows: a smoke run of the pipeline, not numbers to quote",
      "  --original=DIR  the original's folder (simvx_streaming_server.py, run_seed.py), measured beside vkcast;",
      "              default $VKCAST_ORIGINAL, else ../shared/baseline beside the checkout; without it only vkcast is measured",
      "  options of one benchmark (e.g. fanout --sizes=1280x720 --viewers=1,20) are described at the top of bench/NAME.ts",
    ].join("\n"),
  );
  process.exit(0);
}
const reportOnly = asked.length === 1 && asked[0] === "report";
for (const name of reportOnly ? [] : asked) {
  if (!BENCHMARKS.includes(name as Name)) {
    console.error(`bench: unknown benchmark '${name}' (one of ${BENCHMARKS.join(", ")}, or report)`);
    process.exit(2);
  }
}

// The original is optional: say once, up front, whether it will be measured.
try {
  const at = reportOnly ? null : originalDir(extra);
  if (!reportOnly) console.log(at ? `the original: ${at}` : `note: ${NO_ORIGINAL}`);
} catch (err) {
  if (!(err instanceof OriginalNotFound)) throw err;
  console.error(`bench: ${err.message}`);
  process.exit(2);
}

type Latest = { date: string; results: Record<string, unknown> };
async function readLatest(): Promise<Latest> {
  try {
    const data = (await Bun.file(LATEST).json()) as Latest;
    if (data && typeof data.results === "object" && data.results) return data;
  } catch {}
  return { date: new Date().toISOString(), results: {} };
}

const started = performance.now();
const latest = await readLatest();
for (const name of reportOnly ? [] : asked.length ? (asked as Name[]) : BENCHMARKS) {
  console.log(`\n== ${name}`);
  const t0 = performance.now();
  const mod = (await import(`./${name}.ts`)) as { default: (args: string[]) => Promise<unknown> };
  const result = await mod.default(extra);
  latest.results[name] = mergeResult(latest.results[name], { ...(result as object), durationSeconds: Math.round((performance.now() - t0) / 1000) });
  latest.date = new Date().toISOString();
  // Written after each benchmark, so an interrupted run keeps what it measured.
  await Bun.write(LATEST, JSON.stringify(latest, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
  console.log(`(${name}: ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
const written = await writeReport(latest);
console.log(`\nwrote ${written.join(", ")} (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
