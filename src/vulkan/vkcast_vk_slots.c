// vkcast_vk: device memory, and the ring of slots (render targets, readback buffer, uniforms,
// timestamps and a command buffer recorded once per slot).
#include "vkcast_vk_internal.h"

// ---------------------------------------------------------------------------------------------------
// Memory

// The first memory type allowed by `bits` with all of `want`, else all of `need`; -1 when none.
static int memory_type(vkc_ctx *c, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags need) {
  for (int pass = 0; pass < 2; pass++) {
    VkMemoryPropertyFlags flags = pass == 0 ? want : need;
    for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++)
      if ((bits & (1u << i)) && (c->mem.memoryTypes[i].propertyFlags & flags) == flags) return (int)i;
  }
  return -1;
}

static int alloc_memory(vkc_ctx *c, VkMemoryRequirements req, VkMemoryPropertyFlags want, VkMemoryPropertyFlags need,
                        VkDeviceMemory *out, int *coherent) {
  int type = memory_type(c, req.memoryTypeBits, want, need);
  if (type < 0) {
    set_error(c, "no Vulkan memory type with the properties 0x%x", (unsigned)need);
    return VK_ERROR_OUT_OF_DEVICE_MEMORY;
  }
  if (coherent) *coherent = (c->mem.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
  VkMemoryAllocateInfo info = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
      .allocationSize = req.size,
      .memoryTypeIndex = (uint32_t)type,
  };
  CHECK(vkAllocateMemory(c->device, &info, NULL, out));
  return 0;
}

int create_buffer(vkc_ctx *c, VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want,
                  VkMemoryPropertyFlags need, VkBuffer *buf, VkDeviceMemory *mem, void **mapped, int *coherent) {
  VkBufferCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .size = size,
      .usage = usage,
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  CHECK(vkCreateBuffer(c->device, &info, NULL, buf));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(c->device, *buf, &req);
  int e = alloc_memory(c, req, want, need, mem, coherent);
  if (e) return e;
  CHECK(vkBindBufferMemory(c->device, *buf, *mem, 0));
  if (mapped) CHECK(vkMapMemory(c->device, *mem, 0, VK_WHOLE_SIZE, 0, mapped));
  return 0;
}

static int create_image(vkc_ctx *c, VkFormat format, VkImageUsageFlags usage, VkImageAspectFlags aspect,
                        VkImage *img, VkDeviceMemory *mem, VkImageView *view) {
  VkImageCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO,
      .imageType = VK_IMAGE_TYPE_2D,
      .format = format,
      .extent = {c->width, c->height, 1},
      .mipLevels = 1,
      .arrayLayers = 1,
      .samples = VK_SAMPLE_COUNT_1_BIT,
      .tiling = VK_IMAGE_TILING_OPTIMAL,
      .usage = usage,
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
      .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
  };
  CHECK(vkCreateImage(c->device, &info, NULL, img));
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(c->device, *img, &req);
  int e = alloc_memory(c, req, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, mem, NULL);
  if (e) return e;
  CHECK(vkBindImageMemory(c->device, *img, *mem, 0));
  VkImageViewCreateInfo vi = {
      .sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO,
      .image = *img,
      .viewType = VK_IMAGE_VIEW_TYPE_2D,
      .format = format,
      .subresourceRange = {aspect, 0, 1, 0, 1},
  };
  CHECK(vkCreateImageView(c->device, &vi, NULL, view));
  return 0;
}

// The buffer the 4:2:0 conversion writes: device memory, exportable as an opaque fd for CUDA when
// `exported` (in a dedicated allocation where the driver wants one).
static int create_planes(vkc_ctx *c, vkc_slot *s, VkDeviceSize size, int exported) {
  VkExternalMemoryBufferCreateInfo ext = {
      .sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO,
      .handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
  };
  VkBufferCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .pNext = exported ? &ext : NULL,
      .size = size,
      .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  CHECK(vkCreateBuffer(c->device, &info, NULL, &s->planes));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(c->device, s->planes, &req);
  int type = memory_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
  VkMemoryDedicatedAllocateInfo dedicated = {.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, .buffer = s->planes};
  VkExportMemoryAllocateInfo export = {
      .sType = VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
      .pNext = c->export_dedicated ? &dedicated : NULL,
      .handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
  };
  VkMemoryAllocateInfo alloc = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
      .pNext = exported ? &export : NULL,
      .allocationSize = req.size,
      .memoryTypeIndex = (uint32_t)type,
  };
  CHECK(vkAllocateMemory(c->device, &alloc, NULL, &s->planes_mem));
  s->planes_alloc = req.size;
  CHECK(vkBindBufferMemory(c->device, s->planes, s->planes_mem, 0));
  if (exported) {
    VkMemoryGetFdInfoKHR get = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR,
        .memory = s->planes_mem,
        .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
    };
    CHECK(c->get_memory_fd(c->device, &get, &s->export_fd));
  }
  return 0;
}

