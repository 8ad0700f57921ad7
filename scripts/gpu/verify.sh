#!/bin/bash
# A short check on the GPU machine that main, as it is now, still does what final.sh measured: one
# round of the "after" streams (5 viewers in 5 processes) and the 4K source with nvJPEG.
[ -d .gpu ] || cd /work/main
source .gpu/wt/scripts/gpu/setup.sh
W=.gpu/wt
R=$OUT/results.jsonl
exec > >(tee "$OUT/verify.log") 2>&1
label() { echo "{\"label\":\"$1\"}" >> $R; }
label "render-3840x2160-yuv420-gpu"; timeout 90 bun $W/bench/gpu.ts render --size=3840x2160 --frames=150 --output=yuv420-gpu | tee -a $R
stream() { label "$1"; shift; timeout 120 bun $W/bench/gpu.ts stream --viewers=5 --procs=5 --warmup=4 --seconds=8 -- "$@" | tee -a $R; }
new="bun run $W/index.ts --log-level warn"
stream "verify:4k60:auto" $new --width 3840 --height 2160 --fps 60
stream "verify:4k60:turbo-workers-3" $new --width 3840 --height 2160 --fps 60 --encoder turbo --encoder-workers 3
stream "verify:1080p120:auto" $new --width 1920 --height 1080 --fps 120
stream "verify:4k60:synthetic:nvjpeg" $new --width 3840 --height 2160 --fps 60 --source synthetic --encoder nvjpeg
echo "== done"
