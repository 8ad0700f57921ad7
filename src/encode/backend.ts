// The two JPEG backends behind one small interface. Both run inside encoder Workers only.
import type { PixelFormat } from "../frame.ts";

export type EncoderName = "turbo" | "napi";
export type EncoderChoice = EncoderName | "auto";

/** Pixels as the encoder reads them: a view over the frame's memory, no copy. */
export interface RawImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
}

export interface JpegBackend {
  readonly name: EncoderName;
  /**
   * Encodes `image` at `quality` and returns a JPEG whose bytes `[0, 2)` are the SOI marker,
   * written into a fresh buffer that has `prefix` free bytes after the SOI (for a COM segment).
   */
  encode(image: RawImage, quality: number, prefix: number): Uint8Array;
}

/** Loads the backend asked for; "auto" prefers libjpeg-turbo and falls back to @napi-rs/image. */
export async function loadBackend(choice: EncoderChoice): Promise<JpegBackend> {
  if (!["auto", "turbo", "napi"].includes(choice)) throw new Error(`unknown JPEG encoder '${choice}'`);
  if (choice === "napi") return (await import("./napi.ts")).createNapiBackend();
  try {
    return (await import("./turbo.ts")).createTurboBackend();
  } catch (err) {
    if (choice === "turbo") throw err;
    return (await import("./napi.ts")).createNapiBackend();
  }
}

/** Copies `jpeg` (which starts with SOI) into a new buffer with `prefix` free bytes after the SOI. */
export function withRoomAfterSoi(jpeg: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(jpeg.length + prefix);
  out[0] = jpeg[0]!;
  out[1] = jpeg[1]!;
  out.set(jpeg.subarray(2), 2 + prefix);
  return out;
}
