#!/bin/bash
# Fills /work/main/.gpu/ (git-ignored there, named in the device tool's `carry`) with what a GPU run
# needs: bun (xz), the Debian packages the machine lacks, this worktree's code and its Vulkan library,
# and with BASE=<commit> that commit's tree too (base/, base.so), to measure before and after in one run.
set -euo pipefail
wt=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-/work/main/.gpu}
mkdir -p "$dest/debs"
[ -f "$dest/bun.xz" ] || xz -T2 -6 -c "$(readlink -f "$(command -v bun)")" > "$dest/bun.xz"
if ! ls "$dest"/debs/libvulkan1_*.deb >/dev/null 2>&1; then
  (cd "$dest/debs" && apt-get download -oAPT::Architecture=amd64 libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 libturbojpeg0)
fi
(cd "$wt" && bun -e 'import { ensureVulkanLibrary } from "./src/vulkan/build.ts"; console.log(ensureVulkanLibrary())' >/dev/null)
cp "$wt/build/libvkcast_vk.so" "$dest/libvkcast_vk.so"
rm -rf "$dest/wt" && mkdir -p "$dest/wt"
(cd "$wt" && tar cf - index.ts package.json tsconfig.json src client bench scripts) | tar xf - -C "$dest/wt"
# The run-time npm packages the main job imports (not the test and type-checking ones, nor @napi-rs/image).
(cd "$wt" && tar cf - node_modules/@nats-io node_modules/tweetnacl) | tar xf - -C "$dest/wt"
if [ -n "${BASE:-}" ]; then
  rm -rf "$dest/base" && mkdir -p "$dest/base"
  (cd "$wt" && git archive "$BASE" index.ts package.json tsconfig.json src client) | tar xf - -C "$dest/base"
  (cd "$dest/base" && bun -e 'import { ensureVulkanLibrary } from "./src/vulkan/build.ts"; ensureVulkanLibrary()' && mv build/libvkcast_vk.so ../base.so && rm -rf build)
fi
du -sh "$dest"
