/* vulkan-example.c - a Vulkan "engine" in C that streams to vkcast without reading a frame back: it
 * renders into memory it shares with vkcast (VK_KHR_external_memory_fd), and vkcast's own Vulkan device
 * copies each finished frame out (docs/ingest-protocol.md, "Vulkan memory").
 *
 *   cc -std=c99 -Wall -Wextra -Werror -O2 -Iclients/c clients/c/vulkan-example.c -o vulkan-example -lvulkan
 *   bun run index.ts --source ipc:/tmp/engine.sock &     (or the vkcast executable)
 *   ./vulkan-example /tmp/engine.sock [STREAM] [WIDTHxHEIGHT]
 *
 * The picture (default 640x360): red, green, blue and yellow quadrants, and a white square moving along
 * the middle row. It is "rendered" with blits from a 5-texel palette image into a colour image, which is
 * copied into one of 3 frame regions of the shared buffer; after the GPU is done (a fence), the region is
 * submitted to vkcast. Only while someone watches, 30 frames a second. Ctrl-C ends it.
 * Exit codes: 0 stopped, 1 no usable Vulkan device or a Vulkan error, 2 bad arguments, 3 vkcast refused.
 */
#define VKCAST_IMPLEMENTATION
#include "vkcast.h"

#include <vulkan/vulkan.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FPS 30
#define SLOTS 3

static const unsigned char PALETTE[5][4] = {{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 0, 255}, {255, 255, 255, 255}};
enum { RED, GREEN, BLUE, YELLOW, WHITE };

typedef struct {
    VkInstance instance;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t family;
    VkPhysicalDeviceMemoryProperties mem;
    VkImage frame, palette;
    VkDeviceMemory frame_mem, palette_mem, shared_mem, staging_mem;
    VkBuffer shared, staging;
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    VkDeviceSize shared_size, slot_bytes;
    uint32_t shared_type;
    uint8_t uuid[VK_UUID_SIZE];
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
} gpu;

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

#define VK(call)                                                                 \
    do {                                                                         \
        VkResult r_ = (call);                                                    \
        if (r_ != VK_SUCCESS) {                                                  \
            fprintf(stderr, "vulkan-example: %s failed (%d)\n", #call, (int)r_); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

static void sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint32_t memory_type(const gpu *g, uint32_t bits, VkMemoryPropertyFlags want) {
    uint32_t i;
    for (i = 0; i < g->mem.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (g->mem.memoryTypes[i].propertyFlags & want) == want) return i;
    for (i = 0; i < g->mem.memoryTypeCount; i++)
        if (bits & (1u << i)) return i;
    fprintf(stderr, "vulkan-example: no memory type\n");
    exit(1);
}

static int has_extension(VkPhysicalDevice pd, const char *name) {
    VkExtensionProperties props[512];
    uint32_t n = 512, i;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, props) < 0) return 0;
    for (i = 0; i < n; i++)
        if (!strcmp(props[i].extensionName, name)) return 1;
    return 0;
}

/* The first device with VK_KHR_external_memory_fd and a graphics queue (blits need one). */
static void open_device(gpu *g) {
    VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, NULL, "vkcast vulkan-example", 1, NULL, 0, VK_API_VERSION_1_1};
    VkInstanceCreateInfo ici = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, NULL, 0, &app, 0, NULL, 0, NULL};
    VkPhysicalDevice devices[16];
    uint32_t n = 16, i, f, families = 16;
    VkQueueFamilyProperties qf[16];
    const char *ext = VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME;
    float priority = 1.0f;
    VK(vkCreateInstance(&ici, NULL, &g->instance));
    if (vkEnumeratePhysicalDevices(g->instance, &n, devices) < 0) n = 0;
    for (i = 0; i < n && !g->physical; i++) {
        if (!has_extension(devices[i], ext)) continue;
        families = 16;
        vkGetPhysicalDeviceQueueFamilyProperties(devices[i], &families, qf);
        for (f = 0; f < families; f++)
            if (qf[f].queueFlags & VK_QUEUE_GRAPHICS_BIT) {
                g->physical = devices[i];
                g->family = f;
                break;
            }
    }
    if (!g->physical) {
        fprintf(stderr, "vulkan-example: no Vulkan device with %s and a graphics queue\n", ext);
        exit(1);
    }
    {
        VkPhysicalDeviceIDProperties id = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES, NULL, {0}, {0}, {0}, 0, VK_FALSE};
        VkPhysicalDeviceProperties2 props = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &id, {0}};
        vkGetPhysicalDeviceProperties2(g->physical, &props);
        memcpy(g->uuid, id.deviceUUID, VK_UUID_SIZE);
        snprintf(g->name, sizeof g->name, "%s", props.properties.deviceName);
    }
    vkGetPhysicalDeviceMemoryProperties(g->physical, &g->mem);
    {
        VkDeviceQueueCreateInfo q = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, NULL, 0, g->family, 1, &priority};
        VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, NULL, 0, 1, &q, 0, NULL, 1, &ext, NULL};
        VK(vkCreateDevice(g->physical, &dci, NULL, &g->device));
    }
    vkGetDeviceQueue(g->device, g->family, 0, &g->queue);
}

