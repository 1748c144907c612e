#!/usr/bin/python3
"""The seed's examples in C, and the polypool CLI, against a real, private
polypoold.

Run by meson (tests/integration/meson.build):

    run_examples.py --daemon PATH --worker PATH --cli PATH --examples DIR \
                    --pc UNINSTALLED_PC --header POLYPOOL_H --python-seed DIR \
                    [--extra-cflags FLAGS]

1. Builds every program of DIR (examples/c) as a user of an installed
   polypool would, twice: the program NAME and the library libNAME.so its
   workers and child processes load, each with nothing but

       cc ... NAME.c $(pkg-config --cflags --libs polypool)

   where polypool.pc is a copy of the build tree's uninstalled one: the
   build tree's header and library are used, never an installed copy.
   LD_LIBRARY_PATH names the library's directory at run time, as ldconfig
   would for an installed one; --extra-cflags adds a sanitizer build's
   sanitizers, which its library needs. Checks that the examples include
   nothing but polypool.h and libc, and that every example of the seed
   (python-seed DIR, the guide's programs in Python) has a C program.
2. Starts polypoold on a private ipc path and runs every program with
   POLYPOOL_ADDRESS pointing at it and PP_EXAMPLE_FAST=1. Its stdout must
   be exactly the seed's (as sorted lines where the guide says the order
   may vary; sync_lock_workers by structure), its stderr empty, its exit
   status 0. shared_pool_a and shared_pool_b run at the same time.
3. Checks `polypool status`, `status --json`, `stop`, and `status` with
   no daemon.

Prints "N passed, N failed" and exits non-zero on any failure.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DEADLINE = 10.0     # seconds, for anything that should be quick
RUN_TIMEOUT = 120.0  # one example
BUILD_TIMEOUT = 120.0  # one compiler run

# What a user types, but for the warnings, which are errors here.
CC = 'cc -std=c11 -Wall -Wextra -Werror'
PKG_CONFIG = '$(pkg-config --cflags --libs polypool)'

# The headers an example may include besides <polypool.h>: libc's.
LIBC_HEADERS = {'errno.h', 'inttypes.h', 'pthread.h', 'stdbool.h', 'stddef.h', 'stdint.h',
                'stdio.h', 'stdlib.h', 'string.h', 'time.h', 'unistd.h'}

SQUARES_1_5 = '[1, 4, 9, 16, 25]\n'
SQUARES_0_9 = '[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n'

# program -> (its exact stdout, True where the guide says the order may
# vary: then the sorted lines are compared). Named as the Python originals
# in tests/python/seed/.
EXPECTED = {
    'pool_map_my_func': (SQUARES_1_5, False),
    'pool_default_map': (SQUARES_1_5, False),
    'pool_square_range10': (SQUARES_0_9, False),
    'pool_my_function_range10': (SQUARES_0_9, False),
    'pool_imap_slow_square': ('1\n4\n9\n16\n25\n', False),
    'process_subclass': ('0\n1\n4\n9\n16\n', True),
    # The guide says this order may vary, but the child's output is out
    # before join returns, and the parent prints after join: never.
    'process_hello': ('Hello from a child process!\nThe child process has completed.\n', False),
    'process_args_alice': ('Hello from Alice!\nThe child process has completed.\n', False),
    'process_print_number': ('Process 1: 1\nProcess 2: 2\nProcess 3: 3\nProcess 4: 4\n', True),
    'shared_value_counter': ('4000000\n', False),
    'shared_array_double': ('Before: [1, 2, 3, 4, 5]\nAfter: [2, 4, 6, 8, 10]\n', False),
    'queue_producer_consumer': ('0\n1\n2\n3\n4\n', False),
    'pipe_hello': ('hello\n', False),
}

LOCK_LINES = ('acquired lock', 'is working', 'released lock')


def check_lock_workers(out):
    """Four processes print three lines each under the lock, five times:
    the three lines of one holding are never interleaved with another's.
    Returns what is wrong, or ''."""
    lines = out.splitlines()
    if len(lines) != 4 * 5 * 3 or not out.endswith('\n'):
        return '%d lines, want 60' % len(lines)
    holdings = {}
    for i in range(0, len(lines), 3):
        triple = [line.split(' ', 2) for line in lines[i:i + 3]]
        if any(len(t) != 3 or t[0] != 'Worker' for t in triple):
            return 'line %d: not "Worker NAME ..."' % (i + 1)
        if len({t[1] for t in triple}) != 1 or tuple(t[2] for t in triple) != LOCK_LINES:
            return 'lines %d-%d are not one holding of the lock: %r' % (
                i + 1, i + 3, lines[i:i + 3])
        holdings[triple[0][1]] = holdings.get(triple[0][1], 0) + 1
    want = {'Process-%d' % k: 5 for k in range(1, 5)}
    return '' if holdings == want else 'holdings %r, want %r' % (holdings, want)


def check_pool_apply(out):
    """apply(square, (7,)), then apply_async(square, (8,)) with a callback."""
    want = '49\ncallback: 64\n'
    return '' if out == want else 'want %r' % want


# program -> a function of its stdout returning what is wrong, or ''.
CHECKS = {
    'sync_lock_workers': check_lock_workers,
    'pool_apply': check_pool_apply,
}

# shared_pool_a / _b: square over their range on the one named pool.
SHARED = {
    'shared_pool_a': (0, 10),
    'shared_pool_b': (10, 20),
}


def shared_expected(lo, hi):
    return ('square over range(%d, %d) on pool "shared-demo" (4 workers):\n[%s]\n'
            % (lo, hi, ', '.join(str(x * x) for x in range(lo, hi))))

results = []  # (name, ok, detail)


def record(name, ok, detail=''):
    results.append((name, ok, detail))
    print('%s %s%s' % ('ok  ' if ok else 'FAIL', name, (': ' + detail) if detail else ''),
          flush=True)


def wait_until(pred, timeout):
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)


class Daemon:
    def __init__(self, daemon, worker, env):
        self.dir = tempfile.mkdtemp(prefix='pp-ex-', dir='/tmp')
        self.sock = os.path.join(self.dir, 'd.sock')
        self.url = 'ipc://' + self.sock
        env = dict(env)
        env['POLYPOOL_WORKER'] = worker
        self.proc = subprocess.Popen(
            [daemon, '--listen', self.url, '--workers', '2', '--log-level', 'warn'],
            env=env, stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # what is left of its group
        except (ProcessLookupError, PermissionError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def run(argv, env, timeout=RUN_TIMEOUT):
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, text=True)


def sh(command, env, timeout=BUILD_TIMEOUT):
    """Runs a shell command line: the `$(pkg-config ...)` is the shell's."""
    return subprocess.run(['/bin/sh', '-c', command], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, text=True)


