#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the main demo: one
# polypoold, and two client programs sharing one named pool of warm workers
# at the same time.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
build=${BUILD_DIR:-$top/build}
prefix=${PREFIX:-/usr/local}

# A private address, so the demo never disturbs a daemon you already run.
dir=$(mktemp -d /tmp/polypool-demo-XXXXXX)
export POLYPOOL_ADDRESS="ipc://$dir/polypoold.sock"
cleanup() {
  "$prefix/bin/polypool" stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

echo "== starting polypoold at $POLYPOOL_ADDRESS"
"$prefix/bin/polypoold" --listen "$POLYPOOL_ADDRESS" --daemonize

echo "== two C programs map over one named pool at the same time"
"$build/examples/shared_pool_a" > "$dir/a.out" &
a=$!
"$build/examples/shared_pool_b" > "$dir/b.out" &
b=$!
wait $a
wait $b
sed 's/^/[C program A] /' "$dir/a.out"
sed 's/^/[C program B] /' "$dir/b.out"

echo "== the seed's first Pool example, in C"
"$build/examples/pool_map"

echo "== polypool status"
"$prefix/bin/polypool" status

echo "== polypool stop"
"$prefix/bin/polypool" stop
