// vkcast_vk: the instance (with the validation layer's messages when asked), the choice of a
// physical device, the logical device, and the device list.
#include "vkcast_vk_internal.h"

// ---------------------------------------------------------------------------------------------------
// Validation messages

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user) {
  (void)types;
  vkc_messages *m = user;
  pthread_mutex_lock(&m->lock);
  const char *kind = "info";
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    m->errors++;
    kind = "error";
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    m->warnings++;
    kind = "warning";
  } else {
    m->infos++;
  }
  if ((severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)) &&
      m->kept < VKC_MSG_KEEP) {
    snprintf(m->text[m->kept++], VKC_MSG_LEN, "%s: %s", kind, data && data->pMessage ? data->pMessage : "(no text)");
  }
  pthread_mutex_unlock(&m->lock);
  return VK_FALSE;
}

// ---------------------------------------------------------------------------------------------------
// Instance and device

static int has_layer(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkLayerProperties *p = calloc(n, sizeof *p);
  if (!p) return 0;
  int found = 0;
  if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(p[i].layerName, name) == 0) found = 1;
  free(p);
  return found;
}

static int has_instance_extension(const char *layer, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkExtensionProperties *p = calloc(n, sizeof *p);
  if (!p) return 0;
  int found = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(p[i].extensionName, name) == 0) found = 1;
  free(p);
  return found;
}

