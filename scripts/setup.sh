#!/usr/bin/env bash
# Installs what polypool needs on Debian 12 (as root), then builds and
# installs it. Idempotent: a second run installs nothing new and rebuilds
# only what changed.
#
#   BUILD_DIR   build directory (default: build)
#   PREFIX      install prefix (default: /usr/local)
#   PYTHON      interpreter for the Python package and tests (default: /usr/bin/python3)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
prefix=${PREFIX:-/usr/local}
python=${PYTHON:-/usr/bin/python3}

packages=(
  gcc libc6-dev pkg-config cmake meson ninja-build
  libnng-dev libprotobuf-c-dev protobuf-c-compiler check
  python3 python3-dev python3-pytest python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$top" --prefix="$prefix" -Dpython="$python"
fi
meson compile -C "$build"
meson install -C "$build" --quiet
# The new libpolypool.so must be visible to the dynamic linker.
if [ "$(id -u)" -eq 0 ]; then
  ldconfig
fi
# The Python package must import from anywhere, not just the source tree.
(cd / && "$python" -c 'import polypool') ||
  { echo "setup: $python cannot import the installed polypool package" >&2; exit 1; }
echo "setup: polypool installed under $prefix"
