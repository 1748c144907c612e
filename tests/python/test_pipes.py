"""Pipe and Connection, and multiprocessing.connection.wait: multiprocessing's
semantics in one process and across processes (every operation and error,
64 KiB and 16 MiB messages, empty messages, messages never merge or split,
EOF when the other end is closed or its holder is SIGKILLed), connections
passed to children, to Pool tasks and through queues."""
import array
import importlib
import os
import signal
import threading
import time

import pytest

import tasks
from helpers import MODULE, wait_until

pytestmark = pytest.mark.usefixtures("no_leaked_segments")

# Every wait for something that should happen at once has this deadline;
# only a bug reaches it.
DEADLINE = 30
# How long a test watches for something that must not happen.
QUIET = 0.3

KIB, MIB = 1 << 10, 1 << 20

pattern = tasks.pattern

OBJECTS = [0, -1, 2 ** 63 - 1, 2 ** 64, -2 ** 200, True, False, 1.5, -0.0, "",
           "h\xe9llo\0w\u00f6rld \U0001f600", b"", b"\0\xff" * 3, bytearray(b"ab"), (),
           (1, "a", (2.5,)), [], [1, [2, (3, None)]], {}, {"a": 1}, {1: "x", (1, 2): [3]},
           {1, 2}, frozenset({3}), 3 + 4j, tasks.Thing(7), [tasks.Thing(1)], ValueError]


@pytest.fixture(scope="module")
def connection(mp):
    """multiprocessing.connection (polypool.connection): wait()."""
    return importlib.import_module(MODULE + ".connection")


@pytest.fixture
def procs(mp):
    """start(target, *args) starts a Process; any still running at the end
    of the test is killed."""
    started = []

    def start(target, *args):
        p = mp.Process(target=target, args=args)
        p.start()
        started.append(p)
        return p

    yield start
    for p in started:
        if p.is_alive():
            p.kill()
        p.join(DEADLINE)


def join_ok(p):
    p.join(DEADLINE)
    assert not p.is_alive(), "the child did not finish"
    assert p.exitcode == 0


def recv_within(conn, timeout=DEADLINE):
    """conn.recv() once poll says there is something (a bug fails, not
    hangs)."""
    assert conn.poll(timeout), "nothing arrived within %s s" % timeout
    return conn.recv()


def recv_bytes_within(conn, timeout=DEADLINE):
    assert conn.poll(timeout), "nothing arrived within %s s" % timeout
    return conn.recv_bytes()


# ---- one process --------------------------------------------------------------

def test_duplex_both_ways(mp):
    a, b = mp.Pipe()
    assert a.readable and a.writable and b.readable and b.writable
    assert not a.closed and not b.closed
    for obj in OBJECTS:
        a.send(obj)
    got = [b.recv() for _ in OBJECTS]
    assert got == OBJECTS
    assert [type(x) for x in got] == [type(x) for x in OBJECTS]
    b.send("back")
    b.send_bytes(b"raw back")
    assert a.recv() == "back"
    assert a.recv_bytes() == b"raw back"
    assert not a.poll() and not b.poll()


def test_one_way(mp):
    r, w = mp.Pipe(duplex=False)
    assert r.readable and not r.writable
    assert w.writable and not w.readable
    w.send({"x": 1})
    w.send_bytes(b"abc")
    assert r.recv() == {"x": 1}
    assert r.recv_bytes() == b"abc"
    for op in (lambda: r.send(1), lambda: r.send_bytes(b"x")):
        with pytest.raises(OSError, match="connection is read-only"):
            op()
    for op in (w.recv, w.recv_bytes, lambda: w.recv_bytes_into(bytearray(4)), w.poll,
               lambda: w.poll(1)):
        with pytest.raises(OSError, match="connection is write-only"):
            op()


def test_send_bytes_offset_and_size(mp):
    a, b = mp.Pipe()
    data = b"0123456789"
    a.send_bytes(data, 2)
    a.send_bytes(data, 2, 3)
    a.send_bytes(data, size=4)
    a.send_bytes(bytearray(data), 9, 1)
    a.send_bytes(memoryview(data)[1:], 1, 2)
    a.send_bytes(data, 10)          # offset == len: an empty message
    a.send_bytes(data, 3, 0)
    assert [b.recv_bytes() for _ in range(7)] == [b"23456789", b"234", b"0123", b"9", b"23",
                                                  b"", b""]
    # Offsets and sizes count bytes, whatever the item size.
    ints = array.array("i", [1, 2, 3])
    a.send_bytes(ints)
    a.send_bytes(ints, 4, 4)
    assert b.recv_bytes() == ints.tobytes()
    assert b.recv_bytes() == ints.tobytes()[4:8]
    for args, message in (((-1,), "offset is negative"), ((11,), "buffer length < offset"),
                          ((0, -1), "size is negative"),
                          ((5, 6), r"buffer length < offset \+ size"),
                          ((0, 11), r"buffer length < offset \+ size")):
        with pytest.raises(ValueError, match=message):
            a.send_bytes(data, *args)
    assert not b.poll()             # nothing refused was sent


