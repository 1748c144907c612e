"""Queue, SimpleQueue, JoinableQueue: multiprocessing's semantics in one
process and across processes (FIFO and exactly-once with several producers
and consumers, bounded puts, large and empty items, join), and what
polypool adds: queues go to Pool tasks and through other queues at any
time, a consumer killed mid-stream loses nothing it had not taken, a dead
producer's half-written item is dropped, and C tasks put and get on the
same queue (pt_q_put, pt_q_get of tests/lib/pptest.c)."""
import os
import pickle
import queue
import signal
import threading
import time

import pytest

import tasks
from helpers import IS_POLYPOOL, wait_until

pytestmark = pytest.mark.usefixtures("no_leaked_segments")

# Every wait for something that should happen at once has this deadline;
# only a bug reaches it.
DEADLINE = 30
# How long a test watches for something that must not happen.
QUIET = 0.3

KIB, MIB = 1 << 10, 1 << 20


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


def timed(func, *args, **kw):
    """(exception type or None, seconds) of func(*args, **kw)."""
    t = time.monotonic()
    try:
        func(*args, **kw)
    except Exception as e:      # noqa: BLE001
        return type(e), time.monotonic() - t
    return None, time.monotonic() - t


pattern = tasks.pattern


Thing = tasks.Thing


ITEMS = [0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 64, -2 ** 200, True, False, 1.5, -0.0,
         float("inf"), None, "", "h\xe9llo\0w\u00f6rld \U0001f600", b"", b"\0\xff" * 3,
         bytearray(b"ab"), (), (1, "a", (2.5,)), [], [1, [2, (3, None)]], {}, {"a": 1},
         {1: "x", (1, 2): [3], None: {"n": {}}}, set(), {1, 2}, frozenset({3}), 3 + 4j,
         Thing(7), [Thing(1), {"t": Thing(2)}], ValueError]


# ---- one process --------------------------------------------------------------

def test_put_get_keeps_values_and_types(mp):
    q = mp.Queue()
    for item in ITEMS:
        q.put(item)
    got = [q.get(timeout=DEADLINE) for _ in ITEMS]
    assert got == ITEMS
    assert [type(x) for x in got] == [type(x) for x in ITEMS]


def test_fifo_beyond_the_ring(mp):
    # More than a ring's bytes (1 MiB): put() does not wait for room, what
    # does not fit goes in later, in order.
    q = mp.Queue()
    n = 150000
    for i in range(n):
        q.put(i)
    # (polypool's qsize() may count the item its feeder thread is moving
    # twice for a moment.)
    assert wait_until(lambda: q.qsize() == n, DEADLINE)
    assert [q.get(timeout=DEADLINE) for _ in range(n)] == list(range(n))
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)


def test_get_empty(mp):
    q = mp.Queue()
    for get in (lambda: q.get(False), lambda: q.get(block=False, timeout=5),
                q.get_nowait, lambda: q.get(timeout=-1), lambda: q.get(True, -5),
                lambda: q.get(timeout=0)):
        exc, took = timed(get)
        assert exc is queue.Empty
        assert took < 1.0
    exc, took = timed(q.get, timeout=0.2)
    assert exc is queue.Empty
    assert 0.15 <= took < 5


def test_get_waits_for_a_put(mp):
    q = mp.Queue()
    t = threading.Timer(0.1, q.put, ("late",))
    t.start()
    try:
        assert q.get(timeout=DEADLINE) == "late"
    finally:
        t.join()


def test_bounded_put_full(mp):
    q = mp.Queue(maxsize=3)
    for i in range(3):
        q.put_nowait(i)
    assert q.full()
    assert q.qsize() == 3
    for put in (lambda: q.put(9, False), lambda: q.put(9, block=False, timeout=5),
                lambda: q.put_nowait(9), lambda: q.put(9, timeout=-1),
                lambda: q.put(9, timeout=0)):
        exc, took = timed(put)
        assert exc is queue.Full
        assert took < 1.0
    exc, took = timed(q.put, 9, timeout=0.2)
    assert exc is queue.Full
    assert 0.15 <= took < 5
    assert q.qsize() == 3
    # Room again: the next put goes in, and nothing refused went in.
    assert q.get(timeout=DEADLINE) == 0
    assert not q.full()
    q.put(3, timeout=DEADLINE)
    assert [q.get(timeout=DEADLINE) for _ in range(3)] == [1, 2, 3]
    assert not q.full()


