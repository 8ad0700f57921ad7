// JPEG encoding on an NVIDIA GPU with nvJPEG. Two ways in:
// - pixels in host memory (synthetic, pushed or ingested frames, or a readback): uploaded, turned into
//   YCbCr 4:2:0 planes by a small kernel (nvjpeg-yuv.cu, the arithmetic of libjpeg-turbo) and encoded;
// - YCbCr planes already in GPU memory (the Vulkan scene's frame, exported by Vulkan as an fd): imported
//   into CUDA once per buffer and encoded where they are.
// Either way only the JPEG comes back to the host. One NvjpegEncoder per thread (each encoder Worker).
import { ptr, type Pointer } from "bun:ffi";
import { type GpuFrame, type Yuv420Layout, yuv420Layout } from "../frame.ts";
import type { JpegBackend, RawImage } from "./backend.ts";
import { type CudaDevice, checkCu, checkNvjpeg, handleOf, listCudaDevices, loadCuda, NvjpegUnavailableError } from "./nvjpeg-cuda.ts";
import { YUV420_PTX } from "./nvjpeg-ptx.ts";

const NVJPEG_CSS_420 = 2;
const CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD = 1;
const CUDA_EXTERNAL_MEMORY_DEDICATED = 1;
/** Threads per block side of the conversion kernel (one thread per 2x2 pixels). */
const BLOCK = 16;


interface Imported {
  memory: Pointer;
  address: bigint;
  generation: number;
}

export class NvjpegEncoder {
  private readonly lib = loadCuda();
  private stream: Pointer;
  private handle: Pointer;
  private state: Pointer;
  private params: Pointer;
  private kernel: Pointer;
  private rgba = { address: 0n, bytes: 0 };
  private yuv = { address: 0n, bytes: 0 };
  private readonly imports = new Map<number, Imported>();
  /** The JPEG comes back into this buffer, reused (grown) from frame to frame. */
  private out = new Uint8Array(0);
  private readonly cell = new BigUint64Array(1);
  /** nvjpegImage_t: unsigned char *channel[4]; size_t pitch[4]. */
  private readonly image = new BigUint64Array(8);
  private readonly kernelArgs = new BigUint64Array(10);
  private readonly kernelArgPointers = new BigUint64Array(10);