def test_recv_bytes_maxlength(mp):
    a, b = mp.Pipe()
    a.send_bytes(b"12345")
    assert b.recv_bytes(5) == b"12345"
    with pytest.raises(ValueError, match="negative maxlength"):
        b.recv_bytes(-1)
    a.send_bytes(b"123456")
    with pytest.raises(OSError, match="bad message length"):
        b.recv_bytes(5)
    # The connection is no use for reading any more.
    with pytest.raises(OSError):
        b.recv_bytes()
    r, w = mp.Pipe(duplex=False)
    w.send_bytes(b"too long")
    with pytest.raises(OSError, match="bad message length"):
        r.recv_bytes(1)
    assert r.closed


def test_recv_bytes_into(mp):
    a, b = mp.Pipe()
    buf = bytearray(10)
    a.send_bytes(b"abc")
    assert b.recv_bytes_into(buf) == 3
    assert buf == b"abc" + bytes(7)
    a.send_bytes(b"xyz")
    assert b.recv_bytes_into(buf, 7) == 3
    assert buf == b"abc\0\0\0\0xyz"
    a.send_bytes(b"")
    assert b.recv_bytes_into(buf, 10) == 0
    ints = array.array("i", [0, 0, 0])
    a.send_bytes(array.array("i", [7, 8]))
    assert b.recv_bytes_into(ints, 4) == 8
    assert list(ints) == [0, 7, 8]
    a.send_bytes(b"much too long")
    with pytest.raises(mp.BufferTooShort) as ei:
        b.recv_bytes_into(bytearray(4))
    assert isinstance(ei.value, mp.ProcessError)
    assert ei.value.args[0] == b"much too long"
    a.send_bytes(b"12345")
    with pytest.raises(mp.BufferTooShort) as ei:
        b.recv_bytes_into(bytearray(8), 4)
    assert ei.value.args[0] == b"12345"
    with pytest.raises(ValueError, match="negative offset"):
        b.recv_bytes_into(buf, -1)
    with pytest.raises(ValueError, match="offset too large"):
        b.recv_bytes_into(buf, 11)
    a.send("still in order")
    assert b.recv() == "still in order"


def test_poll(mp):
    a, b = mp.Pipe()
    assert b.poll() is False
    assert b.poll(0) is False
    for timeout in (-1, -0.5, 0):
        t = time.monotonic()
        assert b.poll(timeout) is False
        assert time.monotonic() - t < 1.0
    t = time.monotonic()
    assert b.poll(0.2) is False
    assert 0.15 <= time.monotonic() - t < 5
    a.send_bytes(b"")               # an empty message is something to read
    assert b.poll() is True
    assert b.poll() is True         # poll takes nothing
    assert b.recv_bytes() == b""
    assert b.poll() is False
    sender = threading.Timer(0.1, a.send, ("late",))
    sender.start()
    try:
        assert b.poll(None) is True
    finally:
        sender.join()
    assert b.recv() == "late"


def test_close(mp):
    a, b = mp.Pipe()
    a.close()
    assert a.closed
    a.close()                       # again: nothing
    for op in (lambda: a.send(1), lambda: a.send_bytes(b"x"), a.recv, a.recv_bytes,
               lambda: a.recv_bytes_into(bytearray(1)), a.poll):
        with pytest.raises(OSError, match="handle is closed"):
            op()
    with mp.Pipe()[0] as c:
        assert not c.closed
    assert c.closed


@pytest.mark.parametrize("duplex", [True, False])
def test_eof_after_the_other_end_closes(mp, duplex):
    r, w = mp.Pipe(duplex)
    w.send(1)
    w.send_bytes(b"2")
    w.close()
    # What was sent is still read, then EOF.
    assert r.poll() is True
    assert r.recv() == 1
    assert r.recv_bytes() == b"2"
    assert r.poll() is True         # at EOF too
    assert r.poll(None) is True
    for op in (r.recv, r.recv_bytes, lambda: r.recv_bytes_into(bytearray(1))):
        with pytest.raises(EOFError):
            op()


def test_send_to_a_closed_end(mp):
    a, b = mp.Pipe()
    b.close()
    with pytest.raises(BrokenPipeError):
        a.send(1)
    with pytest.raises(BrokenPipeError):
        a.send_bytes(b"x")


