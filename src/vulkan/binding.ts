// bun:ffi binding of build/libvkcast_vk.so. Every function here returns quickly; vkcast_vk.h says
// what each does. test/vulkan-header.test.ts checks the signatures and constants against that header.
import { dlopen, FFIType } from "bun:ffi";
import { ensureVulkanLibrary } from "./build.ts";

export const SYMBOLS = {
  vkc_create: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.ptr },
  vkc_ready: { args: [FFIType.ptr], returns: FFIType.i32 },
  vkc_close: { args: [FFIType.ptr], returns: FFIType.void },
  vkc_free: { args: [FFIType.ptr], returns: FFIType.void },
  vkc_debug_fail_next: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.void },
  vkc_error: { args: [FFIType.ptr], returns: FFIType.cstring },
  vkc_device_name: { args: [FFIType.ptr], returns: FFIType.cstring },
  vkc_device_type: { args: [FFIType.ptr], returns: FFIType.i32 },
  vkc_slot_count: { args: [FFIType.ptr], returns: FFIType.i32 },
  vkc_slot_pixels: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.ptr },
  vkc_configure: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  vkc_slot_bytes: { args: [FFIType.ptr], returns: FFIType.i32 },
  vkc_slot_export: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  vkc_device_uuid: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  vkc_set_geometry: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.u32, FFIType.ptr, FFIType.u32, FFIType.ptr, FFIType.u32],
    returns: FFIType.i32,
  },
  vkc_resize: { args: [FFIType.ptr, FFIType.u32, FFIType.u32], returns: FFIType.i32 },
  vkc_submit: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  vkc_poll: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  vkc_frame_times: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  vkc_message_counts: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.void },
  vkc_message_text: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  vkc_import_create: {
    args: [FFIType.ptr, FFIType.i32, FFIType.u64, FFIType.u32, FFIType.u64, FFIType.u64, FFIType.i32],
    returns: FFIType.ptr,
  },
  vkc_import_copy: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  vkc_import_poll: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  vkc_import_copy_ms: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.f64 },
  vkc_import_pixels: { args: [FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.ptr },
  vkc_import_free: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  vkc_list_devices: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
} as const;

export type VulkanLibrary = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];

/** VKC_ERR_*: error codes of the C library besides (negative) VkResult values. */
export const VKC_ERR = {
  BUSY: -9001,
  ARG: -9002,
  NO_TARGET: -9003,
  UNAVAILABLE: -9004,
  NO_DEVICE: -9005,
  LAYER: -9006,
  LOST: -9007,
} as const;

/** VKC_SCENE_*: vkc_create's `scene`. */
export const VKC_SCENE = { ORBIT: 0, PATTERN: 1 } as const;

/** VKC_OUTPUT_*: what a slot holds (vkc_configure): RGBA, 4:2:0 planes read back, or 4:2:0 planes kept on the GPU. */
export const VKC_OUTPUT = { RGBA: 0, YUV420: 1, YUV420_GPU: 2 } as const;

/** The deepest ring vkc_configure makes. */
export const VKC_MAX_SLOTS = 16;

/** VKC_DRAW_*: the kind of a draw in vkc_set_geometry, i.e. the pipeline that draws it. */
export const VKC_DRAW = { MESH: 0, GROUND: 1 } as const;

const RESULT_NAMES: Record<number, string> = {
  [-1]: "VK_ERROR_OUT_OF_HOST_MEMORY",
  [-2]: "VK_ERROR_OUT_OF_DEVICE_MEMORY",
  [-3]: "VK_ERROR_INITIALIZATION_FAILED",
  [-4]: "VK_ERROR_DEVICE_LOST",
  [-5]: "VK_ERROR_MEMORY_MAP_FAILED",
  [-6]: "VK_ERROR_LAYER_NOT_PRESENT",
  [-7]: "VK_ERROR_EXTENSION_NOT_PRESENT",
  [-8]: "VK_ERROR_FEATURE_NOT_PRESENT",
  [-9]: "VK_ERROR_INCOMPATIBLE_DRIVER",
  [-10]: "VK_ERROR_TOO_MANY_OBJECTS",
  [-11]: "VK_ERROR_FORMAT_NOT_SUPPORTED",
  [-1000069000]: "VK_ERROR_OUT_OF_POOL_MEMORY",
  [VKC_ERR.BUSY]: "busy",
  [VKC_ERR.ARG]: "bad argument",
  [VKC_ERR.NO_TARGET]: "no render target",
  [VKC_ERR.UNAVAILABLE]: "Vulkan unavailable",
  [VKC_ERR.NO_DEVICE]: "no such device",
  [VKC_ERR.LAYER]: "validation layer missing",
  [VKC_ERR.LOST]: "VK_ERROR_DEVICE_LOST",
};

export function resultName(code: number): string {
  return RESULT_NAMES[code] ?? `VkResult ${code}`;
}

/** True for codes after which the device cannot render again. */
export function isFatal(code: number): boolean {
  return code === -4 || code === VKC_ERR.LOST;
}

let library: VulkanLibrary | null = null;

/** Builds (when stale) and loads the library once per process. Throws when either fails. */
export function loadVulkanLibrary(): VulkanLibrary {
  if (library) return library;
  const path = ensureVulkanLibrary();
  library = dlopen(path, SYMBOLS).symbols;
  return library;
}

/** A NUL-terminated UTF-8 copy of `s` for a `const char*` argument. */
export function cString(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

/** Reads a NUL-terminated string that C wrote into `buf`. */
export function readCString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buf : buf.subarray(0, end));
}
