// Loads an encoder backend inside an encoder Worker (or a test or benchmark). The backends are
// imported on demand, so a Worker that uses libjpeg-turbo never loads @napi-rs/image's native module.
import { ENCODER_CHOICES, type EncoderChoice, type JpegBackend } from "./backend.ts";

/** Loads the JPEG backend asked for; "auto" prefers libjpeg-turbo and falls back to @napi-rs/image. */
export async function loadJpegBackend(choice: EncoderChoice): Promise<JpegBackend> {
  if (!ENCODER_CHOICES.includes(choice)) throw new Error(`unknown JPEG encoder '${choice}'`);
  if (choice === "napi") return (await import("./napi.ts")).createNapiBackend();
  try {
    return (await import("./turbo.ts")).createTurboBackend();
  } catch (err) {
    if (choice === "turbo") throw err;
    return (await import("./napi.ts")).createNapiBackend();
  }
}
