#!/usr/bin/env bash
# Installs what the benchmarks need (including the original's Python packages), then runs them:
# bash scripts/bench.sh [NAME...]
set -euo pipefail
source "$(dirname "$0")/setup.sh" bench
cd "$vkcast_root"
exec bun run bench/run.ts "$@"
