#!/usr/bin/env bash
# Installs what `make run` and `make test` need, idempotently, and says what it is doing.
#   scripts/bootstrap.sh run    Debian packages for running the platform + the Python environment
#   scripts/bootstrap.sh test   the same plus the servers and tools the test suite uses
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
UV_VERSION="0.13.8"
export DEBIAN_FRONTEND=noninteractive UV_PYTHON_DOWNLOADS=never

step() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

# Runtime: Python to build the environment, debootstrap for the Asterisk runtime where the
# distribution has no Asterisk >= 20, sipp for the test caller, espeak-ng + sox for prompts,
# nodejs + npm to bundle the browser softphone (JsSIP), redis-server for the seat layer (managed Redis).
packages=(python3 python3-venv python3-dev gcc ca-certificates debootstrap sip-tester espeak-ng sox
          iproute2 procps nodejs redis-server)
# NodeSource's nodejs carries its own npm and conflicts with Debian's: ask for npm only when absent.
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [ "$mode" = "test" ]; then
  # Real servers and peers for the integration tests.
  packages+=(postgresql tshark chromium fonts-noto-cjk)
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: run as root (apt-get, the Asterisk chroot and bind mounts need it)" >&2
  exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "Debian packages present"
fi

if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  step "installing uv $UV_VERSION into .tools/"
  python3 -m venv .tools
  .tools/bin/pip install -q "uv==$UV_VERSION"
fi

step "syncing the Python environment from uv.lock (.venv)"
.tools/bin/uv sync --frozen -q
step "building the browser assets (scripts/build_assets.sh)"
scripts/build_assets.sh
step "ready"
