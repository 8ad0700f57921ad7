// What an encoder backend is. Types only: loading is in load.ts, the backends in turbo.ts and napi.ts.
import type { PixelFormat } from "../frame.ts";

/** The codec a backend writes. A second codec (H.264) joins as another kind with its own backends. */
export type EncoderKind = "jpeg";
/** The JPEG backends: libjpeg-turbo through bun:ffi, or @napi-rs/image. */
export type EncoderName = "turbo" | "napi";
export type EncoderChoice = EncoderName | "auto";
export const ENCODER_CHOICES: readonly EncoderChoice[] = ["auto", "turbo", "napi"];

/** Pixels as the encoder reads them: a view over the frame's memory, no copy. */
export interface RawImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
}

export interface JpegBackend {
  readonly kind: "jpeg";
  readonly name: EncoderName;
  /**
   * Encodes `image` at `quality` (1-100) into a plain JPEG. The result may be a view over the
   * backend's own buffer, valid until its next encode: the caller copies it out (once).
   */
  encode(image: RawImage, quality: number): Uint8Array;
}

/** Any backend; each codec adds its own interface here, told apart by `kind`. */
export type EncoderBackend = JpegBackend;