def test_bounded_put_waits_for_a_get(mp):
    q = mp.Queue(maxsize=1)
    q.put("a")
    t = threading.Timer(0.1, q.get)
    t.start()
    try:
        q.put("b", timeout=DEADLINE)
    finally:
        t.join()
    assert q.get(timeout=DEADLINE) == "b"


def test_qsize_empty_full(mp):
    q = mp.Queue()
    assert q.qsize() == 0 and q.empty() and not q.full()
    q.put(1)
    q.put(2)
    assert q.qsize() == 2
    # The stdlib's empty() lags behind a put (the feeder thread).
    assert wait_until(lambda: not q.empty(), DEADLINE)
    assert not q.full()
    q.get(timeout=DEADLINE)
    assert q.qsize() == 1
    q.get(timeout=DEADLINE)
    assert q.qsize() == 0 and q.empty()


def test_maxsize(mp):
    for maxsize in (0, -1, -100):
        q = mp.Queue(maxsize)
        for i in range(100):
            q.put_nowait(i)
        assert not q.full()
        assert q.qsize() == 100
    with pytest.raises(OverflowError):
        mp.Queue(2 ** 31)


def test_empty_items(mp):
    q = mp.Queue()
    empties = [b"", "", (), [], {}, None, bytearray(), frozenset(), 0]
    for _ in range(3):
        for item in empties:
            q.put(item)
    assert q.qsize() == 3 * len(empties)
    got = [q.get(timeout=DEADLINE) for _ in range(3 * len(empties))]
    assert got == empties * 3
    assert [type(x) for x in got] == [type(x) for x in empties * 3]
    with pytest.raises(queue.Empty):
        q.get_nowait()


