// vkcast_vk: frames another process renders into memory it exported (VK_KHR_external_memory_fd,
// OPAQUE_FD), copied on this library's queue into host-visible buffers the encoder reads in place.
//
// The producer's memory holds `slots` regions of `slot_bytes` from `offset`; each region has its own
// readback buffer and command buffer (a vkc_slot, of which only the readback and submission fields are
// used). A copy acquires the region from VK_QUEUE_FAMILY_EXTERNAL, copies it and hands it back, so the
// producer may write it again once the copy is done. Copies go through the submit thread's FIFO like the
// ring's frames: the JS thread never waits for the device.
#include "vkcast_vk_internal.h"

#include <sys/stat.h>

struct vkc_import {
  VkDeviceMemory memory; // the producer's, imported
  VkBuffer source;       // over its regions
  VkDeviceSize offset, slot_bytes;
  int slots;
  vkc_slot copies[VKC_MAX_SLOTS];
  VkQueryPool queries; // two timestamps per slot around its copy; none without timestamps
  vkc_import *next;    // the context's list of imports
};

static void free_import(vkc_ctx *c, vkc_import *m) {
  for (int i = 0; i < m->slots; i++) {
    vkc_slot *s = &m->copies[i];
    if (s->cmd) vkFreeCommandBuffers(c->device, c->pool, 1, &s->cmd);
    if (s->readback) vkDestroyBuffer(c->device, s->readback, NULL);
    if (s->readback_mem) vkFreeMemory(c->device, s->readback_mem, NULL);
  }
  if (m->queries) vkDestroyQueryPool(c->device, m->queries, NULL);
  if (m->source) vkDestroyBuffer(c->device, m->source, NULL);
  if (m->memory) vkFreeMemory(c->device, m->memory, NULL);
  free(m);
}

void destroy_imports(vkc_ctx *c) {
  while (c->imports) {
    vkc_import *m = c->imports;
    c->imports = m->next;
    free_import(c, m);
  }
}

// Whether the device can import OPAQUE_FD memory for a buffer the copies read.
static int can_import(vkc_ctx *c) {
  if (!c->get_memory_fd) return 0; // VK_KHR_external_memory_fd is not enabled
  VkPhysicalDeviceExternalBufferInfo info = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO,
      .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
      .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
  };
  VkExternalBufferProperties props = {.sType = VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
  vkGetPhysicalDeviceExternalBufferProperties(c->physical, &info, &props);
  VkExternalMemoryFeatureFlags f = props.externalMemoryProperties.externalMemoryFeatures;
  return (f & VK_EXTERNAL_MEMORY_FEATURE_IMPORTABLE_BIT) && !(f & VK_EXTERNAL_MEMORY_FEATURE_DEDICATED_ONLY_BIT);
}

// After a failed import the fd is still ours by the spec, but some drivers (lavapipe) close it anyway:
// close `copy` only while it is still the file `original` is.
static void close_if_same(int copy, int original) {
  struct stat a, b;
  if (fstat(copy, &a) == 0 && fstat(original, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) close(copy);
}

static int import_memory(vkc_ctx *c, vkc_import *m, int fd, VkDeviceSize size, uint32_t memory_type) {
  VkExternalMemoryBufferCreateInfo external = {
      .sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
      .handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
  };
  VkBufferCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .pNext = &external,
      .size = m->offset + m->slot_bytes * (VkDeviceSize)m->slots,
      .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  CHECK(vkCreateBuffer(c->device, &info, NULL, &m->source));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(c->device, m->source, &req);
  if (memory_type >= c->mem.memoryTypeCount || !(req.memoryTypeBits & (1u << memory_type))) {
    set_error(c, "memory type %u cannot hold a buffer to copy from (allowed: 0x%x)", memory_type, req.memoryTypeBits);
    return VKC_ERR_ARG;
  }
  if (req.size > size) {
    set_error(c, "%llu bytes of regions need an allocation of %llu bytes; the memory has %llu",
              (unsigned long long)info.size, (unsigned long long)req.size, (unsigned long long)size);
    return VKC_ERR_ARG;
  }
  int copy = dup(fd); // Vulkan owns the fd it imports; `fd` stays ours to close
  if (copy < 0) {
    set_error(c, "dup failed");
    return VKC_ERR_ARG;
  }
  VkImportMemoryFdInfoKHR import = {
      .sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR,
      .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
      .fd = copy,
  };
  VkMemoryAllocateInfo alloc = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
      .pNext = &import,
      .allocationSize = size,
      .memoryTypeIndex = memory_type,
  };
  VkResult r = vkAllocateMemory(c->device, &alloc, NULL, &m->memory);
  if (r != VK_SUCCESS) {
    close_if_same(copy, fd);
    m->memory = VK_NULL_HANDLE;
    set_error(c, "vkAllocateMemory could not import the memory (%s, %d): not memory of this driver, or smaller than %llu bytes",
              result_name(r), (int)r, (unsigned long long)size);
    return (int)r;
  }
  CHECK(vkBindBufferMemory(c->device, m->source, m->memory, 0));
  return 0;
}

