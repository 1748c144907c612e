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


# Shared memory and synchronisation (test_shared.py, test_sync.py). Process
# targets report through shared objects, exit codes or record_call's file.

import ctypes  # noqa: E402
import threading as _threading  # noqa: E402


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


def record_call(path, func, *args):
    """Runs func(*args) and writes "ok <repr of the result>" or
    "<exception type>: <message>" to path."""
    try:
        text = "ok %r" % (func(*args),)
    except BaseException as e:
        text = "%s: %s" % (type(e).__name__, e)
    with open(path, "w") as f:
        f.write(text)


def set_value(v, x):
    v.value = x


def set_point(p, x, y):
    p.x = x
    p.y = y


def increment(v, n, lock=None):
    """n times, under `lock` (default: v's own lock), v.value += 1."""
    lock = v.get_lock() if lock is None else lock
    # A synchronized v.value takes v's lock too: with a Lock (not an RLock)
    # that would deadlock, so the ctypes object is changed directly.
    obj = v.get_obj() if hasattr(v, "get_obj") else v
    for _ in range(n):
        with lock:
            obj.value += 1
    return n


def increment_value(v):
    with v.get_lock():
        v.get_obj().value += 1


def prefix_sums(arr):
    for i in range(1, len(arr)):
        arr[i] += arr[i - 1]


def double_all(arr):
    with arr.get_lock():
        for i in range(len(arr)):
            arr[i] *= 2


def sum_array(arr):
    with arr.get_lock():
        return sum(arr[:])


def set_array_value(arr, value):
    arr.value = value


def shm_write(name, data, offset=0):
    from importlib import import_module
    shm = import_module(MP.__name__ + ".shared_memory").SharedMemory(name)
    shm.buf[offset:offset + len(data)] = data
    shm.close()


def shm_write_obj(shm, data):
    shm.buf[:len(data)] = data
    return shm.size


def shm_numpy_square(name, n):
    """Squares the first n int64 of the block named name with numpy."""
    import numpy
    from importlib import import_module
    shm = import_module(MP.__name__ + ".shared_memory").SharedMemory(name)
    a = numpy.frombuffer(shm.buf, dtype=numpy.int64, count=n)
    a *= a
    del a
    shm.close()


def shareable_list_set(name, index, value):
    from importlib import import_module
    sl = import_module(MP.__name__ + ".shared_memory").ShareableList(name=name)
    sl[index] = value
    sl.shm.close()


def shareable_list_get(sl):
    return list(sl)


def create_shared_and_wait(path):
    """Creates a SharedMemory, a Value, an Array and a Lock, writes the
    SharedMemory's name to path, then waits to be killed."""
    from importlib import import_module
    shm = import_module(MP.__name__ + ".shared_memory").SharedMemory(create=True, size=4096)
    objs = [shm, MP.Value("i", 1), MP.Array("d", 10), MP.Lock()]  # noqa: F841
    with open(path + ".tmp", "w") as f:
        f.write(shm.name)
    os.rename(path + ".tmp", path)
    time.sleep(600)


def acquire_and_hold(lock, ready):
    lock.acquire()
    ready.set()
    time.sleep(600)


def acquire_hold_release(lock, ready, go):
    """Acquires lock, sets ready, waits for go, releases."""
    lock.acquire()
    ready.set()
    go.wait(60)
    lock.release()


def try_acquire(lock, block=True, timeout=None):
    got = lock.acquire(block, timeout)
    if got:
        lock.release()
    return got


def release(lock):
    lock.release()


def acquire_n(lock, n, timeout):
    """Acquires lock n times (each within timeout); returns how many."""
    got = 0
    for _ in range(n):
        if not lock.acquire(timeout=timeout):
            break
        got += 1
    return got


def cond_waiter(cond, sleeping, woken, timeout=None):
    with cond:
        sleeping.release()
        cond.wait(timeout)
        woken.release()


def cond_notify(cond):
    with cond:
        cond.notify()


def cond_count_to(cond, state, n):
    for _ in range(n):
        with cond:
            state.value += 1
            cond.notify_all()


def event_set(event):
    event.set()


def event_wait(event, timeout, ready=None):
    if ready is not None:
        ready.set()
    return event.wait(timeout)


def barrier_wait(barrier, results, index, cycles=1, timeout=None):
    """Waits on barrier `cycles` times; results[index*cycles + k] is the
    index of cycle k, or -1 for BrokenBarrierError."""
    for k in range(cycles):
        try:
            results[index * cycles + k] = barrier.wait(timeout)
        except _threading.BrokenBarrierError:
            results[index * cycles + k] = -1


def interruptible_wait(kind, obj, ready, path):
    """Blocks in obj (kind: acquire, cond_wait, event_wait, barrier_wait)
    until SIGINT;
    writes what ended the wait to path."""
    text = "not interrupted"
    try:
        if kind == "cond_wait":
            with obj:
                ready.set()
                obj.wait()
        else:
            ready.set()
            if kind == "acquire":
                obj.acquire()
            else:
                obj.wait()
    except KeyboardInterrupt:
        text = "KeyboardInterrupt"
    with open(path, "w") as f:
        f.write(text)