def programs(src):
    """The examples' programs: the .c files of src with a main()."""
    names = []
    for f in sorted(os.listdir(src)):
        if f.endswith('.c'):
            with open(os.path.join(src, f)) as fh:
                if re.search(r'^int main\(', fh.read(), re.M):
                    names.append(f[:-2])
    return names


def check_sources(src, python_seed):
    """Every seed example has a C program with an expected output, every
    program is checked, and the examples include only polypool.h and libc."""
    names = set(programs(src))
    checked = set(EXPECTED) | set(CHECKS) | set(SHARED)
    seed = {f[:-3] for f in os.listdir(python_seed) if f.endswith('.py')}
    record('every seed example has a C program', seed <= names,
           'missing: %s' % ' '.join(sorted(seed - names)) if not seed <= names else '')
    record('every C example is checked', names == checked,
           'unchecked: %s; expected but missing: %s' % (
               ' '.join(sorted(names - checked)), ' '.join(sorted(checked - names)))
           if names != checked else '')
    bad = []
    for f in sorted(os.listdir(src)):
        if not f.endswith(('.c', '.h')):
            continue
        with open(os.path.join(src, f)) as fh:
            for m in re.finditer(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', fh.read(), re.M):
                quoted, header = m.group(1) == '"', m.group(2)
                if quoted and not os.path.exists(os.path.join(src, header)):
                    bad.append('%s: "%s"' % (f, header))
                elif not quoted and header != 'polypool.h' and header not in LIBC_HEADERS:
                    bad.append('%s: <%s>' % (f, header))
    record('examples include only polypool.h and libc', not bad, ', '.join(bad))


def build_examples(src, pc, header, bindir, extra_cflags):
    """Builds NAME and libNAME.so for every program of src into bindir
    with cc and pkg-config alone (and extra_cflags). Returns (the built
    names, the environment to run them in)."""
    pcdir = os.path.join(bindir, 'pkgconfig')
    os.makedirs(pcdir)
    shutil.copy(pc, os.path.join(pcdir, 'polypool.pc'))
    env = dict(os.environ)
    env['PKG_CONFIG_PATH'] = pcdir
    p = sh('pkg-config --libs-only-L polypool', env)
    libdirs = [w[2:] for w in p.stdout.split() if w.startswith('-L')]
    if p.returncode != 0 or not libdirs:
        record('pkg-config polypool', False, 'exit %d, %r %s' % (
            p.returncode, p.stdout, p.stderr.strip()))
        return [], env
    # What ldconfig would do for an installed libpolypool.
    env['LD_LIBRARY_PATH'] = ':'.join(libdirs + [env.get('LD_LIBRARY_PATH', '')]).rstrip(':')

    # The build tree's polypool.h, not a copy installed in /usr/local.
    names = programs(src)
    p = sh('cc -M %s %s' % (shlex.quote(os.path.join(src, names[0] + '.c')),
                            '$(pkg-config --cflags polypool)'), env)
    used = [w for w in p.stdout.replace('\\\n', ' ').split() if w.endswith('/polypool.h')]
    ok = p.returncode == 0 and len(used) == 1 and \
        os.path.realpath(used[0]) == os.path.realpath(header)
    record('pkg-config polypool finds the build tree', ok,
           '' if ok else 'polypool.h used: %r, want %s; %s' % (used, header, p.stderr.strip()))

    cc = ' '.join(w for w in (CC, extra_cflags) if w)

    def build(name):
        source = shlex.quote(os.path.join(src, name + '.c'))
        out = shlex.quote(os.path.join(bindir, name))
        lib = shlex.quote(os.path.join(bindir, 'lib%s.so' % name))
        for command in ('%s -o %s %s %s' % (cc, out, source, PKG_CONFIG),
                        '%s -shared -fPIC -o %s %s %s' % (cc, lib, source, PKG_CONFIG)):
            try:
                p = sh(command, env)
            except subprocess.TimeoutExpired:
                return name, False, '%s: timed out' % command
            if p.returncode != 0 or p.stderr.strip():
                return name, False, '%s: exit %d\n%s' % (command, p.returncode,
                                                          p.stderr.strip())
        return name, True, ''

    built = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        for name, ok, detail in ex.map(build, names):
            record('build ' + name, ok, detail)
            if ok:
                built.append(name)
    return built, env


def check_output(name, p):
    """Records whether example `name` ran as the seed says."""
    what = 'example ' + name
    if p.returncode != 0 or p.stderr:
        record(what, False, 'exit %d; stdout %r; stderr: %s' % (
            p.returncode, p.stdout[:2000], p.stderr.strip()[:2000]))
    elif name in EXPECTED:
        want, any_order = EXPECTED[name]
        ok = p.stdout == want or (any_order and p.stdout.endswith('\n') and
                                  sorted(p.stdout.splitlines()) == sorted(want.splitlines()))
        record(what, ok, '' if ok else 'output %r, want %r%s' % (
            p.stdout[:2000], want, ' in any order' if any_order else ''))
    elif name in CHECKS:
        wrong = CHECKS[name](p.stdout)
        record(what, not wrong, '%s; output %r' % (wrong, p.stdout[:3000]) if wrong else '')
    else:
        record(what, False, 'no expected output for it')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--daemon', required=True)
    ap.add_argument('--worker', required=True)
    ap.add_argument('--cli', required=True)
    ap.add_argument('--examples', required=True, help='examples/c')
    ap.add_argument('--pc', required=True, help='the uninstalled polypool.pc')
    ap.add_argument('--header', required=True, help="the source tree's polypool.h")
    ap.add_argument('--python-seed', required=True, help='tests/python/seed')
    ap.add_argument('--extra-cflags', default='',
                    help='added to the compiler command (a sanitizer build: its sanitizers)')
    args = ap.parse_args()

    check_sources(args.examples, args.python_seed)
    bindir = tempfile.mkdtemp(prefix='pp-ex-bin-', dir='/tmp')
    d = None
    try:
        built, env = build_examples(args.examples, args.pc, args.header, bindir,
                                    args.extra_cflags)
        d = Daemon(args.daemon, args.worker, env)
        env['POLYPOOL_ADDRESS'] = d.url
        env['PP_EXAMPLE_FAST'] = '1'
        env['POLYPOOL_NO_AUTOSTART'] = '1'
        env['POLYPOOL_WORKER'] = args.worker
        env['POLYPOOL_DAEMON'] = args.daemon
        cli = [args.cli, '--address', d.url]
        run_all(d, cli, env, built, bindir)
    finally:
        if d:
            d.stop()
        shutil.rmtree(bindir, ignore_errors=True)


def run_all(d, cli, env, built, bindir):
    # Ready: the CLI's status answers (it never starts a daemon).
    ready = wait_until(lambda: not d.alive() or
                       run(cli + ['status'], env, DEADLINE).returncode == 0, DEADLINE)
    if not ready or not d.alive():
        record('daemon start', False, 'polypoold did not come up at ' + d.url)
        return
    record('daemon start', True)

    for name in built:
        if name in SHARED:
            continue
        try:
            check_output(name, run([os.path.join(bindir, name)], env))
        except subprocess.TimeoutExpired:
            record('example ' + name, False, 'timed out')

    # The two shared-pool examples at once: both succeed.
    shared = [n for n in sorted(SHARED) if n in built]
    procs = [(n, subprocess.Popen([os.path.join(bindir, n)], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)) for n in shared]
    for n, p in procs:
        try:
            out, err = p.communicate(timeout=RUN_TIMEOUT)
            want = shared_expected(*SHARED[n])
            ok = p.returncode == 0 and out == want and not err
            record('example %s (concurrent)' % n, ok,
                   '' if ok else 'exit %d, output %r, want %r; stderr: %s' % (
                       p.returncode, out, want, err.strip()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            record('example %s (concurrent)' % n, False, 'timed out')

    # polypool status
    p = run(cli + ['status'], env, DEADLINE * 3)
    ok = p.returncode == 0 and 'default' in p.stdout and str(d.proc.pid) in p.stdout
    record('cli status', ok, '' if ok else 'exit %d: %r %s' % (
        p.returncode, p.stdout[:300], p.stderr.strip()))

    # polypool status --json: the default pool with its 2 workers.
    p = run(cli + ['status', '--json'], env, DEADLINE * 3)
    try:
        st = json.loads(p.stdout)
        pools = [x for x in st.get('pools', []) if x.get('name') == 'default']
        ok = (p.returncode == 0 and len(pools) == 1 and pools[0].get('size') == 2
              and pools[0].get('kind') == 'default'
              and st.get('pid') == d.proc.pid)
        workers = pools[0].get('workers', []) if pools else []
        ok = ok and len(workers) == 2 and all(w.get('pid', 0) > 0 for w in workers)
        record('cli status --json', ok, '' if ok else 'got %s' % p.stdout.strip()[:400])
    except ValueError as e:
        record('cli status --json', False, 'not JSON (%s): %r' % (e, p.stdout[:200]))

    # polypool stop: the daemon is gone afterwards, with its socket.
    p = run(cli + ['stop'], env, DEADLINE * 3)
    gone = wait_until(lambda: not d.alive(), DEADLINE)
    ok = p.returncode == 0 and gone and d.proc.returncode == 0 and \
        not os.path.exists(d.sock)
    record('cli stop', ok, '' if ok else 'exit %d, daemon %s, socket %s' % (
        p.returncode, 'gone (%s)' % d.proc.returncode if gone else 'still running',
        'left' if os.path.exists(d.sock) else 'removed'))

    # polypool status with no daemon: exit 1, and no daemon started.
    env_off = dict(env)
    p = run(cli + ['status'], env_off, DEADLINE * 3)
    ok = p.returncode == 1 and not os.path.exists(d.sock)
    record('cli status without daemon', ok,
           '' if ok else 'exit %d, socket %s' % (p.returncode, os.path.exists(d.sock)))
    env_auto = dict(env)
    env_auto.pop('POLYPOOL_NO_AUTOSTART', None)
    p = run(cli + ['status'], env_auto, DEADLINE * 3)
    ok = p.returncode == 1 and not os.path.exists(d.sock)
    record('cli status without daemon never autostarts', ok,
           '' if ok else 'exit %d, socket %s' % (p.returncode, os.path.exists(d.sock)))
    p = run(cli + ['stop'], env_off, DEADLINE * 3)
    record('cli stop without daemon', p.returncode == 1, 'exit %d' % p.returncode)


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # report, never hang
        record('run_examples', False, repr(e))
    passed = sum(1 for r in results if r[1])
    failed = len(results) - passed
    print('%d passed, %d failed' % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)
