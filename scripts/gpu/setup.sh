# Sourced at the start of every command on the GPU machine (which has the NVIDIA driver and CUDA, but no
# Vulkan loader and no bun): unpacks the carried Debian packages and bun, and points the Vulkan loader at
# the NVIDIA driver. Expects the carried folder .gpu/ (scripts/gpu/pack.sh fills it).
G=${G:-.gpu}
for f in "$G"/debs/*.deb; do dpkg -x "$f" / ; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -x /usr/local/bin/bun ] || { xz -dc "$G/bun.xz" > /usr/local/bin/bun && chmod +x /usr/local/bin/bun; }
export PATH=/usr/local/bin:$PATH
export VKCAST_VULKAN_LIB=$PWD/$G/libvkcast_vk.so
export PYTHONUNBUFFERED=1
