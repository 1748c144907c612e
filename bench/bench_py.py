"""The Python-client benchmarks: one contender, one workload, one JSON line.
bench/run.py drives it (see docs/benchmarks.md).

    python3 bench_py.py --impl polypool|fork|spawn --workload W [--n N]
                        [--chunksize C] [--loops K] [--lib LIBBENCHTASKS]

The contenders are interchangeable: polypool is used exactly as
multiprocessing is (`import polypool as multiprocessing`), fork and spawn
are multiprocessing's contexts. The task functions live in bench/pytasks.py
so that every contender's workers can import them. For polypool the client
reaches the daemon named by $POLYPOOL_ADDRESS and the polypool package must
be importable (run.py sets PYTHONPATH).

Workloads, on a pool of --procs workers (default: the number of CPUs):

  map N C          pool.map(square, range(N), C or None), warm pool: items/s
  imap N C         iterate pool.imap(square, range(N), C or 1): items/s
  apply N          N sequential pool.apply(square, (7,)) after 100 untimed: p50, p99
  apply_async N    N apply_async then get() them all: tasks/s
  cfunc N C        pool.map of the C function bench_square (polypool.cfunc) for
                   polypool, of the Python square for multiprocessing: items/s
  first K          K times: Pool(procs), apply, terminate, join; seconds from
                   Pool() to the first result, each loop
  process K        K times: Process(target=noop).start(); .join(): seconds each
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import pytasks  # noqa: E402  (after the path fix, for spawn's children too)


def load(impl):
    """Return (the multiprocessing-like object, seconds spent importing it)."""
    t = time.perf_counter()
    if impl == "polypool":
        import polypool as ctx
    else:
        import multiprocessing
        ctx = multiprocessing.get_context(impl)
    return ctx, time.perf_counter() - t


def check_squares(res, n):
    res = list(res)
    if len(res) != n or any(r != i * i for i, r in enumerate(res)):
        sys.exit(f"bench_py: wrong results (got {len(res)}, want {n} squares)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True, choices=["polypool", "fork", "spawn"])
    ap.add_argument("--workload", required=True,
                    choices=["map", "imap", "apply", "apply_async", "cfunc",
                             "first", "process"])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--chunksize", type=int, default=0)
    ap.add_argument("--loops", type=int, default=1)
    ap.add_argument("--procs", type=int, default=os.cpu_count())
    ap.add_argument("--lib", default=None, help="libbenchtasks.so, for cfunc")
    a = ap.parse_args()
    ctx, import_s = load(a.impl)
    n, procs, wl = a.n, a.procs, a.workload
    out = {"impl": a.impl, "workload": wl, "procs": procs, "import_s": import_s}

    if wl == "first":
        lat = []
        for _ in range(a.loops):
            t = time.perf_counter()
            pool = ctx.Pool(procs)
            r = pool.apply(pytasks.square, (3,))
            lat.append(time.perf_counter() - t)
            assert r == 9, r
            pool.terminate()
            pool.join()
        out.update(loops=a.loops, samples=lat, seconds=lat[0])
        print(json.dumps(out))
        return

    if wl == "process":
        lat = []
        for _ in range(a.loops):
            t = time.perf_counter()
            p = ctx.Process(target=pytasks.noop)
            p.start()
            p.join()
            lat.append(time.perf_counter() - t)
            assert p.exitcode == 0, p.exitcode
        srt = sorted(lat)
        out.update(loops=a.loops, samples=lat, seconds=srt[len(srt) // 2])
        print(json.dumps(out))
        return

    func = pytasks.square
    if wl == "cfunc" and a.impl == "polypool":
        if not a.lib:
            sys.exit("bench_py: cfunc needs --lib")
        func = ctx.cfunc(a.lib, "bench_square")

    with ctx.Pool(procs) as pool:
        pool.map(func, range(procs * 4))  # warm every worker
        if wl in ("map", "cfunc"):
            items = list(range(n))
            t = time.perf_counter()
            res = pool.map(func, items, a.chunksize or None)
            t = time.perf_counter() - t
            check_squares(res, n)
            out.update(n=n, chunksize=a.chunksize, seconds=t, items_per_s=n / t)
        elif wl == "imap":
            items = list(range(n))
            t = time.perf_counter()
            got = 0
            for i, r in enumerate(pool.imap(func, items, a.chunksize or 1)):
                if r != i * i:
                    sys.exit(f"bench_py: imap: wrong result at {i}: {r!r}")
                got += 1
            t = time.perf_counter() - t
            assert got == n, got
            out.update(n=n, chunksize=a.chunksize or 1, seconds=t, items_per_s=n / t)
        elif wl == "apply":
            lat = []
            for i in range(n + 100):
                t = time.perf_counter()
                r = pool.apply(func, (7,))
                if i >= 100:
                    lat.append(time.perf_counter() - t)
                assert r == 49, r
            lat.sort()
            out.update(n=n, p50_us=lat[n // 2] * 1e6, p99_us=lat[(n * 99) // 100] * 1e6)
        elif wl == "apply_async":
            t = time.perf_counter()
            rs = [pool.apply_async(func, (7,)) for _ in range(n)]
            for r in rs:
                if r.get() != 49:
                    sys.exit("bench_py: apply_async: wrong result")
            t = time.perf_counter() - t
            out.update(n=n, seconds=t, tasks_per_s=n / t)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
