"""Python multiprocessing's side of the benchmarks (bench/run.py drives it).

    python3 bench_mp.py START_METHOD WORKLOAD [N] [CHUNKSIZE]

Prints one JSON object per run, the same shape as bench.c's. The pool is
created once before timing (warm), except for the "first" workload, which
times Pool() to the first result.
"""
import json
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def main():
    method, workload = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    chunk = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    ctx = mp.get_context(method)
    procs = mp.cpu_count()

    if workload == "first":
        t = time.perf_counter()
        with ctx.Pool(procs) as pool:
            pool.apply(square, (3,))
            t = time.perf_counter() - t
        print(json.dumps({"workload": "first", "seconds": t}))
        return

    with ctx.Pool(procs) as pool:
        pool.map(square, range(procs * 4))  # warm every worker
        if workload == "map":
            items = list(range(n))
            t = time.perf_counter()
            res = pool.map(square, items, chunk or None)
            t = time.perf_counter() - t
            assert res[-1] == (n - 1) ** 2
            print(json.dumps({"workload": "map", "n": n, "chunksize": chunk,
                              "seconds": t, "items_per_s": n / t}))
        elif workload == "imap":
            items = list(range(n))
            t = time.perf_counter()
            got = 0
            for i, r in enumerate(pool.imap(square, items, chunk or 1)):
                assert r == i * i
                got += 1
            t = time.perf_counter() - t
            assert got == n
            print(json.dumps({"workload": "imap", "n": n, "chunksize": chunk or 1,
                              "seconds": t, "items_per_s": n / t}))
        elif workload == "apply":
            lat = []
            for i in range(n + 100):
                t = time.perf_counter()
                pool.apply(square, (7,))
                if i >= 100:
                    lat.append(time.perf_counter() - t)
            lat.sort()
            print(json.dumps({"workload": "apply", "n": n,
                              "p50_us": lat[n // 2] * 1e6,
                              "p99_us": lat[(n * 99) // 100] * 1e6}))
        elif workload == "apply_async":
            t = time.perf_counter()
            rs = [pool.apply_async(square, (7,)) for _ in range(n)]
            for r in rs:
                assert r.get() == 49
            t = time.perf_counter() - t
            print(json.dumps({"workload": "apply_async", "n": n, "seconds": t,
                              "tasks_per_s": n / t}))
        else:
            sys.exit("unknown workload " + workload)


if __name__ == "__main__":
    main()
