#!/bin/sh
# Runs the build tree's polypoold under valgrind; point the integration
# tests at it to check the daemon for memory errors and leaks:
#
#   POLYPOOL_DAEMON=scripts/valgrind-daemon.sh POLYPOOL_WORKER=... \
#     build/tests/integration/it-map
#
# (copy the other variables from `meson test -C build integ-map -v`).
#
# Each daemon writes its report to ${VALGRIND_LOG_DIR:-/tmp}/polypoold-vg.<pid>;
# a non-empty report with "definitely lost" or "Invalid" is a bug.
# (Under valgrind pidfd_open is unavailable; the daemon falls back to polling
# waitpid, so worker deaths are noticed a little later.)
top=$(cd "$(dirname "$0")/.." && pwd)
daemon=${POLYPOOL_DAEMON_REAL:-$top/build/runtime/polypoold}
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
  --error-exitcode=42 --log-file="${VALGRIND_LOG_DIR:-/tmp}/polypoold-vg.%p" \
  "$daemon" "$@"
