"""Shared helpers for the polypool test suite (importable from any test)."""
import os
import subprocess
import sys
import time

# Which module plays "multiprocessing": polypool (default) or the stdlib.
MODULE = os.environ.get("POLYPOOL_TEST_MODULE", "polypool")
IS_POLYPOOL = MODULE == "polypool"

HERE = os.path.dirname(os.path.abspath(__file__))
IMPORT_LINE = "import polypool as multiprocessing"

# A subprocess that should take a second or two; only a hang reaches this.
SUBPROCESS_TIMEOUT = 60


def adapt_source(text):
    """Scripts are written for polypool; under the stdlib switch the import
    line goes back to `import multiprocessing`."""
    if IS_POLYPOOL:
        return text
    assert IMPORT_LINE in text, "script lacks the polypool import line"
    return text.replace(IMPORT_LINE, "import multiprocessing")


def run_script(text, tmp_path, name="script.py", env=None, args=()):
    """Write `text` (adapted to the module under test) to tmp_path/name and
    run it with this interpreter and `args`, cwd tmp_path. Returns CompletedProcess with
    str stdout and stderr."""
    path = tmp_path / name
    path.write_text(adapt_source(text))
    env = dict(os.environ if env is None else env)
    # Unbuffered, print() writes the text and the newline separately, so
    # concurrent children can interleave mid-line; buffered, each line a
    # child prints reaches the pipe in one write.
    env.pop("PYTHONUNBUFFERED", None)
    return subprocess.run(
        [sys.executable, str(path), *args], cwd=str(tmp_path), env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=SUBPROCESS_TIMEOUT)


def describe(proc):
    return "exit code %r\n--- stdout\n%s--- stderr\n%s" % (
        proc.returncode, proc.stdout, proc.stderr)


def wait_until(predicate, timeout=10.0, interval=0.01):
    """Poll `predicate` until it returns a true value or `timeout` passes;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def shm_entries(daemon_pid):
    """The /dev/shm entries of the segments of the daemon with that pid."""
    prefix = "polypool.%d.%d." % (os.getuid(), daemon_pid)
    return {name for name in os.listdir("/dev/shm") if name.startswith(prefix)}
