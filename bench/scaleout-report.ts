// The scale-out section of BENCHMARKS.md, from `bun run bench scaleout` (bench/scaleout.ts) in latest.json.
import { fmt, table } from "./lib.ts";
import type { ScaleoutWindow } from "./scaleout.ts";

type Scaleout = {
  schema: number;
  date: string;
  loadBefore?: number;
  loadAfter?: number;
  machine: { cores: number; cpu: string };
  device: string;
  options: { edges: number; width: number; height: number; fps: number; quality: number; source: string; seconds: number; repeat: number; quick: boolean };
  viewersPerEdgeAt27fps: number;
  rows: ScaleoutWindow[];
  firstFreshFrameMs: { median: number; p90: number; max: number; n: number };
};

const n = (x: number | null | undefined) => (typeof x === "number" && Number.isFinite(x) ? fmt(x) : "n/a");

export function scaleoutSection(result: unknown): string {
  const r = result as Scaleout | undefined;
  if (r?.schema !== 1) return "";
  const o = r.options;
  const edges = Array.from({ length: o.edges }, (_, i) => `edge${i + 1}`);
  return [
    "## Scale-out over NATS",
    "",
    `One origin (${o.source === "vulkan" ? "the Vulkan scene" : "the synthetic source"} on ${r.device}, ${o.width}x${o.height} q${o.quality} at ${o.fps} fps), ` +
      `${o.edges} edges and a nats-server (Debian's), all on this machine (${r.machine.cores} cores, ${r.machine.cpu}), viewers in one process per edge; ` +
      `${o.seconds} s windows, median of ${o.repeat} run(s)${o.quick ? " (**--quick: a smoke run**)" : ""}, ${r.date.slice(0, 10)}, ` +
      `1-minute load ${r.loadBefore ?? "?"}–${r.loadAfter ?? "?"}. CPU in % of one core. The hop is the same frame timed at a viewer of an edge ` +
      "minus at a viewer of the origin (both in one process): what publishing on NATS, the broker and the edge add.",
    "",
    table(
      ["viewers per edge", "fps", "worst viewer fps", "capture→viewer p50 / p99 ms", "hop p50 / p99 ms", "Mbit/s per viewer", "egress per edge Mbit/s", "origin CPU %", ...edges.map((e) => `${e} CPU %`), "broker CPU %", "broker CPU ms per frame"],
      r.rows.map((row) => [
        row.viewersPerEdge,
        n(row.fps),
        n(row.worstViewerFps),
        `${n(row.latencyP50)} / ${n(row.latencyP99)}`,
        `${n(row.hopP50)} / ${n(row.hopP99)}`,
        n(row.viewerMbit),
        n(row.edgeEgressMbit),
        n(row.cpu.origin),
        ...edges.map((e) => n(row.cpu[e])),
        n(row.cpu.broker),
        n(row.brokerCpuMsPerFrame),
      ]),
    ),
    "",
    `- Viewers per edge with every viewer at ≥ 27 fps: **${r.viewersPerEdgeAt27fps}** (the most of those measured).`,
    `- First viewer at an idle edge → its first freshly rendered frame: p50 ${n(r.firstFreshFrameMs.median)} ms, ` +
      `p90 ${n(r.firstFreshFrameMs.p90)} ms, max ${n(r.firstFreshFrameMs.max)} ms over ${r.firstFreshFrameMs.n} runs.`,
    "- The capacity plan for 10,000 viewers built on these figures: [docs/capacity.md](docs/capacity.md).",
    "",
  ].join("\n");
}
