# Sourced by start.sh, test.sh and bench.sh: installs whatever is missing, idempotently, and is fast
# when everything is there. Bun comes from the npm registry; Debian packages come from apt-get when
# run as root, otherwise the exact apt-get line is printed and setup stops.
# usage: source scripts/setup.sh main|cluster|test|bench

vkcast_profile=${1:-main}
vkcast_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUN_VERSION=1.4.5

# What each profile needs from Debian (the main job renders with Vulkan, encodes with libjpeg-turbo and OpenH264).
vkcast_packages="libturbojpeg0 libopenh264-7 libyuv0 libvulkan1 libvulkan-dev mesa-vulkan-drivers glslc gcc libc6-dev openssl"
case "$vkcast_profile" in
  main) ;;
  cluster) vkcast_packages="$vkcast_packages nats-server" ;;
  test) vkcast_packages="$vkcast_packages prometheus chromium firefox-esr vulkan-validationlayers fonts-dejavu-core libopenh264-dev ffmpeg python3-numpy python3-pip python3-setuptools nats-server" ;;
  bench) vkcast_packages="$vkcast_packages python3-aiohttp python3-pil python3-numpy ffmpeg chromium nats-server" ;;
  *) echo "setup.sh: unknown profile '$vkcast_profile' (main, cluster, test or bench)" >&2; return 2 ;;
esac

vkcast_missing=""
for pkg in $vkcast_packages; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || vkcast_missing="$vkcast_missing $pkg"
done
if [ -n "$vkcast_missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages:$vkcast_missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $vkcast_missing >&2
  else
    echo "setup: these Debian packages are missing; install them and run this again:" >&2
    echo "  sudo apt-get install -y$vkcast_missing" >&2
    return 1
  fi
fi

# Bun from the npm registry: globally as root, otherwise under ~/.local.
if ! command -v bun >/dev/null 2>&1 || [ "$(bun --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  if [ -x "$HOME/.local/bin/bun" ] && [ "$("$HOME/.local/bin/bun" --version)" = "$BUN_VERSION" ]; then
    export PATH="$HOME/.local/bin:$PATH"
  else
    echo "setup: installing bun $BUN_VERSION from npm" >&2
    if [ "$(id -u)" = 0 ]; then
      npm install -g --silent "bun@$BUN_VERSION" >&2
    else
      npm install -g --silent --prefix "$HOME/.local" "bun@$BUN_VERSION" >&2
      export PATH="$HOME/.local/bin:$PATH"
    fi
  fi
fi

# The project's own packages, when the lockfile changed since the last install.
if [ ! -f "$vkcast_root/node_modules/.bun-installed" ] || [ "$vkcast_root/bun.lock" -nt "$vkcast_root/node_modules/.bun-installed" ]; then
  (cd "$vkcast_root" && bun install --frozen-lockfile >&2) && touch "$vkcast_root/node_modules/.bun-installed"
fi
