"""How polypool runs Python work, beyond multiprocessing's API: spare
workers, both ways of starting a Process, pools mixing C workers and
Python hosts, the polyglot example, and what `polypool status` shows."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import tasks
from helpers import describe, run_script

pytestmark = pytest.mark.polypool_only

BUILD_DIR = os.environ.get("POLYPOOL_BUILD_DIR", "")
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_next_pool_adopts_the_idle_workers_of_the_last(mp):
    with mp.Pool(2) as p:
        first = set(p.map(tasks.getpid, range(2), chunksize=1))
        # Both workers run: the map above may have used just one.
        first |= {p.apply(tasks.getpid) for _ in range(4)}
    with mp.Pool(2) as p:
        second = set(p.map(tasks.getpid, range(8), chunksize=1))
    assert first & second, (first, second)


def test_pool_with_initializer_starts_fresh_workers(mp):
    with mp.Pool(1) as p:
        old = p.apply(tasks.getpid)
    with mp.Pool(1, initializer=tasks.init_state, initargs=(5,)) as p:
        assert p.apply(tasks.get_state) == 5
        assert p.apply(tasks.getpid) != old


SPAWN_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import polypool as multiprocessing

    def ok(): print("child", multiprocessing.current_process().name)
    def fail(): raise RuntimeError("boom")
    def leave(): sys.exit(3)
    def hang(): time.sleep(60)

    if __name__ == "__main__":
        codes = []
        for target in (ok, fail, leave):
            p = multiprocessing.Process(target=target, name="P-" + target.__name__)
            p.start()
            p.join()
            codes.append(p.exitcode)
        p = multiprocessing.Process(target=hang)
        p.start()
        p.terminate()
        p.join()
        codes.append(p.exitcode)
        print(codes)
""")


@pytest.mark.parametrize("start", ["forkserver", "spawn"])
def test_process_start_methods(tmp_path, start):
    env = dict(os.environ, POLYPOOL_PROCESS_START=start)
    proc = run_script(SPAWN_SCRIPT, tmp_path, env=env)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "child P-ok\n[0, 1, 3, -15]\n", describe(proc)
    assert "Process P-fail:" in proc.stderr and "RuntimeError: boom" in proc.stderr


