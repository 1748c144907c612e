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

echo "== a C program and a Python program share one named pool, each running the other's functions"
# polyglot.c applies the Python functions of examples/polyglot/pgtasks.py
# (found through PYTHONPATH); polyglot.py maps the C functions of
# libpolyglot.so. Both run at the same time on the pool "polyglot".
PYTHONPATH="$top/examples/polyglot" "$build/examples/polyglot/polyglot" > "$dir/c.out" &
c=$!
POLYGLOT_LIB="$build/examples/polyglot/libpolyglot.so" \
  "${PYTHON:-/usr/bin/python3}" "$top/examples/polyglot/polyglot.py" > "$dir/py.out" &
py=$!
wait $c
wait $py
sed 's/^/[C program]      /' "$dir/c.out"
sed 's/^/[Python program] /' "$dir/py.out"

echo "== one counter under one lock, incremented at once from C and Python"
# counter.c increments a shared Value('q') itself while a Python task and a
# C task do too; counter.py does the same with a Process child and a C task.
PYTHONPATH="$top/examples/counter" "$build/examples/counter/counter" 100000 | sed 's/^/[C program]      /'
COUNTER_LIB="$build/examples/counter/libcounter.so" \
  "${PYTHON:-/usr/bin/python3}" "$top/examples/counter/counter.py" 100000 | sed 's/^/[Python program] /'

echo "== two C programs map over one named pool at the same time"
"$build/examples/c/shared_pool_a" > "$dir/a.out" &
a=$!
"$build/examples/c/shared_pool_b" > "$dir/b.out" &
b=$!
wait $a
wait $b
sed 's/^/[C program A] /' "$dir/a.out"
sed 's/^/[C program B] /' "$dir/b.out"

echo "== the seed's first Pool example, in C and in Python"
"$build/examples/c/pool_map_my_func"
# Spawn semantics: workers import the script, so it must be a file.
cat > "$dir/seed_pool_map.py" <<'PY'
import polypool as multiprocessing
def my_func(x):
    return x * x
if __name__ == '__main__':
    with multiprocessing.Pool(processes=4) as pool:
        result = pool.map(my_func, [1, 2, 3, 4, 5])
    print(result)
PY
"${PYTHON:-/usr/bin/python3}" "$dir/seed_pool_map.py"

echo "== the seed's Process examples in C: processes started by the daemon"
"$build/examples/c/process_args_alice"
"$build/examples/c/queue_producer_consumer"
"$build/examples/c/shared_value_counter"

echo "== polypool status"
"$prefix/bin/polypool" status

echo "== polypool stop"
"$prefix/bin/polypool" stop
