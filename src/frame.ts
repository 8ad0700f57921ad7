// What a frame source hands to the server, and what the encoder reads in place.
import type { InputState } from "./input-state.ts";
import { checkInt } from "./limits.ts";

/** Byte order of one pixel in memory. Both encoders take RGBA without a swizzle. */
export type PixelFormat = "rgba" | "bgra" | "rgb";

export const PIXEL_FORMATS: readonly PixelFormat[] = ["rgba", "bgra", "rgb"];
export const BYTES_PER_PIXEL: Readonly<Record<PixelFormat, number>> = { rgba: 4, bgra: 4, rgb: 3 };

/**
 * One frame of pixels (4 bytes each, 3 for rgb). The encoder Worker reads `pixels` in place through its
 * address, so the memory must not change until `release` is called (once: after the encode, or when dropped).
 */
export interface Frame {
  pixels: Uint8Array;
  width: number;
  height: number;
  /** Bytes per row; defaults to width * bytes per pixel. */
  stride?: number;
  format?: PixelFormat;
  /** Wall-clock time the frame was captured, in ms since the epoch; defaults to the push time. */
  captureTime?: number;
  /** Where the source spent this frame's time, when it knows (the Vulkan source does). */
  stages?: SourceStages;
  release?: () => void;
}

/** A frame's time in its source, in ms: /api/stats `stages` and /metrics `vkcast_stage_ms`. */
export interface SourceStages {
  /** Rendering (the render pass, from GPU timestamps where the device has them). */
  renderMs: number;
  /** Getting the pixels to where the encoder reads them (the copy to host memory). */
  readbackMs: number;
  /** From the device being done to the frame handed out (polling, building the frame). */
  handoffMs: number;
  /** Waiting for a free slot before rendering could start: the ring was full of frames being encoded. */
  ringWaitMs: number;
}

/** Something that makes frames: the Vulkan renderer or the synthetic generator. */
export interface FrameSource {
  readonly name: string;
  /** Human-readable name of the device that renders (e.g. the Vulkan device), for /api/config. */
  readonly device: string;
  readonly width: number;
  readonly height: number;
  /** True once the source can render no more (e.g. its device was lost) and must be re-created. */
  readonly lost?: boolean;
  /** Produce the frame for time `t` (seconds since start) seen through `input`. */
  nextFrame(t: number, input: InputState): Promise<Frame>;
  /** Change the frame size; the next frame has the new size. */
  resize(width: number, height: number): void;
  /** Release every resource; no frame handed out may be read after its release. */
  close(): void;
  /** Frames the source may have out at once (held by encoders, plus one being rendered), where it has a limit. */
  setFramesInFlight?(count: number): void;
}

/** Throws a TypeError/RangeError naming the field when a pushed frame is malformed. */
export function checkFrame(f: Frame): void {
  if (!(f.pixels instanceof Uint8Array)) throw new TypeError("frame.pixels must be a Uint8Array");
  checkInt("width", f.width, "frame.width");
  checkInt("height", f.height, "frame.height");
  if (f.format !== undefined && !PIXEL_FORMATS.includes(f.format)) throw new RangeError("frame.format must be rgba, bgra or rgb");
  const rowBytes = f.width * BYTES_PER_PIXEL[f.format ?? "rgba"];
  const stride = f.stride ?? rowBytes;
  if (!Number.isInteger(stride) || stride < rowBytes) throw new RangeError("frame.stride must be an integer >= width * bytes per pixel");
  const need = stride * (f.height - 1) + rowBytes;
  if (f.pixels.byteLength < need) {
    throw new RangeError(`frame.pixels holds ${f.pixels.byteLength} bytes; ${f.width}x${f.height} needs ${need}`);
  }
}
