#!/usr/bin/env bash
# A cluster on one machine, for a demo: nats-server, one origin and N edges.
#   bash scripts/cluster.sh [EDGES] [-- ORIGIN FLAGS...]      (EDGES: default 2)
# The origin renders session "demo" (Vulkan unless you pass e.g. -- --source synthetic) on :8080; edge i
# serves every live session on :8080+i (its list at /, the session at /s/demo/). Ctrl-C stops them all.
# Environment: VKCAST_NATS_PORT (default 4222), VKCAST_SESSION (default demo).
set -euo pipefail
source "$(dirname "$0")/setup.sh" cluster
cd "$vkcast_root"

edges=2
if [[ $# -gt 0 && $1 != "--" ]]; then edges=$1; shift; fi
[[ $# -gt 0 && $1 == "--" ]] && shift
if ! [[ $edges =~ ^[0-9]+$ ]] || (( edges < 1 || edges > 32 )); then
  echo "cluster.sh: EDGES must be a number from 1 to 32 (got '$edges')" >&2
  exit 2
fi
nats_port=${VKCAST_NATS_PORT:-4222}
session=${VKCAST_SESSION:-demo}
nats_url="nats://127.0.0.1:$nats_port"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

nats-server -c config/nats-server.conf -p "$nats_port" &
pids+=($!)
bun run index.ts --port 8080 --nats "$nats_url" --session "$session" "$@" &
pids+=($!)
for ((i = 1; i <= edges; i++)); do
  bun run index.ts --edge --port $((8080 + i)) --nats "$nats_url" &
  pids+=($!)
done
echo "cluster: broker $nats_url, origin http://127.0.0.1:8080/, edges http://127.0.0.1:8081/ .. :$((8080 + edges))/ (session '$session' at /s/$session/)" >&2
# The first process to exit ends the demo.
wait -n
