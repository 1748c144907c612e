#!/usr/bin/python3
"""The examples and the polypool CLI against a real, private polypoold.

Run by meson (tests/integration/meson.build):

    run_examples.py --daemon PATH --worker PATH --cli PATH \
                    --example NAME=PATH [--example NAME=PATH ...]

Starts polypoold on a private ipc path, runs every example with
POLYPOOL_ADDRESS pointing at it and PP_EXAMPLE_FAST=1, compares their
output with the seed's, then checks `polypool status`, `status --json`,
`stop`, and `status` with no daemon. Prints "N passed, N failed" and exits
non-zero on any failure.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DEADLINE = 10.0     # seconds, for anything that should be quick
RUN_TIMEOUT = 120.0  # one example

# The seed's output for each example; None: checked by a function below.
EXPECTED = {
    'pool_map': '[1, 4, 9, 16, 25]',
    'pool_map_range': '[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]',
    'pool_imap': '1\n4\n9\n16\n25',
    'pool_default': '[1, 4, 9, 16, 25]',
}

# shared_pool_a / _b: square over their range on the one named pool.
SHARED = {
    'shared_pool_a': (0, 10),
    'shared_pool_b': (10, 20),
}


def shared_expected(lo, hi):
    return ('square over range(%d, %d) on pool "shared-demo" (4 workers):\n[%s]'
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
    def __init__(self, daemon, worker):
        self.dir = tempfile.mkdtemp(prefix='pp-ex-', dir='/tmp')
        self.sock = os.path.join(self.dir, 'd.sock')
        self.url = 'ipc://' + self.sock
        env = dict(os.environ)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--daemon', required=True)
    ap.add_argument('--worker', required=True)
    ap.add_argument('--cli', required=True)
    ap.add_argument('--example', action='append', default=[])
    args = ap.parse_args()
    examples = dict(e.split('=', 1) for e in args.example)

    d = Daemon(args.daemon, args.worker)
    env = dict(os.environ)
    env['POLYPOOL_ADDRESS'] = d.url
    env['PP_EXAMPLE_FAST'] = '1'
    env['POLYPOOL_NO_AUTOSTART'] = '1'
    env['POLYPOOL_WORKER'] = args.worker
    env['POLYPOOL_DAEMON'] = args.daemon
    cli = [args.cli, '--address', d.url]
    try:
        # Ready: the CLI's status answers (it never starts a daemon).
        ready = wait_until(lambda: not d.alive() or
                           run(cli + ['status'], env, DEADLINE).returncode == 0, DEADLINE)
        if not ready or not d.alive():
            record('daemon start', False, 'polypoold did not come up at ' + d.url)
            return
        record('daemon start', True)

        for name in sorted(examples):
            if name.startswith('shared_pool_'):
                continue
            path = examples[name]
            try:
                p = run([path], env)
            except subprocess.TimeoutExpired:
                record('example ' + name, False, 'timed out')
                continue
            out = p.stdout.strip()
            if p.returncode != 0:
                record('example ' + name, False, 'exit %d; stderr: %s' % (p.returncode,
                                                                         p.stderr.strip()))
            elif name in EXPECTED:
                record('example ' + name, out == EXPECTED[name],
                       '' if out == EXPECTED[name] else
                       'output %r, want %r' % (out, EXPECTED[name]))
            elif name == 'pool_apply':
                # apply(square, (7,)) then apply_async(square, (8,)) with a callback
                lines = out.splitlines()
                ok = lines[:1] == ['49'] and 'callback: 64' in lines
                record('example ' + name, ok, '' if ok else 'output %r' % out)
            else:
                record('example ' + name, True, 'exit 0 (no fixed output): %r' % out[:80])

        # The two shared-pool examples at once: both succeed.
        shared = [n for n in ('shared_pool_a', 'shared_pool_b') if n in examples]
        if shared:
            procs = [(n, subprocess.Popen([examples[n]], env=env, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True)) for n in shared]
            for n, p in procs:
                try:
                    out, err = p.communicate(timeout=RUN_TIMEOUT)
                    want = shared_expected(*SHARED[n]) if n in SHARED else None
                    ok = p.returncode == 0 and (want is None or out.strip() == want)
                    record('example %s (concurrent)' % n, ok,
                           '' if ok else 'exit %d, output %r, want %r; stderr: %s' % (
                               p.returncode, out.strip(), want, err.strip()))
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
    finally:
        d.stop()


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # report, never hang
        record('run_examples', False, repr(e))
    passed = sum(1 for r in results if r[1])
    failed = len(results) - passed
    print('%d passed, %d failed' % (passed, failed))
    sys.exit(0 if failed == 0 and passed > 0 else 1)
