"""The Process benchmarks: one contender, one workload, one JSON line.
bench/run.py drives it (--process-only runs only these; see
docs/benchmarks.md).

    python3 bench_process.py --impl polypool_c|polypool|fork|spawn --workload W
                             [--n N] [--procs P] [--bytes B] [--rounds R] [--lib LIB]

The contenders are interchangeable Process classes:

  polypool_c   polypool.Process(target=polypool.cfunc(LIB, "bench_noop"), ...):
               a C function of bench/benchtasks.c, started by the daemon
               (`polypool-worker --run 3`); its stdout comes back through
               the daemon and is written by this process
  polypool     polypool.Process with a Python target (a function of this
               module), started by the package itself (its fork helper);
               the child writes to the stdout it inherited
  fork, spawn  multiprocessing's contexts, the same Python target

Each run first starts and joins one process, untimed, so that a contender's
one-time set-up (polypool's fork helper, the daemon connection, the
library) is not counted; import is not timed either.

Workloads:

  start_join N     N × (start(); join()) of a process doing nothing, one
                   after another: the median latency (p50_ms) and N over
                   their total time (per_s)
  start_many P     P processes started one after the other, then all
                   joined: wall time from the first start() to the last
                   join() (seconds), median of R rounds
  output B         one process prints B bytes to stdout as 1 KiB lines
                   (1023 'x' and a newline; C: bench_print_bytes) while
                   this process's stdout is a pipe drained by `wc -c`:
                   seconds from start() until join() returns, median of R
                   rounds; the byte count `wc` saw is checked
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LINE = "x" * 1023 + "\n"


def noop(*args):
    """The Python twin of bench/benchtasks.c's bench_noop."""
    return None


def print_bytes(n):
    """The Python twin of bench/benchtasks.c's bench_print_bytes: n bytes
    on stdout, one write() of a 1 KiB line at a time."""
    write = sys.stdout.write
    while n >= len(LINE):
        write(LINE)
        n -= len(LINE)
    if n:
        write(LINE[len(LINE) - n:])
    sys.stdout.flush()


def load(impl, lib):
    """(the Process class's module, the no-op target, the printing target)."""
    if impl in ("polypool", "polypool_c"):
        import polypool as ctx
        if impl == "polypool_c":
            if not lib:
                sys.exit("bench_process: polypool_c needs --lib")
            return ctx, ctx.cfunc(lib, "bench_noop"), ctx.cfunc(lib, "bench_print_bytes")
        return ctx, noop, print_bytes
    import multiprocessing
    return multiprocessing.get_context(impl), noop, print_bytes


def check(p):
    if p.exitcode != 0:
        sys.exit("bench_process: a process ended with %r" % p.exitcode)


def start_join(ctx, target):
    t = time.perf_counter()
    p = ctx.Process(target=target)
    p.start()
    p.join()
    t = time.perf_counter() - t
    check(p)
    return t


def start_many(ctx, target, procs):
    t = time.perf_counter()
    ps = [ctx.Process(target=target) for _ in range(procs)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    t = time.perf_counter() - t
    for p in ps:
        check(p)
    return t


def output(ctx, target, nbytes):
    """Seconds from start() until join() returns for a child printing
    nbytes, with fd 1 a pipe into `wc -c`."""
    sys.stdout.flush()
    saved = os.dup(1)
    r, w = os.pipe()
    wc = subprocess.Popen(["wc", "-c"], stdin=r, stdout=subprocess.PIPE)
    os.close(r)
    os.dup2(w, 1)
    os.close(w)
    try:
        t = time.perf_counter()
        p = ctx.Process(target=target, args=(nbytes,))
        p.start()
        p.join()
        sys.stdout.flush()
        t = time.perf_counter() - t
    finally:
        os.dup2(saved, 1)       # wc sees EOF once every writer let go
        os.close(saved)
    got = int(wc.communicate(timeout=60)[0])
    check(p)
    if got != nbytes:
        sys.exit("bench_process: wc counted %d bytes, want %d" % (got, nbytes))
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True, choices=["polypool_c", "polypool", "fork", "spawn"])
    ap.add_argument("--workload", required=True, choices=["start_join", "start_many", "output"])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--bytes", type=int, default=10 << 20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lib", default=None, help="libbenchtasks.so, for polypool_c")
    a = ap.parse_args()
    ctx, target, printer = load(a.impl, a.lib)
    out = {"impl": a.impl, "workload": a.workload}

    # Untimed: the contender's one-time set-up. It must happen before
    # output() points fd 1 at its pipe: polypool's fork helper keeps the
    # stdout it started with until this program exits.
    start_join(ctx, target)

    if a.workload == "start_join":
        lat = [start_join(ctx, target) for _ in range(a.n)]
        out.update(n=a.n, samples=lat, p50_ms=statistics.median(lat) * 1000,
                   per_s=a.n / sum(lat))
    elif a.workload == "start_many":
        ts = [start_many(ctx, target, a.procs) for _ in range(a.rounds)]
        out.update(procs=a.procs, samples=ts, seconds=statistics.median(ts))
    else:
        ts = [output(ctx, printer, a.bytes) for _ in range(a.rounds)]
        out.update(bytes=a.bytes, samples=ts, seconds=statistics.median(ts))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
