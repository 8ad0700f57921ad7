#!/bin/bash
# GPU run 3: before (BASE, packed by `BASE=<commit> scripts/gpu/pack.sh`) and after, on the same machine
# in the same run, two rounds: the Vulkan source alone at 4K and 1080p, and the main job streaming to 5
# viewers in 5 processes (4K60, 1080p120) with each encoder. Results: $OUT/results.jsonl (labelled).
[ -d .gpu ] || cd /work/main
source .gpu/wt/scripts/gpu/setup.sh
W=.gpu/wt
R=$OUT/results.jsonl
exec > >(tee "$OUT/final.log") 2>&1
machine=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)
echo "{\"machine\":\"$machine\",\"cores\":$(nproc),\"cpu\":\"$(lscpu | sed -n 's/^Model name: *//p')\"}" >> $R
label() { echo "{\"label\":\"$1\"}" >> $R; }
echo "== render alone"
for s in 3840x2160 1920x1080; do
  for o in rgba yuv420 yuv420-gpu; do label "render-$s-$o"; timeout 90 bun $W/bench/gpu.ts render --size=$s --frames=150 --output=$o | tee -a $R; done
done
label "nvjpeg-host-3840x2160"; timeout 90 bun $W/bench/gpu.ts nvjpeg --size=3840x2160 --frames=60 | tee -a $R
echo "== streams"
stream() { label "$1"; shift; timeout 120 bun $W/bench/gpu.ts stream --viewers=5 --procs=5 --warmup=4 --seconds=8 -- "$@" | tee -a $R; }
# `env` and `bun` exec in place: the pid the benchmark samples for CPU is the server's.
base="env VKCAST_VULKAN_LIB=$PWD/.gpu/base.so bun run .gpu/base/index.ts --log-level warn"
new="bun run $W/index.ts --log-level warn"
K="--width 3840 --height 2160 --fps 60"
F="--width 1920 --height 1080 --fps 120"
for round in 1 2; do
  stream "$round:before:4k60" $base $K
  stream "$round:after:4k60:auto" $new $K
  stream "$round:after:4k60:turbo-workers-3" $new $K --encoder turbo --encoder-workers 3
  stream "$round:after:4k60:turbo-workers-auto" $new $K --encoder turbo --encoder-workers auto
  stream "$round:before:1080p120" $base $F
  stream "$round:after:1080p120:auto" $new $F
  stream "$round:after:1080p120:turbo-workers-auto" $new $F --encoder turbo --encoder-workers auto
  stream "$round:before:4k60:synthetic" $base $K --source synthetic
  stream "$round:after:4k60:synthetic:nvjpeg" $new $K --source synthetic --encoder nvjpeg
done
echo "== done"
