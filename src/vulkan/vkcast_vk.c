// vkcast_vk: a headless Vulkan renderer with readback into persistently mapped host memory.
//
// Its API is vkcast_vk.h; TypeScript calls it through bun:ffi (src/vulkan/binding.ts). Every entry
// point returns quickly: vkc_submit records nothing (command buffers are recorded once per slot),
// copies the uniforms and hands the slot to this library's submit thread; vkc_poll asks the timeline
// semaphore whether a slot is done. Why a thread: on lavapipe vkQueueSubmit often executes the whole frame (rasterization and
// the image-to-buffer copy) before it returns, i.e. it blocks for the frame time, and the JS thread
// that calls us also serves the sockets. Only the submit thread touches the VkQueue. Nothing here
// waits for the device except vkc_close (vkDeviceWaitIdle, at close) and vkc_resize, which refuses
// to run while a slot is in flight. No function calls abort()/exit(): errors are returned as
// negative codes (VkResult values or VKC_ERR_*), and a text for the last one is kept per context.
//
// Resources: a ring of slots (2 unless vkc_configure asks for up to VKC_MAX_SLOTS), each with a DEVICE_LOCAL colour image (R8G8B8A8_UNORM, so the
// bytes are RGBA), a depth image, a framebuffer, a uniform buffer, a command buffer and a HOST_VISIBLE
// (preferably HOST_CACHED) readback buffer that stays mapped for the slot's life. Completion of slot i
// is "timeline value >= slot[i].value".

#include "vkcast_vk_internal.h"

void set_error(vkc_ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
}

const char *result_name(VkResult r) {
  switch (r) {
  case VK_SUCCESS: return "VK_SUCCESS";
  case VK_NOT_READY: return "VK_NOT_READY";
  case VK_TIMEOUT: return "VK_TIMEOUT";
  case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
  case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
  case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
  case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
  case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
  case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
  case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
  case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
  case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
  case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
  case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
  case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
  default: return "VkResult";
  }
}

// Remembers for good that the device was lost. Never called with c->lock held.
void mark_lost(vkc_ctx *c) {
  pthread_mutex_lock(&c->lock);
  c->lost = 1;
  pthread_mutex_unlock(&c->lock);
}

int is_lost(vkc_ctx *c) {
  pthread_mutex_lock(&c->lock);
  int lost = c->lost;
  pthread_mutex_unlock(&c->lock);
  return lost;
}

// ---------------------------------------------------------------------------------------------------
// The submit thread

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int init_context(vkc_ctx *c, const char *device, int validation);

static void *submit_thread(void *arg) {
  vkc_ctx *c = arg;
  // Lower this thread's priority before Vulkan starts: Linux nice values are per thread and inherited
  // by the threads it creates, and lavapipe creates its rasterizer and queue threads from here (in
  // vkEnumeratePhysicalDevices / vkCreateDevice / vkQueueSubmit). Rendering then yields the CPU to the
  // JS thread that serves the sockets (and to the encoder Workers) instead of preempting them.
  if (c->nice > 0) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), c->nice);
  int e = init_context(c, c->device_want, c->validation);
  pthread_mutex_lock(&c->lock);
  c->state = e ? e : 1;
  if (e) {
    pthread_mutex_unlock(&c->lock);
    return NULL;
  }
  for (;;) {
    while (!c->stopping && c->fifo_len == 0) pthread_cond_wait(&c->wake, &c->lock);
    if (c->fifo_len == 0) break; // stopping, and nothing left to submit
    vkc_slot *s = c->fifo[c->fifo_head];
    c->fifo_head = (c->fifo_head + 1) % VKC_FIFO_CAP;
    c->fifo_len--;
    uint64_t value = s->value;
    VkCommandBuffer cmd = s->cmd;
    pthread_mutex_unlock(&c->lock);

    VkTimelineSemaphoreSubmitInfo ts = {
        .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
        .signalSemaphoreValueCount = 1,
        .pSignalSemaphoreValues = &value,
    };
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .pNext = &ts,
        .commandBufferCount = 1,
        .pCommandBuffers = &cmd,
        .signalSemaphoreCount = 1,
        .pSignalSemaphores = &c->timeline,
    };
    double t0 = now_ms();
    VkResult r = vkQueueSubmit(c->queue, 1, &si, VK_NULL_HANDLE);
    double t1 = now_ms();

    pthread_mutex_lock(&c->lock);
    s->submit_ms = t1 - t0;
    s->submit_error = r;
    s->queued = 0;
    if (r == VK_ERROR_DEVICE_LOST) c->lost = 1;
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

