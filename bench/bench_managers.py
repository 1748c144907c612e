"""The Manager benchmarks: one contender, one workload, one JSON line.
bench/run.py drives it (--managers-only runs only these; see
docs/benchmarks.md).

    python3 bench_managers.py --impl polypool|fork --workload W [--n N] [--procs P]

The contenders are interchangeable: polypool is used exactly as
multiprocessing is (`import polypool as multiprocessing`; its dict lives in
the daemon named by $POLYPOOL_ADDRESS), "fork" is multiprocessing's fork
context (its Manager() starts a server process). Import, Manager() start-up
and process start-up are not timed.

Workloads (keys are 1,000 short strings, values small ints):

  dict N           one process: N × `d[k] = v`, then N × `d[k]`, then N ×
                   `k in d`, each in 5 chunks; operations/s of each loop's
                   median chunk
  dict_procs N P   P processes at once, each N × `d[k] = v` on its own keys
                   (started together behind an Event); aggregate
                   operations/s from the Event to the last join
  list N           one process: N × `l.append(i)`, then N × `l[i]`;
                   operations/s of the median chunk
"""
import argparse
import json
import statistics
import sys
import time

CHUNKS = 5
KEYS = ["key%d" % i for i in range(1000)]


def load(impl):
    if impl == "polypool":
        import polypool as ctx
    else:
        import multiprocessing
        ctx = multiprocessing.get_context(impl)
    return ctx


def chunked(n, step):
    """Runs step(i) for i in range(n) in CHUNKS chunks; ops/s of the median."""
    per = max(n // CHUNKS, 1)
    rates = []
    for c in range(CHUNKS):
        t = time.perf_counter()
        for i in range(c * per, (c + 1) * per):
            step(i)
        rates.append(per / (time.perf_counter() - t))
    return statistics.median(rates)


def writer(d, name, n, go):
    go.wait()
    keys = ["%s-%d" % (name, i) for i in range(1000)]
    for i in range(n):
        d[keys[i % 1000]] = i


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True)
    ap.add_argument("--workload", required=True, choices=["dict", "dict_procs", "list"])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--procs", type=int, default=4)
    a = ap.parse_args()
    ctx = load(a.impl)
    n = a.n
    out = {"impl": a.impl, "workload": a.workload, "n": n}
    with ctx.Manager() as m:
        if a.workload == "dict":
            d = m.dict()
            keys = KEYS
            for i in range(1000):          # warm: every key exists
                d[keys[i]] = i

            def set_(i):
                d[keys[i % 1000]] = i

            def get(i):
                d[keys[i % 1000]]

            def contains(i):
                keys[i % 1000] in d
            out["set_per_s"] = chunked(n, set_)
            out["get_per_s"] = chunked(n, get)
            out["contains_per_s"] = chunked(n, contains)
            want = n // CHUNKS * CHUNKS - 1
            if d[keys[want % 1000]] != want:
                sys.exit("bench_managers: d[%r] is %r, want %d"
                         % (keys[want % 1000], d[keys[want % 1000]], want))
        elif a.workload == "dict_procs":
            d = m.dict()
            go = ctx.Event()
            names = ["p%d" % i for i in range(a.procs)]
            procs = [ctx.Process(target=writer, args=(d, name, n, go)) for name in names]
            for p in procs:
                p.start()
            time.sleep(0.2)                  # let them reach go.wait()
            t = time.perf_counter()
            go.set()
            for p in procs:
                p.join()
            t = time.perf_counter() - t
            if any(p.exitcode != 0 for p in procs):
                sys.exit("bench_managers: a writer failed: %r" % [p.exitcode for p in procs])
            if len(d) != a.procs * min(n, 1000):
                sys.exit("bench_managers: %d keys, want %d" % (len(d), a.procs * min(n, 1000)))
            out.update(procs=a.procs, seconds=t, set_per_s=a.procs * n / t)
        else:
            lst = m.list()
            out["append_per_s"] = chunked(n, lst.append)
            out["getitem_per_s"] = chunked(n, lst.__getitem__)
            if len(lst) != n // CHUNKS * CHUNKS:
                sys.exit("bench_managers: %d items" % len(lst))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
