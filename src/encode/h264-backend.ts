// The H.264 backend of an encoder Worker: OpenH264 with two temporal layers (every other frame is one
// nothing refers to, which a slow viewer may skip: README "H.264"), at the quantiser that matches the
// JPEG quality asked for.
import type { H264Backend } from "./backend.ts";
import { usableCpus } from "./cpus.ts";
import { H264Encoder, qpForQuality } from "./openh264.ts";

/** Two layers: bench/codec.ts measured them against skipping to the next IDR (README "H.264"). */
export const TEMPORAL_LAYERS = 2;

/** `maxThreads`: the CPUs one encode may use (bench codec measures the encode time with them). */
export function createH264Backend(fps: number, maxThreads = usableCpus().cpus): H264Backend {
  const encoder = new H264Encoder({ fps, qp: qpForQuality(85), temporalLayers: TEMPORAL_LAYERS, maxThreads });
  return {
    kind: "h264",
    name: "openh264",
    encode(image, quality, idr, onRead) {
      encoder.setQp(qpForQuality(quality));
      return encoder.encode(image, { idr, onRead });
    },
  };
}