def test_messages_never_merge_or_split(mp):
    a, b = mp.Pipe()
    sizes = [1, 0, 2, 0, 0, 3, 100, 0, 7]
    for k, n in enumerate(sizes):
        a.send_bytes(bytes([k]) * n)
    for k, n in enumerate(sizes):
        assert b.poll()
        assert b.recv_bytes() == bytes([k]) * n
    assert not b.poll()
    a.send_bytes(b"a")
    a.send_bytes(b"b")
    buf = bytearray(10)
    assert b.recv_bytes_into(buf) == 1      # one message, room for both
    assert b.recv_bytes() == b"b"


@pytest.mark.parametrize("size", [64 * KIB, 16 * MIB])
def test_large_messages_one_process(mp, size):
    a, b = mp.Pipe()
    data = pattern(size)
    # The pipe does not hold it all: another thread reads.
    got = {}
    reader = threading.Thread(target=lambda: got.update(
        raw=b.recv_bytes(), obj=b.recv(), after=b.recv()))
    reader.start()
    a.send_bytes(data)
    a.send([data, "x"])
    a.send("after")
    reader.join(DEADLINE)
    assert not reader.is_alive()
    assert got == {"raw": data, "obj": [data, "x"], "after": "after"}


# ---- across processes ------------------------------------------------------------

def test_child_sends_then_eof(mp, procs):
    r, w = mp.Pipe(duplex=False)
    p = procs(tasks.conn_send_all, w, OBJECTS)
    w.close()       # the child holds the only write end now
    got = []
    while True:
        assert r.poll(DEADLINE)
        try:
            got.append(r.recv())
        except EOFError:
            break
    assert got == OBJECTS
    join_ok(p)


def test_parent_sends_child_receives(mp, procs):
    a, b = mp.Pipe()
    out = mp.Queue()
    # Under the stdlib's fork the child inherits a too: it closes it.
    p = procs(tasks.record_pipe, b, out, a)
    b.close()
    for obj in OBJECTS:
        a.send(obj)
    a.close()
    assert out.get(timeout=DEADLINE) == OBJECTS
    join_ok(p)


def test_ping_pong(mp, procs):
    a, b = mp.Pipe()
    p = procs(tasks.conn_echo, b)
    b.close()
    for i in range(1000):
        a.send(i)
        assert recv_within(a) == i
    a.send(None)
    join_ok(p)
    assert a.poll(DEADLINE)
    with pytest.raises(EOFError):
        a.recv()


@pytest.mark.parametrize("size", [64 * KIB, 16 * MIB])
def test_large_messages_across_processes(mp, procs, size):
    a, b = mp.Pipe()
    p = procs(tasks.conn_echo, b)
    data = pattern(size, 3)
    a.send(data)
    assert recv_within(a) == data
    a.send(("bytes",))
    a.send_bytes(data)
    assert recv_bytes_within(a) == data
    a.send([data, {"k": data}])
    assert recv_within(a) == [data, {"k": data}]
    a.send(None)
    join_ok(p)


def test_empty_messages_across_processes(mp, procs):
    a, b = mp.Pipe()
    p = procs(tasks.conn_echo, b)
    for obj in (b"", "", (), [], {}, 0, False):
        a.send(obj)
        got = recv_within(a)
        assert got == obj and type(got) is type(obj)
    for _ in range(3):
        a.send(("bytes",))
        a.send_bytes(b"")
        assert recv_bytes_within(a) == b""
    a.send(None)
    join_ok(p)


def test_no_merge_or_split_across_processes(mp, procs):
    # Sizes around the ring's streaming threshold and capacity, and empty.
    sizes = [0, 1, 0, 7, 8, 9, 4095, 0, 64 * KIB, 256 * KIB - 16, 256 * KIB, 256 * KIB + 1,
             0, MIB - 1, MIB, MIB + 1, 3, 2 * MIB + 5, 0, 0, 1]
    r, w = mp.Pipe(duplex=False)
    p = procs(tasks.conn_send_bytes_sizes, w, sizes)
    w.close()
    for k, size in enumerate(sizes):
        assert recv_bytes_within(r) == bytes([k % 251]) * size, "message %d" % k
    assert r.poll(DEADLINE)
    with pytest.raises(EOFError):
        r.recv_bytes()
    join_ok(p)


@pytest.mark.parametrize("duplex", [True, False])
def test_eof_when_the_holder_is_killed(mp, procs, duplex):
    r, w = mp.Pipe(duplex)
    p = procs(tasks.conn_hold, w, "ready")
    w.close()       # only the child holds that end
    assert recv_within(r) == "ready"
    assert not r.poll(QUIET)
    p.kill()
    p.join(DEADLINE)
    assert p.exitcode == -signal.SIGKILL
    assert r.poll(DEADLINE) is True
    with pytest.raises(EOFError):
        r.recv()
    with pytest.raises(EOFError):
        r.recv_bytes()
    if duplex:
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            r.send("anyone?")