static void stop_thread(vkc_ctx *c) {
  if (!c->thread_started) return;
  pthread_mutex_lock(&c->lock);
  c->stopping = 1;
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->lock);
  pthread_join(c->thread, NULL); // returns once the queued submits (at most one per slot) are made
  c->thread_started = 0;
}

// ---------------------------------------------------------------------------------------------------
// Public API (documented in vkcast_vk.h)

static int slot_done(vkc_ctx *c, int slot, uint64_t *now) { return submission_done(c, &c->slots[slot], now); }

int submission_done(vkc_ctx *c, vkc_slot *s, uint64_t *now) {
  if (s->value == 0) return 1;
  pthread_mutex_lock(&c->lock);
  int queued = s->queued, err = s->submit_error;
  pthread_mutex_unlock(&c->lock);
  if (queued) return 0;
  if (err) {
    set_error(c, "vkQueueSubmit failed: %s (%d)", result_name((VkResult)err), err);
    return err;
  }
  VkResult r = vkGetSemaphoreCounterValue(c->device, c->timeline, now);
  if (r != VK_SUCCESS) {
    if (r == VK_ERROR_DEVICE_LOST) mark_lost(c);
    set_error(c, "vkGetSemaphoreCounterValue failed: %s (%d)", result_name(r), (int)r);
    return (int)r;
  }
  return *now >= s->value;
}

const char *vkc_error(vkc_ctx *c) { return c ? c->error : ""; }
const char *vkc_device_name(vkc_ctx *c) { return c->props.deviceName; }
int vkc_device_type(vkc_ctx *c) { return (int)c->props.deviceType; }
int vkc_slot_count(vkc_ctx *c) { return c->slot_count; }
void *vkc_slot_pixels(vkc_ctx *c, int slot) {
  if (slot < 0 || slot >= c->slot_count || !c->have_slots) return NULL;
  return c->slots[slot].readback_ptr;
}

int vkc_slot_bytes(vkc_ctx *c) {
  uint32_t p[4];
  if (!c->have_slots) return 0;
  return (int)(c->output == VKC_OUTPUT_RGBA ? (VkDeviceSize)c->width * c->height * 4 : yuv_layout(c->width, c->height, p));
}

int vkc_slot_export(vkc_ctx *c, int slot, int *out) {
  if (slot < 0 || slot >= c->slot_count || !c->have_slots || c->slots[slot].export_fd < 0) {
    set_error(c, "vkc_slot_export: slot %d has no exported memory (VKC_OUTPUT_YUV420_GPU)", slot);
    return VKC_ERR_ARG;
  }
  out[0] = c->slots[slot].export_fd;
  out[1] = (int)c->slots[slot].planes_alloc;
  out[2] = c->export_dedicated;
  return 0;
}

int vkc_device_uuid(vkc_ctx *c, uint8_t *out) {
  memcpy(out, c->uuid, VK_UUID_SIZE);
  return VK_UUID_SIZE;
}

