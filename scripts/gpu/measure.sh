#!/bin/bash
# GPU run 2 (after the changes): the Vulkan source alone at 4K (RGBA readback, 4:2:0 readback, 4:2:0 on
# the GPU encoded by nvJPEG there), nvJPEG from host memory, and this worktree's main job streaming to
# 5 viewers in 5 processes: 4K60 and 1080p120 with each encoder. Results: $OUT/results.jsonl.
[ -d .gpu ] || cd /work/main
source .gpu/wt/scripts/gpu/setup.sh
W=.gpu/wt
R=$OUT/results.jsonl
exec > >(tee "$OUT/measure.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc
label() { echo "{\"label\":\"$1\"}" >> $R; }
echo "== render alone"
for o in rgba yuv420 yuv420-gpu; do label "render-4k-$o"; timeout 90 bun $W/bench/gpu.ts render --size=3840x2160 --frames=120 --output=$o | tee -a $R; done
label "render-1080p-yuv420-gpu"; timeout 90 bun $W/bench/gpu.ts render --size=1920x1080 --frames=120 --output=yuv420-gpu | tee -a $R
echo "== nvjpeg from host memory"
label "nvjpeg-host-4k"; timeout 90 bun $W/bench/gpu.ts nvjpeg --size=3840x2160 --frames=60 | tee -a $R
echo "== streams"
stream() { label "$1"; shift; timeout 120 bun $W/bench/gpu.ts stream --viewers=5 --procs=5 --warmup=4 --seconds=8 -- bun run $W/index.ts --log-level warn "$@" | tee -a $R; }
stream 4k60-auto --width 3840 --height 2160 --fps 60
stream 4k60-turbo-auto-workers --width 3840 --height 2160 --fps 60 --encoder turbo --encoder-workers auto
stream 4k60-turbo-3-workers --width 3840 --height 2160 --fps 60 --encoder turbo --encoder-workers 3
stream 1080p120-auto --width 1920 --height 1080 --fps 120
stream 1080p120-turbo-auto-workers --width 1920 --height 1080 --fps 120 --encoder turbo --encoder-workers auto
stream 4k60-synthetic-nvjpeg --width 3840 --height 2160 --fps 60 --source synthetic --encoder nvjpeg
echo "== done"
