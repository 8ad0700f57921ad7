// vkcast_vk: a headless Vulkan renderer with readback into persistently mapped host memory.
// The public API of build/libvkcast_vk.so; src/vulkan/binding.ts binds it with bun:ffi, and
// test/vulkan-header.test.ts checks the binding's constants and signatures against this file.
//
// Every function returns quickly (the library's own thread does the blocking work); none calls
// abort() or exit(). Errors are negative codes: VkResult values or the VKC_ERR_* codes below, with a
// text for the last one in vkc_error.
#ifndef VKCAST_VK_H
#define VKCAST_VK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VKC_API __attribute__((visibility("default")))

// Error codes besides VkResult values (which are negative too, but far from these).
#define VKC_ERR_BUSY (-9001)        // the slot (or, for resize, some slot) is still in flight
#define VKC_ERR_ARG (-9002)         // bad argument
#define VKC_ERR_NO_TARGET (-9003)   // no slot resources (a resize failed)
#define VKC_ERR_UNAVAILABLE (-9004) // no loader, no driver or no usable device
#define VKC_ERR_NO_DEVICE (-9005)   // the requested device does not exist
#define VKC_ERR_LAYER (-9006)       // validation requested but the layer is not installed
#define VKC_ERR_LOST (-9007)        // the context saw VK_ERROR_DEVICE_LOST earlier

// The `scene` argument of vkc_create.
#define VKC_SCENE_ORBIT 0   // the meshes of vkc_set_geometry under a sky
#define VKC_SCENE_PATTERN 1 // a test pattern: pixel (x, y) is (x & 255, y & 255, (x ^ y) & 255, 255)

// What a slot holds once its frame is done (vkc_configure). The 4:2:0 planes are libjpeg-turbo's
// conversion of the RGBA picture: 2 * ceil(height / 2) Y rows of a pitch rounded up to 8 bytes (an odd
// last row repeated), then U and V rows of half that pitch, ceil(height / 2) of them (src/frame.ts yuv420Layout).
#define VKC_OUTPUT_RGBA 0       // width * height RGBA pixels, rows packed, in host memory
#define VKC_OUTPUT_YUV420 1     // the 4:2:0 planes in host memory: 3/8 of the bytes of RGBA
#define VKC_OUTPUT_YUV420_GPU 2 // the 4:2:0 planes stay in GPU memory, exported as an fd (vkc_slot_export)

// The deepest ring vkc_configure makes.
#define VKC_MAX_SLOTS 16

// The `kind` of a draw in vkc_set_geometry: which pipeline draws it.
#define VKC_DRAW_MESH 0
#define VKC_DRAW_GROUND 1

typedef struct vkc_ctx vkc_ctx;
typedef struct vkc_import vkc_import;

// Starts creating the instance, device and pipelines on the library's thread and returns at once;
// vkc_ready tells when it is done. No render targets yet (vkc_resize makes them).
// device: "" for the best one, else an index or a case-insensitive name substring.
// scene: VKC_SCENE_*. validation: 1 for VK_LAYER_KHRONOS_validation with synchronization validation.
// nice: 0..19, added to the priority of the render threads (the library's and the driver's).
// Returns NULL only when out of host memory or when no thread can be started.
VKC_API vkc_ctx *vkc_create(const char *device, int scene, int validation, int nice);

// 0 while the context is being created, 1 when it is ready, < 0 when creation failed (VKC_ERR_UNAVAILABLE
// when there is no loader, driver or usable device; the reason is in vkc_error). After a failure only
// vkc_error and vkc_free may be called.
VKC_API int vkc_ready(vkc_ctx *c);

// Destroys every Vulkan object, waiting for the work in flight (at most one frame per slot): call it at
// close only. The context stays allocated, so the teardown's validation messages can still be read.
VKC_API void vkc_close(vkc_ctx *c);

// Releases the context (closing it first when vkc_close was not called). NULL is ignored.
VKC_API void vkc_free(vkc_ctx *c);

// The text of the last error; "" for NULL.
VKC_API const char *vkc_error(vkc_ctx *c);

// The device's name (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)") and its VkPhysicalDeviceType.
VKC_API const char *vkc_device_name(vkc_ctx *c);
VKC_API int vkc_device_type(vkc_ctx *c);

// How many slots the ring has; slots are numbered 0 .. count - 1.
VKC_API int vkc_slot_count(vkc_ctx *c);

// The ring's depth and what each slot holds (VKC_OUTPUT_*). Drops the slots: vkc_resize makes them
// again. VKC_ERR_BUSY while a slot is in flight; VKC_ERR_ARG for a bad value, or for
// VKC_OUTPUT_YUV420_GPU on a device that cannot export memory (VK_KHR_external_memory_fd).
VKC_API int vkc_configure(vkc_ctx *c, int slots, int output);

// Bytes of a slot's output (RGBA pixels or 4:2:0 planes); 0 without render targets.
VKC_API int vkc_slot_bytes(vkc_ctx *c);

// With VKC_OUTPUT_YUV420_GPU: the slot's planes as exported memory. out[0] an fd (the library's: it is
// closed when the slots are dropped; import a duplicate), out[1] the allocation's size, out[2] 1 when it
// is a dedicated allocation. Returns 0, or VKC_ERR_ARG when the slot has no exported memory.
VKC_API int vkc_slot_export(vkc_ctx *c, int slot, int *out);

