#!/usr/bin/env bash
# Installs what is missing, then runs the main job: bash scripts/start.sh [flags] (see --help).
set -euo pipefail
source "$(dirname "$0")/setup.sh" main
cd "$vkcast_root"
exec bun run index.ts "$@"
