// The Vulkan source alone: ms per frame at 640x360, 1280x720 and 1920x1080, split into render (the
// render pass, GPU timestamps), readback (the image-to-buffer copy, GPU timestamps) and hand-off
// (everything else until nextFrame resolves: the submit thread, the 1 ms poll, building the Frame).
// Frames are requested one after another and released at once (no encoder): the source's own cost.
//
// Options: --frames=N (60; 20 with --quick) measured frames per size after --warmup=N (15; 5 with
// --quick); --scene=orbit|pattern. The original has no renderer (its engine hands it pixels), so there
// is no side-by-side figure here.
import { InputState } from "../src/input-state.ts";
import { VulkanSource, type VulkanScene } from "../src/sources/vulkan.ts";
import { common, loadAverage, stamp, summary, table } from "./lib.ts";

const SIZES = [
  [640, 360],
  [1280, 720],
  [1920, 1080],
] as const;

function option(args: string[], name: string, fallback: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback;
}

export default async function renderBench(args: string[]) {
  const { quick } = common(args);
  const meta = await stamp();
  const frames = Number(option(args, "frames", quick ? "20" : "60"));
  const warmup = Number(option(args, "warmup", quick ? "5" : "15"));
  const scene = option(args, "scene", "orbit") as VulkanScene;
  const input = new InputState();
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  let device = "";
  let deviceType = "";
  let gpuTimestamps = false;
  for (const [width, height] of SIZES) {
    const source = await VulkanSource.create({ width, height, scene });
    device = source.device;
    deviceType = VulkanSource.listDevices().find((d) => d.name === source.device)?.type ?? "unknown";
    const ms = { render: [] as number[], readback: [] as number[], handoff: [] as number[], total: [] as number[] };
    let t = 0;
    for (let i = 0; i < warmup; i++) (await source.nextFrame((t += 1 / 60), input)).release!();
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) {
      const frame = await source.nextFrame((t += 1 / 60), input); // the scene animates
      frame.release!();
      const s = source.lastTimings!;
      gpuTimestamps = s.gpuTimestamps;
      ms.render.push(s.renderMs);
      ms.readback.push(s.readbackMs);
      ms.handoff.push(s.handoffMs);
      ms.total.push(s.totalMs);
    }
    const fps = (frames * 1000) / (performance.now() - t0);
    source.close();
    const r = {
      width,
      height,
      render: summary(ms.render),
      readback: summary(ms.readback),
      handoff: summary(ms.handoff),
      total: summary(ms.total),
      fps,
    };
    results.push(r);
    const cell = (x: ReturnType<typeof summary>) => `${x.median.toFixed(2)} (${x.min.toFixed(2)}-${x.max.toFixed(2)})`;
    rows.push([`${width}x${height}`, cell(r.render), cell(r.readback), cell(r.handoff), cell(r.total), fps]);
  }
  console.log(
    `Vulkan source, scene "${scene}" on ${device}; ${frames} frames after ${warmup} warm-up, one at a time; ` +
      `ms median (min-max)${gpuTimestamps ? "; render and readback from GPU timestamps" : "; CPU clock"}`,
  );
  console.log(table(["size", "render ms", "readback ms", "hand-off ms", "total ms", "frames/s"], rows));
  return { schema: 2, ...meta, loadAfter: loadAverage(), device, deviceType, scene, frames, warmup, gpuTimestamps, sizes: results };
}

if (import.meta.main) await renderBench(process.argv.slice(2));
