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

// ---------------------------------------------------------------------------------------------------
// Slots

void destroy_slots(vkc_ctx *c) {
  if (!c->device) return;
  for (int i = 0; i < VKC_SLOTS; i++) {
    vkc_slot *s = &c->slots[i];
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
  }
  c->have_slots = 0;
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
  // Tightly packed rows: stride = width * 4.
  VkBufferImageCopy region = {
      .bufferOffset = 0,
      .bufferRowLength = 0,
      .bufferImageHeight = 0,
      .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
      .imageOffset = {0, 0, 0},
      .imageExtent = {c->width, c->height, 1},
  };
  vkCmdCopyImageToBuffer(cmd, s->color, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, s->readback, 1, &region);
  if (c->timestamps) {
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, c->queries, q0 + 2);
    // Never vkGetQueryPoolResults in the frame loop: on lavapipe it waits for the whole device.
    vkCmdCopyQueryPoolResults(cmd, c->queries, q0, 3, s->timings, 0, sizeof(uint64_t),
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  }
  VkBufferMemoryBarrier to_host[2] = {
      {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
       .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
       .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
       .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .buffer = s->readback,
       .offset = 0,
       .size = VK_WHOLE_SIZE},
      {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
       .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
       .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
       .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
       .buffer = s->timings,
       .offset = 0,
       .size = VK_WHOLE_SIZE},
  };
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 0, NULL,
                       c->timestamps ? 2 : 1, to_host, 0, NULL);
  CHECK(vkEndCommandBuffer(cmd));
  return 0;
}

int create_slots(vkc_ctx *c) {
  VkDeviceSize bytes = (VkDeviceSize)c->width * c->height * 4;
  for (int i = 0; i < VKC_SLOTS; i++) {
    vkc_slot *s = &c->slots[i];
    int e = create_image(c, VK_FORMAT_R8G8B8A8_UNORM,
                         VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
                         VK_IMAGE_ASPECT_COLOR_BIT, &s->color, &s->color_mem, &s->color_view);
    if (!e)
      e = create_image(c, c->depth_format, VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT, VK_IMAGE_ASPECT_DEPTH_BIT,
                       &s->depth, &s->depth_mem, &s->depth_view);
    if (!e)
      e = create_buffer(c, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, &s->readback, &s->readback_mem, &s->readback_ptr,
                        &s->readback_coherent);
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
