"""The queue and pipe benchmarks, Python side: one contender, one workload,
one JSON line. bench/run.py drives it (--queue-only runs only these; see
docs/benchmarks.md).

    python3 bench_queue.py --impl polypool|fork|spawn --workload W [--n N] ...

The contenders are interchangeable: polypool is used exactly as
multiprocessing is (`import polypool as multiprocessing`); "fork" and
"spawn" are multiprocessing's contexts. For polypool the client reaches the
daemon named by $POLYPOOL_ADDRESS (run.py sets it and PYTHONPATH). Import,
connection and process start-up are not timed.

Workloads (two processes each: this one and one child):

  queue N [--size B]  a child process puts N items on a Queue, this process
                      gets them: ints (0 .. N-1), or with --size B bytes
                      objects of B bytes each. Timed from the child's first
                      put (after a warm-up item has crossed) to this
                      process's last get (CLOCK_MONOTONIC is system-wide);
                      items/s and MB/s
  pipe N              ping-pong on a duplex Pipe: this process sends an int,
                      the child receives it and sends it back, N times after
                      a warm-up; µs per round trip (median of 5 chunks)
  pipe_bytes N --size B
                      the child sends N messages of B bytes with
                      send_bytes(), this process receives them with
                      recv_bytes(); messages/s and MB/s
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

CHUNKS = 5


def load(impl):
    if impl == "polypool":
        import polypool as ctx
    else:
        import multiprocessing
        ctx = multiprocessing.get_context(impl)
    return ctx


# ---- children (module level: picklable by name) ----------------------------

def producer(q, n, size):
    q.put("ready")                       # warm-up: the queue works both ends
    payload = b"x" * size if size else None
    t0 = time.perf_counter()
    if payload is None:
        for i in range(n):
            q.put(i)
    else:
        for _ in range(n):
            q.put(payload)
    q.put(t0)


def pinger(conn, n):
    for _ in range(n):
        conn.send(conn.recv())
    conn.close()


def byte_sender(conn, n, size):
    conn.send_bytes(b"ready")
    payload = b"x" * size
    t0 = time.perf_counter()
    for _ in range(n):
        conn.send_bytes(payload)
    conn.send(t0)
    conn.close()


def finish(p):
    p.join(60)
    if p.exitcode != 0:
        sys.exit(f"bench_queue: the child exited with {p.exitcode}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True, choices=["polypool", "fork", "spawn"])
    ap.add_argument("--workload", required=True, choices=["queue", "pipe", "pipe_bytes"])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--size", type=int, default=0, help="bytes per item (0: ints)")
    a = ap.parse_args()
    ctx = load(a.impl)
    n, wl = a.n, a.workload
    out = {"impl": a.impl, "workload": wl, "n": n, "size": a.size}

    if wl == "queue":
        q = ctx.Queue()
        p = ctx.Process(target=producer, args=(q, n, a.size))
        p.start()
        if q.get() != "ready":
            sys.exit("bench_queue: no warm-up item")
        get = q.get
        if a.size:
            for _ in range(n):
                x = get()
            if len(x) != a.size:
                sys.exit(f"bench_queue: an item of {len(x)} bytes, want {a.size}")
        else:
            for i in range(n):
                x = get()
            if x != n - 1:
                sys.exit(f"bench_queue: the last item is {x!r}, want {n - 1}")
        t1 = time.perf_counter()
        t0 = q.get()
        finish(p)
        s = t1 - t0
        out.update(seconds=s, items_per_s=n / s, mb_per_s=n * a.size / s / 1e6)
    elif wl == "pipe":
        a_end, b_end = ctx.Pipe()
        warm = max(n // 10, 10)
        p = ctx.Process(target=pinger, args=(b_end, warm + n))
        p.start()
        # The parent keeps its copy of b_end open: see docs/benchmarks.md
        # (closing it right after start() races the child's unpickling).
        send, recv = a_end.send, a_end.recv
        for i in range(warm):
            send(i)
            recv()
        k = n // CHUNKS
        times = []
        for _ in range(CHUNKS):
            t = time.perf_counter()
            for i in range(k):
                send(i)
                if recv() != i:
                    sys.exit("bench_queue: the pipe returned another value")
            times.append((time.perf_counter() - t) / k)
        for i in range(n - k * CHUNKS):
            send(i)
            recv()
        finish(p)
        out.update(round_trip_us=statistics.median(times) * 1e6,
                   mean_round_trip_us=sum(times) / len(times) * 1e6)
    elif wl == "pipe_bytes":
        a_end, b_end = ctx.Pipe(duplex=False)      # a_end receives, b_end sends
        p = ctx.Process(target=byte_sender, args=(b_end, n, a.size))
        p.start()
        if a_end.recv_bytes() != b"ready":
            sys.exit("bench_queue: no warm-up message")
        recv = a_end.recv_bytes
        for _ in range(n):
            x = recv()
        t1 = time.perf_counter()
        if len(x) != a.size:
            sys.exit(f"bench_queue: a message of {len(x)} bytes, want {a.size}")
        t0 = a_end.recv()
        finish(p)
        s = t1 - t0
        out.update(seconds=s, items_per_s=n / s, mb_per_s=n * a.size / s / 1e6)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
