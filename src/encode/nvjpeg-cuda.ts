// The CUDA driver API and nvJPEG, loaded at run time through bun:ffi by soname: nothing is linked, so
// vkcast runs (with the CPU encoders) where neither exists. nvJPEG uses the device's primary context,
// which is the one the driver API calls here make current.
import { CString, dlopen, FFIType, ptr, type Pointer } from "bun:ffi";

/** CUDA or nvJPEG is missing or unusable; the message says which, and what to install. */
export class NvjpegUnavailableError extends Error {
  override name = "NvjpegUnavailableError";
}

const { ptr: P, i32, u32, u64 } = FFIType;
const usize = FFIType.u64;

const CUDA_SYMBOLS = {
  cuInit: { args: [u32], returns: i32 },
  cuGetErrorName: { args: [i32, P], returns: i32 },
  cuDeviceGetCount: { args: [P], returns: i32 },
  cuDeviceGet: { args: [P, i32], returns: i32 },
  cuDeviceGetName: { args: [P, i32, i32], returns: i32 },
  cuDeviceGetUuid: { args: [P, i32], returns: i32 },
  cuDevicePrimaryCtxRetain: { args: [P, i32], returns: i32 },
  cuCtxSetCurrent: { args: [P], returns: i32 },
  cuStreamCreate: { args: [P, u32], returns: i32 },
  cuStreamSynchronize: { args: [P], returns: i32 },
  cuStreamDestroy_v2: { args: [P], returns: i32 },
  cuMemAlloc_v2: { args: [P, usize], returns: i32 },
  cuMemFree_v2: { args: [u64], returns: i32 },
  cuMemcpyHtoDAsync_v2: { args: [u64, P, usize, P], returns: i32 },
  cuModuleLoadData: { args: [P, P], returns: i32 },
  cuModuleGetFunction: { args: [P, P, P], returns: i32 },
  cuLaunchKernel: { args: [P, u32, u32, u32, u32, u32, u32, u32, P, P, P], returns: i32 },
  cuImportExternalMemory: { args: [P, P], returns: i32 },
  cuExternalMemoryGetMappedBuffer: { args: [P, P, P], returns: i32 },
  cuDestroyExternalMemory: { args: [P], returns: i32 },
} as const;

const NVJPEG_SYMBOLS = {
  nvjpegGetProperty: { args: [i32, P], returns: i32 },
  nvjpegCreateSimple: { args: [P], returns: i32 },
  nvjpegEncoderStateCreate: { args: [P, P, P], returns: i32 },
  nvjpegEncoderParamsCreate: { args: [P, P, P], returns: i32 },
  nvjpegEncoderParamsSetQuality: { args: [P, i32, P], returns: i32 },
  nvjpegEncoderParamsSetSamplingFactors: { args: [P, i32, P], returns: i32 },
  nvjpegEncoderParamsSetOptimizedHuffman: { args: [P, i32, P], returns: i32 },
  nvjpegEncodeYUV: { args: [P, P, P, P, i32, i32, i32, P], returns: i32 },
  nvjpegEncodeRetrieveBitstream: { args: [P, P, P, P, P], returns: i32 },
} as const;

const LIBC_SYMBOLS = { dup: { args: [i32], returns: i32 }, close: { args: [i32], returns: i32 } } as const;

/** The driver's library, then the toolkit's nvJPEG: the CUDA 13 names first, then older ones. */
export const CUDA_LIBRARIES = ["libcuda.so.1", "libcuda.so"];
export const NVJPEG_LIBRARIES = ["libnvjpeg.so.13", "libnvjpeg.so.12", "libnvjpeg.so.11", "libnvjpeg.so"];
/** Where a CUDA toolkit keeps nvJPEG when its directory is not in the loader's path. */
const TOOLKIT_DIRS = [process.env.CUDA_HOME, "/usr/local/cuda", "/opt/cuda"]
  .filter((d): d is string => Boolean(d))
  .flatMap((d) => [`${d}/lib64`, `${d}/targets/x86_64-linux/lib`, `${d}/lib`]);

type Cuda = ReturnType<typeof dlopen<typeof CUDA_SYMBOLS>>["symbols"];
type Nvjpeg = ReturnType<typeof dlopen<typeof NVJPEG_SYMBOLS>>["symbols"];
type Libc = ReturnType<typeof dlopen<typeof LIBC_SYMBOLS>>["symbols"];

