"""pytest configuration for the polypool Python package.

POLYPOOL_TEST_MODULE picks the module under test: "polypool" (default) or
"multiprocessing" (to validate the tests themselves against the stdlib).

For polypool, POLYPOOL_BUILD_DIR names the meson build directory: the package
is imported from $POLYPOOL_BUILD_DIR/bindings/python, and one private daemon
is started for the whole session on an ipc socket in a temporary directory.
Clients (this process and every subprocess) find it via POLYPOOL_ADDRESS and
never autostart another one (POLYPOOL_NO_AUTOSTART=1).
"""
import ctypes
import faulthandler
import gc
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from helpers import IS_POLYPOOL, MODULE, shm_entries, wait_until  # noqa: E402

BUILD_DIR = os.environ.get("POLYPOOL_BUILD_DIR")
BINDINGS_DIR = os.path.join(BUILD_DIR, "bindings", "python") if BUILD_DIR else None

# tests/python (for tasks.py) and the package must be importable here, in
# every subprocess a test runs, and in the daemon's Python workers.
_path = [HERE]
if IS_POLYPOOL and BINDINGS_DIR:
    sys.path.insert(0, BINDINGS_DIR)
    _path.insert(0, BINDINGS_DIR)
os.environ["PYTHONPATH"] = os.pathsep.join(
    _path + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ["POLYPOOL_TEST_MODULE"] = MODULE

# Per-test limit: a hung test dumps every thread's stack and ends the run.
TEST_TIMEOUT = float(os.environ.get("POLYPOOL_TEST_TIMEOUT", "90"))
_watchdog = {"fd": 2}

_daemon = {"proc": None, "dir": None, "log": None}


def pytest_collection_modifyitems(config, items):
    if IS_POLYPOOL:
        return
    skip = pytest.mark.skip(reason="polypool only (stdlib multiprocessing lacks it)")
    for item in items:
        if "polypool_only" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    # The watchdog writes to the real stderr, not to a test's capture.
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman:
        capman.suspend_global_capture(in_=False)
    try:
        _watchdog["fd"] = os.dup(2)
    finally:
        if capman:
            capman.resume_global_capture()


def _watchdog_fire(nodeid):
    fd = _watchdog["fd"]
    os.write(fd, ("\n%s: still running after %g s; all threads:\n"
                  % (nodeid, TEST_TIMEOUT)).encode())
    faulthandler.dump_traceback(file=fd, all_threads=True)
    proc = _daemon["proc"]
    if proc is not None:
        os.write(fd, ("--- polypoold log (%s)\n%s" % (_daemon["log"], _read_log())).encode())
        proc.terminate()
    os._exit(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # A hung test must not hang the suite. The timer thread needs the GIL;
    # faulthandler's own thread is the backstop if a C call holds it.
    timer = threading.Timer(TEST_TIMEOUT, _watchdog_fire, (item.nodeid,))
    timer.daemon = True
    timer.start()
    faulthandler.dump_traceback_later(TEST_TIMEOUT + 15, exit=True, file=_watchdog["fd"])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        timer.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call":
        item.pp_call_failed = outcome.get_result().failed


def _die_with_parent():
    # If pytest dies (watchdog, ^C), the daemon must not outlive it.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _build_path(*parts):
    if not BUILD_DIR:
        pytest.fail("POLYPOOL_BUILD_DIR is not set (the meson build directory)")
    path = os.path.join(BUILD_DIR, *parts)
    if not os.path.exists(path):
        pytest.fail("missing %s (is the build complete?)" % path)
    return path


@pytest.fixture(scope="session", autouse=True)
def polypool_daemon():
    """One private polypoold for the session (polypool only). Yields its
    address, or None under the stdlib."""
    if not IS_POLYPOOL:
        yield None
        return
    # POLYPOOL_TEST_DAEMON: run another daemon binary or wrapper (say
    # scripts/valgrind-daemon.sh) with the same arguments.
    daemon = os.environ.get("POLYPOOL_TEST_DAEMON") or _build_path("runtime", "polypoold")
    worker = _build_path("runtime", "worker", "polypool-worker")
    tmpdir = tempfile.mkdtemp(prefix="pp-test-")
    sock = os.path.join(tmpdir, "d.sock")
    log = os.path.join(tmpdir, "daemon.log")
    address = "ipc://" + sock
    _daemon.update(dir=tmpdir, log=log)
    os.environ["POLYPOOL_ADDRESS"] = address
    os.environ["POLYPOOL_NO_AUTOSTART"] = "1"
    proc = subprocess.Popen(
        [daemon, "--listen", address, "--workers", "2", "--worker", worker,
         "--log", log],
        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    _daemon["proc"] = proc
    try:
        if not wait_until(lambda: os.path.exists(sock) or proc.poll() is not None,
                          timeout=10.0) or not os.path.exists(sock):
            pytest.fail("polypoold did not create %s within 10 s (exit code %r)\n%s"
                        % (sock, proc.poll(), _read_log()))
        yield address
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                _daemon["stop_error"] = "polypoold did not exit within 10 s of SIGTERM"
        if proc.returncode != 0 and "stop_error" not in _daemon:
            _daemon["stop_error"] = "polypoold exited with %r" % proc.returncode


def _read_log():
    try:
        with open(_daemon["log"], errors="replace") as f:
            return f.read()
    except (OSError, TypeError):
        return "(no daemon log)"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _daemon["proc"] is None:
        return
    failed = terminalreporter.stats.get("failed") or terminalreporter.stats.get("error")
    stop_error = _daemon.get("stop_error")
    if stop_error:
        terminalreporter.write_line(stop_error, red=True)
    if failed or stop_error:
        terminalreporter.section("polypoold log (%s)" % _daemon["log"])
        terminalreporter.write(_read_log())


def pytest_unconfigure(config):
    if _daemon["dir"]:
        shutil.rmtree(_daemon["dir"], ignore_errors=True)


@pytest.fixture(scope="session")
def mp(polypool_daemon):
    """The module under test, used as `multiprocessing`."""
    return importlib.import_module(MODULE)


@pytest.fixture(scope="session")
def mp_pool_module(mp):
    """`multiprocessing.pool` / `polypool.pool` (RemoteTraceback,
    MaybeEncodingError)."""
    return importlib.import_module(MODULE + ".pool")


@pytest.fixture(scope="module")
def pool(mp):
    """A 2-worker pool shared by the tests of one module that leave it
    healthy. Tests that break or stop a pool make their own."""
    p = mp.Pool(2)
    yield p
    p.terminate()
    p.join()


@pytest.fixture(scope="session")
def libpptest(polypool_daemon):
    """Path of the C task library tests/lib/libpptest.so."""
    return _build_path("tests", "lib", "libpptest.so")


@pytest.fixture(scope="session")
def polypool_cli(polypool_daemon):
    """Path of the `polypool` command (status --json)."""
    return _build_path("runtime", "cli", "polypool")


@pytest.fixture(scope="session")
def daemon_pid(polypool_daemon):
    """The pid of the session's polypoold (the parent of the Python hosts it
    spawns itself; forked hosts have its fork server as parent)."""
    return _daemon["proc"].pid


@pytest.fixture
def no_leaked_segments(request, polypool_daemon):
    """Fails a test that leaves a segment of the session daemon in /dev/shm
    once it has returned and its objects are collected (polypool only;
    SharedMemory blocks must be unlinked)."""
    if not IS_POLYPOOL:
        yield
        return
    pid = _daemon["proc"].pid
    before = shm_entries(pid)
    yield
    if getattr(request.node, "pp_call_failed", False):
        return      # the failure's traceback may hold its objects

    def leftover():
        gc.collect()
        return shm_entries(pid) - before

    if wait_until(lambda: not leftover(), timeout=10.0):
        return
    left = leftover()
    if left:
        pytest.fail("segments left in /dev/shm after the test: %s" % sorted(left))