// The conversion's descriptor set: the slot's picture (its pixels buffer) in, `target` (planes or readback) out.
static int create_yuv_set(vkc_ctx *c, vkc_slot *s, VkBuffer target) {
  VkDescriptorSetAllocateInfo da = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
      .descriptorPool = c->yuv_pool,
      .descriptorSetCount = 1,
      .pSetLayouts = &c->yuv_set_layout,
  };
  CHECK(vkAllocateDescriptorSets(c->device, &da, &s->yuv_set));
  VkDescriptorBufferInfo image = {s->pixels, 0, VK_WHOLE_SIZE};
  VkDescriptorBufferInfo buffer = {target, 0, VK_WHOLE_SIZE};
  VkWriteDescriptorSet w[2] = {
      {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = s->yuv_set, .dstBinding = 0, .descriptorCount = 1,
       .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &image},
      {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = s->yuv_set, .dstBinding = 1, .descriptorCount = 1,
       .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &buffer},
  };
  vkUpdateDescriptorSets(c->device, 2, w, 0, NULL);
  return 0;
}

VkDeviceSize yuv_layout(uint32_t width, uint32_t height, uint32_t p[4]) {
  uint32_t y_pitch = (width + 7) / 8 * 8, c_pitch = y_pitch / 2, c_rows = (height + 1) / 2;
  p[0] = y_pitch;
  p[1] = c_pitch;
  p[2] = y_pitch * c_rows * 2; // an even number of Y rows: libjpeg-turbo repeats an odd last one
  p[3] = p[2] + c_pitch * c_rows;
  return (VkDeviceSize)p[3] + (VkDeviceSize)c_pitch * c_rows;
}

// Where the conversion writes straight into the mapped readback buffer: devices whose memory is the
// host's (lavapipe, integrated GPUs), so no copy is needed.
static int converts_in_place(vkc_ctx *c) {
  return c->output == VKC_OUTPUT_YUV420 &&
         (c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU || c->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU);
}

// ---------------------------------------------------------------------------------------------------
// Slots

void destroy_slots(vkc_ctx *c) {
  if (!c->device) return;
  for (int i = 0; i < VKC_MAX_SLOTS; i++) {
    vkc_slot *s = &c->slots[i];
    if (s->yuv_set) vkFreeDescriptorSets(c->device, c->yuv_pool, 1, &s->yuv_set);
    if (s->planes) vkDestroyBuffer(c->device, s->planes, NULL);
    if (s->pixels) vkDestroyBuffer(c->device, s->pixels, NULL);
    if (s->pixels_mem) vkFreeMemory(c->device, s->pixels_mem, NULL);
    if (s->planes_mem) vkFreeMemory(c->device, s->planes_mem, NULL);
    if (s->export_fd >= 0) close(s->export_fd);
    if (s->cmd) vkFreeCommandBuffers(c->device, c->pool, 1, &s->cmd);
    if (s->set) vkFreeDescriptorSets(c->device, c->descriptor_pool, 1, &s->set);
    if (s->framebuffer) vkDestroyFramebuffer(c->device, s->framebuffer, NULL);
    if (s->color_view) vkDestroyImageView(c->device, s->color_view, NULL);
    if (s->depth_view) vkDestroyImageView(c->device, s->depth_view, NULL);
    if (s->color) vkDestroyImage(c->device, s->color, NULL);
    if (s->depth) vkDestroyImage(c->device, s->depth, NULL);
    if (s->readback) vkDestroyBuffer(c->device, s->readback, NULL);
    if (s->uniforms) vkDestroyBuffer(c->device, s->uniforms, NULL);
    if (s->timings) vkDestroyBuffer(c->device, s->timings, NULL);
    // Freeing mapped memory unmaps it.
    VkDeviceMemory mems[5] = {s->color_mem, s->depth_mem, s->readback_mem, s->uniforms_mem, s->timings_mem};
    for (int k = 0; k < 5; k++)
      if (mems[k]) vkFreeMemory(c->device, mems[k], NULL);
    uint64_t value = s->value; // the timeline keeps counting across resizes
    memset(s, 0, sizeof *s);
    s->value = value;
    s->export_fd = -1;
  }
  c->have_slots = 0;
}

