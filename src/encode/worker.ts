// An encoder Worker: reads a frame through its address, encodes it, and transfers the JPEG back.
// The frame metadata rides in a COM segment right after SOI, so every decoder still reads the frame.
import { toArrayBuffer } from "bun:ffi";
import { type JpegBackend, loadBackend } from "./backend.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

declare const self: Worker;

let backend: JpegBackend | null = null;
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
      backend = await loadBackend(msg.encoder);
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
    const comment = textEncoder.encode(JSON.stringify(msg.meta));
    const image = {
      pixels: viewOf(msg.address, msg.byteLength),
      width: msg.width,
      height: msg.height,
      stride: msg.stride,
      format: msg.format,
    };
    const jpeg = backend.encode(image, msg.meta.q, 4 + comment.length);
    jpeg[2] = 0xff; // COM marker, then its big-endian length (which counts the two length bytes)
    jpeg[3] = 0xfe;
    jpeg[4] = (comment.length + 2) >> 8;
    jpeg[5] = (comment.length + 2) & 0xff;
    jpeg.set(comment, 6);
    post({ type: "encoded", seq, jpeg: jpeg.buffer as ArrayBuffer, encodeMs: performance.now() - started }, [jpeg.buffer]);
  } catch (err) {
    post({ type: "failed", seq, error: String(err instanceof Error ? err.message : err) });
  }
};
