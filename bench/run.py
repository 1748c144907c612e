#!/usr/bin/env python3
"""Runs polypool's benchmarks side by side with Python's multiprocessing, in
one run on one machine, and records the results in docs/benchmarks.md.

    /usr/bin/python3 bench/run.py [--build build] [--repeat 5] [--no-write]

polypool runs its C task function (bench/benchtasks.c) on the warm default
pool of a private daemon with as many workers as CPUs; multiprocessing runs
the same computation as a Python function on a Pool of the same size, with
the fork and the spawn start methods. Each workload is repeated, the three
contenders interleaved so that they share the machine's noise, and the
medians are reported with their ratios.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# (name, args, metric, higher_is_better, target ratio vs fork or None)
WORKLOADS = [
    ("map, default chunksize", ["map", "200000", "0"], "items_per_s", True, 2.0),
    ("map, chunksize=1", ["map", "20000", "1"], "items_per_s", True, 2.0),
    ("map, chunksize=64", ["map", "200000", "64"], "items_per_s", True, None),
    ("imap, chunksize=1", ["imap", "20000", "1"], "items_per_s", True, None),
    ("imap, chunksize=64", ["imap", "200000", "64"], "items_per_s", True, None),
    ("apply round trip p50", ["apply", "2000"], "p50_us", False, 1.0),
    ("apply round trip p99", ["apply", "2000"], "p99_us", False, None),
    ("apply_async throughput", ["apply_async", "20000"], "tasks_per_s", True, 2.0),
]


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE,
                         timeout=600).stdout.decode()
    return json.loads(out.strip().splitlines()[-1])


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    sys.exit("bench: timed out waiting for " + what)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            model = m.group(1) if m else ""
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} CPUs ({model}), {mem:.0f} GiB, Linux "
            f"{platform.release()}, Python {platform.python_version()}")


def fmt(v, metric):
    if metric.endswith("_us"):
        return f"{v:.0f} µs"
    if metric == "seconds":
        return f"{v * 1000:.1f} ms"
    return f"{v:,.0f}/s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    daemon = os.path.join(build, "runtime", "polypoold")
    worker = os.path.join(build, "runtime", "worker", "polypool-worker")
    cli = os.path.join(build, "runtime", "cli", "polypool")
    bench = os.path.join(build, "bench", "bench")
    lib = os.path.join(build, "bench", "libbenchtasks.so")
    mp = [sys.executable, os.path.join(HERE, "bench_mp.py")]

    tmp = tempfile.mkdtemp(prefix="polypool-bench-")
    addr = f"ipc://{tmp}/d.sock"
    env = dict(os.environ, POLYPOOL_ADDRESS=addr, POLYPOOL_NO_AUTOSTART="1",
               POLYPOOL_WORKER=worker)
    d = subprocess.Popen([daemon, "--listen", addr, "--worker", worker,
                          "--log-level", "warn"], env=env)
    try:
        wait_for(lambda: subprocess.run([cli, "status"], env=env,
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL).returncode == 0,
                 10, "the daemon")
        rows = []
        for name, wl, metric, higher, target in WORKLOADS:
            res = {"polypool": [], "fork": [], "spawn": []}
            for _ in range(args.repeat):
                res["polypool"].append(run_json([bench, lib] + wl, env)[metric])
                res["fork"].append(run_json(mp + ["fork"] + wl, env)[metric])
                res["spawn"].append(run_json(mp + ["spawn"] + wl, env)[metric])
            med = {k: statistics.median(v) for k, v in res.items()}
            rows.append((name, metric, higher, target, med))
            print(f"{name}: " + ", ".join(f"{k} {fmt(v, metric)}" for k, v in med.items()),
                  flush=True)

        # Connect to first result on a warm daemon, against Pool() to first result.
        first = {"polypool": [], "fork": [], "spawn": []}
        for _ in range(args.repeat * 2):
            first["polypool"].append(run_json([bench, lib, "first"], env)["seconds"])
            first["fork"].append(run_json(mp + ["fork", "first"], env)["seconds"])
            first["spawn"].append(run_json(mp + ["spawn", "first"], env)["seconds"])
        fmed = {k: statistics.median(v) for k, v in first.items()}
        print("first result: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in fmed.items()))

        # Idle RSS: after the work, once nothing is queued.
        time.sleep(1.0)
        rss = rss_kib(d.pid)
        print(f"daemon idle RSS: {rss / 1024:.1f} MiB")
    finally:
        d.terminate()
        d.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [BEGIN, "",
             f"Measured {datetime.date.today().isoformat()} on {machine()}; "
             f"median of {args.repeat} runs, contenders interleaved. polypool runs "
             "a **C** task function; multiprocessing runs the same computation as a "
             "**Python** function. Ratios are polypool ÷ multiprocessing, oriented "
             "so that > 1 means polypool is better.", "",
             "| workload | polypool (C task) | mp fork | mp spawn | vs fork | vs spawn | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for name, metric, higher, target, med in rows:
        def ratio(other):
            return med["polypool"] / other if higher else other / med["polypool"]
        rf, rs = ratio(med["fork"]), ratio(med["spawn"])
        tgt = f"≥ {target:g}×" if target else "—"
        met = ("yes" if rf >= target else "**no**") if target else ""
        lines.append(f"| {name} | {fmt(med['polypool'], metric)} | {fmt(med['fork'], metric)} | "
                     f"{fmt(med['spawn'], metric)} | {rf:.2f}× | {rs:.2f}× | {tgt} | {met} |")
    ok_first = fmed["polypool"] <= 0.005
    lines.append(f"| connect to first result (warm daemon) vs Pool() to first result | "
                 f"{fmed['polypool'] * 1000:.1f} ms | {fmed['fork'] * 1000:.1f} ms | "
                 f"{fmed['spawn'] * 1000:.1f} ms | {fmed['fork'] / fmed['polypool']:.1f}× | "
                 f"{fmed['spawn'] / fmed['polypool']:.1f}× | ≤ 5 ms | "
                 f"{'yes' if ok_first else '**no**'} |")
    lines.append(f"| daemon idle RSS | {rss / 1024:.1f} MiB | | | | | ≤ 10 MiB | "
                 f"{'yes' if rss <= 10 * 1024 else '**no**'} |")
    lines += ["", END]
    table = "\n".join(lines)
    print(table)
    if args.no_write:
        return
    path = os.path.join(TOP, "docs", "benchmarks.md")
    with open(path) as f:
        doc = f.read()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + table + doc[doc.index(END) + len(END):]
    else:
        doc += "\n" + table + "\n"
    with open(path, "w") as f:
        f.write(doc)
    print("bench: wrote", path)


if __name__ == "__main__":
    main()