  private constructor(readonly device: CudaDevice) {
    const { cu, nvjpeg } = this.lib;
    const cell = this.cell;
    checkCu(cu, cu.cuDevicePrimaryCtxRetain(ptr(cell), device.ordinal), "cuDevicePrimaryCtxRetain");
    checkCu(cu, cu.cuCtxSetCurrent(handleOf(cell)), "cuCtxSetCurrent");
    checkCu(cu, cu.cuStreamCreate(ptr(cell), 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
    this.stream = handleOf(cell);
    checkNvjpeg(nvjpeg.nvjpegCreateSimple(ptr(cell)), "nvjpegCreateSimple");
    this.handle = handleOf(cell);
    checkNvjpeg(nvjpeg.nvjpegEncoderStateCreate(this.handle, ptr(cell), this.stream), "nvjpegEncoderStateCreate");
    this.state = handleOf(cell);
    checkNvjpeg(nvjpeg.nvjpegEncoderParamsCreate(this.handle, ptr(cell), this.stream), "nvjpegEncoderParamsCreate");
    this.params = handleOf(cell);
    checkNvjpeg(nvjpeg.nvjpegEncoderParamsSetSamplingFactors(this.params, NVJPEG_CSS_420, this.stream), "setting 4:2:0");
    checkNvjpeg(nvjpeg.nvjpegEncoderParamsSetOptimizedHuffman(this.params, 0, this.stream), "setting standard Huffman tables");
    checkCu(cu, cu.cuModuleLoadData(ptr(cell), Buffer.from(`${YUV420_PTX}\0`)), "loading the conversion kernel (cuModuleLoadData)");
    const module = handleOf(cell);
    checkCu(cu, cu.cuModuleGetFunction(ptr(cell), module, Buffer.from("rgba_to_yuv420\0")), "cuModuleGetFunction");
    this.kernel = handleOf(cell);
    for (let i = 0; i < 10; i++) this.kernelArgPointers[i] = BigInt(ptr(this.kernelArgs)) + BigInt(8 * i);
  }

  /**
   * Opens nvJPEG on the CUDA device whose UUID is `uuid` (the render device), or on the first one.
   * Throws NvjpegUnavailableError when CUDA or nvJPEG is missing or no device matches.
   */
  static open(uuid?: string): NvjpegEncoder {
    const { cu } = loadCuda();
    const devices = listCudaDevices(cu);
    if (devices.length === 0) throw new NvjpegUnavailableError("CUDA is not available: the driver sees no CUDA device");
    const device = uuid ? devices.find((d) => d.uuid === uuid.toLowerCase()) : devices[0];
    if (!device) {
      const names = devices.map((d) => d.name).join(", ");
      throw new NvjpegUnavailableError(`no CUDA device is the render device (UUID ${uuid}; CUDA has ${names})`);
    }
    return new NvjpegEncoder(device);
  }

  /** Encodes RGBA or BGRA pixels from host memory. The JPEG is a view over a buffer the next encode reuses. */
  encodePixels(pixels: Uint8Array, width: number, height: number, stride: number, bgra: boolean, quality: number): Uint8Array {
    const { cu } = this.lib;
    const bytes = stride * (height - 1) + width * 4;
    const layout = yuv420Layout(width, height);
    this.grow(this.rgba, bytes);
    this.grow(this.yuv, layout.bytes);
    checkCu(cu, cu.cuMemcpyHtoDAsync_v2(this.rgba.address, pixels, bytes, this.stream), "uploading the frame");
    const args = [this.rgba.address, stride, width, height, bgra ? 1 : 0, this.yuv.address + BigInt(layout.yOffset), layout.yPitch,
      this.yuv.address + BigInt(layout.uOffset), this.yuv.address + BigInt(layout.vOffset), layout.cPitch];
    args.forEach((v, i) => (this.kernelArgs[i] = BigInt(v)));
    const gx = Math.ceil(Math.ceil(width / 2) / BLOCK);
    const gy = Math.ceil(Math.ceil(height / 2) / BLOCK);
    const launched = cu.cuLaunchKernel(this.kernel, gx, gy, 1, BLOCK, BLOCK, 1, 0, this.stream, ptr(this.kernelArgPointers), null);
    checkCu(cu, launched, "cuLaunchKernel");
    return this.encodeYuv(this.yuv.address, layout, width, height, quality);
  }

  /** Encodes 4:2:0 planes from host memory laid out as `yuv420Layout(width, height)`. */
  encodePlanes(planes: Uint8Array, width: number, height: number, quality: number): Uint8Array {
    const layout = yuv420Layout(width, height);
    this.grow(this.yuv, layout.bytes);
    checkCu(this.lib.cu, this.lib.cu.cuMemcpyHtoDAsync_v2(this.yuv.address, planes, layout.bytes, this.stream), "uploading the planes");
    return this.encodeYuv(this.yuv.address, layout, width, height, quality);
  }

  /** Encodes 4:2:0 planes in exported GPU memory (imported on first use), without a copy. */
  encodeExported(frame: GpuFrame, width: number, height: number, quality: number): Uint8Array {
    const base = this.importMemory(frame) + BigInt(frame.offset);
    return this.encodeYuv(base, yuv420Layout(width, height), width, height, quality);
  }

  close(): void {
    const { cu } = this.lib;
    cu.cuStreamSynchronize(this.stream);
    for (const imported of this.imports.values()) cu.cuDestroyExternalMemory(imported.memory);
    this.imports.clear();
    for (const buf of [this.rgba, this.yuv]) if (buf.address) cu.cuMemFree_v2(buf.address);
    // The nvJPEG handle, state and params and the stream live as long as the thread: a Worker that
    // ends takes them with its context reference.
  }

  private encodeYuv(base: bigint, layout: Yuv420Layout, width: number, height: number, quality: number): Uint8Array {
    const { cu, nvjpeg } = this.lib;
    checkNvjpeg(nvjpeg.nvjpegEncoderParamsSetQuality(this.params, quality, this.stream), "setting the quality");
    this.image.fill(0n);
    this.image[0] = base + BigInt(layout.yOffset);
    this.image[1] = base + BigInt(layout.uOffset);
    this.image[2] = base + BigInt(layout.vOffset);
    this.image[4] = BigInt(layout.yPitch);
    this.image[5] = this.image[6] = BigInt(layout.cPitch);
    const [image, css] = [ptr(this.image), NVJPEG_CSS_420];
    checkNvjpeg(nvjpeg.nvjpegEncodeYUV(this.handle, this.state, this.params, image, css, width, height, this.stream), "nvjpegEncodeYUV");
    const length = this.cell;
    checkNvjpeg(nvjpeg.nvjpegEncodeRetrieveBitstream(this.handle, this.state, null, ptr(length), this.stream), "reading the JPEG size");
    checkCu(cu, cu.cuStreamSynchronize(this.stream), "encoding");
    const size = Number(length[0]);
    if (this.out.length < size) this.out = new Uint8Array(size * 2);
    checkNvjpeg(nvjpeg.nvjpegEncodeRetrieveBitstream(this.handle, this.state, ptr(this.out), ptr(length), this.stream), "reading the JPEG");
    checkCu(cu, cu.cuStreamSynchronize(this.stream), "reading the JPEG");
    return this.out.subarray(0, Number(length[0]));
  }

  /** A device buffer of at least `bytes`, grown (never shrunk) as frames get larger. */
  private grow(buf: { address: bigint; bytes: number }, bytes: number): void {
    if (buf.bytes >= bytes) return;
    const { cu } = this.lib;
    if (buf.address) cu.cuMemFree_v2(buf.address);
    buf.address = 0n;
    buf.bytes = 0;
    checkCu(cu, cu.cuMemAlloc_v2(ptr(this.cell), bytes), `allocating ${bytes} bytes of GPU memory`);
    buf.address = this.cell[0]!;
    buf.bytes = bytes;
  }

  /** The device address of exported memory, imported once per (fd, generation); older generations are released. */
  private importMemory(frame: GpuFrame): bigint {
    const { cu, libc } = this.lib;
    const known = this.imports.get(frame.fd);
    if (known && known.generation === frame.generation) return known.address;
    for (const [fd, imported] of this.imports) {
      if (imported.generation < frame.generation || fd === frame.fd) {
        cu.cuDestroyExternalMemory(imported.memory);
        this.imports.delete(fd);
      }
    }
    // CUDA takes ownership of the fd it imports: give it a duplicate, the sender keeps its own.
    const fd = libc.dup(frame.fd);
    if (fd < 0) throw new Error(`cannot duplicate the exported memory's fd ${frame.fd}`);
    const desc = new DataView(new ArrayBuffer(104));
    desc.setUint32(0, CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD, true);
    desc.setInt32(8, fd, true);
    desc.setBigUint64(24, BigInt(frame.allocationBytes), true);
    desc.setUint32(32, frame.dedicated ? CUDA_EXTERNAL_MEMORY_DEDICATED : 0, true);
    const code = cu.cuImportExternalMemory(ptr(this.cell), ptr(desc));
    if (code !== 0) libc.close(fd);
    checkCu(cu, code, "importing Vulkan memory (cuImportExternalMemory)");
    const memory = handleOf(this.cell);
    const buffer = new DataView(new ArrayBuffer(88));
    buffer.setBigUint64(8, BigInt(frame.allocationBytes), true);
    checkCu(cu, cu.cuExternalMemoryGetMappedBuffer(ptr(this.cell), memory, ptr(buffer)), "cuExternalMemoryGetMappedBuffer");
    const address = this.cell[0]!;
    this.imports.set(frame.fd, { memory, address, generation: frame.generation });
    return address;
  }
}

/** nvJPEG as an encoder Worker's backend, on the CUDA device `cudaDevice` (a UUID) or the first one. */
export function createNvjpegBackend(cudaDevice?: string): JpegBackend {
  const encoder = NvjpegEncoder.open(cudaDevice);
  return {
    kind: "jpeg",
    name: "nvjpeg",
    encode(image: RawImage, quality: number): Uint8Array {
      const { width, height } = image;
      if (image.gpu) return encoder.encodeExported(image.gpu, width, height, quality);
      if (image.format === "yuv420") return encoder.encodePlanes(image.pixels, width, height, quality);
      return encoder.encodePixels(image.pixels, width, height, image.stride, image.format === "bgra", quality);
    },
  };
}
