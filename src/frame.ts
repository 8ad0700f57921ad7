// What a frame source hands to the server, and what the encoder reads in place.
import type { InputState } from "./input-state.ts";
import { checkInt } from "./limits.ts";

/** Byte order of one pixel in memory (4 bytes, or 3 for rgb). Every encoder takes them without a swizzle. */
export type PackedPixelFormat = "rgba" | "bgra" | "rgb";
/**
 * How the pixels lie in memory: packed pixels, or YCbCr 4:2:0 planes as `yuv420Layout` places them
 * (libjpeg-turbo's conversion, done by the Vulkan source on a GPU: 3/8 of the bytes of RGBA, and the
 * encoder skips its own conversion).
 */
export type PixelFormat = PackedPixelFormat | "yuv420";

export const PIXEL_FORMATS: readonly PixelFormat[] = ["rgba", "bgra", "rgb", "yuv420"];
export const BYTES_PER_PIXEL: Readonly<Record<PackedPixelFormat, number>> = { rgba: 4, bgra: 4, rgb: 3 };

/** Where the three planes of a 4:2:0 frame lie in one buffer (bytes). */
export interface Yuv420Layout {
  yOffset: number;
  uOffset: number;
  vOffset: number;
  yPitch: number;
  cPitch: number;
  /** The whole buffer. */
  bytes: number;
}

/**
 * The 4:2:0 layout (as vkcast_vk.h's VKC_OUTPUT_YUV420): Y rows padded to 8 bytes, an even number of
 * them (libjpeg-turbo's YUV format: an odd last row is repeated), then U and V rows of half that pitch.
 */
export function yuv420Layout(width: number, height: number): Yuv420Layout {
  const yPitch = Math.ceil(width / 8) * 8;
  const cPitch = yPitch / 2;
  const cRows = Math.ceil(height / 2);
  const uOffset = yPitch * cRows * 2;
  const vOffset = uOffset + cPitch * cRows;
  return { yOffset: 0, uOffset, vOffset, yPitch, cPitch, bytes: vOffset + cPitch * cRows };
}

/**
 * A frame that stays in GPU memory (4:2:0 planes at `offset`), exported by the Vulkan source as an fd
 * for an encoder on the same GPU (nvJPEG) to import: nothing is read back to the host.
 */
export interface GpuFrame {
  /** The exporter's fd (it stays open while the frame is held); an importer takes a duplicate. */
  fd: number;
  /** The size of the whole exported allocation. */
  allocationBytes: number;
  /** The allocation is a dedicated one (the importer must say so). */
  dedicated: boolean;
  /** Changes whenever the exporter re-creates its memory: imports of older generations are stale. */
  generation: number;
  offset: number;
}

/**
 * One frame of pixels (4 bytes each, 3 for rgb, or 4:2:0 planes). The encoder Worker reads `pixels` in place
 * through its address, so the memory must not change until `release` is called (once: after the encode, or
 * when dropped).
 */
export interface Frame {
  pixels: Uint8Array;
  width: number;
  height: number;
  /** Bytes per row of packed pixels; defaults to width * bytes per pixel. */
  stride?: number;
  format?: PixelFormat;
  /** Wall-clock time the frame was captured, in ms since the epoch; defaults to the push time. */
  captureTime?: number;
  /** Set when the pixels stay in GPU memory: then `pixels` is empty and `contentHash` tells unchanged frames apart. */
  gpu?: GpuFrame;
  /** A hash of what the picture shows, for frames whose pixels the host cannot hash (`gpu`). */
  contentHash?: bigint;
  /** Where the source spent this frame's time, when it knows (the Vulkan source does). */
  stages?: SourceStages;
  release?: () => void;
}

/** A frame's time in its source, in ms: /api/stats `stages` and /metrics `vkcast_stage_seconds`. */
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

/**
 * A bare RGBA array as a frame of the stream's current size, which follows every push and resize: one
 * of any other length would be garbage, so it is refused with a RangeError naming both sizes.
 */
export function bareFrame(pixels: Uint8Array, width: number, height: number): Frame {
  const need = width * height * 4;
  if (pixels.byteLength !== need) {
    throw new RangeError(
      `frame.pixels holds ${pixels.byteLength} bytes, but a bare Uint8Array must be RGBA at the stream's current size ` +
        `${width}x${height} (${need} bytes); push { pixels, width, height } for another size`,
    );
  }
  return { pixels, width, height };
}

/** Throws a TypeError/RangeError naming the field when a pushed frame is malformed. */
export function checkFrame(f: Frame): void {
  if (!(f.pixels instanceof Uint8Array)) throw new TypeError("frame.pixels must be a Uint8Array");
  checkInt("width", f.width, "frame.width");
  checkInt("height", f.height, "frame.height");
  if (f.format !== undefined && !PIXEL_FORMATS.includes(f.format)) throw new RangeError("frame.format must be rgba, bgra, rgb or yuv420");
  if (f.gpu !== undefined) return checkGpuFrame(f);
  const format = f.format ?? "rgba";
  let need: number;
  if (format === "yuv420") {
    need = yuv420Layout(f.width, f.height).bytes;
  } else {
    const rowBytes = f.width * BYTES_PER_PIXEL[format];
    const stride = f.stride ?? rowBytes;
    if (!Number.isInteger(stride) || stride < rowBytes) throw new RangeError("frame.stride must be an integer >= width * bytes per pixel");
    need = stride * (f.height - 1) + rowBytes;
  }
  if (f.pixels.byteLength < need) {
    throw new RangeError(`frame.pixels holds ${f.pixels.byteLength} bytes; ${f.width}x${f.height} needs ${need}`);
  }
}

function checkGpuFrame(f: Frame): void {
  const g = f.gpu!;
  if (f.format !== "yuv420") throw new RangeError("frame.format must be yuv420 for a frame in GPU memory");
  for (const key of ["fd", "allocationBytes", "generation", "offset"] as const) {
    if (!Number.isInteger(g[key]) || g[key] < 0) throw new RangeError(`frame.gpu.${key} must be an integer >= 0`);
  }
  if (g.offset + yuv420Layout(f.width, f.height).bytes > g.allocationBytes) throw new RangeError("frame.gpu.allocationBytes is too small");
  if (typeof f.contentHash !== "bigint") throw new TypeError("frame.contentHash must be a bigint for a frame in GPU memory");
}