// The 4:2:0 conversion after the render pass: the picture is copied into the pixels buffer (in device
// memory) and the compute shader writes the planes from it; on a discrete GPU they are then copied to
// the mapped readback buffer (VKC_OUTPUT_YUV420) or stay where they are (VKC_OUTPUT_YUV420_GPU).
static void record_yuv(vkc_ctx *c, vkc_slot *s, VkCommandBuffer cmd) {
  VkBufferImageCopy whole = {.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, .imageExtent = {c->width, c->height, 1}};
  vkCmdCopyImageToBuffer(cmd, s->color, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, s->pixels, 1, &whole);
  VkBufferMemoryBarrier to_shader = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_SHADER_READ_BIT,
      .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
      .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
      .buffer = s->pixels,
      .size = VK_WHOLE_SIZE,
  };
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 0, NULL, 1, &to_shader, 0,
                       NULL);
  uint32_t layout[6];
  yuv_layout(c->width, c->height, layout + 2);
  layout[0] = c->width;
  layout[1] = c->height;
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->yuv_pipeline);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->yuv_layout, 0, 1, &s->yuv_set, 0, NULL);
  vkCmdPushConstants(cmd, c->yuv_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof layout, layout);
  // One invocation per 8x2 pixels, 8x8 invocations per group.
  vkCmdDispatch(cmd, ((c->width + 7) / 8 + 7) / 8, ((c->height + 1) / 2 + 7) / 8, 1);
  if (c->output != VKC_OUTPUT_YUV420 || converts_in_place(c)) return;
  VkBufferMemoryBarrier to_copy = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT,
      .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
      .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
      .buffer = s->planes,
      .size = VK_WHOLE_SIZE,
  };
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 1, &to_copy, 0,
                       NULL);
  uint32_t p[4];
  VkBufferCopy region = {.size = yuv_layout(c->width, c->height, p)};
  vkCmdCopyBuffer(cmd, s->planes, s->readback, 1, &region);
}

int record_slot(vkc_ctx *c, int index) {
  vkc_slot *s = &c->slots[index];
  VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VkCommandBuffer cmd = s->cmd;
  CHECK(vkBeginCommandBuffer(cmd, &begin));
  uint32_t q0 = (uint32_t)index * 3;
  if (c->timestamps) {
    vkCmdResetQueryPool(cmd, c->queries, q0, 3);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->queries, q0);
  }
  VkClearValue clear[2] = {{.color = {{0.0f, 0.0f, 0.0f, 1.0f}}}, {.depthStencil = {1.0f, 0}}};
  VkRenderPassBeginInfo rp = {
      .sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO,
      .renderPass = c->render_pass,
      .framebuffer = s->framebuffer,
      .renderArea = {{0, 0}, {c->width, c->height}},
      .clearValueCount = 2,
      .pClearValues = clear,
  };
  vkCmdBeginRenderPass(cmd, &rp, VK_SUBPASS_CONTENTS_INLINE);
  // Negative-height viewport is not needed: the projection built in TS already flips y for Vulkan.
  VkViewport viewport = {0.0f, 0.0f, (float)c->width, (float)c->height, 0.0f, 1.0f};
  VkRect2D scissor = {{0, 0}, {c->width, c->height}};
  vkCmdSetViewport(cmd, 0, 1, &viewport);
  vkCmdSetScissor(cmd, 0, 1, &scissor);
  if (c->scene == VKC_SCENE_PATTERN) {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, c->pattern_pipeline);
    vkCmdDraw(cmd, 3, 1, 0, 0);
  } else {
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, c->layout, 0, 1, &s->set, 0, NULL);
    if (c->vertices && c->draw_count) {
      VkDeviceSize offset = 0;
      vkCmdBindVertexBuffers(cmd, 0, 1, &c->vertices, &offset);
      vkCmdBindIndexBuffer(cmd, c->indices, 0, VK_INDEX_TYPE_UINT32);
      // Meshes first (front objects fill the depth buffer), the ground after them.
      for (int kind = VKC_DRAW_MESH; kind <= VKC_DRAW_GROUND; kind++) {
        vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, kind == VKC_DRAW_MESH ? c->mesh_pipeline : c->ground_pipeline);
        for (uint32_t i = 0; i < c->draw_count; i++) {
          const vkc_draw *d = &c->draws[i];
          if (d->kind == (uint32_t)kind) vkCmdDrawIndexed(cmd, d->index_count, 1, d->first_index, 0, d->object);
        }
      }
    }
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, c->sky_pipeline);
    vkCmdDraw(cmd, 3, 1, 0, 0);
  }
  vkCmdEndRenderPass(cmd);
  if (c->timestamps) vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, c->queries, q0 + 1);
  if (c->output == VKC_OUTPUT_RGBA) {
    // Tightly packed rows: stride = width * 4.
    VkBufferImageCopy region = {
        .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
        .imageExtent = {c->width, c->height, 1},
    };
    vkCmdCopyImageToBuffer(cmd, s->color, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, s->readback, 1, &region);
  } else {
    record_yuv(c, s, cmd);
  }
  if (c->timestamps) {
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, c->queries, q0 + 2);
    // Never vkGetQueryPoolResults in the frame loop: on lavapipe it waits for the whole device.
    vkCmdCopyQueryPoolResults(cmd, c->queries, q0, 3, s->timings, 0, sizeof(uint64_t),
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  }
  // What the host reads: the readback buffer (written by the copy, or by the conversion in place) and
  // the timings; exported planes are read by CUDA once the host saw the frame done.
  VkAccessFlags written = converts_in_place(c) ? VK_ACCESS_SHADER_WRITE_BIT : VK_ACCESS_TRANSFER_WRITE_BIT;
  VkBufferMemoryBarrier to_host[2] = {
      {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
       .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
       .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
       .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .buffer = s->timings,
       .offset = 0,
       .size = VK_WHOLE_SIZE},
      {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
       .srcAccessMask = c->output == VKC_OUTPUT_YUV420_GPU ? VK_ACCESS_SHADER_WRITE_BIT : written,
       .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
       .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .buffer = c->output == VKC_OUTPUT_YUV420_GPU ? s->planes : s->readback,
       .offset = 0,
       .size = VK_WHOLE_SIZE},
  };
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                       0, 0, NULL, c->timestamps ? 2 : 1, c->timestamps ? to_host : to_host + 1, 0, NULL);
  CHECK(vkEndCommandBuffer(cmd));
  return 0;
}