static void create_image(gpu *g, uint32_t w, uint32_t h, VkImage *img, VkDeviceMemory *mem) {
    VkImageCreateInfo info = {VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, NULL, 0, VK_IMAGE_TYPE_2D, VK_FORMAT_R8G8B8A8_UNORM,
                              {w, h, 1}, 1, 1, VK_SAMPLE_COUNT_1_BIT, VK_IMAGE_TILING_OPTIMAL,
                              VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT, VK_SHARING_MODE_EXCLUSIVE, 0, NULL,
                              VK_IMAGE_LAYOUT_UNDEFINED};
    VkMemoryRequirements req;
    VkMemoryAllocateInfo alloc = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, NULL, 0, 0};
    VK(vkCreateImage(g->device, &info, NULL, img));
    vkGetImageMemoryRequirements(g->device, *img, &req);
    alloc.allocationSize = req.size;
    alloc.memoryTypeIndex = memory_type(g, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    VK(vkAllocateMemory(g->device, &alloc, NULL, mem));
    VK(vkBindImageMemory(g->device, *img, *mem, 0));
}

/* The buffer vkcast copies frames from: SLOTS regions of slot_bytes, in exportable memory; returns its fd. */
static int create_shared(gpu *g, uint32_t w, uint32_t h) {
    VkExternalMemoryBufferCreateInfo ext = {VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, NULL,
                                            VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
    VkBufferCreateInfo info = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, &ext, 0, 0,
                               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT, VK_SHARING_MODE_EXCLUSIVE, 0, NULL};
    VkExportMemoryAllocateInfo export_info = {VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, NULL, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
    VkMemoryAllocateInfo alloc = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &export_info, 0, 0};
    VkMemoryGetFdInfoKHR get = {VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR, NULL, VK_NULL_HANDLE, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
    PFN_vkGetMemoryFdKHR get_fd = (PFN_vkGetMemoryFdKHR)vkGetDeviceProcAddr(g->device, "vkGetMemoryFdKHR");
    VkMemoryRequirements req;
    int fd = -1;
    g->slot_bytes = ((VkDeviceSize)w * h * 4 + 4095) & ~(VkDeviceSize)4095;
    info.size = g->slot_bytes * SLOTS;
    VK(vkCreateBuffer(g->device, &info, NULL, &g->shared));
    vkGetBufferMemoryRequirements(g->device, g->shared, &req);
    g->shared_size = alloc.allocationSize = req.size;
    g->shared_type = alloc.memoryTypeIndex = memory_type(g, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    VK(vkAllocateMemory(g->device, &alloc, NULL, &g->shared_mem));
    VK(vkBindBufferMemory(g->device, g->shared, g->shared_mem, 0));
    get.memory = g->shared_mem;
    if (!get_fd) {
        fprintf(stderr, "vulkan-example: no vkGetMemoryFdKHR\n");
        exit(1);
    }
    VK(get_fd(g->device, &get, &fd));
    return fd;
}

static void image_barrier(VkCommandBuffer cmd, VkImage img, VkImageLayout from, VkImageLayout to, VkAccessFlags src, VkAccessFlags dst) {
    VkImageMemoryBarrier b = {VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER, NULL, src, dst, from, to, VK_QUEUE_FAMILY_IGNORED,
                              VK_QUEUE_FAMILY_IGNORED, img, {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 0, NULL, 1, &b);
}

static void submit_and_wait(gpu *g) {
    VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO, NULL, 0, NULL, NULL, 1, &g->cmd, 0, NULL};
    VK(vkQueueSubmit(g->queue, 1, &si, g->fence));
    VK(vkWaitForFences(g->device, 1, &g->fence, VK_TRUE, UINT64_MAX));
    VK(vkResetFences(g->device, 1, &g->fence));
}

static void begin(gpu *g) {
    VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, NULL, VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, NULL};
    VK(vkResetCommandBuffer(g->cmd, 0));
    VK(vkBeginCommandBuffer(g->cmd, &bi));
}

/* The palette: 5 texels uploaded once through a host-visible staging buffer. */
static void upload_palette(gpu *g) {
    VkBufferCreateInfo info = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, NULL, 0, sizeof PALETTE, VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                               VK_SHARING_MODE_EXCLUSIVE, 0, NULL};
    VkMemoryRequirements req;
    VkMemoryAllocateInfo alloc = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, NULL, 0, 0};
    VkBufferImageCopy region = {0, 0, 0, {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, {0, 0, 0}, {5, 1, 1}};
    void *p;
    VK(vkCreateBuffer(g->device, &info, NULL, &g->staging));
    vkGetBufferMemoryRequirements(g->device, g->staging, &req);
    alloc.allocationSize = req.size;
    alloc.memoryTypeIndex = memory_type(g, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    VK(vkAllocateMemory(g->device, &alloc, NULL, &g->staging_mem));
    VK(vkBindBufferMemory(g->device, g->staging, g->staging_mem, 0));
    VK(vkMapMemory(g->device, g->staging_mem, 0, VK_WHOLE_SIZE, 0, &p));
    memcpy(p, PALETTE, sizeof PALETTE);
    begin(g);
    image_barrier(g->cmd, g->palette, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0, VK_ACCESS_TRANSFER_WRITE_BIT);
    vkCmdCopyBufferToImage(g->cmd, g->staging, g->palette, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
    image_barrier(g->cmd, g->palette, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                  VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    VK(vkEndCommandBuffer(g->cmd));
    submit_and_wait(g);
}

/* Fills the rectangle (x0, y0)-(x1, y1) of the frame with palette colour `c` (a nearest-filtered blit). */
static void fill(gpu *g, int c, int x0, int y0, int x1, int y1) {
    VkImageBlit blit = {{VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, {{c, 0, 0}, {c + 1, 1, 1}},
                        {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, {{x0, y0, 0}, {x1, y1, 1}}};
    vkCmdBlitImage(g->cmd, g->palette, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, g->frame, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &blit,
                   VK_FILTER_NEAREST);
}

/* Renders frame `n` and copies it into region `slot` of the shared buffer, handing the region to vkcast's
 * queue (VK_QUEUE_FAMILY_EXTERNAL); returns once the GPU is done. */
static void render(gpu *g, int w, int h, int slot, unsigned n) {
    VkDeviceSize at = g->slot_bytes * (VkDeviceSize)slot;
    VkBufferImageCopy region = {at, 0, 0, {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1}, {0, 0, 0}, {(uint32_t)w, (uint32_t)h, 1}};
    VkBufferMemoryBarrier acquire = {VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER, NULL, 0, VK_ACCESS_TRANSFER_WRITE_BIT,
                                     VK_QUEUE_FAMILY_EXTERNAL, g->family, g->shared, at, g->slot_bytes};
    VkBufferMemoryBarrier release = {VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER, NULL, VK_ACCESS_TRANSFER_WRITE_BIT, 0,
                                     g->family, VK_QUEUE_FAMILY_EXTERNAL, g->shared, at, g->slot_bytes};
    int side = h / 8, x = (int)((n * 4u) % (unsigned)(w - side));
    begin(g);
    vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 1, &acquire, 0, NULL);
    image_barrier(g->cmd, g->frame, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0, VK_ACCESS_TRANSFER_WRITE_BIT);
    fill(g, RED, 0, 0, w / 2, h / 2);
    fill(g, GREEN, w / 2, 0, w, h / 2);
    fill(g, BLUE, 0, h / 2, w / 2, h);
    fill(g, YELLOW, w / 2, h / 2, w, h);
    fill(g, WHITE, x, h / 2 - side / 2, x + side, h / 2 - side / 2 + side);
    image_barrier(g->cmd, g->frame, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                  VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    vkCmdCopyImageToBuffer(g->cmd, g->frame, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, g->shared, 1, &region);
    vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, NULL, 1, &release, 0, NULL);
    VK(vkEndCommandBuffer(g->cmd));
    submit_and_wait(g); /* the frame is complete before vkcast hears of it */
}

int main(int argc, char **argv) {
    gpu g;
    vkcast *v;
    char err[512];
    int w = 640, h = 360, fd, r, slot;
    unsigned frame = 0;
    double next = now_ms();
    if (argc < 2 || argc > 4 || (argc == 4 && (sscanf(argv[3], "%dx%d", &w, &h) != 2 || w < 16 || h < 16 || w > 3840 || h > 2160))) {
        fprintf(stderr, "usage: %s SOCKET_PATH [STREAM] [WIDTHxHEIGHT, 16x16 .. 3840x2160]\n", argv[0]);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    memset(&g, 0, sizeof g);
    open_device(&g);
    create_image(&g, (uint32_t)w, (uint32_t)h, &g.frame, &g.frame_mem);
    create_image(&g, 5, 1, &g.palette, &g.palette_mem);
    {
        VkCommandPoolCreateInfo cp = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, NULL, VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, g.family};
        VkCommandBufferAllocateInfo ca = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, NULL, VK_NULL_HANDLE, VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
        VkFenceCreateInfo fi = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, NULL, 0};
        VK(vkCreateCommandPool(g.device, &cp, NULL, &g.pool));
        ca.commandPool = g.pool;
        VK(vkAllocateCommandBuffers(g.device, &ca, &g.cmd));
        VK(vkCreateFence(g.device, &fi, NULL, &g.fence));
    }
    upload_palette(&g);
    fd = create_shared(&g, (uint32_t)w, (uint32_t)h);

    v = vkcast_connect(argv[1], argc > 2 ? argv[2] : NULL, w, h, VKCAST_RGBA, err, sizeof err);
    if (!v) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    r = vkcast_share_vulkan_memory(v, fd, g.shared_size, g.shared_type, 0, g.slot_bytes, SLOTS, g.uuid, err, sizeof err);
    close(fd); /* vkcast holds its own copy now (or refused) */
    if (r != VKCAST_OK) {
        fprintf(stderr, "%s\n", err[0] ? err : "vkcast: could not share memory");
        vkcast_close(v);
        return r == VKCAST_REFUSED ? 3 : 1;
    }
    printf("vulkan-example: sharing %dx%d frames with vkcast on %s; viewers at %s\n", w, h, g.name, vkcast_url(v));
    fflush(stdout);

    while (!stop_requested) {
        vkcast_event ev;
        while ((r = vkcast_poll_event(v, &ev)) > 0) {}
        if (r == VKCAST_CLOSED) break;
        if (!vkcast_has_clients(v)) { /* nobody watches: render nothing */
            sleep_ms(10);
            continue;
        }
        next += 1000.0 / FPS;
        r = vkcast_acquire_shared(v, &slot);
        if (r == VKCAST_CLOSED) break;
        if (r == VKCAST_OK) {
            render(&g, w, h, slot, frame++);
            if (vkcast_submit_shared(v, slot, w, h, w * 4, VKCAST_RGBA) == VKCAST_CLOSED) break;
        }
        if (next - now_ms() > 0) sleep_ms((int)(next - now_ms()));
        else next = now_ms();
    }
    if (vkcast_error(v)) fprintf(stderr, "%s\n", vkcast_error(v));
    vkcast_close(v);
    vkDeviceWaitIdle(g.device);
    vkDestroyFence(g.device, g.fence, NULL);
    vkDestroyCommandPool(g.device, g.pool, NULL);
    vkDestroyBuffer(g.device, g.shared, NULL);
    vkDestroyBuffer(g.device, g.staging, NULL);
    vkDestroyImage(g.device, g.frame, NULL);
    vkDestroyImage(g.device, g.palette, NULL);
    vkFreeMemory(g.device, g.shared_mem, NULL);
    vkFreeMemory(g.device, g.staging_mem, NULL);
    vkFreeMemory(g.device, g.frame_mem, NULL);
    vkFreeMemory(g.device, g.palette_mem, NULL);
    vkDestroyDevice(g.device, NULL);
    vkDestroyInstance(g.instance, NULL);
    return stop_requested ? 0 : 1;
}