static void destroy_context(vkc_ctx *c) {
  stop_thread(c);
  if (c->device) {
    vkDeviceWaitIdle(c->device); // at close only; whatever is in flight finishes first
    destroy_imports(c);
    destroy_slots(c);
    destroy_yuv_pipeline(c);
    VkPipeline p[4] = {c->mesh_pipeline, c->ground_pipeline, c->sky_pipeline, c->pattern_pipeline};
    for (int i = 0; i < 4; i++)
      if (p[i]) vkDestroyPipeline(c->device, p[i], NULL);
    if (c->render_pass) vkDestroyRenderPass(c->device, c->render_pass, NULL);
    if (c->layout) vkDestroyPipelineLayout(c->device, c->layout, NULL);
    if (c->descriptor_pool) vkDestroyDescriptorPool(c->device, c->descriptor_pool, NULL);
    if (c->set_layout) vkDestroyDescriptorSetLayout(c->device, c->set_layout, NULL);
    if (c->vertices) vkDestroyBuffer(c->device, c->vertices, NULL);
    if (c->indices) vkDestroyBuffer(c->device, c->indices, NULL);
    if (c->vertices_mem) vkFreeMemory(c->device, c->vertices_mem, NULL);
    if (c->indices_mem) vkFreeMemory(c->device, c->indices_mem, NULL);
    if (c->queries) vkDestroyQueryPool(c->device, c->queries, NULL);
    if (c->pool) vkDestroyCommandPool(c->device, c->pool, NULL);
    if (c->timeline) vkDestroySemaphore(c->device, c->timeline, NULL);
    vkDestroyDevice(c->device, NULL);
    c->device = VK_NULL_HANDLE;
  }
  if (c->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy =
        (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(c->instance, "vkDestroyDebugUtilsMessengerEXT");
    if (destroy) destroy(c->instance, c->messenger, NULL);
  }
  c->messenger = VK_NULL_HANDLE;
  if (c->instance) vkDestroyInstance(c->instance, NULL);
  c->instance = VK_NULL_HANDLE;
}

void vkc_close(vkc_ctx *c) {
  if (!c) return;
  destroy_context(c);
}

void vkc_free(vkc_ctx *c) {
  if (!c) return;
  if (c->device || c->instance) destroy_context(c);
  if (c->messages) {
    pthread_mutex_destroy(&c->messages->lock);
    free(c->messages);
  }
  pthread_cond_destroy(&c->wake);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

void vkc_debug_fail_next(vkc_ctx *c, int code) { c->fail_next = code; }

static int injected(vkc_ctx *c, const char *what) {
  int code = c->fail_next;
  if (!code) return 0;
  c->fail_next = 0;
  if (code == VK_ERROR_DEVICE_LOST) mark_lost(c);
  set_error(c, "%s failed: %s (%d, injected)", what, result_name((VkResult)code), code);
  return code;
}

static int init_context(vkc_ctx *c, const char *device, int validation) {
  int e = create_instance(c, validation);
  if (!e) e = pick_device(c, device);
  if (!e) e = create_device(c);
  if (e) return e;
  VkSemaphoreTypeCreateInfo type = {
      .sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
      .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
      .initialValue = 0,
  };
  VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &type};
  CHECK(vkCreateSemaphore(c->device, &si, NULL, &c->timeline));
  VkCommandPoolCreateInfo cp = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
      .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
      .queueFamilyIndex = c->queue_family,
  };
  CHECK(vkCreateCommandPool(c->device, &cp, NULL, &c->pool));
  if (c->timestamps) {
    VkQueryPoolCreateInfo qp = {
        .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
        .queryType = VK_QUERY_TYPE_TIMESTAMP,
        .queryCount = VKC_MAX_SLOTS * 3,
    };
    CHECK(vkCreateQueryPool(c->device, &qp, NULL, &c->queries));
  }
  return create_pipelines(c);
}

vkc_ctx *vkc_create(const char *device, int scene, int validation, int nice) {
  vkc_ctx *c = calloc(1, sizeof *c);
  vkc_messages *m = calloc(1, sizeof *m);
  if (!c || !m) {
    free(c);
    free(m);
    return NULL;
  }
  pthread_mutex_init(&m->lock, NULL);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->wake, NULL);
  c->messages = m;
  c->scene = scene == VKC_SCENE_PATTERN ? VKC_SCENE_PATTERN : VKC_SCENE_ORBIT;
  c->validation = validation;
  c->nice = nice < 0 ? 0 : nice > 19 ? 19 : nice;
  c->slot_count = VKC_DEFAULT_SLOTS;
  c->output = VKC_OUTPUT_RGBA;
  for (int i = 0; i < VKC_MAX_SLOTS; i++) c->slots[i].export_fd = -1;
  snprintf(c->device_want, sizeof c->device_want, "%s", device ? device : "");
  if (pthread_create(&c->thread, NULL, submit_thread, c) != 0) {
    vkc_free(c);
    return NULL;
  }
  c->thread_started = 1;
  return c;
}

int vkc_ready(vkc_ctx *c) {
  pthread_mutex_lock(&c->lock);
  int state = c->state;
  pthread_mutex_unlock(&c->lock);
  return state;
}

// 0 when no slot is in flight; VKC_ERR_BUSY (naming `what`) when one is, so callers never wait.
static int require_idle_slots(vkc_ctx *c, const char *what) {
  for (int i = 0; i < VKC_MAX_SLOTS; i++) {
    uint64_t now = 0;
    int d = slot_done(c, i, &now);
    if (d < 0) return d;
    if (!d) {
      set_error(c, "%s: slot %d is in flight", what, i);
      return VKC_ERR_BUSY;
    }
  }
  return 0;
}

