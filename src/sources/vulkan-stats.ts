// What a VulkanSource reports about itself: where the time of a frame went, and the validation
// layer's messages.
import type { Pointer } from "bun:ffi";
import { readCString, type VulkanLibrary } from "../vulkan/binding.ts";

/** Where the time of the last frame went, in ms. */
export interface VulkanTimings {
  /** The render pass (GPU timestamps), or submit-to-done on the CPU clock without timestamps. */
  renderMs: number;
  /** The image-to-buffer copy (GPU timestamps); 0 without timestamps (it is in renderMs then). */
  readbackMs: number;
  /** Everything else from nextFrame() until the frame is handed out: waiting for the submit thread, the
   *  1 ms polling granularity, building the Frame. wall-clock total - renderMs - readbackMs. */
  handoffMs: number;
  /** nextFrame() from the submit to the resolved frame (excluding waits for a free slot or a resize). */
  totalMs: number;
  /** CPU time the library's thread spent in vkQueueSubmit (lavapipe runs most of the frame there). */
  submitMs: number;
  /** True when renderMs/readbackMs come from GPU timestamps. */
  gpuTimestamps: boolean;
}

/**
 * The timings of a frame that took `totalMs` from submit to hand-out, from what vkc_frame_times
 * wrote into `times` (render, readback, submit ms) and returned (`gpu`: the first two are GPU times).
 */
export function frameTimings(times: Float64Array, gpu: boolean, totalMs: number): VulkanTimings {
  const renderMs = gpu ? times[0]! : totalMs;
  const readbackMs = gpu ? times[1]! : 0;
  return {
    renderMs,
    readbackMs,
    handoffMs: Math.max(0, totalMs - renderMs - readbackMs),
    totalMs,
    submitMs: times[2]!,
    gpuTimestamps: gpu,
  };
}

export interface ValidationMessages {
  errors: number;
  warnings: number;
  /** The first few error and warning texts. */
  messages: string[];
}

/** The validation messages the context has seen so far (zeros when validation is off). */
export function readValidationMessages(lib: VulkanLibrary, ctx: Pointer): ValidationMessages {
  const counts = new Int32Array(3);
  lib.vkc_message_counts(ctx, counts);
  const messages: string[] = [];
  const buf = new Uint8Array(2048);
  for (let i = 0; i < counts[2]!; i++) if (lib.vkc_message_text(ctx, i, buf, buf.length)) messages.push(readCString(buf));
  return { errors: counts[0]!, warnings: counts[1]!, messages };
}
