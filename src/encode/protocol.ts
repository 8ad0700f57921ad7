// Messages between the server thread and an encoder Worker.
import type { GpuFrame, PixelFormat } from "../frame.ts";
import type { AppliedInput } from "../protocol/viewer-messages.ts";
import type { BackendName, EncoderChoice } from "./backend.ts";

export interface FrameMeta {
  seq: number;
  /** Capture time, ms since the epoch. */
  t: number;
  w: number;
  h: number;
  q: number;
  /** The scale it was encoded at, when not 1 (a smaller tier): w and h stay the frame's own size. */
  s?: number;
  /** The input applied before the frame was rendered, by viewer; absent before any input with a seq. */
  in?: AppliedInput;
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
  /** The frame is in GPU memory (address and byteLength are 0). */
  gpu?: GpuFrame;
  meta: FrameMeta;
  /** H.264: make this frame an IDR. */
  idr?: boolean;
}

/** What a Worker loads: a JPEG backend, or one stream's H.264 encoder. */
export type WorkerInit =
  | { type: "init"; codec: "jpeg"; encoder: EncoderChoice; cudaDevice?: string }
  | { type: "init"; codec: "h264"; fps: number };

export type ToWorker = WorkerInit | EncodeJob;

export type FromWorker =
  | { type: "ready"; encoder: BackendName }
  | { type: "init-failed"; error: string }
  | { type: "encoded"; seq: number; data: ArrayBuffer; encodeMs: number; idr: boolean; temporalId: number }
  /** H.264: the Worker has read the frame (converted it to its own picture); the encode goes on. */
  | { type: "read"; seq: number }
  | { type: "failed"; seq: number; error: string };