@pytest.mark.parametrize("size", [64 * KIB, 16 * MIB])
def test_large_items_one_process(mp, size):
    q = mp.Queue()
    data = pattern(size)
    text = "\u00e9" * (size // 2)
    q.put(data)
    q.put([data, text])
    q.put("after")
    assert q.get(timeout=DEADLINE) == data
    assert q.get(timeout=DEADLINE) == [data, text]
    assert q.get(timeout=DEADLINE) == "after"


def test_close(mp):
    q = mp.Queue()
    q.put(1)
    q.close()
    q.close()       # again: nothing
    for op in (lambda: q.put(2), lambda: q.put_nowait(2), lambda: q.put(2, timeout=1),
               q.get, q.get_nowait, lambda: q.get(timeout=1)):
        with pytest.raises(ValueError, match=r"^Queue .* is closed$"):
            op()
    q.join_thread()


def test_join_thread(mp):
    q = mp.Queue()
    with pytest.raises(AssertionError, match="not closed"):
        q.join_thread()
    q.put(pattern(4 * MIB))     # more than the ring or pipe holds
    with pytest.raises(AssertionError):
        q.join_thread()
    q.close()
    joiner = threading.Thread(target=q.join_thread)
    joiner.start()
    # The item is still in this process (nobody took room for it)...
    joiner.join(QUIET)
    assert joiner.is_alive()
    # ...until a reader makes room. The closed q cannot get: another
    # process's handle (or, under the stdlib, the pipe's reader) does.
    if IS_POLYPOOL:
        reader = pickle.loads(pickle.dumps(q))
        assert reader.get(timeout=DEADLINE) == pattern(4 * MIB)
    else:
        assert pickle.loads(q._reader.recv_bytes()) == pattern(4 * MIB)
    joiner.join(DEADLINE)
    assert not joiner.is_alive()


def test_cancel_join_thread(mp):
    q = mp.Queue()
    q.cancel_join_thread()
    q.put(1)
    q.close()
    q.join_thread()


def test_simple_queue(mp):
    q = mp.SimpleQueue()
    assert q.empty()
    for item in ITEMS:
        q.put(item)
    assert wait_until(lambda: not q.empty(), DEADLINE)
    assert [q.get() for _ in ITEMS] == ITEMS
    assert q.empty()
    big = pattern(16 * MIB)
    t = threading.Thread(target=q.put, args=(big,))
    t.start()
    try:
        assert q.get() == big
    finally:
        t.join(DEADLINE)
    q.close()
    q.close()       # idempotent
    for op in (q.empty, q.get, lambda: q.put(1)):
        with pytest.raises(OSError, match="handle is closed"):
            op()


def test_joinable_queue_task_done(mp):
    q = mp.JoinableQueue()
    with pytest.raises(ValueError, match=r"^task_done\(\) called too many times$"):
        q.task_done()
    q.join()                    # nothing put: returns at once
    q.put(1)
    q.put(2)
    q.get(timeout=DEADLINE)
    q.task_done()
    joiner = threading.Thread(target=q.join)
    joiner.start()
    joiner.join(QUIET)
    assert joiner.is_alive()    # one item is not done
    q.get(timeout=DEADLINE)
    joiner.join(QUIET)
    assert joiner.is_alive()    # taken, not done
    q.task_done()
    joiner.join(DEADLINE)
    assert not joiner.is_alive()
    with pytest.raises(ValueError, match="too many times"):
        q.task_done()
    q.join()


def test_joinable_queue_is_a_queue(mp):
    q = mp.JoinableQueue(maxsize=2)
    q.put(1)
    q.put_nowait(2)
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    assert q.qsize() == 2 and q.full()
    # (The stdlib's get_nowait() lags behind a put: its feeder thread.)
    assert wait_until(lambda: not q.empty(), DEADLINE)
    assert q.get_nowait() == 1
    assert q.get(timeout=DEADLINE) == 2
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    q.task_done()
    q.task_done()
    q.join()


# ---- across processes ------------------------------------------------------------

def test_two_producers_two_consumers(mp, procs):
    """Every item exactly once; each consumer sees each producer's items
    in the order they were put."""
    n = 4000
    q, out = mp.Queue(), mp.Queue()
    producers = [procs(tasks.q_produce, q, p, n, 1) for p in range(2)]
    consumers = [procs(tasks.q_consume, q, out, c) for c in range(2)]
    results = dict(out.get(timeout=DEADLINE) for _ in consumers)
    for p in producers + consumers:
        join_ok(p)
    assert sorted(results) == [0, 1]
    every = []
    for items in results.values():
        for p in range(2):
            seq = [i for (who, i) in items if who == p]
            assert seq == sorted(seq), "a consumer saw producer %d out of order" % p
        every += items
    assert len(every) == 2 * n
    assert sorted(every) == sorted((p, i) for p in range(2) for i in range(n))
    assert q.qsize() == 0


def test_bounded_queue_blocks_a_producer(mp, procs):
    q = mp.Queue(maxsize=2)
    counter, done = mp.Value("i", 0), mp.Event()
    items = list(range(10))
    p = procs(tasks.q_put_counted, q, items, counter, done)
    assert wait_until(lambda: counter.value == 2, DEADLINE)
    # The third put waits for room.
    assert not done.wait(QUIET)
    assert counter.value == 2
    assert q.qsize() == 2 and q.full()
    got = []
    for _ in items:
        got.append(q.get(timeout=DEADLINE))
        assert q.qsize() <= 2
    assert got == items
    assert done.wait(DEADLINE)
    join_ok(p)


def test_child_put_with_timeout_gets_full(mp, procs, tmp_path):
    q = mp.Queue(maxsize=1)
    q.put("occupant")
    path = str(tmp_path / "out")
    p = procs(tasks.record_call, path, tasks.q_put_timeout, q, 0.2)
    join_ok(p)
    with open(path) as f:
        assert f.read() == "Full: "
    assert q.get(timeout=DEADLINE) == "occupant"
    assert q.empty()


@pytest.mark.parametrize("size", [64 * KIB, 16 * MIB])
def test_large_items_across_processes(mp, procs, size):
    q_in, q_out = mp.Queue(), mp.Queue()
    p = procs(tasks.q_echo_sizes, q_in, q_out)
    sent = [pattern(size, k) for k in range(3)] + [[pattern(size, 9), "x"], b"", None]
    for item in sent:
        q_in.put(item)
    for item in sent:
        assert q_out.get(timeout=DEADLINE) == item
    join_ok(p)


def test_child_flushes_before_exit(mp, procs):
    """A child's put() does not wait for room: the child's exit does, until
    its items are in the queue (multiprocessing's flush on exit)."""
    q = mp.Queue()
    big = pattern(4 * MIB)
    p = procs(tasks.q_put_patterns, q, [(4 * MIB,), "last"])
    p.join(QUIET)
    assert p.is_alive()
    assert q.get(timeout=DEADLINE) == big
    assert q.get(timeout=DEADLINE) == "last"
    join_ok(p)


def test_child_cancel_join_thread_exits(mp, procs):
    q = mp.Queue()
    p = procs(tasks.q_put_cancelled, q, 4 * MIB)
    join_ok(p)


def test_joinable_queue_join_across_processes(mp, procs):
    n = 500
    q = mp.JoinableQueue()
    done = mp.Value("i", 0)
    workers = [procs(tasks.jq_work, q, done) for _ in range(2)]
    for i in range(n):
        q.put(i)
    for _ in workers:
        q.put(None)
    joiner = threading.Thread(target=q.join)
    joiner.start()
    joiner.join(DEADLINE)
    assert not joiner.is_alive(), "join() did not return"
    # join() returned only once every item was done.
    assert done.value == n
    for p in workers:
        join_ok(p)
    q.join()


def test_items_outlive_the_child(mp, procs):
    q = mp.Queue()
    p = procs(tasks.q_put_all, q, list(range(100)) + [ITEMS], True)
    join_ok(p)
    assert [q.get(timeout=DEADLINE) for _ in range(101)] == list(range(100)) + [ITEMS]


def test_simple_queue_across_processes(mp, procs):
    q, out = mp.SimpleQueue(), mp.SimpleQueue()
    p = procs(tasks.sq_echo, q, out)
    for item in [1, "two", pattern(64 * KIB), None]:
        q.put(item)
        # SimpleQueue.get() has no timeout: wait for the item (or the
        # child's end) first.
        assert wait_until(lambda: not out.empty() or not p.is_alive(), DEADLINE)
        assert out.get() == item
    join_ok(p)


# ---- polypool: queues anywhere, deaths, C ------------------------------------

@pytest.mark.polypool_only
def test_queue_to_pool_tasks(mp, pool):
    q = mp.Queue()
    r = pool.apply_async(tasks.q_put_range, (q, 0, 20000))
    assert [q.get(timeout=DEADLINE) for _ in range(20000)] == list(range(20000))
    assert r.get(DEADLINE) == 20000
    for i in range(50):
        q.put(i)
    assert pool.apply(tasks.q_get_n, (q, 50)) == list(range(50))
    # Several tasks at once, each a producer.
    assert pool.starmap(tasks.q_put_range, [(q, k * 100, 100) for k in range(6)]) == [100] * 6
    got = sorted(q.get(timeout=DEADLINE) for _ in range(600))
    assert got == list(range(600))
    assert q.empty()


@pytest.mark.polypool_only
def test_joinable_and_simple_queue_to_pool_tasks(mp, pool):
    jq = mp.JoinableQueue()
    done = mp.Value("i", 0)
    for i in range(20):
        jq.put(i)
    jq.put(None)
    pool.apply(tasks.jq_work, (jq, done))
    assert done.value == 20
    jq.join()
    sq = mp.SimpleQueue()
    assert pool.apply(tasks.q_put_all, (sq, ["a", "b"])) == 2
    assert [sq.get(), sq.get()] == ["a", "b"]


@pytest.mark.polypool_only
def test_queue_through_a_queue(mp, procs):
    outer = mp.Queue()
    for kind in (mp.Queue, mp.JoinableQueue):
        inner = kind()
        outer.put(inner)
        p = procs(tasks.q_relay, outer, 1000)
        assert [inner.get(timeout=DEADLINE) for _ in range(1000)] == list(range(1000))
        join_ok(p)
    # A queue that crossed a queue is the same queue, of the same kind.
    inner = mp.JoinableQueue(maxsize=5)
    outer.put([inner, {"q": inner}])
    a, b = outer.get(timeout=DEADLINE)
    assert type(a) is mp.JoinableQueue and type(b["q"]) is mp.JoinableQueue
    a.put("x")
    assert b["q"].get(timeout=DEADLINE) == "x"
    assert inner.qsize() == 0
    for i in range(5):
        inner.put_nowait(i)
    with pytest.raises(queue.Full):
        a.put_nowait(5)         # the maxsize crossed too
    b["q"].get_nowait()
    for _ in range(6):
        a.task_done()
    inner.join()


@pytest.mark.polypool_only
def test_queue_pickles(mp):
    q = mp.Queue()
    q2 = pickle.loads(pickle.dumps(q))
    q2.put("from the copy")
    assert q.get(timeout=DEADLINE) == "from the copy"


@pytest.mark.polypool_only
def test_put_many_get_many(mp, procs):
    q = mp.Queue()
    q.put_many(range(10))
    q.put_many([])
    assert q.get_many(4) == [0, 1, 2, 3]
    assert q.get_many(100, timeout=DEADLINE) == [4, 5, 6, 7, 8, 9]
    with pytest.raises(queue.Empty):
        q.get_many(5, block=False)
    with pytest.raises(queue.Empty):
        q.get_many(5, timeout=0.05)
    bounded = mp.Queue(maxsize=2)
    with pytest.raises(queue.Full):
        bounded.put_many([1, 2, 3], block=False)
    assert bounded.get_many(10) == [1, 2]
    # Across processes: everything once, in order.
    p = procs(tasks.q_put_all, q, list(range(5000)))
    got = []
    while len(got) < 5000:
        got += q.get_many(64, timeout=DEADLINE)
    assert got == list(range(5000))
    join_ok(p)
    q.close()
    with pytest.raises(ValueError, match="is closed"):
        q.get_many(1)
    with pytest.raises(ValueError, match="is closed"):
        q.put_many([1])


@pytest.mark.polypool_only
def test_killed_consumer_loses_nothing_it_did_not_take(mp, procs):
    """kill -9 of a consumer mid-stream: every item it had not taken is
    delivered to another consumer, exactly once."""
    n = 20000
    for fraction in (0.1, 0.5, 0.8):
        q = mp.Queue()
        for i in range(n):
            q.put(i)
        taken_a, taken_b = mp.RawArray("i", n), mp.RawArray("i", n)
        count_a, count_b = mp.RawValue("i", 0), mp.RawValue("i", 0)
        inflight = mp.RawValue("i", 0)
        a = procs(tasks.q_take_and_record, q, taken_a, count_a, inflight)
        assert wait_until(lambda: count_a.value >= n * fraction, DEADLINE)
        a.kill()
        a.join(DEADLINE)
        assert a.exitcode == -signal.SIGKILL
        # Killed between a get's start and marking its item, a may have
        # held one item; otherwise it held none.
        in_hand = inflight.value
        b = procs(tasks.q_take_and_record, q, taken_b, count_b, mp.RawValue("i", 0))
        assert wait_until(lambda: count_a.value + count_b.value >= n - in_hand, DEADLINE)
        # b blocks in a get on the (now empty) queue: killing it there
        # takes nothing either.
        b.kill()
        b.join(DEADLINE)
        left = []
        while True:
            try:
                left.append(q.get(timeout=0.05))
            except queue.Empty:
                break
        seen = [taken_a[i] + taken_b[i] for i in range(n)]
        for x in left:
            seen[x] += 1
        assert max(seen) == 1, "an item was delivered twice"
        missing = [i for i in range(n) if seen[i] == 0]
        assert len(missing) <= in_hand, "items lost: %s" % missing[:10]
        if missing:
            # Then it was the one a held: taken right after a's last.
            assert missing == [max(i for i in range(n) if taken_a[i]) + 1]
        q.put("still works")
        assert q.get(timeout=DEADLINE) == "still works"


@pytest.mark.polypool_only
def test_killed_producer_mid_item(mp, procs):
    """A producer killed while its 16 MiB item streams through the ring:
    the half item is dropped, the queue goes on."""
    q = mp.Queue()
    p = procs(tasks.q_put_patterns, q, ["before", (16 * MIB,), "never"])
    assert q.get(timeout=DEADLINE) == "before"
    # The big item's first part is in the ring (it cannot all fit: the
    # producer waits for room, mid-item).
    assert wait_until(lambda: q._ring.poll(0) == 0, DEADLINE)
    p.kill()
    p.join(DEADLINE)
    q.put("after")
    assert q.get(timeout=DEADLINE) == "after"
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    assert q.qsize() == 0


@pytest.mark.polypool_only
def test_killed_producer_mid_item_while_read(mp, procs):
    """The same with a consumer already assembling the item."""
    q = mp.Queue()
    p = procs(tasks.q_put_patterns, q, [(16 * MIB,), "never"])
    assert wait_until(lambda: q._ring.poll(0) == 0, DEADLINE)
    # Stopped mid-item, the producer leaves the reader waiting for the rest.
    os.kill(p.pid, signal.SIGSTOP)
    result = {}

    def consume():
        try:
            result["got"] = q.get(timeout=DEADLINE)
        except Exception as e:   # noqa: BLE001
            result["got"] = e
    t = threading.Thread(target=consume)
    t.start()
    t.join(QUIET)
    assert t.is_alive()
    p.kill()
    p.join(DEADLINE)
    assert p.exitcode == -signal.SIGKILL
    # The half item is dropped; nothing else came.
    t.join(QUIET)
    assert t.is_alive()
    q.put("after")
    t.join(DEADLINE)
    assert not t.is_alive()
    assert result["got"] == "after"
    assert q.qsize() == 0


@pytest.mark.polypool_only
@pytest.mark.parametrize("maxsize", [0, 100])
def test_c_producer_python_consumer(mp, pool, libpptest, maxsize):
    c_put = mp.cfunc(libpptest, "pt_q_put")
    n = 100000      # more than the ring's bytes
    q = mp.Queue(maxsize)
    r = pool.apply_async(c_put, (q, 0, n))
    got = [q.get(timeout=DEADLINE) for _ in range(n)]
    assert got == list(range(n))
    assert r.get(DEADLINE) == n
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    # With a Python producer process on the same queue.
    procs_done = pool.apply_async(tasks.q_put_range, (q, n, 1000))
    r = pool.apply_async(c_put, (q, 2 * n, 1000))
    got = [q.get(timeout=DEADLINE) for _ in range(2000)]
    assert sorted(got) == list(range(n, n + 1000)) + list(range(2 * n, 2 * n + 1000))
    assert [x for x in got if x < 2 * n] == list(range(n, n + 1000))
    assert [x for x in got if x >= 2 * n] == list(range(2 * n, 2 * n + 1000))
    assert r.get(DEADLINE) == 1000 and procs_done.get(DEADLINE) == 1000


@pytest.mark.polypool_only
def test_python_producer_c_consumer(mp, pool, libpptest, procs):
    c_get = mp.cfunc(libpptest, "pt_q_get")
    n = 100000
    q = mp.Queue()
    r = pool.apply_async(c_get, (q, n, DEADLINE * 1000))
    for i in range(n):
        q.put(i)
    got = r.get(DEADLINE)
    assert got == list(range(n))
    assert sum(got) == n * (n - 1) // 2
    # A producer process, and values of every native kind.
    items = [1, -2 ** 63, 2.5, "s\u00e9", b"\0b", [1, [2]], {"k": [None, True]}, None]
    p = procs(tasks.q_put_all, q, items)
    assert pool.apply(c_get, (q, len(items), DEADLINE * 1000)) == items
    join_ok(p)
    assert q.empty()


@pytest.mark.polypool_only
def test_c_producer_joinable_queue(mp, pool, libpptest):
    q = mp.JoinableQueue()
    assert pool.apply(mp.cfunc(libpptest, "pt_q_put"), (q, 0, 10)) == 10
    joiner = threading.Thread(target=q.join)
    joiner.start()
    for i in range(10):
        assert q.get(timeout=DEADLINE) == i
        q.task_done()
    joiner.join(DEADLINE)
    assert not joiner.is_alive()
    with pytest.raises(ValueError):
        q.task_done()


@pytest.mark.polypool_only
def test_closed_everywhere(mp, procs):
    """polypool's close for every process (pp_queue_close): gets take what
    is left, then raise ClosedError; puts raise it at once."""
    q = mp.Queue()
    q.put(1)
    other = pickle.loads(pickle.dumps(q))
    q._close_everywhere()
    assert other.get(timeout=DEADLINE) == 1
    with pytest.raises(mp.ClosedError):
        other.get(timeout=DEADLINE)
    with pytest.raises(mp.ClosedError):
        other.put(2)
