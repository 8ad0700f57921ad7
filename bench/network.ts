// Viewers behind a shaped link (bench/shaper.ts: a TCP proxy on loopback with a bandwidth, a one-way
// delay and a loss rate per profile), vkcast beside the original through the same shaper, 720p at 30 fps.
// Per profile and server: one viewer through the link and one on loopback beside it (bench/network-viewers.ts,
// a separate process): fps, capture -> receive latency p50/p99, the tier each frame came in (vkcast) and the
// SSIM of what each viewer received against what was rendered (ffmpeg). Both servers are fed the same ring
// of the built-in scene (bench/network-scene.ts) by a producer loop: vkcast's library API
// (bench/library-server.ts --ring-file), the original's own server (bench/original.py --stamp --ring-file).
// Then input -> display in Chromium through the same link, vkcast only: `bun run index.ts` (the scene live,
// answering input) and the page's own measurement (bench/network-browser.ts says why not the original).
//
// Options: --profiles=NAME,...|all (DEFAULT_PROFILES; 8mbit-20ms with --quick; all: every one of bench/shaper.ts),
// --size=1280x720, --fps=30, --quality=85, --warmup=S (4; 2 with --quick), --seconds=S (4; 2 with --quick),
// --samples=N frames per viewer for SSIM (20; 8 with --quick), --inputs=N key presses per page (8; 4 with --quick),
// --repeat=N, --quick, --original=DIR.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { launchChromium } from "../test/helpers/browser.ts";
import { inputToDisplay } from "./network-browser.ts";
import { renderScene, type Scene, viewedSsim } from "./network-scene.ts";
import { common, loadAverage, option, spread, type Spread, stamp, table } from "./lib.ts";
import { tierCell } from "./report.ts";
import { NO_ORIGINAL, originalDir, originalDriver, type ServerSpec, type Side, startServer, streamOptions, vkcastCli, vkcastLibrary } from "./servers.ts";
import { type LinkProfile, PROFILES, startShaper } from "./shaper.ts";

/** The bar of issue 18, at 8 Mbit/s with 20 ms each way; the loopback viewer beside it keeps the full rate and quality. */
export const NETWORK_BAR = { profile: "8mbit-20ms", fps: 20, latencyP50: 150, latencyP99: 400, loopbackFps: 30, loopbackQuality: 85 };
const RING_FRAMES = 30;
/** The links of issue 18 and of its bar, and one with loss: a full run of a few minutes (`--profiles=all` for every one). */
const DEFAULT_PROFILES = ["50mbit-10ms", "10mbit-25ms", "8mbit-20ms", "3mbit-50ms", "10mbit-25ms-loss1"];

type ViewerReport = {
  fps: number;
  latencyP50: number;
  latencyP99: number;
  tierFrames: Record<string, number>;
  statedTiers: string[];
  qualityP50: number | null;
  samples: { file: string; scale: number; captureTimes: number[] }[];
};
type Run = { shaped: ViewerReport & { ssim: number }; loopback: ViewerReport & { ssim: number } };

/** One viewer's figures over the runs; tiers as shares of all frames received in the windows. */
export interface ViewerAggregate {
  fps: Spread;
  latencyP50: Spread;
  latencyP99: Spread;
  ssim: Spread;
  qualityP50: Spread;
  tiers: Record<string, number>;
  /** The tier (and why) the server's stats named last, in the last run. */
  statedTier: string | null;
}

export interface NetworkRow {
  profile: string;
  link: LinkProfile;
  vkcast: (SideAggregate & { inputToDisplayP50: Spread; inputs: number; inputSamples: number[]; inputErrors: string[] }) | null;
  original: SideAggregate | null;
}
type SideAggregate = { shaped: ViewerAggregate; loopback: ViewerAggregate };
/** What one profile gathered over the rounds; inputSamples: the delays the page measured per run (of `inputs` asked for). */
type Gathered = { vkcast: Run[]; original: Run[]; inputToDisplay: number[]; inputSamples: number[]; inputErrors: string[] };

