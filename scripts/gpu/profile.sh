#!/bin/bash
# GPU run 1 (profile before changes): what the machine has, nvJPEG from host memory, the Vulkan source
# alone at 4K, and today's main (the checkout the device tool sends) streaming 4K60 and 1080p120 to
# 5 viewers in 5 processes. Results: $OUT/results.jsonl, log: $OUT/profile.log.
cd "$(dirname "$0")/../.." 2>/dev/null || true
[ -d .gpu ] || cd /work/main 2>/dev/null || true
source .gpu/wt/scripts/gpu/setup.sh
W=.gpu/wt
R=$OUT/results.jsonl
exec > >(tee "$OUT/profile.log") 2>&1
echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv
nproc; grep Cpus_allowed_list /proc/self/status; cat /sys/fs/cgroup/cpu.max 2>/dev/null; lscpu | grep "Model name"
cat /etc/os-release | head -2
ls /usr/local/cuda/lib64 2>/dev/null | grep -E "nvjpeg|cudart|nppicc" ; ldconfig -p | grep -E "libcuda.so|nvjpeg|cudart" | head
find / -xdev -name "libnvjpeg.so*" 2>/dev/null | head -5
H=$(find / -xdev -name nvjpeg.h 2>/dev/null | head -1); echo "header $H"
[ -n "$H" ] && grep -nE "NVJPEG_CSS_420|NVJPEG_MAX_COMPONENT|nvjpegEncodeYUV|NVJPEG_INPUT_RGBI|nvjpegEncoderParamsSetQuality|Backend" "$H" | head -20
bun --version
bun -e 'import { VulkanSource } from "./.gpu/wt/src/sources/vulkan.ts"; console.log(JSON.stringify(VulkanSource.listDevices()))'
echo "== nvjpeg from host memory"
for s in 3840x2160 1920x1080; do timeout 120 bun $W/bench/gpu.ts nvjpeg --size=$s --frames=60 --out=$OUT | tee -a $R; done
python3 - <<PY
import numpy as np
from PIL import Image
for s in ["3840x2160", "1920x1080"]:
    w, h = map(int, s.split("x"))
    src = np.fromfile("$OUT/frame-%s.rgba" % s, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].astype(int)
    for q in (85, 60):
        img = Image.open("$OUT/nvjpeg-%s-q%d.jpg" % (s, q))
        dec = np.asarray(img.convert("RGB")).astype(int)
        print("decode", s, q, img.size, img.mode, "mean abs diff", round(float(np.abs(dec - src).mean()), 3))
PY
echo "== render alone (Vulkan source, one frame at a time)"
for s in 3840x2160 1920x1080; do timeout 120 bun $W/bench/gpu.ts render --size=$s --frames=120 | tee -a $R; done
echo "== today's main, streaming"
stream() { timeout 150 bun $W/bench/gpu.ts stream --viewers=5 --procs=5 --warmup=3 --seconds=8 -- bun run index.ts --log-level warn "$@" | tee -a $R; }
stream --width 3840 --height 2160 --fps 60
stream --width 3840 --height 2160 --fps 60 --source synthetic
stream --width 1920 --height 1080 --fps 120
rm -f $OUT/*.rgba
echo "== done"