def test_eof_waits_for_every_holder(mp, procs):
    r, w = mp.Pipe(duplex=False)
    holders = [procs(tasks.conn_hold, w, i) for i in range(2)]
    w.close()
    assert sorted(recv_within(r) for _ in holders) == [0, 1]
    holders[0].kill()
    holders[0].join(DEADLINE)
    # The other holder still has the end: no EOF.
    assert not r.poll(QUIET)
    holders[1].kill()
    holders[1].join(DEADLINE)
    assert r.poll(DEADLINE)
    with pytest.raises(EOFError):
        r.recv()


def test_connection_through_a_queue(mp, procs):
    q = mp.Queue()
    r, w = mp.Pipe(duplex=False)
    p = procs(tasks.conn_relay, q, 100)
    q.put(w)
    # Once the child has its copy, this process lets go of its own.
    got = [recv_within(r)]
    w.close()
    while True:
        assert r.poll(DEADLINE)
        try:
            got.append(r.recv())
        except EOFError:
            break
    assert got == list(range(100))
    join_ok(p)


def test_connection_to_pool_tasks(mp, pool):
    r, w = mp.Pipe(duplex=False)
    assert pool.apply(tasks.conn_send_all, (w, OBJECTS, True)) == len(OBJECTS)
    assert [r.recv() for _ in OBJECTS] == OBJECTS
    # The task let go of its copy; this process still holds w.
    assert not r.poll(QUIET)
    w.send("mine")
    assert r.recv() == "mine"
    # A task reading until EOF while this process writes.
    r2, w2 = mp.Pipe(duplex=False)
    res = pool.apply_async(tasks.conn_recv_all, (r2,))
    for i in range(1000):
        w2.send(i)
    w2.close()
    assert res.get(DEADLINE) == list(range(1000))
    # Both ends of a duplex pipe, each to a task: an echo.
    a, b = mp.Pipe()
    echo = pool.apply_async(tasks.conn_echo, (b,))
    for obj in OBJECTS:
        a.send(obj)
        assert recv_within(a) == obj
    a.send(None)
    assert echo.get(DEADLINE) is None


@pytest.mark.polypool_only
def test_killed_sender_mid_message(mp, procs):
    """A sender killed while its 16 MiB message streams through: the half
    message is dropped, the reader gets EOF."""
    r, w = mp.Pipe(duplex=False)
    p = procs(tasks.conn_send_bytes_sizes, w, [16 * MIB, 1])
    w.close()
    # Its first part is there (the rest waits for room).
    assert r.poll(DEADLINE)
    p.kill()
    p.join(DEADLINE)
    assert r.poll(DEADLINE)
    with pytest.raises(EOFError):
        r.recv_bytes()


# ---- wait -------------------------------------------------------------------------

def test_wait_timeouts(mp, connection):
    a, b = mp.Pipe()
    c, d = mp.Pipe(duplex=False)
    for timeout in (0, -1):
        t = time.monotonic()
        assert connection.wait([a, b, c], timeout) == []
        assert time.monotonic() - t < 1.0
    t = time.monotonic()
    assert connection.wait([a, b, c], 0.2) == []
    assert 0.15 <= time.monotonic() - t < 5


def test_wait_ready_connections(mp, connection):
    a, b = mp.Pipe()
    c, d = mp.Pipe(duplex=False)
    a.send(1)
    assert connection.wait([a, b, c], DEADLINE) == [b]
    d.send_bytes(b"")
    assert set(connection.wait([a, b, c], DEADLINE)) == {b, c}
    b.recv()
    c.recv_bytes()
    assert connection.wait([a, b, c], 0) == []
    d.close()                       # EOF counts as ready
    assert connection.wait([a, b, c], DEADLINE) == [c]
    sender = threading.Timer(0.1, b.send, ("late",))
    sender.start()
    try:
        assert connection.wait([a], None) == [a]
    finally:
        sender.join()


def test_wait_across_processes(mp, connection, procs):
    readers, children = [], []
    for i in range(3):
        r, w = mp.Pipe(duplex=False)
        children.append(procs(tasks.conn_send_all, w, [i]))
        w.close()
        readers.append(r)
    got = []
    left = list(readers)
    deadline = time.monotonic() + DEADLINE
    while left:
        assert time.monotonic() < deadline
        for r in connection.wait(left, DEADLINE):
            try:
                got.append(r.recv())
            except EOFError:
                left.remove(r)
    assert sorted(got) == [0, 1, 2]
    for p in children:
        join_ok(p)


def test_wait_with_a_sentinel(mp, connection, procs):
    r, w = mp.Pipe()
    p = procs(tasks.sleep_return, None, 0.2)
    ready = connection.wait([r, p.sentinel], DEADLINE)
    assert ready == [p.sentinel]
    join_ok(p)
    w.send(1)
    assert set(connection.wait([r, p.sentinel], DEADLINE)) == {r, p.sentinel}
