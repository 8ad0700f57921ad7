// Which encoder the main job runs, and so what its Vulkan source hands over: nvJPEG where it loads and
// its GPU is the render device (the frames then stay on the GPU), else libjpeg-turbo (with the colour
// conversion done on the GPU, unless the "GPU" is the CPU: on lavapipe the conversion in a compute
// shader costs more than libjpeg-turbo's own SIMD conversion saves) or @napi-rs/image (RGBA). An
// explicit --encoder nvjpeg that cannot run throws NvjpegUnavailableError naming CUDA or nvJPEG.
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

/** The Vulkan device that renders, or null when frames do not come from one. */
export interface RenderDevice {
  uuid: string;
  /** A CPU device (lavapipe): its "GPU" work runs on the cores that encode. */
  cpu: boolean;
}

export async function chooseEncoder(choice: EncoderChoice, render: RenderDevice | null): Promise<EncoderPlan> {
  const onGpu = render !== null && !render.cpu;
  if (choice === "nvjpeg" || (choice === "auto" && onGpu)) {
    const gpu = cudaDeviceFor(render?.uuid ?? null, choice === "nvjpeg");
    if (gpu) return { encoder: "nvjpeg", cudaDevice: gpu.uuid, output: gpu.isRenderDevice ? "yuv420-gpu" : onGpu ? "yuv420" : "rgba" };
  }
  // The CPU encoders: libjpeg-turbo takes the planes a GPU converted; @napi-rs/image takes RGBA only.
  const name = choice === "auto" || choice === "nvjpeg" ? (await loadJpegBackend("auto")).name : choice;
  return { encoder: name, output: name === "turbo" && onGpu ? "yuv420" : "rgba" };
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