def test_process_helper_death_is_not_a_hang(tmp_path):
    script = textwrap.dedent("""
        import os, signal, time
        import polypool as multiprocessing
        from polypool import _zygote

        def hang(): time.sleep(60)

        if __name__ == "__main__":
            p = multiprocessing.Process(target=hang)
            p.start()
            helper = p._zygote.pid
            os.kill(helper, signal.SIGKILL)
            p.kill()
            p.join()
            print(p.exitcode is not None)
            q = multiprocessing.Process(target=print, args=("again",))
            q.start()
            q.join()
            print(q.exitcode)
    """)
    proc = run_script(script, tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "True\nagain\n0\n", describe(proc)


def test_c_worker_pool_makes_room_for_python_work(mp):
    """A pool started with C workers (as a C client makes it) runs a Python
    function: an idle C worker gives its place to a Python host."""
    from polypool import _env, _polypool
    pool = _polypool.Pool(size=1, name="test-c-then-python")
    try:
        fn = _polypool.Function("py", "tasks", "square", _env.current())
        assert pool.map(fn, list(range(5))) == [0, 1, 4, 9, 16]
        lib = os.path.join(BUILD_DIR, "tests", "lib", "libpptest.so")
        assert pool.map(_polypool.Function("c", lib, "pt_square"), [3]) == [9]
    finally:
        pool.close()
        pool.free()


def test_status_shows_python_workers(mp):
    cli = os.path.join(BUILD_DIR, "runtime", "cli", "polypool")
    with mp.Pool(1) as p:
        pid = p.apply(tasks.getpid)
        out = subprocess.run([cli, "status", "--json"], capture_output=True, text=True,
                             timeout=30)
    assert out.returncode == 0, out.stderr
    workers = [w for pool in json.loads(out.stdout)["pools"] for w in pool["workers"]]
    assert {"pid": pid, "kind": "python"}.items() <= \
        next(w for w in workers if w["pid"] == pid).items()


def test_polyglot_example():
    """examples/polyglot: the C program and the Python program at the same
    time on one named pool, each running the other's functions."""
    src = os.path.join(TOP, "examples", "polyglot")
    exe = os.path.join(BUILD_DIR, "examples", "polyglot", "polyglot")
    lib = os.path.join(BUILD_DIR, "examples", "polyglot", "libpolyglot.so")
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    c_env = dict(env, PYTHONPATH=os.pathsep.join([src, env.get("PYTHONPATH", "")]),
                 POLYPOOL_PYTHON=sys.executable)
    py_env = dict(env, POLYGLOT_LIB=lib)
    c = subprocess.Popen([exe], env=c_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    py = subprocess.Popen([sys.executable, os.path.join(src, "polyglot.py")], env=py_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    c_out, c_err = c.communicate(timeout=120)
    py_out, py_err = py.communicate(timeout=120)
    assert c.returncode == 0, c_err
    assert py.returncode == 0, py_err
    assert c_out == (
        "C: word counts (Python pgtasks.word_count): [4, 2, 3]\n"
        "C: summary (Python pgtasks.summary): {'n': 8, 'total': 31, 'max': 9}\n"
        "C: collatz steps (C pg_collatz): [8, 16, 111]\n")
    assert py_out == (
        "Python: collatz steps (C pg_collatz): [0, 1, 7, 2, 5, 8, 16, 3, 19, 6]\n"
        "Python: reversed (C pg_reverse): ['loopylop', 'nohtyP dna C']\n"
        "Python: shouted (Python pgtasks.shout): ['HELLO!', 'POOL!']\n")


def test_counter_example():
    """examples/counter: one counter under one lock, incremented at once by
    C and Python code, in both directions: the C program with a Python task
    and a C task, the Python program with a Process child and a C task."""
    src = os.path.join(TOP, "examples", "counter")
    exe = os.path.join(BUILD_DIR, "examples", "counter", "counter")
    lib = os.path.join(BUILD_DIR, "examples", "counter", "libcounter.so")
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    c_env = dict(env, PYTHONPATH=os.pathsep.join([src, env.get("PYTHONPATH", "")]),
                 POLYPOOL_PYTHON=sys.executable)
    py_env = dict(env, COUNTER_LIB=lib)
    c = subprocess.Popen([exe, "50000"], env=c_env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    py = subprocess.Popen([sys.executable, os.path.join(src, "counter.py"), "50000"],
                          env=py_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    c_out, c_err = c.communicate(timeout=120)
    py_out, py_err = py.communicate(timeout=120)
    assert (c.returncode, c_err) == (0, "")
    assert (py.returncode, py_err) == (0, "")
    assert c_out == "C program + Python task + C task: 150000 increments, counter = 150000\n"
    assert py_out == ("Python program + Process child + C task: 150000 increments, "
                      "counter = 150000\n")


def test_process_helper_killed_between_starts(tmp_path):
    script = textwrap.dedent("""
        import os, signal
        import polypool as multiprocessing

        if __name__ == "__main__":
            p = multiprocessing.Process(target=print, args=("one",))
            p.start()
            p.join()
            os.kill(p._zygote.pid, signal.SIGKILL)
            os.waitpid(p._zygote.pid, 0)
            q = multiprocessing.Process(target=print, args=("two",))
            q.start()
            q.join()
            print(p.exitcode, q.exitcode)
    """)
    proc = run_script(script, tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "one\ntwo\n0 0\n", describe(proc)


@pytest.mark.parametrize("interpreter", ["/bin/false", "/nonexistent/python3"])
def test_python_hosts_that_cannot_start_fail_the_work(mp, interpreter):
    """Python work for hosts that die at start (or cannot be spawned) fails
    with SpawnError, even while C workers of the pool live on."""
    from polypool import _polypool
    pool = _polypool.Pool(size=1, name="test-bad-host-" + os.path.basename(interpreter))
    try:
        lib = os.path.join(BUILD_DIR, "tests", "lib", "libpptest.so")
        square = _polypool.Function("c", lib, "pt_square")
        assert pool.map(square, [2]) == [4]
        fn = _polypool.Function("py", "tasks", "square", (interpreter, [], None, None, "/"))
        with pytest.raises(mp.SpawnError) as ei:
            pool.map(fn, [1, 2])
        assert interpreter in str(ei.value) or "dying at startup" in str(ei.value), ei.value
    finally:
        pool.close()
        pool.free()


ENVIRON_SCRIPT = textwrap.dedent("""
    import os
    import polypool as multiprocessing

    def read(_=None):
        return os.environ.get("PP_TEST_SETTING")

    def show():
        print("process", read())

    if __name__ == "__main__":
        os.environ["PP_TEST_SETTING"] = "one"
        with multiprocessing.Pool(1) as pool:
            print("pool", pool.apply(read), pool.map(read, [0]))
        os.environ["PP_TEST_SETTING"] = "two"
        with multiprocessing.Pool(1) as pool:
            print("pool", pool.apply(read))
        p = multiprocessing.Process(target=show)
        p.start()
        p.join()
        os.environ["PP_TEST_SETTING"] = "three"
        p = multiprocessing.Process(target=show)
        p.start()
        p.join()
""")


@pytest.mark.parametrize("start", ["forkserver", "spawn"])
def test_workers_and_children_see_this_programs_environment(tmp_path, start):
    env = dict(os.environ, POLYPOOL_PROCESS_START=start)
    proc = run_script(ENVIRON_SCRIPT, tmp_path, env=env)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == ("pool one ['one']\npool two\nprocess two\nprocess three\n"), \
        describe(proc)


def test_ctrl_c_interrupts_waits(tmp_path):
    script = textwrap.dedent("""
        import os, signal, threading, time
        import polypool as multiprocessing
        from tasks import sleep_return

        def interrupt_soon():
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()

        if __name__ == "__main__":
            with multiprocessing.Pool(1) as pool:
                for name, call in [
                        ("get", lambda: pool.apply_async(sleep_return, (1, 30)).get()),
                        ("map", lambda: pool.starmap(sleep_return, [(1, 30)])),
                        ("imap", lambda: next(pool.imap(time.sleep, [30]))),
                        ("wait", lambda: pool.apply_async(time.sleep, (30,)).wait())]:
                    interrupt_soon()
                    start = time.monotonic()
                    try:
                        call()
                        print(name, "returned")
                    except KeyboardInterrupt:
                        print(name, "interrupted", time.monotonic() - start < 20)
    """)
    proc = run_script(script, tmp_path, args=())
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == ("get interrupted True\nmap interrupted True\n"
                           "imap interrupted True\nwait interrupted True\n"), describe(proc)


# --- the daemon's fork server for Python hosts ----------------------------------

FORKSERVER_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import polypool as multiprocessing

    VERSION = "one"

    def info(_=None):
        return os.getppid(), VERSION

    def die(_=None):
        os.kill(os.getpid(), signal.SIGKILL)

    if __name__ == "__main__":
        with multiprocessing.Pool(1) as pool:
            parent, version = pool.apply(info)
            try:
                pool.apply(die)
            except multiprocessing.WorkerLostError as e:
                lost = e.signal
            print(parent, version, lost, pool.apply(info)[1])
""")


def _run_file(path):
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    return subprocess.run([sys.executable, str(path)], cwd=str(path.parent), env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)


def _run_until_forked(tmp_path, text, daemon_pid, deadline=60.0):
    """Runs the script (a new client each time, the file written once)
    until its host was forked by the fork server (its parent is not the
    daemon). Returns the output."""
    import time
    end = time.monotonic() + deadline
    proc = run_script(text, tmp_path)
    while True:
        assert proc.returncode == 0, describe(proc)
        parent = int(proc.stdout.split()[0])
        if parent != daemon_pid:
            return proc.stdout
        assert time.monotonic() < end, "no host was ever forked: " + proc.stdout
        proc = _run_file(tmp_path / "script.py")


def test_hosts_fork_from_a_warm_server(tmp_path, daemon_pid):
    out = _run_until_forked(tmp_path, FORKSERVER_SCRIPT, daemon_pid)
    # A forked host runs the task, dies of SIGKILL with the signal reported,
    # and its replacement runs the next task.
    assert out.split()[1:] == ["one", "9", "one"], out


def test_an_edited_program_never_runs_its_old_code(tmp_path, daemon_pid):
    _run_until_forked(tmp_path, FORKSERVER_SCRIPT, daemon_pid)
    # The server imported VERSION = "one"; the program now says "two". Its
    # next host must run the new code (the server sees the change and goes).
    edited = FORKSERVER_SCRIPT.replace('VERSION = "one"', 'VERSION = "two"')
    proc = run_script(edited, tmp_path)
    for _ in range(3):
        assert proc.returncode == 0, describe(proc)
        assert proc.stdout.split()[1:] == ["two", "9", "two"], describe(proc)
        proc = _run_file(tmp_path / "script.py")


def test_daemon_killed_during_calls(tmp_path):
    """The daemon dies (SIGKILL) while a program waits on it: every waiting
    call raises ConnectionLostError (a ConnectionResetError), none hangs."""
    import time
    sock = tmp_path / "d.sock"
    daemon = subprocess.Popen(
        [os.path.join(BUILD_DIR, "runtime", "polypoold"), "--listen", "ipc://%s" % sock,
         "--workers", "1", "--worker",
         os.path.join(BUILD_DIR, "runtime", "worker", "polypool-worker")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < end and daemon.poll() is None, "no daemon"
            time.sleep(0.01)
        script = textwrap.dedent("""
            import os, signal, sys, threading, time
            import polypool as multiprocessing
            from tasks import sleep_return

            if __name__ == "__main__":
                daemon = int(sys.argv[1])
                with multiprocessing.Pool(1) as pool:
                    pending = pool.apply_async(sleep_return, (1, 60))
                    threading.Timer(0.5, os.kill, (daemon, signal.SIGKILL)).start()
                    for call in (lambda: pool.apply(sleep_return, (2, 60)),
                                 lambda: pending.get(30)):
                        try:
                            call()
                            print("returned")
                        except multiprocessing.ConnectionLostError as e:
                            print(type(e).__name__, isinstance(e, ConnectionResetError),
                                  e.status_name)
        """)
        env = dict(os.environ, POLYPOOL_ADDRESS="ipc://%s" % sock, POLYPOOL_NO_AUTOSTART="1")
        proc = run_script(script, tmp_path, env=env, args=(str(daemon.pid),))
        assert proc.stdout == ("ConnectionLostError True ECONNRESET\n"
                               "ConnectionLostError True ECONNRESET\n"), describe(proc)
    finally:
        daemon.kill()
        daemon.wait()
