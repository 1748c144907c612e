#!/usr/bin/env python3
"""Runs polypool's benchmarks side by side with Python's multiprocessing, in
one run on one machine, and records the results in docs/benchmarks.md.

    /usr/bin/python3 bench/run.py [--build build] [--repeat 5] [--no-write]
                                  [--python-only | --c-only | --shared-only |
                                   --queue-only | --managers-only | --process-only]

Six tables, each between its own markers in docs/benchmarks.md:

- The C client (bench/bench.c): polypool runs its C task function
  (bench/benchtasks.c) on the warm default pool of a private daemon with as
  many workers as CPUs; multiprocessing runs the same computation as a
  Python function on a Pool of the same size, with the fork and the spawn
  start methods (bench/bench_mp.py).
- The Python client (bench/bench_py.py): the same program with
  `import polypool as multiprocessing` against multiprocessing's fork and
  spawn contexts, Python task functions (bench/pytasks.py) on pools of as
  many workers as CPUs, plus pool and process start-up and a C function
  mapped from Python (polypool.cfunc). When the polypool package is not
  importable from <build>/bindings/python, its column is skipped (the reason
  is printed) and multiprocessing is still measured.
- Shared memory and synchronisation (bench/bench_shared.c for C,
  bench/bench_shared.py for Python): Lock acquire + release, the seed
  counter example (Value under its lock, 4 processes), Array element access
  from a child, a 256 MiB SharedMemory filled by one process and summed by
  another, and an Event ping-pong; polypool against multiprocessing's fork
  context (and, in C, against the POSIX semaphore multiprocessing's locks
  are made of).
- Queues and pipes (bench/bench_queue.py for Python, bench/bench_queue.c
  for C): Queue throughput from one producer process to one consumer
  process (ints, 64 KiB and 1 MiB bytes), Pipe ping-pong and one-way
  send_bytes; polypool against multiprocessing's fork context (and, in C,
  pp_queue/pp_pipe against a POSIX pipe).
- Managers (bench/bench_managers.py): Manager().dict() `d[k] = v`, `d[k]`
  and `k in d` from one process, `d[k] = v` from 4 processes at once, and
  Manager().list() append and indexing; polypool (the objects live in its
  daemon) against multiprocessing's fork context (a manager server process).
- Processes (bench/bench_process.py): Process start() + join() of a no-op
  one after another, 8 started at once then joined, and one child printing
  10 MiB to stdout; polypool with a C target (polypool.cfunc of
  bench/benchtasks.c, started by the daemon, its output relayed through it)
  and with a Python target (started by the package) against
  multiprocessing's fork and spawn contexts.

Each workload is repeated, the contenders interleaved so that they share the
machine's noise, and the medians are reported with their ratios.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PY_BEGIN, PY_END = "<!-- bench-py:begin -->", "<!-- bench-py:end -->"
SH_BEGIN, SH_END = "<!-- bench-shared:begin -->", "<!-- bench-shared:end -->"
QU_BEGIN, QU_END = "<!-- bench-queue:begin -->", "<!-- bench-queue:end -->"
MG_BEGIN, MG_END = "<!-- bench-managers:begin -->", "<!-- bench-managers:end -->"
PR_BEGIN, PR_END = "<!-- bench-process:begin -->", "<!-- bench-process:end -->"

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


# The Python client. (name, bench_py.py args, metric, higher_is_better,
# target or None); a target is (ratio oriented so that > 1 means polypool is
# better, the baselines it must hold against, how it is printed).
MP = ("fork", "spawn")
PY_WORKLOADS = [
    ("map, default chunksize", ["map", "--n", "200000"], "items_per_s", True,
     (1.0, MP, "≥ 1×")),
    ("map, chunksize=1", ["map", "--n", "20000", "--chunksize", "1"], "items_per_s", True,
     (2.0, MP, "≥ 2×")),
    ("imap, chunksize=1", ["imap", "--n", "20000", "--chunksize", "1"], "items_per_s", True,
     None),
    ("imap, chunksize=64", ["imap", "--n", "200000", "--chunksize", "64"], "items_per_s",
     True, None),
    ("apply round trip p50", ["apply", "--n", "2000"], "p50_us", False,
     (1.0, MP, "≥ 1× (p50 ≤ mp's)")),
    ("apply round trip p99", ["apply", "--n", "2000"], "p99_us", False, None),
    ("apply_async throughput", ["apply_async", "--n", "20000"], "tasks_per_s", True,
     (2.0, MP, "≥ 2×")),
    ("map, default chunksize: **C** function (`polypool.cfunc`) vs the Python function",
     ["cfunc", "--n", "200000"], "items_per_s", True, None),
]
POOL_LOOPS = 6       # pools created one after another by one program
PROCESS_LOOPS = 10   # Process start + join, one after another
T_POOL = (2.0, ("spawn",), "≥ 2× vs spawn (≤ 0.5× its time)")
T_PROCESS = (1.0, ("spawn",), "≥ 1× vs spawn (≤ its time)")


def tail(b, lines=6):
    text = b.decode(errors="replace").strip() if isinstance(b, bytes) else b.strip()
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def error_line(why):
    """The line of a traceback that names the exception, else the last one."""
    lines = [l.strip() for l in why.splitlines() if l.strip()]
    for line in reversed(lines):
        if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b", line):
            return line
    return lines[-1] if lines else why

def try_json(cmd, env, timeout=300):
    """run_json for contenders that may fail: (result, None) or (None, why).
    The child gets its own process group, so a hang kills its pool too."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        return None, f"timed out after {timeout} s; stderr: {tail(err)}"
    if p.returncode != 0:
        return None, f"exit status {p.returncode}: {tail(err)}"
    if err.strip():
        sys.stderr.write(err.decode(errors="replace"))
    try:
        return json.loads(out.decode().strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, "no JSON on stdout: " + tail(out + err)


def run_interleaved(name, impls, workloads, cmd, env, repeat):
    """Runs cmd(impl, args) for every (key, args) of workloads and every
    contender, `repeat` rounds, the contenders' order rotated each round. A
    contender that fails a workload is not run on it again. Returns
    (runs[key][impl] -> [result, ...], failed[(impl, key)] -> why)."""
    failed = {}
    runs = {key: {k: [] for k in impls} for key, _ in workloads}
    t0 = time.monotonic()
    for i in range(repeat):
        order = impls[i % len(impls):] + impls[:i % len(impls)]
        for key, wl in workloads:
            for impl in order:
                if (impl, key) in failed:
                    continue
                r, why = try_json(cmd(impl, wl), env, timeout=300)
                if why:
                    failed[(impl, key)] = why
                    print(f"bench: {impl}, {key}: FAILED: {why}", file=sys.stderr, flush=True)
                else:
                    runs[key][impl].append(r)
        print(f"bench: {name}, round {i + 1} of {repeat} "
              f"({time.monotonic() - t0:.0f} s)", flush=True)
    return runs, failed


def table_end(header, row_lines, failed, end):
    """A table's header lines and rows, then a line per failed contender,
    then the end marker."""
    lines = list(header) + list(row_lines)
    if failed:
        lines.append("")
        for (impl, key), why in failed.items():
            lines.append(f"- {impl} failed *{key}*: `{error_line(why)}`")
    return lines + ["", end]


def row_lines(rows):
    return ["| " + " | ".join(r) + " |" for r in rows]


def polypool_importable(env):
    """(True, "") when `import polypool; polypool.Pool` works with env, else
    (False, why)."""
    p = subprocess.run([sys.executable, "-c", "import polypool; polypool.Pool"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if p.returncode == 0:
        return True, ""
    return False, tail(p.stdout, 1)


def bench_c(args, build, env, daemon_pid):
    cli = os.path.join(build, "runtime", "cli", "polypool")
    bench = os.path.join(build, "bench", "bench")
    lib = os.path.join(build, "bench", "libbenchtasks.so")
    mp = [sys.executable, os.path.join(HERE, "bench_mp.py")]
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
    rss = rss_kib(daemon_pid)
    print(f"daemon idle RSS: {rss / 1024:.1f} MiB")

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
    return "\n".join(lines)


def bench_python(args, build, env, pp_ok, pp_why):
    """The Python client's table: polypool (when importable) against
    multiprocessing's fork and spawn, interleaved, the order rotated each
    round. A contender that fails a workload is dropped from that workload
    and its error reported; the others go on."""
    py = [sys.executable, os.path.join(HERE, "bench_py.py")]
    lib = os.path.join(build, "bench", "libbenchtasks.so")
    impls = ["polypool", "fork", "spawn"] if pp_ok else ["fork", "spawn"]
    failed = {}   # (impl, workload) -> why

    def one(impl, name, extra):
        if (impl, name) in failed:
            return None
        r, why = try_json(py + ["--impl", impl, "--lib", lib, "--workload"] + extra, env)
        if why:
            failed[(impl, name)] = why
            what = name if isinstance(name, str) else " ".join(name)
            print(f"bench: {impl}, {what}: FAILED: {why}", file=sys.stderr, flush=True)
        return r

    def rounds(k):
        for i in range(k):
            j = i % len(impls)
            yield impls[j:] + impls[:j]

    def median_or_none(d):
        return {k: statistics.median(v) if v else None for k, v in d.items()}

    rows = []   # (name, metric, higher, target, {impl: median or None})

    def report(name, metric, med):
        print(f"{name}: " + ", ".join(f"{k} {fmt(v, metric) if v is not None else 'n/a'}"
                                      for k, v in med.items()), flush=True)

    # Start-up first, so that "very first" is each contender's first pool of
    # the Python section (for polypool: the first Python pool of this daemon).
    loop, fresh, imports, proc = ({k: [] for k in impls} for _ in range(4))
    very_first = {}
    name_loop = (f"Pool() to first result, {POOL_LOOPS} pools in a row in one program "
                 "(create, apply, terminate, join)")
    for order in rounds(args.repeat):
        for impl in order:
            r = one(impl, name_loop, ["first", "--loops", str(POOL_LOOPS)])
            if r:
                very_first.setdefault(impl, r["samples"][0])
                loop[impl] += r["samples"]
    name_fresh = "Pool() to first result, a fresh client process each time"
    for order in rounds(args.repeat * 2):
        for impl in order:
            r = one(impl, name_fresh, ["first", "--loops", "1"])
            if r:
                fresh[impl] += r["samples"]
                imports[impl].append(r["import_s"])
    name_proc = "Process(target=noop): start() + join()"
    for order in rounds(args.repeat):
        for impl in order:
            r = one(impl, name_proc, ["process", "--loops", str(PROCESS_LOOPS)])
            if r:
                proc[impl] += r["samples"]
    for name, d in ((name_loop, loop), (name_fresh, fresh)):
        rows.append((name, "seconds", False, T_POOL, median_or_none(d)))
        report(name, "seconds", rows[-1][-1])
    name_vf = "Pool() to first result, the very first of the run"
    rows.append((name_vf, "seconds", False, None, {k: very_first.get(k) for k in impls}))
    report(name_vf, "seconds", rows[-1][-1])
    name_imp = "`import polypool` / `import multiprocessing`, in those fresh processes"
    rows.append((name_imp, "seconds", False, None, median_or_none(imports)))
    report(name_imp, "seconds", rows[-1][-1])

    runs = {}   # workload args -> {impl: [results]}: p50 and p99 share their runs
    for name, wl, metric, higher, target in PY_WORKLOADS:
        key = tuple(wl)
        if key not in runs:
            runs[key] = {k: [] for k in impls}
            for order in rounds(args.repeat):
                for impl in order:
                    r = one(impl, key, wl)
                    if r:
                        runs[key][impl].append(r)
        for impl in impls:
            if (impl, key) in failed:
                failed[(impl, name)] = failed[(impl, key)]
        res = {k: [r[metric] for r in v] for k, v in runs[key].items()}
        rows.append((name, metric, higher, target, median_or_none(res)))
        report(name, metric, rows[-1][-1])
    rows.append((name_proc, "seconds", False, T_PROCESS, median_or_none(proc)))
    report(name_proc, "seconds", rows[-1][-1])

    n = os.cpu_count()
    lines = [PY_BEGIN, "",
             f"Measured {datetime.date.today().isoformat()} on {machine()}; "
             f"median of {args.repeat} runs ({args.repeat * 2} fresh processes for "
             f"Pool() start-up, {args.repeat}×{POOL_LOOPS} pools in a row, "
             f"{args.repeat}×{PROCESS_LOOPS} processes), contenders interleaved. "
             "A **Python** client (`bench/bench_py.py`) runs **Python** functions "
             f"(`bench/pytasks.py`) on pools of {n} workers: `import polypool as "
             "multiprocessing` against multiprocessing with the fork and the spawn "
             "start methods; polypool's daemon is warm. Ratios are polypool ÷ "
             "multiprocessing, oriented so that > 1 means polypool is better; a target "
             "against multiprocessing must hold against both fork and spawn.", ""]
    if not pp_ok:
        lines += [f"**polypool not measured**: the package is not importable from "
                  f"`<build>/bindings/python` (`{pp_why}`).", ""]
    lines += ["| workload | polypool | mp fork | mp spawn | vs fork | vs spawn | target | met |",
              "|---|---|---|---|---|---|---|---|"]
    for name, metric, higher, target, med in rows:
        def cell(impl):
            if med.get(impl) is not None:
                return fmt(med[impl], metric)
            return "failed" if (impl, name) in failed else "n/a"

        def ratio(other):
            v, o = med.get("polypool"), med.get(other)
            if v is None or o is None:
                return None
            return v / o if higher else o / v
        rf, rs = ratio("fork"), ratio("spawn")
        tgt = target[2] if target else "—"
        met = ""
        if target:
            rs_needed = [ratio(b) for b in target[1]]
            if any(r is None for r in rs_needed):
                met = "n/a"
            else:
                met = "yes" if all(r >= target[0] for r in rs_needed) else "**no**"
        lines.append(f"| {name} | {cell('polypool')} | {cell('fork')} | {cell('spawn')} | "
                     f"{f'{rf:.2f}×' if rf is not None else '—'} | "
                     f"{f'{rs:.2f}×' if rs is not None else '—'} | {tgt} | {met} |")
    failed = {k: v for k, v in failed.items() if isinstance(k[1], str)}
    if failed:
        lines.append("")
        for (impl, name), why in failed.items():
            lines.append(f"- {impl} failed *{name}*: `{error_line(why)}`")
    lines += ["", PY_END]
    return "\n".join(lines), failed


# Shared memory and synchronisation. The Python workloads of
# bench/bench_shared.py: (key, args); each run prints the metrics below.
SH_PY = [
    ("lock", ["--workload", "lock", "--n", "1000000"]),
    ("counter", ["--workload", "counter", "--n", "1000000", "--procs", "4"]),
    ("array", ["--workload", "array", "--n", "1000000"]),
    ("array_lock", ["--workload", "array", "--n", "300000", "--lock"]),
    ("shm", ["--workload", "shm", "--mib", "256"]),
    ("event", ["--workload", "event", "--n", "5000"]),
]
SH_C_LOCK = ["lock", "10000000", "5"]          # N pairs per round, rounds
SH_C_COUNTER = ["counter", "4", "1000000"]     # processes, increments each


def fmt_unit(v, unit):
    if v is None:
        return "n/a"
    if unit == "ns":
        return f"{v:.1f} ns"
    if unit == "us":
        return f"{v:.1f} µs"
    if unit == "s":
        return f"{v * 1000:,.0f} ms" if v >= 0.1 else f"{v * 1000:.1f} ms"
    return f"{v:,.0f}/s"


def bench_shared(args, build, env, pp_ok, pp_why):
    """The shared memory and synchronisation table: C (bench_shared) and
    Python (bench_shared.py), polypool against multiprocessing's fork
    context, interleaved, the order rotated each round."""
    exe = os.path.join(build, "bench", "bench_shared")
    py = [sys.executable, os.path.join(HERE, "bench_shared.py")]
    if pp_ok:
        # Pool alone is not enough: an older polypool may be importable.
        p = subprocess.run([sys.executable, "-c", "import polypool, polypool.shared_memory; "
                            "polypool.Lock, polypool.Event, polypool.Value, polypool.Array"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if p.returncode != 0:
            pp_ok, pp_why = False, tail(p.stdout, 1)
            print(f"bench: skipping polypool's Python shared contender: {pp_why}", flush=True)
    impls = ["polypool", "fork"] if pp_ok else ["fork"]
    failed = {}   # (impl, key) -> why
    if not os.access(exe, os.X_OK):
        failed[("polypool", "c_lock")] = failed[("polypool", "c_counter")] = \
            f"{exe} is not built (ninja -C {build})"
        print(f"bench: skipping the C shared benchmarks: {exe} is not built", flush=True)
    c_runs = {"lock": [], "counter": []}
    py_runs = {key: {k: [] for k in impls} for key, _ in SH_PY}

    def one(impl, key, cmd):
        if (impl, key) in failed:
            return None
        r, why = try_json(cmd, env)
        if why:
            failed[(impl, key)] = why
            print(f"bench: {impl}, {key}: FAILED: {why}", file=sys.stderr, flush=True)
        return r

    t0 = time.monotonic()
    for i in range(args.repeat):
        order = impls[i % len(impls):] + impls[:i % len(impls)]
        for key, wl in SH_PY:
            for impl in order:
                r = one(impl, key, py + ["--impl", impl] + wl)
                if r:
                    py_runs[key][impl].append(r)
        for key, wl in (("lock", SH_C_LOCK), ("counter", SH_C_COUNTER)):
            r = one("polypool", "c_" + key, [exe] + wl)
            if r:
                c_runs[key].append(r)
        print(f"bench: shared, round {i + 1} of {args.repeat} "
              f"({time.monotonic() - t0:.0f} s)", flush=True)

    # Every run's figures, on the console: the tables show only medians.
    for key, _ in SH_PY:
        for impl in impls:
            rs = py_runs[key][impl]
            if rs:
                metrics = [m for m in rs[0] if m.endswith(("_s", "_us", "seconds"))]
                print(f"bench: shared {key}, {impl}: " + "; ".join(
                    f"{m} " + " ".join(f"{r[m]:.4g}" for r in rs) for m in metrics))
    for key, rs in c_runs.items():
        if rs:
            metrics = [m for m in rs[0] if m.endswith(("_ns", "seconds"))]
            print(f"bench: shared C {key}: " + "; ".join(
                f"{m} " + " ".join(f"{r[m]:.4g}" for r in rs) for m in metrics))

    def py_med(key, impl, metric):
        v = [r[metric] for r in py_runs[key].get(impl, [])]
        return statistics.median(v) if v else None

    def c_med(key, metric):
        v = [r[metric] for r in c_runs[key]]
        return statistics.median(v) if v else None

    # (name, polypool, baseline, unit, higher_is_better, target text,
    #  met: None (no target), or a function of (polypool, ratio))
    rows = []

    def row(name, pp, base, unit, higher, target=None, met=None, absolute=False):
        """absolute: the target is on polypool's figure alone, not the ratio."""
        ratio = None
        if pp is not None and base is not None and pp > 0 and base > 0:
            ratio = pp / base if higher else base / pp
        ok = None
        if met is not None:
            ok = "n/a" if pp is None or (ratio is None and not absolute) \
                else ("yes" if met(pp, ratio) else "**no**")
        rows.append((name, fmt_unit(pp, unit), fmt_unit(base, unit),
                     f"{ratio:.2f}×" if ratio is not None else "—", target or "—", ok or ""))

    row("Lock acquire + release, **C**: `pp_sync_acquire(l, -1)` + `pp_sync_release(l)` "
        "vs `sem_wait` + `sem_post` on a POSIX semaphore (what multiprocessing's locks are), "
        "ns per pair",
        c_med("lock", "pp_ns"), c_med("lock", "sem_ns"), "ns", False,
        "≤ 50 ns", lambda v, r: v <= 50, absolute=True)
    row("Lock, Python: `l.acquire(); l.release()`, pairs/s",
        py_med("lock", "polypool", "acquire_release_per_s"),
        py_med("lock", "fork", "acquire_release_per_s"), "rate", True,
        "≥ 0.5×", lambda v, r: r >= 0.5)
    row("Lock, Python: `with l: pass`, pairs/s",
        py_med("lock", "polypool", "with_per_s"), py_med("lock", "fork", "with_per_s"),
        "rate", True, "≥ 0.5×", lambda v, r: r >= 0.5)
    mp_counter = py_med("counter", "fork", "seconds")
    row("Seed counter, Python: `Value('i')`, 4 processes × 1,000,000 "
        "`with counter.get_lock(): counter.value += 1`; wall time from `Value()` to the "
        "last `join()`",
        py_med("counter", "polypool", "seconds"), mp_counter, "s", False,
        "≥ 1× (≤ mp's time)", lambda v, r: r >= 1.0)
    row("Seed counter, **C** (4 forked children, `pp_array` 'i' under `pp_array_lock`) "
        "vs multiprocessing's **Python** above",
        c_med("counter", "seconds"), mp_counter, "s", False,
        "≥ 10× (≤ 0.1× mp's time)", lambda v, r: r >= 10.0)
    row("Seed counter, **C**: `pp_array_lock` vs a `sem_t` as the lock, both C (reference)",
        c_med("counter", "seconds"), c_med("counter", "sem_seconds"), "s", False)
    row("Array('d', 1000, lock=False): a child's `a[i % n] = a[i % n] + 1`, elements/s",
        py_med("array", "polypool", "elements_per_s"),
        py_med("array", "fork", "elements_per_s"), "rate", True,
        "≥ 1×", lambda v, r: r >= 1.0)
    row("Array('d', 1000) with its lock: the same, elements/s",
        py_med("array_lock", "polypool", "elements_per_s"),
        py_med("array_lock", "fork", "elements_per_s"), "rate", True,
        "≥ 1×", lambda v, r: r >= 1.0)
    row("SharedMemory, 256 MiB: create + fill (numpy float64 ones), one process",
        py_med("shm", "polypool", "fill_s"), py_med("shm", "fork", "fill_s"), "s", False,
        "≥ 0.9×", lambda v, r: r >= 0.9)
    row("SharedMemory, 256 MiB: attach by name + sum (numpy), another process",
        py_med("shm", "polypool", "read_s"), py_med("shm", "fork", "read_s"), "s", False,
        "≥ 0.9×", lambda v, r: r >= 0.9)
    row("Event ping-pong between two processes (two Events: set, wait, clear), "
        "µs per round trip",
        py_med("event", "polypool", "round_trip_us"), py_med("event", "fork", "round_trip_us"),
        "us", False, "≥ 1× (≤ mp's)", lambda v, r: r >= 1.0)

    lines = [SH_BEGIN, "",
             f"Measured {datetime.date.today().isoformat()} on {machine()}; "
             f"median of {args.repeat} runs, contenders interleaved (the order rotated "
             "each round), each run a fresh process; import and connection are not "
             "timed. Python: `import polypool as multiprocessing` "
             "(`bench/bench_shared.py`) against multiprocessing's fork context "
             "(Linux's default); C: `bench/bench_shared.c`. Ratios are oriented so that "
             "> 1 means polypool is better.", ""]
    if not pp_ok:
        lines += [f"**polypool's Python column not measured**: the package is not importable "
                  f"from `<build>/bindings/python` (`{pp_why}`).", ""]
    lines += table_end(["| workload | polypool | multiprocessing | ratio | target | met |",
                        "|---|---|---|---|---|---|"], row_lines(rows), failed, SH_END)
    return "\n".join(lines), failed


# Queues and pipes. The Python workloads of bench/bench_queue.py: (key, args).
QU_N_INTS = 200000
QU_N_64K = 5000
QU_N_1M = 100
QU_N_PING = 5000
QU_PY = [
    ("ints", ["--workload", "queue", "--n", str(QU_N_INTS)]),
    ("64k", ["--workload", "queue", "--n", str(QU_N_64K), "--size", "65536"]),
    ("1m", ["--workload", "queue", "--n", str(QU_N_1M), "--size", str(1 << 20)]),
    ("ping", ["--workload", "pipe", "--n", str(QU_N_PING)]),
    ("pipe_64k", ["--workload", "pipe_bytes", "--n", str(QU_N_64K), "--size", "65536"]),
]
QU_C = [
    ("ints", ["queue", str(QU_N_INTS)]),
    ("64k", ["queue", str(QU_N_64K), "65536"]),
    ("ping", ["pipe", str(QU_N_PING)]),
]


def bench_queue(args, build, env, pp_ok, pp_why):
    """The queues and pipes table: Python (bench_queue.py), polypool
    against multiprocessing's fork context, and C (bench_queue), the
    contenders interleaved, the order rotated each round."""
    exe = os.path.join(build, "bench", "bench_queue")
    py = [sys.executable, os.path.join(HERE, "bench_queue.py")]
    if pp_ok:
        p = subprocess.run([sys.executable, "-c", "import polypool; polypool.Queue, "
                            "polypool.Pipe"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if p.returncode != 0:
            pp_ok, pp_why = False, tail(p.stdout, 1)
            print(f"bench: skipping polypool's Python queue contender: {pp_why}", flush=True)
    impls = ["polypool", "fork"] if pp_ok else ["fork"]
    failed = {}   # (impl, key) -> why
    if not os.access(exe, os.X_OK):
        for key, _ in QU_C:
            failed[("polypool", "c_" + key)] = f"{exe} is not built (ninja -C {build})"
        print(f"bench: skipping the C queue benchmarks: {exe} is not built", flush=True)
    py_runs = {key: {k: [] for k in impls} for key, _ in QU_PY}
    c_runs = {key: [] for key, _ in QU_C}

    def one(impl, key, cmd):
        if (impl, key) in failed:
            return None
        r, why = try_json(cmd, env, timeout=120)
        if why:
            failed[(impl, key)] = why
            print(f"bench: {impl}, {key}: FAILED: {why}", file=sys.stderr, flush=True)
        return r

    t0 = time.monotonic()
    for i in range(args.repeat):
        order = impls[i % len(impls):] + impls[:i % len(impls)]
        for key, wl in QU_PY:
            for impl in order:
                r = one(impl, key, py + ["--impl", impl] + wl)
                if r:
                    py_runs[key][impl].append(r)
        for key, wl in QU_C:
            r = one("polypool", "c_" + key, [exe] + wl)
            if r:
                c_runs[key].append(r)
        print(f"bench: queue, round {i + 1} of {args.repeat} "
              f"({time.monotonic() - t0:.0f} s)", flush=True)

    for key, _ in QU_PY:
        for impl in impls:
            rs = py_runs[key][impl]
            if rs:
                metrics = [m for m in rs[0] if m.endswith(("_per_s", "_us"))]
                print(f"bench: queue {key}, {impl}: " + "; ".join(
                    f"{m} " + " ".join(f"{r[m]:.4g}" for r in rs) for m in metrics))
    for key, rs in c_runs.items():
        if rs:
            metrics = [m for m in rs[0] if m.endswith(("_per_s", "_us"))]
            print(f"bench: queue C {key}: " + "; ".join(
                f"{m} " + " ".join(f"{r[m]:.4g}" for r in rs) for m in metrics))

    def py_med(key, impl, metric):
        v = [r[metric] for r in py_runs[key].get(impl, [])]
        return statistics.median(v) if v else None

    def c_med(key, metric):
        v = [r[metric] for r in c_runs[key]]
        return statistics.median(v) if v else None

    rows = []

    def row(name, pp, base, unit, higher, target=None, met=None):
        ratio = None
        if pp is not None and base is not None and pp > 0 and base > 0:
            ratio = pp / base if higher else base / pp
        ok = ""
        if met is not None:
            ok = "n/a" if ratio is None else ("yes" if met(ratio) else "**no**")
        rows.append((name, fmt_unit(pp, unit), fmt_unit(base, unit),
                     f"{ratio:.2f}×" if ratio is not None else "—", target or "—", ok))

    at_least = lambda r: r >= 1.0   # noqa: E731
    mp_ints = py_med("ints", "fork", "items_per_s")
    mp_64k = py_med("64k", "fork", "items_per_s")
    row(f"Queue, ints: a producer process `put(i)` × {QU_N_INTS:,}, a consumer process "
        "`get()`s them; items/s",
        py_med("ints", "polypool", "items_per_s"), mp_ints, "rate", True,
        "≥ 1×", at_least)
    row(f"Queue, 64 KiB `bytes` items × {QU_N_64K:,}, the same; items/s",
        py_med("64k", "polypool", "items_per_s"), mp_64k, "rate", True,
        "≥ 1×", at_least)
    row(f"Queue, 1 MiB `bytes` items × {QU_N_1M} (streamed through polypool's 1 MiB ring), "
        "the same; items/s",
        py_med("1m", "polypool", "items_per_s"), py_med("1m", "fork", "items_per_s"),
        "rate", True)
    row("Pipe ping-pong between two processes (`send(i)`; the other end `send(recv())`), "
        "µs per round trip",
        py_med("ping", "polypool", "round_trip_us"), py_med("ping", "fork", "round_trip_us"),
        "us", False, "≥ 1× (≤ mp's)", at_least)
    row(f"Pipe, one way: `send_bytes()` of 64 KiB × {QU_N_64K:,}, `recv_bytes()` in "
        "another process; messages/s",
        py_med("pipe_64k", "polypool", "items_per_s"),
        py_med("pipe_64k", "fork", "items_per_s"), "rate", True)
    row("Queue, ints, **C**: `pp_queue_put` / `pp_queue_get` between a forked child and "
        "its parent vs multiprocessing's **Python** ints row above",
        c_med("ints", "items_per_s"), mp_ints, "rate", True)
    row("Queue, 64 KiB, **C**: the same with `PP_BYTES` items vs multiprocessing's "
        "**Python** 64 KiB row above",
        c_med("64k", "items_per_s"), mp_64k, "rate", True)
    row("Pipe ping-pong, **C**: `pp_conn_send` / `pp_conn_recv` vs 8-byte `write` / `read` "
        "on two POSIX pipes (what multiprocessing's Pipe sits on), both C, µs per round trip",
        c_med("ping", "round_trip_us"), c_med("ping", "posix_round_trip_us"), "us", False)

    lines = [QU_BEGIN, "",
             f"Measured {datetime.date.today().isoformat()} on {machine()}; "
             f"median of {args.repeat} runs, contenders interleaved (the order rotated "
             "each round), each run a fresh process; import, connection and process "
             "start-up are not timed. Python: `import polypool as multiprocessing` "
             "(`bench/bench_queue.py`) against multiprocessing's fork context "
             "(Linux's default); C: `bench/bench_queue.c`. Ratios are oriented so that "
             "> 1 means polypool is better.", ""]
    if not pp_ok:
        lines += [f"**polypool's Python column not measured**: the package is not importable "
                  f"from `<build>/bindings/python` (`{pp_why}`).", ""]
    lines += table_end(["| workload | polypool | multiprocessing | ratio | target | met |",
                        "|---|---|---|---|---|---|"], row_lines(rows), failed, QU_END)
    return "\n".join(lines), failed


# Managers. The workloads of bench/bench_managers.py: (key, args).
MG_N = 20000
MG_N_PROCS = 5000
MG_PROCS = 4
MG_PY = [
    ("dict", ["--workload", "dict", "--n", str(MG_N)]),
    ("dict_procs", ["--workload", "dict_procs", "--n", str(MG_N_PROCS),
                    "--procs", str(MG_PROCS)]),
    ("list", ["--workload", "list", "--n", str(MG_N)]),
]


def bench_managers(args, build, env, pp_ok, pp_why):
    """The managers table: bench_managers.py, polypool against
    multiprocessing's fork context, interleaved, the order rotated each
    round."""
    py = [sys.executable, os.path.join(HERE, "bench_managers.py")]
    if pp_ok:
        p = subprocess.run([sys.executable, "-c", "import polypool; polypool.Manager; "
                            "import polypool.managers"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if p.returncode != 0:
            pp_ok, pp_why = False, tail(p.stdout, 1)
            print(f"bench: skipping polypool's managers contender: {pp_why}", flush=True)
    impls = ["polypool", "fork"] if pp_ok else ["fork"]
    runs, failed = run_interleaved("managers", impls, MG_PY,
                                   lambda impl, wl: py + ["--impl", impl] + wl,
                                   env, args.repeat)
    for key, _ in MG_PY:
        for impl in impls:
            rs = runs[key][impl]
            if rs:
                metrics = [m for m in rs[0] if m.endswith("_per_s")]
                print(f"bench: managers {key}, {impl}: " + "; ".join(
                    f"{m} " + " ".join(f"{r[m]:.4g}" for r in rs) for m in metrics))

    def med(key, impl, metric):
        v = [r[metric] for r in runs[key].get(impl, [])]
        return statistics.median(v) if v else None

    rows = []

    def row(name, key, metric, target=None):
        pp, base = med(key, "polypool", metric), med(key, "fork", metric)
        ratio = pp / base if pp and base else None
        ok = ""
        if target is not None:
            ok = "n/a" if ratio is None else ("yes" if ratio >= target else "**no**")
        rows.append((name, fmt_unit(pp, "rate"), fmt_unit(base, "rate"),
                     f"{ratio:.2f}×" if ratio is not None else "—",
                     f"≥ {target:g}×" if target is not None else "—", ok))

    row(f"`d[k] = v`, one process, {MG_N:,} times over 1,000 keys; operations/s",
        "dict", "set_per_s", 2.0)
    row(f"`d[k]`, one process, {MG_N:,} times; operations/s", "dict", "get_per_s", 2.0)
    row(f"`k in d`, one process, {MG_N:,} times; operations/s", "dict", "contains_per_s")
    row(f"`d[k] = v` from {MG_PROCS} processes at once, {MG_N_PROCS:,} each on its own "
        "keys; total operations/s", "dict_procs", "set_per_s")
    row(f"`l.append(i)`, one process, {MG_N:,} times; operations/s", "list", "append_per_s")
    row(f"`l[i]`, one process, {MG_N:,} times; operations/s", "list", "getitem_per_s")

    lines = [MG_BEGIN, "",
             f"Measured {datetime.date.today().isoformat()} on {machine()}; "
             f"median of {args.repeat} runs, contenders interleaved (the order rotated "
             "each round), each run a fresh process; import, `Manager()` and process "
             "start-up are not timed, single-process loops report their median of 5 "
             "chunks. `import polypool as multiprocessing` (`bench/bench_managers.py`) "
             "against multiprocessing's fork context. Ratios are polypool ÷ "
             "multiprocessing: > 1 means polypool is faster.", ""]
    if not pp_ok:
        lines += [f"**polypool not measured**: the package is not importable "
                  f"from `<build>/bindings/python` (`{pp_why}`).", ""]
    lines += table_end(["| workload | polypool | multiprocessing | ratio | target | met |",
                        "|---|---|---|---|---|---|"], row_lines(rows), failed, MG_END)
    return "\n".join(lines), failed


# Processes. The workloads of bench/bench_process.py: (key, args), and its
# contenders: polypool with a C target and with a Python target, then
# multiprocessing's fork and spawn contexts with the Python target.
PR_N = 20
PR_PROCS = 8
PR_BYTES = 10 << 20
PR_ROUNDS = 3
PR_PY = [
    ("start_join", ["--workload", "start_join", "--n", str(PR_N)]),
    ("start_many", ["--workload", "start_many", "--procs", str(PR_PROCS),
                    "--rounds", str(PR_ROUNDS)]),
    ("output", ["--workload", "output", "--bytes", str(PR_BYTES), "--rounds", str(PR_ROUNDS)]),
]
PR_POLYPOOL = ("polypool_c", "polypool")
PR_MP = ("fork", "spawn")


def fmt_process(v, unit):
    if v is None:
        return "n/a"
    if unit == "rate":
        return f"{v:,.1f}/s" if v < 100 else f"{v:,.0f}/s"
    return fmt_unit(v, unit)


def pr_environment(env):
    """A sentence naming the inherited settings that change what a Python
    child does with its output and its imports, when they are set."""
    names = [n for n in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE") if env.get(n)]
    if not names:
        return ""
    return (" Set in the environment every contender inherited: "
            + " and ".join(f"`{n}={env[n]}`" for n in names) + ".")


def bench_process(args, build, env, pp_ok, pp_why):
    """The processes table: bench_process.py, polypool with a C target and
    with a Python target against multiprocessing's fork and spawn contexts,
    interleaved, the order rotated each round."""
    py = [sys.executable, os.path.join(HERE, "bench_process.py")]
    lib = os.path.join(build, "bench", "libbenchtasks.so")
    pp_c_ok, pp_c_why = pp_ok, pp_why
    if pp_ok:
        p = subprocess.run([sys.executable, "-c", "import polypool; polypool.Process; "
                            "polypool.cfunc"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if p.returncode != 0:
            pp_ok, pp_why = False, tail(p.stdout, 1)
            pp_c_ok, pp_c_why = pp_ok, pp_why
            print(f"bench: skipping polypool's process contenders: {pp_why}", flush=True)
    if pp_c_ok:
        p = subprocess.run([sys.executable, "-c", "from polypool._polypool import process_start"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if p.returncode != 0:
            pp_c_ok, pp_c_why = False, tail(p.stdout, 1)
        elif not os.path.exists(lib):
            pp_c_ok, pp_c_why = False, f"{lib} is not built (ninja -C {build})"
        if not pp_c_ok:
            print(f"bench: skipping polypool's C-target contender: {pp_c_why}", flush=True)
    impls = ([i for i, ok in zip(PR_POLYPOOL, (pp_c_ok, pp_ok)) if ok]) + list(PR_MP)
    runs, failed = run_interleaved("process", impls, PR_PY,
                                   lambda impl, wl: py + ["--impl", impl, "--lib", lib] + wl,
                                   env, args.repeat)
    # Every run's figures, on the console: the table shows only medians.
    for key, _ in PR_PY:
        for impl in impls:
            rs = runs[key][impl]
            if rs:
                metrics = [m for m in rs[0] if m in ("p50_ms", "per_s", "seconds")]
                print(f"bench: process {key}, {impl}: " + "; ".join(
                    f"{m} " + " ".join(f"{r[m]:.4g}" for r in rs) for m in metrics))

    def med(key, impl, metric):
        v = [r[metric] for r in runs[key].get(impl, [])]
        if not v:
            return None
        return statistics.median(v) / 1000 if metric == "p50_ms" else statistics.median(v)

    lines_rows = []

    def row(name, key, metric, unit, higher, impl, target=None):
        """target: (ratio, the baselines it must hold against, text); ratios
        are oriented so that > 1 means polypool is better."""
        pp = med(key, impl, metric)
        base = {b: med(key, b, metric) for b in PR_MP}

        def ratio(b):
            if pp is None or not base[b] or pp <= 0:
                return None
            return pp / base[b] if higher else base[b] / pp

        def cell(v, who):
            if v is not None:
                return fmt_process(v, unit)
            return "failed" if (who, key) in failed else "n/a"
        met = ""
        if target:
            rs = [ratio(b) for b in target[1]]
            met = "n/a" if any(r is None for r in rs) else \
                ("yes" if all(r >= target[0] for r in rs) else "**no**")
        rf, rs_ = ratio("fork"), ratio("spawn")
        lines_rows.append(
            f"| {name} | {cell(pp, impl)} | {cell(base['fork'], 'fork')} | "
            f"{cell(base['spawn'], 'spawn')} | "
            f"{f'{rf:.2f}×' if rf is not None else '—'} | "
            f"{f'{rs_:.2f}×' if rs_ is not None else '—'} | "
            f"{target[2] if target else '—'} | {met} |")

    vs_fork = (1.0, ("fork",), "≥ 1× vs fork (≤ its time)")
    vs_spawn = (1.0, ("spawn",), "≥ 1× vs spawn (≤ its time)")
    c_tgt = "**C** target (`cfunc` of `bench_noop`, started by the daemon)"
    py_tgt = "Python target (the package's fork helper)"
    row(f"`start()` + `join()` of a no-op process, {PR_N} one after another, median per "
        f"process: {c_tgt}", "start_join", "p50_ms", "s", False, "polypool_c", vs_fork)
    row(f"the same: {py_tgt}", "start_join", "p50_ms", "s", False, "polypool", vs_spawn)
    row(f"the same, processes/s ({PR_N} over their total time): **C** target",
        "start_join", "per_s", "rate", True, "polypool_c")
    row("the same, processes/s: Python target", "start_join", "per_s", "rate", True,
        "polypool")
    row(f"{PR_PROCS} no-op processes started, then all joined, wall time: **C** target",
        "start_many", "seconds", "s", False, "polypool_c", vs_fork)
    row("the same: Python target", "start_many", "seconds", "s", False, "polypool", vs_spawn)
    row(f"one process prints {PR_BYTES >> 20} MiB to stdout (1 KiB lines; the parent's "
        "stdout a pipe into `wc -c`), `start()` until `join()` returns: **C** target "
        "(`bench_print_bytes`), its output relayed by the daemon",
        "output", "seconds", "s", False, "polypool_c",
        (0.5, ("fork",), "≥ 0.5× vs fork (≤ 2× its time)"))
    row("the same: Python target, writing to the stdout it inherited",
        "output", "seconds", "s", False, "polypool")

    lines = [PR_BEGIN, "",
             f"Measured {datetime.date.today().isoformat()} on {machine()}; "
             f"median of {args.repeat} runs, contenders interleaved (the order rotated "
             "each round), each run a fresh program that first starts and joins one "
             "process untimed; the 8-process and output rows take each run's median of "
             f"{PR_ROUNDS} rounds. `polypool.Process` (`bench/bench_process.py`) against "
             "multiprocessing's fork and spawn contexts running the same Python no-op "
             "(or printing) function; polypool's **C** target runs the C function of "
             "`bench/benchtasks.c` instead. Ratios are polypool ÷ multiprocessing, "
             "oriented so that > 1 means polypool is better (for times: "
             "multiprocessing's ÷ polypool's)." + pr_environment(env), ""]
    if not pp_ok:
        lines += [f"**polypool not measured**: the package is not importable "
                  f"from `<build>/bindings/python` (`{pp_why}`).", ""]
    elif not pp_c_ok:
        lines += [f"**polypool's C target not measured**: `{pp_c_why}`.", ""]
    lines += table_end(["| workload | polypool | mp fork | mp spawn | vs fork | vs spawn "
                        "| target | met |", "|---|---|---|---|---|---|---|---|"],
                       lines_rows, failed, PR_END)
    return "\n".join(lines), failed


def write_region(doc, begin, end, table, after=None):
    """doc with the region begin..end replaced by table; a missing region is
    inserted right after the marker `after` when there is one, else at the end."""
    if begin in doc and end in doc:
        return doc[:doc.index(begin)] + table + doc[doc.index(end) + len(end):]
    if after and after in doc:
        i = doc.index(after) + len(after)
        return doc[:i] + "\n\n" + table + doc[i:]
    return doc + "\n" + table + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--python-only", action="store_true",
                      help="only the Python client's table")
    only.add_argument("--c-only", action="store_true", help="only the C client's table")
    only.add_argument("--shared-only", action="store_true",
                      help="only the shared memory and synchronisation table")
    only.add_argument("--queue-only", action="store_true",
                      help="only the queues and pipes table")
    only.add_argument("--managers-only", action="store_true",
                      help="only the managers table")
    only.add_argument("--process-only", action="store_true",
                      help="only the processes table")
    args = ap.parse_args()
    onlies = {"c": args.c_only, "py": args.python_only, "shared": args.shared_only,
              "queue": args.queue_only, "managers": args.managers_only,
              "process": args.process_only}
    # A table runs when no --X-only flag is given, or when its own is.
    run_c, run_py, run_shared, run_queue, run_managers, run_process = (
        not any(v for k, v in onlies.items() if k != table)
        for table in ("c", "py", "shared", "queue", "managers", "process"))
    build = os.path.abspath(args.build)
    daemon = os.path.join(build, "runtime", "polypoold")
    worker = os.path.join(build, "runtime", "worker", "polypool-worker")

    tmp = tempfile.mkdtemp(prefix="polypool-bench-")
    addr = f"ipc://{tmp}/d.sock"
    pypath = [os.path.join(build, "bindings", "python"), HERE]
    if os.environ.get("PYTHONPATH"):
        pypath.append(os.environ["PYTHONPATH"])
    env = dict(os.environ, POLYPOOL_ADDRESS=addr, POLYPOOL_NO_AUTOSTART="1",
               POLYPOOL_WORKER=worker, PYTHONPATH=os.pathsep.join(pypath))
    pp_ok, pp_why = False, "not asked for"
    if run_py or run_shared or run_queue or run_managers or run_process:
        pp_ok, pp_why = polypool_importable(env)
        if not pp_ok:
            print(f"bench: skipping polypool's Python contender: {pp_why}", flush=True)
    d = None
    if run_c or run_shared or run_queue or run_managers or run_process or pp_ok:
        d = subprocess.Popen([daemon, "--listen", addr, "--workers", str(os.cpu_count()),
                              "--worker", worker, "--log-level", "warn"], env=env)
    tables, failed = [], {}
    try:
        if run_c:
            tables.append((BEGIN, END, None, bench_c(args, build, env, d.pid)))
        if d and not run_c:
            cli = os.path.join(build, "runtime", "cli", "polypool")
            wait_for(lambda: subprocess.run([cli, "status"], env=env,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL).returncode == 0,
                     10, "the daemon")
        if run_py:
            table, failed = bench_python(args, build, env, pp_ok, pp_why)
            tables.append((PY_BEGIN, PY_END, END, table))
        if run_shared:
            table, sh_failed = bench_shared(args, build, env, pp_ok, pp_why)
            failed.update({(impl, "shared: " + key): why
                           for (impl, key), why in sh_failed.items()})
            tables.append((SH_BEGIN, SH_END, PY_END, table))
        if run_queue:
            table, qu_failed = bench_queue(args, build, env, pp_ok, pp_why)
            failed.update({(impl, "queue: " + key): why
                           for (impl, key), why in qu_failed.items()})
            tables.append((QU_BEGIN, QU_END, SH_END, table))
        if run_managers:
            table, mg_failed = bench_managers(args, build, env, pp_ok, pp_why)
            failed.update({(impl, "managers: " + key): why
                           for (impl, key), why in mg_failed.items()})
            tables.append((MG_BEGIN, MG_END, QU_END, table))
        if run_process:
            table, pr_failed = bench_process(args, build, env, pp_ok, pp_why)
            failed.update({(impl, "process: " + key): why
                           for (impl, key), why in pr_failed.items()})
            tables.append((PR_BEGIN, PR_END, MG_END, table))
    finally:
        if d:
            d.terminate()
            d.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    for _, _, _, table in tables:
        print(table)
    if failed:
        print("bench: polypool/multiprocessing failures:", file=sys.stderr)
        for (impl, name), why in failed.items():
            print(f"--- {impl}, {name}:\n{why}", file=sys.stderr)
    if args.no_write:
        return
    path = os.path.join(TOP, "docs", "benchmarks.md")
    with open(path) as f:
        doc = f.read()
    for begin, end, after, table in tables:
        doc = write_region(doc, begin, end, table, after)
    with open(path, "w") as f:
        f.write(doc)
    print("bench: wrote", path)


if __name__ == "__main__":
    main()
