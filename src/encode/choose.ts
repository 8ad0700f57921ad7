// Which encoder the main job runs, and so what its Vulkan source hands over: nvJPEG where it loads and
// its GPU is the render device (the frames then stay on the GPU), else libjpeg-turbo (with the colour
// conversion done on the GPU) or @napi-rs/image (RGBA). An explicit --encoder nvjpeg that cannot run
// throws NvjpegUnavailableError naming CUDA or nvJPEG (the CLI exits 3).
import type { VulkanOutput } from "../sources/vulkan.ts";
import type { EncoderChoice, EncoderName } from "./backend.ts";
import { loadJpegBackend } from "./load.ts";
import { listCudaDevices, loadCuda, NvjpegUnavailableError } from "./nvjpeg-cuda.ts";

export interface EncoderPlan {
  encoder: EncoderName;
  /** nvJPEG's GPU (a UUID). */
  cudaDevice?: string;
  /** What the Vulkan source should hand over to this encoder. */
  output: VulkanOutput;
}

/** `renderUuid`: the Vulkan device's UUID, or null when frames do not come from a GPU. */
export async function chooseEncoder(choice: EncoderChoice, renderUuid: string | null): Promise<EncoderPlan> {
  if (choice === "nvjpeg" || (choice === "auto" && renderUuid !== null)) {
    const gpu = cudaDeviceFor(renderUuid, choice === "nvjpeg");
    if (gpu) return { encoder: "nvjpeg", cudaDevice: gpu.uuid, output: gpu.isRenderDevice ? "yuv420-gpu" : "yuv420" };
  }
  // The CPU encoders: which one loads decides whether the planes are worth converting on the GPU.
  const name = choice === "auto" || choice === "nvjpeg" ? (await loadJpegBackend("auto")).name : choice;
  return { encoder: name, output: name === "turbo" ? "yuv420" : "rgba" };
}

/**
 * The CUDA device for nvJPEG: the render device when CUDA has it, else (asked for explicitly) the first
 * one, which gets frames uploaded. Null for "auto" when nvJPEG cannot serve the render device.
 */
function cudaDeviceFor(renderUuid: string | null, required: boolean): { uuid: string; isRenderDevice: boolean } | null {
  try {
    const devices = listCudaDevices(loadCuda().cu);
    const render = devices.find((d) => d.uuid === renderUuid);
    if (render) return { uuid: render.uuid, isRenderDevice: true };
    if (!required) return null;
    if (devices.length === 0) throw new NvjpegUnavailableError("CUDA is not available: the driver sees no CUDA device");
    return { uuid: devices[0]!.uuid, isRenderDevice: false };
  } catch (err) {
    if (required || !(err instanceof NvjpegUnavailableError)) throw err;
    return null;
  }
}