function aggregateViewer(runs: (ViewerReport & { ssim: number })[]): ViewerAggregate {
  const s = (f: (r: ViewerReport & { ssim: number }) => number | null) => spread(runs.map((r) => f(r) ?? NaN));
  const counts: Record<string, number> = {};
  for (const r of runs) for (const [tier, n] of Object.entries(r.tierFrames)) counts[tier] = (counts[tier] ?? 0) + n;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return {
    fps: s((r) => r.fps),
    latencyP50: s((r) => r.latencyP50),
    latencyP99: s((r) => r.latencyP99),
    ssim: s((r) => r.ssim),
    qualityP50: s((r) => r.qualityP50),
    tiers: Object.fromEntries(Object.entries(counts).map(([tier, n]) => [tier, n / total])),
    statedTier: runs.at(-1)?.statedTiers.at(-1) ?? null,
  };
}

/** A fresh server, a shaper in front of it, the two viewers for one window, then SSIM of what they got. */
async function measureLink(spec: ServerSpec, profile: LinkProfile, scene: Scene, o: Options): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "vkcast-network-"));
  const server = await startServer(spec);
  const shaper = await startShaper({ host: "127.0.0.1", port: server.port }, profile);
  try {
    const path = spec.side === "vkcast" ? "/ws?v=2" : "/ws";
    const proc = Bun.spawn(
      ["bun", join(import.meta.dir, "network-viewers.ts"), `ws://127.0.0.1:${shaper.port}${path}`, `ws://127.0.0.1:${server.port}${path}`,
        `${o.warmup}`, `${o.seconds}`, dir, `${o.samples}`],
      { stdout: "pipe", stderr: "inherit" },
    );
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    if (code !== 0) throw new Error(`the viewers failed against ${spec.what} through ${profile.name}; server stderr:\n${server.stderr()}`);
    // A figure of no frames (a latency of none) comes as null in JSON: NaN again, as the aggregates expect.
    const got = JSON.parse(out.trim().split("\n").at(-1)!, (_k, v) => (v === null ? NaN : v)) as { shaped: ViewerReport; loopback: ViewerReport };
    const ssimOf = (v: ViewerReport) => viewedSsim(scene, o.width, o.height, o.fps, v.samples, dir);
    return { shaped: { ...got.shaped, ssim: await ssimOf(got.shaped) }, loopback: { ...got.loopback, ssim: await ssimOf(got.loopback) } };
  } finally {
    await shaper.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Options = ReturnType<typeof streamOptions> & { samples: number; inputs: number };

export default async function networkBench(args: string[]) {
  const { quick, repeat } = common(args);
  const meta = await stamp();
  const o: Options = {
    ...streamOptions(args, quick, 4),
    // Long enough for a viewer on the slowest link to get past its first frames, sent before its link was known.
    warmup: Number(option(args, "warmup", quick ? "2" : "4")),
    samples: Number(option(args, "samples", quick ? "8" : "20")),
    inputs: Number(option(args, "inputs", quick ? "4" : "8")),
  };
  const asked = option(args, "profiles", quick ? NETWORK_BAR.profile : DEFAULT_PROFILES.join(","));
  const names = (asked === "all" ? Object.keys(PROFILES).join(",") : asked).split(",").filter(Boolean);
  const unknown = names.filter((n) => !PROFILES[n]);
  if (unknown.length) throw new Error(`--profiles: unknown ${unknown.join(", ")} (one of ${Object.keys(PROFILES).join(", ")})`);
  const profiles = names.map((n) => PROFILES[n]!);
  const originalAt = originalDir(args);
  if (!originalAt) console.log(`  ${NO_ORIGINAL}`);

  const scene = await renderScene(o.width, o.height, o.fps, RING_FRAMES);
  console.log(`  scene: ${scene.source === "vulkan" ? `the built-in Vulkan scene on ${scene.device}` : `synthetic (${scene.device})`}, ${RING_FRAMES} frames`);
  const sceneDir = mkdtempSync(join(tmpdir(), "vkcast-network-scene-"));
  const ringFile = join(sceneDir, "ring.rgba");
  await Bun.write(ringFile, new Blob(scene.frames as Uint8Array<ArrayBuffer>[]));
  const spec: Record<Side, ServerSpec | null> = {
    vkcast: vkcastLibrary(o, { ringFile }),
    original: originalAt ? originalDriver(o, originalAt, { stamp: true, ringFile }) : null,
  };
  const live = vkcastCli(scene.source, o);

  const runs = new Map<string, Gathered>(profiles.map((p) => [p.name, { vkcast: [], original: [], inputToDisplay: [], inputSamples: [], inputErrors: [] }]));
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    for (let r = 0; r < repeat; r++) {
      for (const profile of profiles) {
        const into = runs.get(profile.name)!;
        // Alternate which side goes first, so neither always runs on the warmer/cooler machine.
        for (const side of (r % 2 === 0 ? ["vkcast", "original"] : ["original", "vkcast"]) as Side[]) {
          if (!spec[side]) continue;
          const m = await measureLink(spec[side], profile, scene, o);
          into[side].push(m);
          console.log(
            `  round ${r + 1} ${side.padEnd(8)} ${profile.name.padEnd(17)}: ${m.shaped.fps.toFixed(1)} fps, p50 ${m.shaped.latencyP50.toFixed(0)} ms, ` +
              `p99 ${m.shaped.latencyP99.toFixed(0)} ms, SSIM ${m.shaped.ssim.toFixed(3)}, tiers ${JSON.stringify(m.shaped.tierFrames)}; ` +
              `loopback ${m.loopback.fps.toFixed(1)} fps, SSIM ${m.loopback.ssim.toFixed(3)}`,
          );
        }
        // A page that measured nothing costs this figure, not the others already taken.
        const page = await inputToDisplay(browser, live, profile, o).catch((err: Error) => {
          into.inputErrors.push(err.message.split("\n")[0]!);
          return { p50: NaN, samples: [] };
        });
        into.inputToDisplay.push(page.p50);
        into.inputSamples.push(page.samples.length);
        console.log(
          `  round ${r + 1} chromium ${profile.name.padEnd(17)}: input -> display p50 ${page.p50.toFixed(0)} ms over ${page.samples.length} input(s)` +
            (page.samples.length ? "" : ` (${into.inputErrors.at(-1) ?? "the page measured none"})`),
        );
      }
    }
  } finally {
    await browser?.close();
    rmSync(sceneDir, { recursive: true, force: true });
  }

  const side = (rs: Run[]): SideAggregate | null =>
    rs.length ? { shaped: aggregateViewer(rs.map((x) => x.shaped)), loopback: aggregateViewer(rs.map((x) => x.loopback)) } : null;
  const rows: NetworkRow[] = profiles.map((link) => {
    const got = runs.get(link.name)!;
    const v = side(got.vkcast);
    const input = { inputToDisplayP50: spread(got.inputToDisplay), inputs: o.inputs, inputSamples: got.inputSamples, inputErrors: got.inputErrors };
    return { profile: link.name, link, vkcast: v && { ...v, ...input }, original: side(got.original) };
  });
  console.log(`\nthrough the shaped link, ${o.width}x${o.height} q${o.quality} at ${o.fps} fps; median of ${repeat} run(s)`);
  console.log(
    table(
      ["profile", "server", "fps", "p50 ms", "p99 ms", "tier", "SSIM", "input->display p50 ms", "loopback fps", "loopback q", "loopback SSIM"],
      rows.flatMap((row) =>
        (["vkcast", "original"] as const).flatMap((name) => {
          const x = row[name];
          if (!x) return [];
          return [[row.profile, name, x.shaped.fps.median, x.shaped.latencyP50.median, x.shaped.latencyP99.median, tierCell(x.shaped.tiers),
            x.shaped.ssim.median.toFixed(3), name === "vkcast" ? row.vkcast!.inputToDisplayP50.median : NaN, x.loopback.fps.median,
            x.loopback.qualityP50.median, x.loopback.ssim.median.toFixed(3)]];
        }),
      ),
    ),
  );
  return {
    schema: 1,
    ...meta,
    loadAfter: loadAverage(),
    options: { ...o, repeat, quick, profiles: names },
    scene: { source: scene.source, device: scene.device, frames: RING_FRAMES },
    servers: { vkcast: spec.vkcast!.what, original: spec.original?.what ?? null, browser: live.what },
    originalMeasured: originalAt !== null,
    bar: NETWORK_BAR,
    rows,
  };
}
