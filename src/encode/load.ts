// Loads an encoder backend inside an encoder Worker (or a test or benchmark). The backends are
// imported on demand, so a Worker that uses libjpeg-turbo never loads @napi-rs/image's native module.
import { ENCODER_CHOICES, type EncoderChoice, type H264Backend, type JpegBackend } from "./backend.ts";

/**
 * Loads the JPEG backend asked for; "auto" prefers libjpeg-turbo and falls back to @napi-rs/image (the
 * main job resolves "auto" to nvJPEG itself where that serves its render device). `cudaDevice`: the
 * UUID of the GPU nvJPEG encodes on (the first CUDA device when absent).
 */
export async function loadJpegBackend(choice: EncoderChoice, cudaDevice?: string): Promise<JpegBackend> {
  if (!ENCODER_CHOICES.includes(choice)) throw new Error(`unknown JPEG encoder '${choice}'`);
  if (choice === "napi") return (await import("./napi.ts")).createNapiBackend();
  if (choice === "nvjpeg") return (await import("./nvjpeg.ts")).createNvjpegBackend(cudaDevice);
  try {
    return (await import("./turbo.ts")).createTurboBackend();
  } catch (err) {
    if (choice === "turbo") throw err;
    return (await import("./napi.ts")).createNapiBackend();
  }
}

/** Loads OpenH264 (and libyuv) for one stream's H.264 Worker. */
export async function loadH264Backend(fps: number): Promise<H264Backend> {
  return (await import("./h264-backend.ts")).createH264Backend(fps);
}

/** Why H.264 cannot be offered here (OpenH264 or libyuv missing or failing), or null when it can. */
export async function h264Unavailable(): Promise<string | null> {
  try {
    const backend = await loadH264Backend(30);
    const pixels = new Uint8Array(16 * 16 * 4);
    backend.encode({ pixels, width: 16, height: 16, stride: 64, format: "rgba" }, 85, true, () => {});
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