int vkc_set_geometry(vkc_ctx *c, const void *vertices, uint32_t vertex_bytes, const void *indices,
                                uint32_t index_bytes, const uint32_t *draws, uint32_t draw_count) {
  if (draw_count > VKC_MAX_DRAWS || !vertex_bytes || !index_bytes) {
    set_error(c, "vkc_set_geometry: bad arguments");
    return VKC_ERR_ARG;
  }
  int busy = require_idle_slots(c, "vkc_set_geometry");
  if (busy) return busy;
  if (c->vertices) {
    vkDestroyBuffer(c->device, c->vertices, NULL);
    vkDestroyBuffer(c->device, c->indices, NULL);
    vkFreeMemory(c->device, c->vertices_mem, NULL);
    vkFreeMemory(c->device, c->indices_mem, NULL);
    c->vertices = c->indices = VK_NULL_HANDLE;
    c->vertices_mem = c->indices_mem = VK_NULL_HANDLE;
  }
  // Small and written once: host-visible memory is fine on every device (device-local too on lavapipe).
  void *vp = NULL, *ip = NULL;
  VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int e = create_buffer(c, vertex_bytes, VK_BUFFER_USAGE_VERTEX_BUFFER_BIT, host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                        host, &c->vertices, &c->vertices_mem, &vp, NULL);
  if (!e)
    e = create_buffer(c, index_bytes, VK_BUFFER_USAGE_INDEX_BUFFER_BIT, host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                      host, &c->indices, &c->indices_mem, &ip, NULL);
  if (e) return e;
  memcpy(vp, vertices, vertex_bytes);
  memcpy(ip, indices, index_bytes);
  vkUnmapMemory(c->device, c->vertices_mem);
  vkUnmapMemory(c->device, c->indices_mem);
  memcpy(c->draws, draws, draw_count * sizeof(vkc_draw));
  c->draw_count = draw_count;
  if (c->have_slots)
    for (int i = 0; i < c->slot_count; i++) {
      CHECK(vkResetCommandBuffer(c->slots[i].cmd, 0));
      e = record_slot(c, i);
      if (e) return e;
    }
  return 0;
}

int vkc_configure(vkc_ctx *c, int slots, int output) {
  if (is_lost(c)) return VKC_ERR_LOST;
  if (slots < 1 || slots > VKC_MAX_SLOTS || output < VKC_OUTPUT_RGBA || output > VKC_OUTPUT_YUV420_GPU) {
    set_error(c, "vkc_configure: slots must be 1..%d and output a VKC_OUTPUT_* value (got %d, %d)", VKC_MAX_SLOTS, slots, output);
    return VKC_ERR_ARG;
  }
  if (output == VKC_OUTPUT_YUV420_GPU && !c->can_export) {
    set_error(c, "%s cannot export memory (no VK_KHR_external_memory_fd)", c->props.deviceName);
    return VKC_ERR_ARG;
  }
  int busy = require_idle_slots(c, "vkc_configure");
  if (busy) return busy;
  if (output != VKC_OUTPUT_RGBA && !c->yuv_pipeline) {
    int e = create_yuv_pipeline(c);
    if (e) return e;
  }
  destroy_slots(c);
  c->slot_count = slots;
  c->output = output;
  c->width = c->height = 0;
  return 0;
}

int vkc_resize(vkc_ctx *c, uint32_t width, uint32_t height) {
  if (is_lost(c)) return VKC_ERR_LOST;
  if (width < 1 || height < 1 || width > VKC_MAX_SIDE || height > VKC_MAX_SIDE ||
      width > c->props.limits.maxFramebufferWidth || height > c->props.limits.maxFramebufferHeight) {
    set_error(c, "vkc_resize: %ux%u is outside 1x1..%ux%u", width, height, c->props.limits.maxFramebufferWidth,
              c->props.limits.maxFramebufferHeight);
    return VKC_ERR_ARG;
  }
  int busy = require_idle_slots(c, "vkc_resize");
  if (busy) return busy;
  destroy_slots(c);
  c->width = width;
  c->height = height;
  int e = injected(c, "vkc_resize");
  if (!e) e = create_slots(c);
  if (e) {
    destroy_slots(c);
    c->width = c->height = 0;
  }
  return e;
}

