"""The shared memory and synchronisation benchmarks, Python side: one
contender, one workload, one JSON line. bench/run.py drives it (--shared-only
runs only these; see docs/benchmarks.md).

    python3 bench_shared.py --impl polypool|fork --workload W [--n N] ...

The contenders are interchangeable: polypool is used exactly as
multiprocessing is (`import polypool as multiprocessing`); "fork" is
multiprocessing's fork context (Linux's default). For polypool the client
reaches the daemon named by $POLYPOOL_ADDRESS (run.py sets it and
PYTHONPATH). Import and connection are not timed.

Workloads:

  lock N           uncontended Lock: `l.acquire(); l.release()` and
                   `with l: pass`, N of each in 5 interleaved chunks; pairs/s
                   of each loop's median chunk
  counter N P      the seed example: Value('i'); P processes each doing N ×
                   `with counter.get_lock(): counter.value += 1`; seconds
                   from Value() to the last join
  array N [--lock] a child process does N × `a[i % n] = a[i % n] + 1` on
                   Array('d', 1000, lock=False) (--lock: lock=True) and
                   times itself in 5 chunks; elements/s of the median chunk
  shm MIB          one process creates a SharedMemory of MIB MiB and fills it
                   (numpy, float64 ones); a child attaches it by name and sums
                   it; seconds of each, each measured in its own process
  event N          two processes ping-pong N times with two Events
                   (set / wait / clear); µs per round trip
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

ARRAY_LEN = 1000
CHUNKS = 5      # in-process loops are timed in chunks; the median chunk counts


def load(impl):
    if impl == "polypool":
        import polypool as ctx
        from polypool import shared_memory
    else:
        import multiprocessing
        from multiprocessing import shared_memory
        ctx = multiprocessing.get_context(impl)
    return ctx, shared_memory


# ---- children (module level: picklable by name) ----------------------------

def counter_worker(n, counter):
    for i in range(n):
        with counter.get_lock():
            counter.value += 1


def array_worker(n, a, out):
    """n reads + writes in CHUNKS chunks; out[0]: the median chunk's seconds
    per element, out[1]: the total seconds."""
    m = len(a)
    k = n // CHUNKS
    times = []
    t0 = time.perf_counter()
    for c in range(CHUNKS):
        t = time.perf_counter()
        for i in range(c * k, (c + 1) * k):
            a[i % m] = a[i % m] + 1
        times.append((time.perf_counter() - t) / k)
    out[1] = time.perf_counter() - t0
    out[0] = statistics.median(times)


def shm_reader(impl, name, size, out):
    _, shared_memory = load(impl)
    import numpy as np
    t = time.perf_counter()
    shm = shared_memory.SharedMemory(name)
    total = float(np.frombuffer(shm.buf, dtype=np.float64, count=size // 8).sum())
    out[0] = time.perf_counter() - t
    out[1] = total
    shm.close()


def event_worker(n, ping, pong):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def run_child(ctx, target, args):
    p = ctx.Process(target=target, args=args)
    p.start()
    p.join()
    if p.exitcode != 0:
        sys.exit(f"bench_shared: the child exited with {p.exitcode}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True, choices=["polypool", "fork", "spawn"])
    ap.add_argument("--workload", required=True,
                    choices=["lock", "counter", "array", "shm", "event"])
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--lock", action="store_true", help="array: Array(..., lock=True)")
    ap.add_argument("--mib", type=int, default=256)
    a = ap.parse_args()
    ctx, shared_memory = load(a.impl)
    n, wl = a.n, a.workload
    out = {"impl": a.impl, "workload": wl, "n": n}

    if wl == "lock":
        l = ctx.Lock()
        k = n // CHUNKS
        for _ in range(k):          # warm up
            l.acquire()
            l.release()
        t1, t2 = [], []
        for _ in range(CHUNKS):     # the two loops interleaved, chunk by chunk
            t = time.perf_counter()
            for _ in range(k):
                l.acquire()
                l.release()
            t1.append(time.perf_counter() - t)
            t = time.perf_counter()
            for _ in range(k):
                with l:
                    pass
            t2.append(time.perf_counter() - t)
        out.update(acquire_release_per_s=k / statistics.median(t1),
                   with_per_s=k / statistics.median(t2))
    elif wl == "counter":
        t = time.perf_counter()
        counter = ctx.Value("i", 0)
        ps = [ctx.Process(target=counter_worker, args=(n, counter)) for _ in range(a.procs)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        t = time.perf_counter() - t
        if counter.value != n * a.procs:
            sys.exit(f"bench_shared: counter is {counter.value}, want {n * a.procs}")
        out.update(procs=a.procs, seconds=t)
    elif wl == "array":
        arr = ctx.Array("d", ARRAY_LEN, lock=a.lock)
        res = ctx.Array("d", 2, lock=False)
        run_child(ctx, array_worker, (n, arr, res))
        done = n // CHUNKS * CHUNKS
        want = done // ARRAY_LEN + (1 if 0 < done % ARRAY_LEN else 0)
        if arr[0] != want:
            sys.exit(f"bench_shared: a[0] is {arr[0]}, want {want}")
        out.update(lock=a.lock, seconds=res[1], elements_per_s=1 / res[0])
    elif wl == "shm":
        import numpy as np
        size = a.mib << 20
        t = time.perf_counter()
        shm = shared_memory.SharedMemory(create=True, size=size)
        np.frombuffer(shm.buf, dtype=np.float64, count=size // 8).fill(1.0)
        fill = time.perf_counter() - t
        res = ctx.Array("d", 2, lock=False)
        run_child(ctx, shm_reader, (a.impl, shm.name, size, res))
        if res[1] != size // 8:
            sys.exit(f"bench_shared: the reader summed {res[1]}, want {size // 8}")
        shm.close()
        shm.unlink()
        out.update(mib=a.mib, fill_s=fill, read_s=res[0])
    elif wl == "event":
        ping, pong = ctx.Event(), ctx.Event()
        warm = max(n // 10, 10)
        p = ctx.Process(target=event_worker, args=(n + warm, ping, pong))
        p.start()
        for i in range(n + warm):
            if i == warm:
                t = time.perf_counter()
            ping.set()
            pong.wait()
            pong.clear()
        t = time.perf_counter() - t
        p.join()
        if p.exitcode != 0:
            sys.exit(f"bench_shared: the child exited with {p.exitcode}")
        out.update(round_trip_us=t / n * 1e6)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
