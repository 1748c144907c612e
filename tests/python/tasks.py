"""Task functions for the tests.

They live in an importable module because workers (spawn semantics) import a
task by module and qualified name. conftest puts this directory on sys.path
and PYTHONPATH.
"""
import importlib
import os
import signal
import sys
import threading
import time

MP = importlib.import_module(os.environ.get("POLYPOOL_TEST_MODULE", "polypool"))


class CustomError(Exception):
    pass


def square(x):
    return x * x


def add(a, b):
    return a + b


def mul(x, y=1):
    return x * y


def identity(x):
    return x


def slow(x):
    """Not done for 30 s: for tests that stop it or time out on it."""
    time.sleep(30)
    return x


def getpid(_=None):
    return os.getpid()


def sleep_return(x, seconds):
    time.sleep(seconds)
    return x


def raise_value_error(*args):
    raise ValueError(*args)


def raise_custom(a, b):
    raise CustomError(a, b)


def raise_system_exit(code):
    raise SystemExit(code)


def raise_keyboard_interrupt(_=None):
    raise KeyboardInterrupt


def kill_self(_=None):
    os.kill(os.getpid(), signal.SIGKILL)


def exit_now(code):
    os._exit(code)


def return_lock(_=None):
    return threading.Lock()


def return_generator(_=None):
    return (i for i in range(3))


# Initializer state (per worker process).
_state = None


def init_state(value):
    global _state
    _state = value


def get_state(_=None):
    return _state


def record(x, directory):
    """Leave a trace that x ran; -99 is slow, negatives fail."""
    if x == -99:
        time.sleep(1.0)
    with open(os.path.join(directory, str(x)), "w") as f:
        f.write(str(os.getpid()))
    if x < 0:
        raise ValueError(x)
    return x


def print_and_return(x):
    # One write per line: lines from several processes share the pipe and
    # must not interleave mid-line.
    sys.stdout.write("out %s\n" % x)
    sys.stdout.flush()
    sys.stderr.write("err %s\n" % x)
    sys.stderr.flush()
    return x


def print_unflushed(x):
    sys.stdout.write("out %s\n" % x)
    sys.stderr.write("err %s\n" % x)
    return x


# Process targets.

def write_file(path, text="", suffix=""):
    with open(path, "w") as f:
        f.write(text + suffix)


def sleep_forever():
    time.sleep(600)


def raise_runtime_error():
    raise RuntimeError("boom in the child")


def exit_with(code):
    sys.exit(code)


def report_identity():
    parent = MP.parent_process()
    print("name=%s parent_is_none=%s" % (MP.current_process().name, parent is None),
          flush=True)


class SquareProcess(MP.Process):
    def __init__(self, x, path):
        super().__init__()
        self.x = x
        self.path = path

    def run(self):
        write_file(self.path, str(self.x * self.x))