int create_slots(vkc_ctx *c) {
  uint32_t p[4];
  int yuv = c->output != VKC_OUTPUT_RGBA, in_place = converts_in_place(c);
  VkDeviceSize bytes = yuv ? yuv_layout(c->width, c->height, p) : (VkDeviceSize)c->width * c->height * 4;
  for (int i = 0; i < c->slot_count; i++) {
    vkc_slot *s = &c->slots[i];
    VkImageUsageFlags usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
    int e = create_image(c, VK_FORMAT_R8G8B8A8_UNORM, usage, VK_IMAGE_ASPECT_COLOR_BIT, &s->color, &s->color_mem, &s->color_view);
    if (!e)
      e = create_image(c, c->depth_format, VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, VK_IMAGE_ASPECT_DEPTH_BIT,
                       &s->depth, &s->depth_mem, &s->depth_view);
    if (!e && yuv)
      e = create_buffer(c, (VkDeviceSize)c->width * c->height * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                        VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, &s->pixels, &s->pixels_mem, NULL, NULL);
    if (!e && yuv && !in_place) e = create_planes(c, s, bytes, c->output == VKC_OUTPUT_YUV420_GPU);
    if (!e && c->output != VKC_OUTPUT_YUV420_GPU)
      e = create_buffer(c, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT | (in_place ? VK_BUFFER_USAGE_STORAGE_BUFFER_BIT : 0),
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, &s->readback, &s->readback_mem, &s->readback_ptr,
                        &s->readback_coherent);
    if (!e && yuv) e = create_yuv_set(c, s, in_place ? s->readback : s->planes);
    if (!e)
      e = create_buffer(c, VKC_UNIFORM_BYTES, VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, &s->uniforms,
                        &s->uniforms_mem, &s->uniforms_ptr, NULL);
    if (!e) {
      memset(s->uniforms_ptr, 0, VKC_UNIFORM_BYTES);
      e = create_buffer(c, 4 * sizeof(uint64_t), VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, &s->timings, &s->timings_mem, &s->timings_ptr,
                        &s->timings_coherent);
    }
    if (e) return e;
    memset(s->timings_ptr, 0, 4 * sizeof(uint64_t));
    VkImageView views[2] = {s->color_view, s->depth_view};
    VkFramebufferCreateInfo fb = {
        .sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO,
        .renderPass = c->render_pass,
        .attachmentCount = 2,
        .pAttachments = views,
        .width = c->width,
        .height = c->height,
        .layers = 1,
    };
    CHECK(vkCreateFramebuffer(c->device, &fb, NULL, &s->framebuffer));
    VkDescriptorSetAllocateInfo da = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = c->descriptor_pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &c->set_layout,
    };
    CHECK(vkAllocateDescriptorSets(c->device, &da, &s->set));
    VkDescriptorBufferInfo bi = {s->uniforms, 0, VKC_UNIFORM_BYTES};
    VkWriteDescriptorSet w = {
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = s->set,
        .dstBinding = 0,
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER,
        .pBufferInfo = &bi,
    };
    vkUpdateDescriptorSets(c->device, 1, &w, 0, NULL);
    VkCommandBufferAllocateInfo ca = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = c->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    CHECK(vkAllocateCommandBuffers(c->device, &ca, &s->cmd));
    e = record_slot(c, i);
    if (e) return e;
  }
  c->have_slots = 1;
  return 0;
}
