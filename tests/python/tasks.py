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


# Managers (test_managers.py). Manager types other than dict, list and
# Namespace are proxies under the stdlib (a Value has .value but no
# get_lock), so these tasks use only what both modules' proxies have.

def mgr_fill(d, lst, ns):
    """A child writes one of each: d['child'], lst.append, ns.child."""
    d["child"] = os.getpid()
    d["seen"] = d.get("parent")
    lst.append("child")
    ns.child = "here"
    ns.seen = ns.parent


def mgr_set_item(d, key, value):
    d[key] = value
    return len(d)


def mgr_square_into(args):
    """Pool.map item (d, i): d[i] = i*i; returns what the task reads back."""
    d, i = args
    d[i] = i * i
    return d[i]


def mgr_read(obj, key):
    """d[key], lst[key], or getattr(ns, key)."""
    if isinstance(key, str) and not hasattr(obj, "__getitem__"):
        return getattr(obj, key)
    return obj[key]


def mgr_snapshot(d):
    return sorted(d.items())


def mgr_count_under_lock(d, lst, lock, name, n):
    """n times under lock: d['n'] += 1 (a read and a write), lst.append(name);
    and d[name] counts this process's own steps without the lock."""
    for i in range(n):
        with lock:
            d["n"] = d["n"] + 1
            lst.append(name)
        d[name] = i + 1


def mgr_value_add(v, lock, n):
    for _ in range(n):
        with lock:
            v.value = v.value + 1


def mgr_array_double(arr, lock):
    with lock:
        for i in range(len(arr)):
            arr[i] = arr[i] * 2


def mgr_queue_put(q, items):
    for x in items:
        q.put(x)


def mgr_queue_echo(inq, outq):
    """Reads one proxy from inq and writes through it, then answers."""
    d = inq.get(timeout=30)
    d["via_queue"] = True
    outq.put("done")


def mgr_event_wait(event, timeout):
    if not event.wait(timeout):
        sys.exit(3)


def mgr_lock_try(lock):
    """Exit 0 if lock is free (it is released again), 4 if taken."""
    if not lock.acquire(timeout=0.05):
        sys.exit(4)
    lock.release()


def mgr_hold(obj, ready, go, timeout=60):
    """Holds a proxy until go is set (or timeout), after ready."""
    ready.set()
    go.wait(timeout)
    return obj is not None


def mgr_touch(obj):
    """Uses a proxy once; a Pool worker then drops it."""
    return len(obj)


# Queues and pipes (test_queues.py, test_pipes.py). Process targets and
# Pool tasks; what a child learns goes back through a queue or a pipe.

def q_put_all(q, items, close=False):
    """Puts every item of items on q (then closes it: the items still go
    in before the process exits); returns how many."""
    n = 0
    for item in items:
        q.put(item)
        n += 1
    if close:
        q.close()
        q.join_thread()
    return n


def q_put_range(q, start, n):
    """Puts start .. start+n-1 on q; returns n."""
    for i in range(start, start + n):
        q.put(i)
    return n


def q_get_n(q, n, timeout=60):
    """The next n items of q (each within timeout)."""
    return [q.get(timeout=timeout) for _ in range(n)]


def q_produce(q, producer, n, sentinels):
    """Puts (producer, i) for i in range(n), then `sentinels` Nones."""
    for i in range(n):
        q.put((producer, i))
    for _ in range(sentinels):
        q.put(None)


def q_consume(q, out, consumer):
    """Takes items of q until `stop` Nones, then puts (consumer, items) on out."""
    items = []
    while True:
        item = q.get(timeout=60)
        if item is None:
            break
        items.append(item)
    out.put((consumer, items))


def q_put_counted(q, items, counter, done):
    """Puts the items one by one, counter.value counting those put; sets
    done at the end."""
    for item in items:
        q.put(item)
        with counter.get_lock():
            counter.value += 1
    done.set()