int vkc_submit(vkc_ctx *c, int slot, const void *uniforms, uint32_t bytes) {
  if (is_lost(c)) {
    set_error(c, "the Vulkan device was lost (VK_ERROR_DEVICE_LOST)");
    return VKC_ERR_LOST;
  }
  if (slot < 0 || slot >= c->slot_count) return VKC_ERR_ARG;
  if (!c->have_slots) {
    set_error(c, "no render target (the last resize failed)");
    return VKC_ERR_NO_TARGET;
  }
  vkc_slot *s = &c->slots[slot];
  uint64_t now = 0;
  int d = slot_done(c, slot, &now);
  if (d < 0) return d;
  if (!d) {
    set_error(c, "vkc_submit: slot %d is in flight", slot);
    return VKC_ERR_BUSY;
  }
  int e = injected(c, "vkQueueSubmit");
  if (e) return e;
  if (uniforms && bytes) memcpy(s->uniforms_ptr, uniforms, bytes < VKC_UNIFORM_BYTES ? bytes : VKC_UNIFORM_BYTES);
  s->invalidate = (s->readback_mem && !s->readback_coherent) || !s->timings_coherent;
  return enqueue_submission(c, s, 0);
}

int enqueue_submission(vkc_ctx *c, vkc_slot *s, int keep_free) {
  pthread_mutex_lock(&c->lock);
  if (c->fifo_len >= VKC_FIFO_CAP - keep_free) {
    pthread_mutex_unlock(&c->lock);
    set_error(c, "%d submissions are waiting already", VKC_FIFO_CAP);
    return VKC_ERR_BUSY;
  }
  c->submitted++;
  s->value = c->submitted;
  s->queued = 1;
  s->submit_error = 0;
  c->fifo[(c->fifo_head + c->fifo_len) % VKC_FIFO_CAP] = s;
  c->fifo_len++;
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->lock);
  return 0;
}

int vkc_poll(vkc_ctx *c, int slot) {
  if (slot < 0 || slot >= c->slot_count) return VKC_ERR_ARG;
  uint64_t now = 0;
  int d = slot_done(c, slot, &now);
  if (d == 1 && c->slots[slot].invalidate && c->have_slots) {
    vkc_slot *s = &c->slots[slot];
    VkMappedMemoryRange ranges[2] = {
        {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, .memory = s->timings_mem, .size = VK_WHOLE_SIZE},
        {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, .memory = s->readback_mem, .size = VK_WHOLE_SIZE},
    };
    // No readback buffer when the planes stay on the GPU (VKC_OUTPUT_YUV420_GPU).
    CHECK(vkInvalidateMappedMemoryRanges(c->device, s->readback_mem ? 2 : 1, ranges));
    s->invalidate = 0;
  }
  return d;
}

int vkc_frame_times(vkc_ctx *c, int slot, double *out) {
  if (slot < 0 || slot >= c->slot_count) return 0;
  pthread_mutex_lock(&c->lock);
  out[2] = c->slots[slot].submit_ms;
  pthread_mutex_unlock(&c->lock);
  if (!c->timestamps || !c->have_slots) return 0;
  uint64_t now = 0;
  if (slot_done(c, slot, &now) != 1) return 0;
  const uint64_t *t = c->slots[slot].timings_ptr;
  uint64_t t0 = t[0] & c->ts_mask, t1 = t[1] & c->ts_mask, t2 = t[2] & c->ts_mask;
  out[0] = (double)((t1 - t0) & c->ts_mask) * c->ts_period_ns / 1e6;
  out[1] = (double)((t2 - t1) & c->ts_mask) * c->ts_period_ns / 1e6;
  return 1;
}

void vkc_message_counts(vkc_ctx *c, int *out) {
  pthread_mutex_lock(&c->messages->lock);
  out[0] = c->messages->errors;
  out[1] = c->messages->warnings;
  out[2] = c->messages->kept;
  pthread_mutex_unlock(&c->messages->lock);
}

int vkc_message_text(vkc_ctx *c, int i, char *out, int out_len) {
  pthread_mutex_lock(&c->messages->lock);
  int ok = i >= 0 && i < c->messages->kept;
  if (ok) snprintf(out, (size_t)out_len, "%s", c->messages->text[i]);
  pthread_mutex_unlock(&c->messages->lock);
  return ok;
}
