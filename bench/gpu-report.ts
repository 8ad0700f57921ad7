// The GPU server section of BENCHMARKS.md, from the raw results of the runs on a GPU machine
// (scripts/gpu/profile.sh -> bench/results/gpu-h100-profile.jsonl, scripts/gpu/final.sh ->
// bench/results/gpu-h100.jsonl). Each file holds one JSON line per result, after a {"label"} line.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fmt, table } from "./lib.ts";

const RESULTS = join(import.meta.dir, "results");

type Json = Record<string, any>;

/** The labelled results of a run, in order; unlabelled ones (the profile run's) by their mode. */
function readRun(file: string): { machine: Json | null; results: [string, Json][] } {
  const path = join(RESULTS, file);
  if (!existsSync(path)) return { machine: null, results: [] };
  let label = "";
  let machine: Json | null = null;
  const results: [string, Json][] = [];
  for (const line of readFileSync(path, "utf8").split("\n").filter(Boolean)) {
    const d = JSON.parse(line) as Json;
    if (d.machine) machine = d;
    else if (d.label !== undefined && Object.keys(d).length === 1) label = d.label;
    else results.push([label || `${d.mode} ${d.size ?? d.command ?? ""}`, d]);
  }
  return { machine, results };
}

const ms = (x: number | null | undefined) => (x === null || x === undefined ? "–" : fmt(x));
const p50 = (s: Json | undefined) => ms(s?.p50);

/** The mean over rounds of `f` for the results labelled `name` after their round ("1:after:4k60:auto"). */
function overRounds(results: [string, Json][], name: string, f: (d: Json) => number): { mean: number; all: number[] } {
  const all = results.filter(([l]) => l.replace(/^\d+:/, "") === name).map(([, d]) => f(d));
  return { mean: all.reduce((a, b) => a + b, 0) / all.length, all };
}

function streamRows(results: [string, Json][]): (string | number)[][] {
  const names = [...new Set(results.filter(([, d]) => d.mode === "stream").map(([l]) => l.replace(/^\d+:/, "")))];
  return names.map((name) => {
    const [when, size, ...how] = name.split(":");
    const one = results.find(([l]) => l.replace(/^\d+:/, "") === name)![1];
    const cell = (f: (d: Json) => number) => {
      const { mean, all } = overRounds(results, name, f);
      return all.length > 1 ? `${fmt(mean)} (${all.map(fmt).join(", ")})` : fmt(mean);
    };
    const source = how.includes("synthetic") ? "synthetic" : "Vulkan scene";
    const workers = [...new Set(overRounds(results, name, (d) => d.config.encoderWorkers ?? 2).all)].join("/");
    const encoder = `${one.config.encoder}, ${workers} Workers`;
    return [
      `${size} ${when}`,
      source,
      encoder + (how.filter((h) => h !== "synthetic").length ? ` (${how.filter((h) => h !== "synthetic").join(" ")})` : ""),
      cell((d) => d.fpsPerViewer.min),
      cell((d) => d.latencyMs.p50),
      cell((d) => d.latencyMs.p99),
      cell((d) => d.cpuPercent),
      cell((d) => d.cpuMsPerFrame),
    ];
  });
}

function stageRows(results: [string, Json][]): (string | number)[][] {
  return results
    .filter(([l, d]) => d.mode === "stream" && l.startsWith("1:after"))
    .map(([l, d]) => {
      const s = d.stats.stages as Json;
      return [l.slice(2), p50(s.renderMs), p50(s.readbackMs), p50(s.handoffMs), p50(s.ringWaitMs), p50(s.queueMs), p50(s.encodeMs), p50(s.publishMs)];
    });
}