static int create_copies(vkc_ctx *c, vkc_import *m) {
  VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
  VkMemoryPropertyFlags want = host | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
  VkCommandBufferAllocateInfo ca = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
      .commandPool = c->pool,
      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
      .commandBufferCount = 1,
  };
  for (int i = 0; i < m->slots; i++) {
    vkc_slot *s = &m->copies[i];
    int e = create_buffer(c, m->slot_bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, want, host, &s->readback, &s->readback_mem,
                          &s->readback_ptr, &s->readback_coherent);
    if (e) return e;
    CHECK(vkAllocateCommandBuffers(c->device, &ca, &s->cmd));
  }
  if (c->timestamps) {
    VkQueryPoolCreateInfo qp = {
        .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
        .queryType = VK_QUERY_TYPE_TIMESTAMP,
        .queryCount = (uint32_t)m->slots * 2,
    };
    CHECK(vkCreateQueryPool(c->device, &qp, NULL, &m->queries));
  }
  return 0;
}

vkc_import *vkc_import_create(vkc_ctx *c, int fd, uint64_t size, uint32_t memory_type, uint64_t offset, uint64_t slot_bytes,
                              int slots) {
  if (is_lost(c)) {
    set_error(c, "the Vulkan device was lost (VK_ERROR_DEVICE_LOST)");
    return NULL;
  }
  if (slots < 1 || slots > VKC_MAX_SLOTS || slot_bytes < 1 || slot_bytes > (1ull << 32) || offset > size ||
      slot_bytes * (uint64_t)slots > size - offset) {
    set_error(c, "vkc_import_create: %d slots of %llu bytes from %llu do not fit in %llu bytes", slots,
              (unsigned long long)slot_bytes, (unsigned long long)offset, (unsigned long long)size);
    return NULL;
  }
  if (!can_import(c)) {
    set_error(c, "%s cannot import memory (VK_KHR_external_memory_fd with OPAQUE_FD buffers)", c->props.deviceName);
    return NULL;
  }
  vkc_import *m = calloc(1, sizeof *m);
  if (!m) {
    set_error(c, "out of host memory");
    return NULL;
  }
  m->offset = offset;
  m->slot_bytes = slot_bytes;
  m->slots = slots;
  int e = import_memory(c, m, fd, size, memory_type);
  if (!e) e = create_copies(c, m);
  if (e) {
    free_import(c, m);
    return NULL;
  }
  m->next = c->imports;
  c->imports = m;
  return m;
}

