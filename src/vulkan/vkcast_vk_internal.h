// Shared by the files of the vkcast_vk library (not part of its API, which is vkcast_vk.h): the
// context, its slots, the CHECK macro and the functions one file calls in another.
#ifndef VKCAST_VK_INTERNAL_H
#define VKCAST_VK_INTERNAL_H

#include "vkcast_vk.h"

#include <vulkan/vulkan.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define VKC_DEFAULT_SLOTS 2 // until vkc_configure asks for another depth
#define VKC_UNIFORM_BYTES 4096
#define VKC_MAX_DRAWS 64
#define VKC_MAX_SIDE 16384
#define VKC_MSG_KEEP 8
#define VKC_MSG_LEN 2048
// Submissions waiting for the submit thread: each slot's frame (at most one each) and imports' copies.
#define VKC_FIFO_CAP 1024

typedef struct {
  uint32_t kind, first_index, index_count, object;
} vkc_draw;

typedef struct vkc_import vkc_import;

typedef struct {
  VkImage color, depth;
  VkDeviceMemory color_mem, depth_mem;
  VkImageView color_view, depth_view;
  VkFramebuffer framebuffer;
  VkBuffer readback, uniforms, timings;
  VkDeviceMemory readback_mem, uniforms_mem, timings_mem;
  void *readback_ptr, *uniforms_ptr, *timings_ptr;
  int readback_coherent, timings_coherent;
  VkDescriptorSet set;
  // 4:2:0 output: the picture copied into a buffer (the conversion's input), the planes in device
  // memory (exportable with VKC_OUTPUT_YUV420_GPU; none when the readback buffer is device memory too,
  // as on lavapipe) and the conversion's descriptor set.
  VkBuffer pixels;
  VkDeviceMemory pixels_mem;
  VkBuffer planes;
  VkDeviceMemory planes_mem;
  VkDeviceSize planes_alloc;
  VkDescriptorSet yuv_set;
  int export_fd; // -1 when there is none
  VkCommandBuffer cmd;
  uint64_t value;       // timeline value that marks this slot's last submission done; 0: never
  int invalidate;       // a non-coherent readback must be invalidated once the slot is done
  // Set by vkc_submit, cleared by the submit thread once vkQueueSubmit returned (under ctx->lock).
  int queued;
  int submit_error;     // the VkResult of a failed vkQueueSubmit, 0 otherwise
  double submit_ms;     // CPU time the submit thread spent in vkQueueSubmit for the last frame
} vkc_slot;

typedef struct {
  pthread_mutex_t lock;
  int errors, warnings, infos;
  int kept;
  char text[VKC_MSG_KEEP][VKC_MSG_LEN];
} vkc_messages;

struct vkc_ctx {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem;
  VkFormat depth_format;
  int scene;
  int lost; // set by the submit thread and by the caller's: read and written under `lock`
  int fail_next; // vkc_debug_fail_next
  char error[1024];
  vkc_messages *messages; // heap: the messenger callback holds its address

  // timing: timestamp queries, VKC_MAX_SLOTS * 3 of them
  int timestamps;     // 1 when the queue family has valid timestamp bits
  uint64_t ts_mask;
  double ts_period_ns;
  VkQueryPool queries;

  VkSemaphore timeline;
  uint64_t submitted;
  VkCommandPool pool;
  VkDescriptorSetLayout set_layout;
  VkDescriptorPool descriptor_pool;
  VkPipelineLayout layout;
  VkRenderPass render_pass;
  VkPipeline mesh_pipeline, ground_pipeline, sky_pipeline, pattern_pipeline;

  VkBuffer vertices, indices;
  VkDeviceMemory vertices_mem, indices_mem;
  vkc_draw draws[VKC_MAX_DRAWS];
  uint32_t draw_count;

  uint32_t width, height;
  int have_slots;
  int slot_count; // the ring's depth: 1..VKC_MAX_SLOTS (vkc_configure)
  int output;     // VKC_OUTPUT_*
  vkc_slot slots[VKC_MAX_SLOTS];

  // The RGBA to 4:2:0 conversion (yuv420.comp), made on first use; memory export to CUDA.
  VkDescriptorSetLayout yuv_set_layout;
  VkPipelineLayout yuv_layout;
  VkPipeline yuv_pipeline;
  VkDescriptorPool yuv_pool;
  int can_export;        // VK_KHR_external_memory_fd is enabled
  int export_dedicated;  // the driver wants exported buffers in dedicated allocations
  PFN_vkGetMemoryFdKHR get_memory_fd;
  uint8_t uuid[VK_UUID_SIZE];

  // The library's thread: it initializes the context (instance, device, pipeline compiles take
  // 100+ ms on lavapipe), then submits the slots queued in its FIFO.
  pthread_t thread;
  int thread_started, stopping;
  int state; // 0 initializing, 1 ready, < 0 initialization failed with this code
  int validation;
  int nice;
  char device_want[256];
  pthread_mutex_t lock;
  pthread_cond_t wake;
  vkc_slot *fifo[VKC_FIFO_CAP]; // a slot of the ring, or an import's copy (vkcast_vk_import.c)
  int fifo_head, fifo_len;
  vkc_import *imports; // those not yet freed, destroyed at close
};

// Records a failed call, remembers a lost device, and returns the code.
#define CHECK(call)                                                                                  \
  do {                                                                                               \
    VkResult r_ = (call);                                                                            \
    if (r_ != VK_SUCCESS) {                                                                          \
      if (r_ == VK_ERROR_DEVICE_LOST) mark_lost(c);                                                  \
      set_error(c, "%s failed: %s (%d)", #call, result_name(r_), (int)r_);                           \
      return (int)r_;                                                                                \
    }                                                                                                \
  } while (0)

// vkcast_vk.c: errors and the lost flag
void set_error(vkc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *result_name(VkResult r);
void mark_lost(vkc_ctx *c);
int is_lost(vkc_ctx *c);

// Hands `s` (its command buffer recorded) to the submit thread; VKC_ERR_BUSY when fewer than
// keep_free + 1 entries of the FIFO are free (imports' copies keep room for the ring's slots).
int enqueue_submission(vkc_ctx *c, vkc_slot *s, int keep_free);
// 1 when `s`'s last submission is done, 0 while in flight, < 0 on error; *now: the timeline's value.
int submission_done(vkc_ctx *c, vkc_slot *s, uint64_t *now);

// vkcast_vk_import.c: memory imported from a producer process
void destroy_imports(vkc_ctx *c);

// vkcast_vk_device.c: instance and device
int create_instance(vkc_ctx *c, int validation);
int pick_device(vkc_ctx *c, const char *want);
int create_device(vkc_ctx *c);

// vkcast_vk_pipelines.c: render pass, layouts and the scene's pipelines; the 4:2:0 conversion
int create_pipelines(vkc_ctx *c);
int create_yuv_pipeline(vkc_ctx *c);
void destroy_yuv_pipeline(vkc_ctx *c);

// vkcast_vk_slots.c: memory and the ring of slots
int create_buffer(vkc_ctx *c, VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want,
                  VkMemoryPropertyFlags need, VkBuffer *buf, VkDeviceMemory *mem, void **mapped, int *coherent);
int create_slots(vkc_ctx *c);
// The 4:2:0 layout of a width x height frame: p = {Y pitch, chroma pitch, U offset, V offset}; returns the bytes.
VkDeviceSize yuv_layout(uint32_t width, uint32_t height, uint32_t p[4]);
int record_slot(vkc_ctx *c, int index);
void destroy_slots(vkc_ctx *c);

#endif // VKCAST_VK_INTERNAL_H
