// Messages between the server thread and an encoder Worker.
import type { PixelFormat } from "../frame.ts";
import type { EncoderChoice, EncoderName } from "./backend.ts";

export interface FrameMeta {
  seq: number;
  /** Capture time, ms since the epoch. */
  t: number;
  w: number;
  h: number;
  q: number;
}

export interface EncodeJob {
  type: "encode";
  /** Address of the first pixel; the Worker reads the frame in place through it. */
  address: number;
  byteLength: number;
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
  meta: FrameMeta;
}

export type ToWorker = { type: "init"; encoder: EncoderChoice } | EncodeJob;

export type FromWorker =
  | { type: "ready"; encoder: EncoderName }
  | { type: "init-failed"; error: string }
  | { type: "encoded"; seq: number; jpeg: ArrayBuffer; encodeMs: number }
  | { type: "failed"; seq: number; error: string };
