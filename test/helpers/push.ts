// Feeds a server frames from the synthetic ring at a fixed rate, as an engine loop would.
import type { StreamingServer } from "../../src/server.ts";
import { SyntheticSource } from "../../src/sources/synthetic.ts";

export function pushFrames(server: StreamingServer, source: SyntheticSource, hz: number): () => void {
  let k = 0;
  const timer = setInterval(() => server.pushFrame({ ...source.frame(k++), captureTime: Date.now() }), 1000 / hz);
  return () => clearInterval(timer);
}

/** Decodes a JPEG for real and returns its size. */
export async function jpegSize(jpeg: Uint8Array): Promise<{ width: number; height: number }> {
  const { Transformer } = await import("@napi-rs/image");
  const meta = await new Transformer(jpeg).metadata();
  // Decoding all pixels proves the whole stream is valid, not only its header.
  const rgba = await new Transformer(jpeg).rawPixels();
  if (rgba.length < meta.width * meta.height * 3) throw new Error("decoded fewer pixels than the header says");
  return { width: meta.width, height: meta.height };
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};
