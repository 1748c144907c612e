#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the whole test suite:
# the Check unit and integration suites and the example checks, then the
# same suites again in an AddressSanitizer/UndefinedBehaviorSanitizer build.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"

build=${BUILD_DIR:-$top/build}
meson test -C "$build" --print-errorlogs --num-processes 2

if [ "${POLYPOOL_SKIP_SANITIZE:-0}" != 1 ]; then
  asan=${ASAN_BUILD_DIR:-$top/build-asan}
  if [ ! -f "$asan/build.ninja" ]; then
    meson setup "$asan" "$top" -Dsanitize=true -Dpython="${PYTHON:-/usr/bin/python3}"
  fi
  meson compile -C "$asan"
  # handle_*=0: a task that crashes its worker on purpose must die of its
  # own signal (the tests assert it), not of ASan's report.
  ASAN_OPTIONS=detect_leaks=1:handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0 \
  LSAN_OPTIONS=suppressions="$top/tests/lsan.supp":print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C "$asan" --print-errorlogs --num-processes 2
fi
echo "test: all suites passed"