export function gpuSection(): string {
  const profile = readRun("gpu-h100-profile.jsonl");
  const final = readRun("gpu-h100.jsonl");
  if (final.results.length === 0) return "";
  const m = final.machine;
  const out = [
    "## On a GPU server (NVIDIA H100): 4K at 60 fps",
    "",
    `**Machine:** ${m?.machine ?? "unknown"} (GPU, driver), ${m?.cores ?? "?"} cores (${m?.cpu ?? "?"}), read on the machine by ` +
      "`scripts/gpu/final.sh`. Viewers: 5, one per process (`bench/gpu.ts stream`), on the same machine. Latency is capture → " +
      "receive (the frame's COM capture time against the viewer's clock, the same clock). CPU is the server process's (all its " +
      "threads: JS, encoder Workers, the Vulkan submit thread), % of one core; CPU ms per frame = CPU seconds / frames sent. " +
      "_before_ is main at 6c9b3fe (2 encoder Workers, a 2-slot ring, RGBA readback); _after_ is this branch with its defaults " +
      "unless named. Each stream figure: the mean of 2 rounds (each round's value in brackets), 4 s warm-up, 8 s window. " +
      "Rerun: `BASE=6c9b3fe bash scripts/gpu/pack.sh`, then `bash .gpu/wt/scripts/gpu/final.sh` on the GPU machine (with `.gpu` carried).",
    "",
    "### Where 4K60 was lost (profile first)",
    "",
  ];
  const before = profile.results.find(([, d]) => d.mode === "stream" && /3840 --height 2160 --fps 60$/.test(d.command))?.[1];
  const render4k = profile.results.find(([, d]) => d.mode === "render" && d.size === "3840x2160")?.[1];
  if (before && render4k) {
    out.push(
      `Today's main at 3840x2160@60, Vulkan scene, 5 viewers (\`scripts/gpu/profile.sh\`): **${fmt(before.fpsPerViewer.min)} fps** per viewer, ` +
        `capture → receive p50 ${fmt(before.latencyMs.p50)} ms, ${fmt(before.cpuMsPerFrame)} CPU ms per frame. The stages, p50: ` +
        `the Vulkan source alone renders a 4K frame in ${fmt(render4k.renderMs.p50)} ms (GPU timestamps), reads it back in ` +
        `${fmt(render4k.readbackMs.p50)} ms and hands it over in ${fmt(render4k.handoffMs.p50)} ms (${fmt(render4k.framesPerSecond)} frames/s one at a time), ` +
        `but in the stream the engine waited ${fmt(before.stats.renderMs.p50)} ms per frame (p90 ${fmt(before.stats.renderMs.p90)}) and one ` +
        `libjpeg-turbo encode took ${fmt(before.stats.encodeMs.p50)} ms (p90 ${fmt(before.stats.encodeMs.p90)}). With 2 Workers and 2 ring ` +
        "slots each held for its encode, the engine stalls for a free slot and at most 2 frames encode at once: ~2 / 36 ms ≈ 55 fps " +
        "at best, less with the spread. Rendering, readback and publishing were never the limit; the encoders and the shallow ring were.",
      "",
    );
  }
  out.push(
    "### The Vulkan source alone, one frame at a time (`bench/gpu.ts render`, 150 frames)",
    "",
    "yuv420: the 4:2:0 conversion on the GPU before the readback (readback = copy + conversion + copy of 3/8 of the bytes). " +
      "yuv420-gpu: the planes stay on the GPU and nvJPEG encodes them there (q85); only the JPEG comes back.",
    "",
    table(
      ["size, output", "render ms", "readback ms", "hand-off ms", "nvJPEG encode ms", "total ms", "frames/s", "JPEG KB"],
      final.results
        .filter(([, d]) => d.mode === "render")
        .map(([l, d]) => [
          l.replace("render-", "").replace(/-(rgba|yuv420.*)$/, ", $1"),
          p50(d.renderMs),
          p50(d.readbackMs),
          p50(d.handoffMs),
          d.output === "yuv420-gpu" ? p50(d.encodeMs) : "–",
          p50(d.totalMs),
          d.framesPerSecond,
          d.jpegBytes ? fmt(d.jpegBytes / 1024) : "–",
        ]),
    ),
    "",
    "### Streaming to 5 viewers",
    "",
    table(["size, build", "source", "encoder", "fps per viewer (slowest)", "latency p50 ms", "p99 ms", "CPU %", "CPU ms / frame"], streamRows(final.results)),
    "",
    "Stage p50s of the _after_ streams (round 1, ms, from `/api/stats` `stages`): render and readback are GPU timestamps; " +
      "ring wait: the engine waiting for a free slot; queue: push → encoder; publish: the fan-out on the main thread.",
    "",
    table(["stream", "render", "readback", "hand-off", "ring wait", "queue", "encode", "publish"], stageRows(final.results)),
    "",
  );
  const verify = readRun("gpu-h100-verify.jsonl").results.filter(([, d]) => d.mode === "stream");
  if (verify.length) {
    const line = verify.map(([l, d]) => `${l.replace("verify:", "")} ${fmt(d.fpsPerViewer.min)} fps, p50 ${fmt(d.latencyMs.p50)} ms`).join("; ");
    out.push(`Re-checked once on main after the later merges (\`scripts/gpu/verify.sh\`, one round): ${line}.`, "");
  }
  return out.join("\n");
}

if (import.meta.main) console.log(gpuSection());