static int record_copy(vkc_ctx *c, vkc_import *m, int slot, VkDeviceSize from, VkDeviceSize bytes) {
  vkc_slot *s = &m->copies[slot];
  uint32_t q = (uint32_t)slot * 2;
  VkCommandBufferBeginInfo begin = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  CHECK(vkResetCommandBuffer(s->cmd, 0));
  CHECK(vkBeginCommandBuffer(s->cmd, &begin));
  // Acquire the region from the producer (its release barrier names VK_QUEUE_FAMILY_EXTERNAL)...
  VkBufferMemoryBarrier acquire = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
      .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT,
      .srcQueueFamilyIndex = VK_QUEUE_FAMILY_EXTERNAL,
      .dstQueueFamilyIndex = c->queue_family,
      .buffer = m->source,
      .offset = from,
      .size = bytes,
  };
  vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 1, &acquire, 0,
                       NULL);
  VkBufferCopy region = {.srcOffset = from, .dstOffset = 0, .size = bytes};
  if (m->queries) {
    vkCmdResetQueryPool(s->cmd, m->queries, q, 2);
    vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, m->queries, q);
  }
  vkCmdCopyBuffer(s->cmd, m->source, s->readback, 1, &region);
  if (m->queries) vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, m->queries, q + 1);
  // ...hand it back, and make the copy visible to the host.
  VkBufferMemoryBarrier after[2] = {
      {
          .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
          .srcAccessMask = VK_ACCESS_TRANSFER_READ_BIT,
          .srcQueueFamilyIndex = c->queue_family,
          .dstQueueFamilyIndex = VK_QUEUE_FAMILY_EXTERNAL,
          .buffer = m->source,
          .offset = from,
          .size = bytes,
      },
      {
          .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
          .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
          .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
          .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
          .buffer = s->readback,
          .offset = 0,
          .size = bytes,
      },
  };
  vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT,
                       0, 0, NULL, 2, after, 0, NULL);
  CHECK(vkEndCommandBuffer(s->cmd));
  return 0;
}

int vkc_import_copy(vkc_ctx *c, vkc_import *m, int slot, uint32_t bytes) {
  if (is_lost(c)) {
    set_error(c, "the Vulkan device was lost (VK_ERROR_DEVICE_LOST)");
    return VKC_ERR_LOST;
  }
  if (!m || slot < 0 || slot >= m->slots || bytes < 1 || bytes > m->slot_bytes) {
    set_error(c, "vkc_import_copy: slot %d or %u bytes out of range", slot, bytes);
    return VKC_ERR_ARG;
  }
  vkc_slot *s = &m->copies[slot];
  uint64_t now = 0;
  int d = submission_done(c, s, &now);
  if (d < 0) return d;
  if (!d) {
    set_error(c, "vkc_import_copy: slot %d is in flight", slot);
    return VKC_ERR_BUSY;
  }
  int e = record_copy(c, m, slot, m->offset + m->slot_bytes * (VkDeviceSize)slot, bytes);
  if (e) return e;
  s->invalidate = !s->readback_coherent;
  return enqueue_submission(c, s, VKC_MAX_SLOTS);
}

int vkc_import_poll(vkc_ctx *c, vkc_import *m, int slot) {
  if (!m || slot < 0 || slot >= m->slots) return VKC_ERR_ARG;
  vkc_slot *s = &m->copies[slot];
  uint64_t now = 0;
  int d = submission_done(c, s, &now);
  if (d == 1 && s->invalidate) {
    VkMappedMemoryRange range = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, .memory = s->readback_mem, .size = VK_WHOLE_SIZE};
    CHECK(vkInvalidateMappedMemoryRanges(c->device, 1, &range));
    s->invalidate = 0;
  }
  return d;
}

double vkc_import_copy_ms(vkc_ctx *c, vkc_import *m, int slot) {
  uint64_t t[2], now = 0;
  if (!m || !m->queries || slot < 0 || slot >= m->slots || m->copies[slot].value == 0) return -1;
  if (submission_done(c, &m->copies[slot], &now) != 1) return -1;
  if (vkGetQueryPoolResults(c->device, m->queries, (uint32_t)slot * 2, 2, sizeof t, t, sizeof t[0], VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
    return -1;
  return (double)(((t[1] & c->ts_mask) - (t[0] & c->ts_mask)) & c->ts_mask) * c->ts_period_ns / 1e6;
}

void *vkc_import_pixels(vkc_ctx *c, vkc_import *m, int slot) {
  (void)c;
  if (!m || slot < 0 || slot >= m->slots) return NULL;
  return m->copies[slot].readback_ptr;
}

int vkc_import_free(vkc_ctx *c, vkc_import *m) {
  if (!m) return 0;
  for (int i = 0; i < m->slots; i++) {
    uint64_t now = 0;
    int d = submission_done(c, &m->copies[i], &now);
    if (d == 0) {
      set_error(c, "vkc_import_free: slot %d is in flight", i);
      return VKC_ERR_BUSY;
    }
  }
  for (vkc_import **p = &c->imports; *p; p = &(*p)->next)
    if (*p == m) {
      *p = m->next;
      break;
    }
  free_import(c, m);
  return 0;
}
