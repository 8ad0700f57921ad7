// What an encoder backend is. Types only: loading is in load.ts, the backends in turbo.ts and napi.ts.
import type { GpuFrame, PixelFormat } from "../frame.ts";

/** The codec a backend writes. */
export type EncoderKind = "jpeg" | "h264";
export const CODECS: readonly EncoderKind[] = ["jpeg", "h264"];
/** The JPEG backends: libjpeg-turbo through bun:ffi, @napi-rs/image, or nvJPEG on an NVIDIA GPU. */
export type EncoderName = "turbo" | "napi" | "nvjpeg";
export type EncoderChoice = EncoderName | "auto";
/** Any backend's name: a JPEG one, or OpenH264. */
export type BackendName = EncoderName | "openh264";
export const ENCODER_CHOICES: readonly EncoderChoice[] = ["auto", "turbo", "napi", "nvjpeg"];

/** Pixels as the encoder reads them: a view over the frame's memory, no copy. */
export interface RawImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
  /** The frame is in GPU memory (then `pixels` is empty): only nvJPEG encodes it. */
  gpu?: GpuFrame;
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

/** One access unit of an H.264 stream (Annex B). */
export interface H264Frame {
  data: Uint8Array;
  /** An IDR, with SPS and PPS: a decoder may start here. */
  idr: boolean;
  /** 0: others refer to it; 1: nothing does, a viewer may skip it. */
  temporalId: number;
  /** The coded size (the frame's, rounded down to even numbers). */
  width: number;
  height: number;
}

/** The H.264 backend (OpenH264): stateful, one stream per backend, so one Worker per stream. */
export interface H264Backend {
  readonly kind: "h264";
  readonly name: "openh264";
  /**
   * Encodes the stream's next frame at about the SSIM of JPEG `quality`; an IDR when `idr` or the size
   * changed. `onRead` runs once the pixels are no longer needed (converted to the encoder's own picture).
   */
  encode(image: RawImage, quality: number, idr: boolean, onRead: () => void): H264Frame;
}

/** Any backend, told apart by `kind`. */
export type EncoderBackend = JpegBackend | H264Backend;
