// An encoder Worker: reads a frame through its address, encodes it, and transfers the result back.
// The backend returns the bare encoding; this file makes the one copy of it, writing the frame
// metadata into it as it copies. The copy is also what can be transferred: turbo's output buffer is
// reused, and @napi-rs/image's Buffer cannot be transferred between threads.
import { toArrayBuffer } from "bun:ffi";
import type { EncoderBackend, EncoderKind } from "./backend.ts";
import { copyWithComment } from "./jpeg-comment.ts";
import { loadJpegBackend } from "./load.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

declare const self: Worker;

/** How each codec carries the metadata (H.264 would use an SEI NAL unit, the COM segment's twin). */
const COPY_WITH_METADATA: Record<EncoderKind, (encoded: Uint8Array, metadata: Uint8Array) => Uint8Array> = {
  jpeg: copyWithComment,
};

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
      backend = await loadJpegBackend(msg.encoder);
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
      pixels: viewOf(msg.address, msg.byteLength),
      width: msg.width,
      height: msg.height,
      stride: msg.stride,
      format: msg.format,
    };
    const encoded = backend.encode(image, msg.meta.q);
    const framed = COPY_WITH_METADATA[backend.kind](encoded, textEncoder.encode(JSON.stringify(msg.meta)));
    post({ type: "encoded", seq, jpeg: framed.buffer as ArrayBuffer, encodeMs: performance.now() - started }, [framed.buffer]);
  } catch (err) {
    post({ type: "failed", seq, error: String(err instanceof Error ? err.message : err) });
  }
};
