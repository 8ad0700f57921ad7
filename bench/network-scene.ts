// The network benchmark's frames and what a viewer saw of them. Both servers are fed the same ring of
// the built-in scene (rendered ahead with Vulkan, else the synthetic source's ring) with the scene on the
// wall clock (bench/library-server.ts --ring-file, bench/original.py --ring-file): a received frame's
// capture time says which frame of the ring it was, so its SSIM is taken against exactly that frame.
import { join } from "node:path";
import { InputState } from "../src/input-state.ts";
import { makeRing } from "../src/sources/synthetic.ts";
import { ssim } from "../test/helpers/ffmpeg.ts";
import { ringIndex } from "./lib.ts";

export interface Scene {
  source: "vulkan" | "synthetic";
  /** The Vulkan device that rendered it, or why there was none. */
  device: string;
  frames: Uint8Array[];
}

/** `count` frames of the built-in Vulkan scene at t = k / fps (no input), else the synthetic ring. */
export async function renderScene(width: number, height: number, fps: number, count: number): Promise<Scene> {
  let vulkan;
  try {
    const { VulkanSource } = await import("../src/sources/vulkan.ts");
    vulkan = await VulkanSource.create({ width, height });
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    return { source: "synthetic", device: `no Vulkan: ${why}`, frames: makeRing(width, height, count) };
  }
  const input = new InputState();
  const frames: Uint8Array[] = [];
  try {
    for (let k = 0; k < count; k++) {
      const frame = await vulkan.nextFrame(k / fps, input);
      frames.push(frame.pixels.slice(0, width * height * 4));
      frame.release?.();
    }
    return { source: "vulkan", device: vulkan.device, frames };
  } finally {
    vulkan.close();
  }
}

/** Sampled frames of one viewer at one scale, as bench/network-viewers.ts wrote them. */
export interface SampleGroup {
  file: string;
  scale: number;
  captureTimes: number[];
}

/**
 * SSIM (ffmpeg, all planes) of what a viewer received against the frames that were rendered, the smaller
 * tier scaled up as the page draws it; the mean over the sampled frames, NaN when none was sampled.
 */
export async function viewedSsim(scene: Scene, width: number, height: number, fps: number, groups: SampleGroup[], dir: string): Promise<number> {
  let sum = 0;
  let n = 0;
  for (const g of groups) {
    const reference = join(dir, `reference-${g.scale}.rgba`);
    const rendered = g.captureTimes.map((t) => scene.frames[ringIndex(t, fps, scene.frames.length)]! as Uint8Array<ArrayBuffer>);
    await Bun.write(reference, new Blob(rendered));
    const { perFrame } = await ssim(reference, width, height, g.file, "mjpeg", { upscale: g.scale !== 1 });
    sum += perFrame.reduce((a, b) => a + b, 0);
    n += perFrame.length;
  }
  return n ? sum / n : NaN;
}
