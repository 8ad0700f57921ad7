// An encoder Worker: reads a frame through its address, encodes it, and transfers the result back.
// The backend returns the bare encoding; this file makes the one copy of it, writing the frame
// metadata into it as it copies (a JPEG COM segment, or its H.264 twin, an SEI NAL unit). The copy is
// also what can be transferred: turbo's output buffer is reused, and @napi-rs/image's Buffer cannot be
// transferred between threads.
import { toArrayBuffer } from "bun:ffi";
import type { EncoderBackend, RawImage } from "./backend.ts";
import { halve } from "./downscale.ts";
import { buildSeiNal, insertSei } from "./h264-sei.ts";
import { copyWithComment } from "./jpeg-comment.ts";
import { loadH264Backend, loadJpegBackend } from "./load.ts";
import type { EncodeJob, FromWorker, ToWorker } from "./protocol.ts";

declare const self: Worker;

let backend: EncoderBackend | null = null;
const textEncoder = new TextEncoder();
// One view per frame buffer (address, length), made once: each toArrayBuffer call costs ~26 µs.
const views = new Map<string, Uint8Array>();

function viewOf(address: number, byteLength: number): Uint8Array {
  const key = `${address}:${byteLength}`;
  let view = views.get(key);
  if (!view) {
    if (views.size >= 64) views.clear();
    view = new Uint8Array(toArrayBuffer(address, 0, byteLength));
    views.set(key, view);
  }
  return view;
}

function post(msg: FromWorker, transfer?: Transferable[]) {
  self.postMessage(msg, transfer ?? []);
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  if (msg.type === "init") {
    try {
      backend = msg.codec === "h264" ? await loadH264Backend(msg.fps) : await loadJpegBackend(msg.encoder, msg.cudaDevice);
      post({ type: "ready", encoder: backend.name });
    } catch (err) {
      post({ type: "init-failed", error: String(err instanceof Error ? err.message : err) });
    }
    return;
  }
  const seq = msg.meta.seq;
  try {
    if (!backend) throw new Error("encoder not initialised");
    const started = performance.now();
    const image = {
      pixels: msg.gpu ? new Uint8Array(0) : viewOf(msg.address, msg.byteLength),
      width: msg.width,
      height: msg.height,
      stride: msg.stride,
      format: msg.format,
      gpu: msg.gpu,
    };
    const { data, idr, temporalId } = encode(backend, msg, image);
    const encodeMs = performance.now() - started;
    post({ type: "encoded", seq, data: data.buffer as ArrayBuffer, encodeMs, idr, temporalId }, [data.buffer]);
  } catch (err) {
    post({ type: "failed", seq, error: String(err instanceof Error ? err.message : err) });
  }
};

/** Encodes and frames one job: the metadata JSON says the size that was coded. */
function encode(backend: EncoderBackend, job: EncodeJob, image: RawImage) {
  const metadata = (w: number, h: number) => textEncoder.encode(JSON.stringify({ ...job.meta, w, h }));
  if (backend.kind === "jpeg") {
    // A smaller tier (meta.s 0.5) is encoded from the frame halved.
    const coded = job.meta.s === 0.5 ? halve(image) : image;
    const data = copyWithComment(backend.encode(coded, job.meta.q), metadata(coded.width, coded.height));
    return { data, idr: false, temporalId: 0 };
  }
  // The frame's memory may be reused as soon as the encoder has its own copy (I420): say so at once.
  const frame = backend.encode(image, job.meta.q, job.idr ?? false, () => post({ type: "read", seq: job.meta.seq }));
  return { data: insertSei(frame.data, buildSeiNal(metadata(frame.width, frame.height))), idr: frame.idr, temporalId: frame.temporalId };
}
