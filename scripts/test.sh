#!/usr/bin/env bash
# Installs what is missing, type-checks, then runs every test: bash scripts/test.sh [bun test args]
set -euo pipefail
source "$(dirname "$0")/setup.sh" test
cd "$vkcast_root"
bun run check
# bunfig's [test] timeout is ignored, so the default per-test timeout is given here.
exec bun test --timeout 60000 "$@"