int create_instance(vkc_ctx *c, int validation) {
  uint32_t version = 0;
  if (vkEnumerateInstanceVersion(&version) != VK_SUCCESS || version < VK_API_VERSION_1_2) {
    set_error(c, "the Vulkan loader supports only version %u.%u; 1.2 is needed", VK_API_VERSION_MAJOR(version),
              VK_API_VERSION_MINOR(version));
    return VKC_ERR_UNAVAILABLE;
  }
  VkApplicationInfo app = {
      .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
      .pApplicationName = "vkcast",
      .applicationVersion = 1,
      .pEngineName = "vkcast",
      .engineVersion = 1,
      .apiVersion = VK_API_VERSION_1_2,
  };
  const char *layers[1] = {"VK_LAYER_KHRONOS_validation"};
  const char *exts[2];
  uint32_t n_ext = 0;
  VkValidationFeatureEnableEXT enables[1] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features = {
      .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
      .enabledValidationFeatureCount = 1,
      .pEnabledValidationFeatures = enables,
  };
  VkDebugUtilsMessengerCreateInfoEXT messenger = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .pNext = &features,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_message,
      .pUserData = c->messages,
  };
  if (validation) {
    if (!has_layer(layers[0])) {
      set_error(c, "validation was requested but VK_LAYER_KHRONOS_validation is not installed "
                   "(apt-get install vulkan-validationlayers)");
      return VKC_ERR_LAYER;
    }
    if (has_instance_extension(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
        has_instance_extension(layers[0], VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
      exts[n_ext++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    exts[n_ext++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
  }
  // Headless: no surface extension of any kind.
  VkInstanceCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
      .pNext = validation ? &messenger : NULL,
      .pApplicationInfo = &app,
      .enabledLayerCount = validation ? 1 : 0,
      .ppEnabledLayerNames = layers,
      .enabledExtensionCount = n_ext,
      .ppEnabledExtensionNames = exts,
  };
  VkResult r = vkCreateInstance(&info, NULL, &c->instance);
  if (r != VK_SUCCESS) {
    c->instance = VK_NULL_HANDLE;
    set_error(c, "vkCreateInstance failed: %s (%d)", result_name(r), (int)r);
    return r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED ? VKC_ERR_UNAVAILABLE : (int)r;
  }
  if (validation && n_ext == 2) {
    PFN_vkCreateDebugUtilsMessengerEXT create =
        (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(c->instance, "vkCreateDebugUtilsMessengerEXT");
    messenger.pNext = NULL;
    if (create) CHECK(create(c->instance, &messenger, NULL, &c->messenger));
  }
  return 0;
}

static int device_rank(VkPhysicalDeviceType t) {
  switch (t) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
  default: return 0;
  }
}

// A device is usable when it has Vulkan 1.2, timeline semaphores and a graphics queue.
static int usable(VkPhysicalDevice pd, uint32_t *family, char *why, size_t why_len) {
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(pd, &p);
  if (p.apiVersion < VK_API_VERSION_1_2) {
    snprintf(why, why_len, "supports Vulkan %u.%u only (1.2 is needed)", VK_API_VERSION_MAJOR(p.apiVersion),
             VK_API_VERSION_MINOR(p.apiVersion));
    return 0;
  }
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
  vkGetPhysicalDeviceFeatures2(pd, &f);
  if (!f12.timelineSemaphore) {
    snprintf(why, why_len, "has no timeline semaphores");
    return 0;
  }
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
  VkQueueFamilyProperties q[16];
  if (n > 16) n = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
  for (uint32_t i = 0; i < n; i++) {
    if (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) {
      *family = i;
      return 1;
    }
  }
  snprintf(why, why_len, "has no graphics queue");
  return 0;
}

static int contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  if (n == 0) return 1;
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return 1;
  return 0;
}

int pick_device(vkc_ctx *c, const char *want) {
  uint32_t n = 0;
  VkResult r = vkEnumeratePhysicalDevices(c->instance, &n, NULL);
  if (r != VK_SUCCESS || n == 0) {
    set_error(c, "no Vulkan device found (%s)", r != VK_SUCCESS ? result_name(r) : "the loader lists none");
    return VKC_ERR_UNAVAILABLE;
  }
  VkPhysicalDevice devs[32];
  if (n > 32) n = 32;
  r = vkEnumeratePhysicalDevices(c->instance, &n, devs);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    set_error(c, "vkEnumeratePhysicalDevices failed: %s", result_name(r));
    return VKC_ERR_UNAVAILABLE;
  }
  char why[256] = "";
  int best = -1, best_rank = -1;
  uint32_t best_family = 0;
  // An explicit choice: an index (all digits) or a case-insensitive substring of the name.
  if (want && *want) {
    char *end = NULL;
    long idx = strtol(want, &end, 10);
    int is_index = end && *end == 0;
    for (uint32_t i = 0; i < n; i++) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(devs[i], &p);
      if (is_index ? (long)i == idx : contains_ci(p.deviceName, want)) {
        uint32_t family;
        if (!usable(devs[i], &family, why, sizeof why)) {
          set_error(c, "Vulkan device %u (%s) cannot be used: it %s", i, p.deviceName, why);
          return VKC_ERR_NO_DEVICE;
        }
        best = (int)i;
        best_family = family;
        break;
      }
    }
    if (best < 0) {
      char list[512] = "";
      for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%u: %s", i ? ", " : "", i, p.deviceName);
      }
      set_error(c, "no Vulkan device matches \"%s\" (devices: %s)", want, list);
      return VKC_ERR_NO_DEVICE;
    }
  } else {
    for (uint32_t i = 0; i < n; i++) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(devs[i], &p);
      uint32_t family;
      if (!usable(devs[i], &family, why, sizeof why)) continue;
      int rank = device_rank(p.deviceType);
      if (rank > best_rank) {
        best = (int)i;
        best_rank = rank;
        best_family = family;
      }
    }
    if (best < 0) {
      set_error(c, "no usable Vulkan device (the last one %s)", why);
      return VKC_ERR_UNAVAILABLE;
    }
  }
  c->physical = devs[best];
  c->queue_family = best_family;
  vkGetPhysicalDeviceProperties(c->physical, &c->props);
  vkGetPhysicalDeviceMemoryProperties(c->physical, &c->mem);

  uint32_t nq = 0;
  VkQueueFamilyProperties q[16];
  vkGetPhysicalDeviceQueueFamilyProperties(c->physical, &nq, NULL);
  if (nq > 16) nq = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(c->physical, &nq, q);
  uint32_t bits = q[best_family].timestampValidBits;
  c->timestamps = bits > 0 && c->props.limits.timestampPeriod > 0;
  c->ts_mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
  c->ts_period_ns = c->props.limits.timestampPeriod;
  return 0;
}

static int has_device_extension(VkPhysicalDevice pd, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
  VkExtensionProperties *p = calloc(n, sizeof *p);
  if (!p) return 0;
  int found = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(p[i].extensionName, name) == 0) found = 1;
  free(p);
  return found;
}