// The device's UUID (VkPhysicalDeviceIDProperties.deviceUUID, the UUID CUDA reports too) into out[16]; returns 16.
VKC_API int vkc_device_uuid(vkc_ctx *c, uint8_t *out);

// The slot's mapped readback memory: its output (width * height RGBA pixels, rows packed, or the 4:2:0
// planes). Valid until the next vkc_resize, vkc_configure or vkc_close; readable while vkc_poll says the
// slot is done. NULL without render targets, and with VKC_OUTPUT_YUV420_GPU (nothing is read back).
VKC_API void *vkc_slot_pixels(vkc_ctx *c, int slot);

// Uploads the scene's meshes: vertices are (position xyz, normal xyz) float32, indices uint32, draws
// are (kind, first index, index count, object) uint32 quadruples (kind: VKC_DRAW_*), at most 64.
// VKC_ERR_BUSY while a slot is in flight.
VKC_API int vkc_set_geometry(vkc_ctx *c, const void *vertices, uint32_t vertex_bytes, const void *indices,
                             uint32_t index_bytes, const uint32_t *draws, uint32_t draw_count);

// (Re)creates every slot at width x height. Refuses (VKC_ERR_BUSY) while a slot is in flight, so it
// never waits. On failure the context has no slots (vkc_submit returns VKC_ERR_NO_TARGET) until a
// resize succeeds.
VKC_API int vkc_resize(vkc_ctx *c, uint32_t width, uint32_t height);

// Copies the uniforms (at most 4096 bytes, scene.glsl's block) into the slot and queues its frame;
// returns at once. The slot must be done (else VKC_ERR_BUSY).
VKC_API int vkc_submit(vkc_ctx *c, int slot, const void *uniforms, uint32_t bytes);

// 1 when the slot's last frame is complete (its pixels readable), 0 while in flight, < 0 on error.
VKC_API int vkc_poll(vkc_ctx *c, int slot);

// Times of the slot's last frame in ms: out[0] render pass and out[1] copy to the readback buffer
// (GPU timestamps), out[2] CPU time the library's thread spent in vkQueueSubmit. Returns 1 when
// out[0..1] hold GPU times, 0 when the device has no timestamps or the slot is not done (out[2] is
// set anyway).
VKC_API int vkc_frame_times(vkc_ctx *c, int slot, double *out);

// Validation messages seen so far: out[0] errors, out[1] warnings, out[2] how many texts are kept.
VKC_API void vkc_message_counts(vkc_ctx *c, int *out);

// Copies kept message text i (0 .. out[2] - 1 of vkc_message_counts) into out; 0 when there is none.
VKC_API int vkc_message_text(vkc_ctx *c, int i, char *out, int out_len);

// Fault injection for tests: the next vkc_resize or vkc_submit fails with `code` (e.g.
// VK_ERROR_OUT_OF_DEVICE_MEMORY, or VK_ERROR_DEVICE_LOST, after which the context stays lost) without
// calling Vulkan, so errors a healthy driver never produces can be tested.
VKC_API void vkc_debug_fail_next(vkc_ctx *c, int code);

// Memory another process exported with vkGetMemoryFdKHR (VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT, a
// non-dedicated allocation of `size` bytes of its memory type `memory_type`, on this context's device:
// compare vkc_device_uuid). It holds `slots` regions of `slot_bytes` bytes from `offset`; each gets a
// host-visible readback buffer of slot_bytes. `fd` stays the caller's (the library imports a duplicate).
// Returns NULL on failure (the reason in vkc_error): not memory of this driver, smaller than `size`, a
// memory type that cannot back a transfer buffer, regions outside `size`, a device that cannot import.
VKC_API vkc_import *vkc_import_create(vkc_ctx *c, int fd, uint64_t size, uint32_t memory_type, uint64_t offset,
                                      uint64_t slot_bytes, int slots);

// Queues the copy of the first `bytes` of region `slot` into its readback buffer; returns at once.
// The producer must have finished writing the region (and released it to VK_QUEUE_FAMILY_EXTERNAL).
// VKC_ERR_BUSY while the slot's previous copy is in flight.
VKC_API int vkc_import_copy(vkc_ctx *c, vkc_import *m, int slot, uint32_t bytes);

// 1 when the slot's last copy is done (its readback readable), 0 while in flight, < 0 on error.
VKC_API int vkc_import_poll(vkc_ctx *c, vkc_import *m, int slot);

// The device time of the slot's last copy in ms (GPU timestamps), or -1 when the device has none or the
// copy is not done.
VKC_API double vkc_import_copy_ms(vkc_ctx *c, vkc_import *m, int slot);

// The slot's mapped readback buffer (slot_bytes bytes), valid until vkc_import_free or vkc_close.
VKC_API void *vkc_import_pixels(vkc_ctx *c, vkc_import *m, int slot);

// Releases the import (the memory stays the producer's). VKC_ERR_BUSY while a copy is in flight.
// vkc_close frees those left.
VKC_API int vkc_import_free(vkc_ctx *c, vkc_import *m);

// Lists the devices as "index\ttype\tname\tapi major.minor\tdeviceUUID in 32 hex digits\n" lines into out;
// returns how many, or < 0 when there is no loader or driver (the reason is then in out).
VKC_API int vkc_list_devices(char *out, int out_len);

#ifdef __cplusplus
}
#endif

#endif // VKCAST_VK_H