/** Opens the first library of `names` (bare, then in `dirs`) that loads; throws naming `what`. */
export function openFirst<S extends Record<string, { args: readonly FFIType[]; returns: FFIType }>>(
  names: readonly string[],
  symbols: S,
  what: string,
  hint: string,
  dirs: readonly string[] = [],
): ReturnType<typeof dlopen<S>>["symbols"] {
  const errors: string[] = [];
  for (const path of [...names, ...dirs.flatMap((d) => names.map((n) => `${d}/${n}`))]) {
    try {
      return dlopen(path, symbols).symbols;
    } catch (err) {
      errors.push(String(err instanceof Error ? err.message : err));
    }
  }
  throw new NvjpegUnavailableError(`${what} is not available: none of ${names.join(", ")} could be loaded (${hint}): ${errors[0]}`);
}

export interface CudaLibraries {
  cu: Cuda;
  nvjpeg: Nvjpeg;
  libc: Libc;
  /** nvJPEG's major.minor.patch. */
  nvjpegVersion: string;
}

let loaded: CudaLibraries | null = null;

/** Loads the CUDA driver API and nvJPEG once per thread; throws NvjpegUnavailableError naming what is missing. */
export function loadCuda(): CudaLibraries {
  if (loaded) return loaded;
  const cu = openFirst(CUDA_LIBRARIES, CUDA_SYMBOLS, "CUDA", "the NVIDIA driver provides libcuda.so.1");
  const init = cu.cuInit(0);
  if (init !== 0) throw new NvjpegUnavailableError(`CUDA is not available: cuInit failed with ${errorName(cu, init)}`);
  const nvjpeg = openFirst(
    NVJPEG_LIBRARIES,
    NVJPEG_SYMBOLS,
    "nvJPEG",
    "install the CUDA toolkit's nvJPEG (Debian/Ubuntu: libnvjpeg-13-0 or libnvjpeg12) or set CUDA_HOME",
    TOOLKIT_DIRS,
  );
  const part = new Int32Array(1);
  const version = [0, 1, 2].map((p) => (nvjpeg.nvjpegGetProperty(p, ptr(part)) === 0 ? part[0] : "?")).join(".");
  const libc = dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  loaded = { cu, nvjpeg, libc, nvjpegVersion: version };
  return loaded;
}

/** "CUDA_ERROR_NO_DEVICE (100)" for a CUresult. */
export function errorName(cu: Cuda, code: number): string {
  const cell = new BigUint64Array(1);
  if (cu.cuGetErrorName(code, ptr(cell)) !== 0 || cell[0] === 0n) return `CUresult ${code}`;
  return `${new CString(Number(cell[0]) as Pointer)} (${code})`;
}

/** Throws naming the CUDA call when `code` is not CUDA_SUCCESS. */
export function checkCu(cu: Cuda, code: number, what: string): void {
  if (code !== 0) throw new Error(`CUDA: ${what} failed: ${errorName(cu, code)}`);
}

const NVJPEG_STATUS = [
  "SUCCESS",
  "NOT_INITIALIZED",
  "INVALID_PARAMETER",
  "BAD_JPEG",
  "JPEG_NOT_SUPPORTED",
  "ALLOCATOR_FAILURE",
  "EXECUTION_FAILED",
  "ARCH_MISMATCH",
  "INTERNAL_ERROR",
  "IMPLEMENTATION_NOT_SUPPORTED",
  "INCOMPLETE_BITSTREAM",
];

/** Throws naming the nvJPEG call when `status` is not NVJPEG_STATUS_SUCCESS. */
export function checkNvjpeg(status: number, what: string): void {
  if (status !== 0) throw new Error(`nvJPEG: ${what} failed: NVJPEG_STATUS_${NVJPEG_STATUS[status] ?? status}`);
}

/** A CUDA device as nvJPEG would use it. */
export interface CudaDevice {
  ordinal: number;
  name: string;
  /** 16 bytes, as hex: the same UUID Vulkan reports in VkPhysicalDeviceIDProperties.deviceUUID. */
  uuid: string;
}

/** The CUDA devices (empty when the driver sees none). */
export function listCudaDevices(cu: Cuda): CudaDevice[] {
  const count = new Int32Array(1);
  if (cu.cuDeviceGetCount(ptr(count)) !== 0) return [];
  const devices: CudaDevice[] = [];
  const dev = new Int32Array(1);
  const name = new Uint8Array(256);
  const uuid = new Uint8Array(16);
  for (let i = 0; i < count[0]!; i++) {
    if (cu.cuDeviceGet(ptr(dev), i) !== 0) continue;
    cu.cuDeviceGetName(ptr(name), name.length, dev[0]!);
    cu.cuDeviceGetUuid(ptr(uuid), dev[0]!);
    const end = name.indexOf(0);
    devices.push({
      ordinal: i,
      name: new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end)),
      uuid: Buffer.from(uuid).toString("hex"),
    });
  }
  return devices;
}

/** Reads the pointer-sized value a call wrote into `cell`. */
export const handleOf = (cell: BigUint64Array): Pointer => Number(cell[0]) as Pointer;