// Whether buffers of the 4:2:0 planes can be exported as opaque fds, and whether only dedicated allocations can.
static void check_export(vkc_ctx *c) {
  VkPhysicalDeviceExternalBufferInfo info = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO,
      .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
      .handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT,
  };
  VkExternalBufferProperties props = {.sType = VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
  vkGetPhysicalDeviceExternalBufferProperties(c->physical, &info, &props);
  VkExternalMemoryFeatureFlags f = props.externalMemoryProperties.externalMemoryFeatures;
  c->can_export = c->can_export && (f & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT);
  c->export_dedicated = (f & VK_EXTERNAL_MEMORY_FEATURE_DEDICATED_ONLY_BIT) != 0;
}

int create_device(vkc_ctx *c) {
  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
      .queueFamilyIndex = c->queue_family,
      .queueCount = 1,
      .pQueuePriorities = &priority,
  };
  VkPhysicalDeviceVulkan12Features f12 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
      .timelineSemaphore = VK_TRUE,
  };
  // Memory export to CUDA (nvJPEG) where the driver has it; nothing else needs an extension.
  const char *exts[1] = {VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME};
  c->can_export = has_device_extension(c->physical, exts[0]);
  VkDeviceCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
      .pNext = &f12,
      .queueCreateInfoCount = 1,
      .pQueueCreateInfos = &queue,
      .enabledExtensionCount = c->can_export ? 1 : 0,
      .ppEnabledExtensionNames = exts,
  };
  CHECK(vkCreateDevice(c->physical, &info, NULL, &c->device));
  vkGetDeviceQueue(c->device, c->queue_family, 0, &c->queue);
  if (c->can_export) {
    c->get_memory_fd = (PFN_vkGetMemoryFdKHR)vkGetDeviceProcAddr(c->device, "vkGetMemoryFdKHR");
    c->can_export = c->get_memory_fd != NULL;
    check_export(c);
  }
  VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &id};
  vkGetPhysicalDeviceProperties2(c->physical, &p2);
  memcpy(c->uuid, id.deviceUUID, VK_UUID_SIZE);

  const VkFormat depth[3] = {VK_FORMAT_D32_SFLOAT, VK_FORMAT_X8_D24_UNORM_PACK32, VK_FORMAT_D16_UNORM};
  c->depth_format = VK_FORMAT_D16_UNORM; // required to be supported
  for (int i = 0; i < 3; i++) {
    VkFormatProperties fp;
    vkGetPhysicalDeviceFormatProperties(c->physical, depth[i], &fp);
    if (fp.optimalTilingFeatures & VK_FORMAT_FEATURE_DEPTH_STENCIL_ATTACHMENT_BIT) {
      c->depth_format = depth[i];
      break;
    }
  }
  return 0;
}

int vkc_list_devices(char *out, int out_len) {
  vkc_ctx tmp = {0};
  vkc_ctx *c = &tmp;
  out[0] = 0;
  int e = create_instance(c, 0);
  if (e) {
    snprintf(out, (size_t)out_len, "%s", c->error);
    return e;
  }
  uint32_t n = 0;
  VkPhysicalDevice devs[32];
  VkResult r = vkEnumeratePhysicalDevices(c->instance, &n, NULL);
  if (n > 32) n = 32;
  if (r == VK_SUCCESS) r = vkEnumeratePhysicalDevices(c->instance, &n, devs);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    snprintf(out, (size_t)out_len, "vkEnumeratePhysicalDevices failed: %s", result_name(r));
    vkDestroyInstance(c->instance, NULL);
    return VKC_ERR_UNAVAILABLE;
  }
  size_t len = 0;
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &id};
    vkGetPhysicalDeviceProperties2(devs[i], &p2);
    const VkPhysicalDeviceProperties p = p2.properties;
    char uuid[2 * VK_UUID_SIZE + 1];
    for (int b = 0; b < VK_UUID_SIZE; b++) snprintf(uuid + 2 * b, 3, "%02x", id.deviceUUID[b]);
    int w = snprintf(out + len, (size_t)out_len - len, "%u\t%d\t%s\t%u.%u\t%s\n", i, (int)p.deviceType, p.deviceName,
                     VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion), uuid);
    if (w < 0 || (size_t)w >= (size_t)out_len - len) break;
    len += (size_t)w;
  }
  vkDestroyInstance(c->instance, NULL);
  return (int)n;
}