def q_take_and_record(q, taken, count, inflight):
    """For ever: takes an int x, marks taken[x]. inflight is 1 from before
    a get until the item it returned is marked."""
    while True:
        inflight.value = 1
        x = q.get()
        taken[x] += 1
        count.value += 1
        inflight.value = 0


def jq_work(q, done_count):
    """Takes items of the JoinableQueue q until None; counts each in
    done_count before task_done()."""
    while True:
        item = q.get(timeout=60)
        if item is not None:
            with done_count.get_lock():
                done_count.value += 1
        q.task_done()
        if item is None:
            return


def q_relay(outer, n):
    """Takes a queue from outer and puts 0..n-1 on it."""
    inner = outer.get(timeout=60)
    for i in range(n):
        inner.put(i)
    inner.close()
    inner.join_thread()


def q_echo_sizes(q_in, q_out):
    """Puts on q_out each bytes item taken from q_in until None, then None."""
    while True:
        item = q_in.get(timeout=60)
        q_out.put(item)
        if item is None:
            return


def conn_send_all(conn, items, close=True):
    """Sends every item of items on conn; returns how many."""
    for item in items:
        conn.send(item)
    if close:
        conn.close()
    return len(items)


def conn_send_bytes_sizes(conn, sizes):
    """Sends messages of the given sizes, message k filled with k % 251."""
    for k, size in enumerate(sizes):
        conn.send_bytes(bytes([k % 251]) * size)
    conn.close()


def conn_echo(conn):
    """Sends back each object received until EOF or None; also echoes
    bytes messages sent as ("bytes", n): then the next message is raw."""
    while True:
        try:
            obj = conn.recv()
        except EOFError:
            return
        if obj is None:
            conn.close()
            return
        if isinstance(obj, tuple) and obj and obj[0] == "bytes":
            conn.send_bytes(conn.recv_bytes())
        else:
            conn.send(obj)


def conn_recv_all(conn):
    """What conn receives until EOF."""
    out = []
    while True:
        try:
            out.append(conn.recv())
        except EOFError:
            return out


def conn_hold(conn, message="ready"):
    """Sends message on conn, then waits to be killed."""
    conn.send(message)
    time.sleep(600)


def conn_relay(q, n):
    """Takes a connection from q and sends 0..n-1 on it."""
    conn = q.get(timeout=60)
    for i in range(n):
        conn.send(i)
    conn.close()


def q_put_timeout(q, timeout):
    q.put("refused", timeout=timeout)


def q_put_cancelled(q, size):
    """Puts size bytes after cancel_join_thread(): exits without waiting
    for room."""
    q.cancel_join_thread()
    q.put(b"x" * size)


def sq_echo(q_in, q_out):
    """q_echo_sizes for SimpleQueues (get() has no timeout)."""
    while True:
        item = q_in.get()
        q_out.put(item)
        if item is None:
            return


def mgr_copy_into(src, dst):
    """dst.update(src) (Process target)."""
    dst.update(src.copy())


def pattern(size, seed=0):
    """size bytes that differ from one place (and seed) to the next."""
    block = bytes((seed * 7 + i) % 251 for i in range(251))
    return (block * (size // 251 + 1))[:size]


def q_put_patterns(q, specs):
    """Puts, for each spec of specs, pattern(*spec) when it is a tuple
    (made here: a large item is no Process argument), the spec itself
    otherwise."""
    for spec in specs:
        q.put(pattern(*spec) if isinstance(spec, tuple) else spec)


class Thing:
    """A plain object: it crosses queues and pipes pickled."""

    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return type(other) is Thing and other.x == self.x


def record_pipe(conn, out, other=None):
    """Puts on out the list of what conn receives until EOF. other: the
    pipe's other end, closed first (a forked child inherits it)."""
    if other is not None:
        other.close()
    out.put(conn_recv_all(conn))


def report_parent():
    """A process started from C: its name, its parent's name and pid."""
    parent = MP.parent_process()
    print("name=%s parent=%s:%s" % (MP.current_process().name, parent.name, parent.pid),
          flush=True)
