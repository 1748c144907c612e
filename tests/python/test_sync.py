"""Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier:
multiprocessing's semantics across processes, Ctrl-C, and what polypool
adds (a dead holder's lock is handed over; primitives go to Pool tasks and
C tasks at any time)."""
import functools
import os
import pickle
import re
import signal
import threading
import time
import uuid
import warnings

import pytest

import tasks
from helpers import wait_until

pytestmark = pytest.mark.usefixtures("no_leaked_segments")

# Every wait for something that should happen at once has this deadline;
# only a bug reaches it.
DEADLINE = 30


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


@pytest.fixture
def child_call(mp, tmp_path):
    """child_call(func, *args) runs func(*args) in a child process and
    returns "ok <repr of the result>" or "<exception type>: <message>"."""

    def call(func, *args):
        path = str(tmp_path / ("call-" + uuid.uuid4().hex))
        p = mp.Process(target=tasks.record_call, args=(path, func) + args)
        p.start()
        p.join(DEADLINE)
        if p.is_alive():
            p.kill()
            p.join()
            pytest.fail("the child running %s did not finish" % func.__name__)
        assert p.exitcode == 0
        with open(path) as f:
            return f.read()

    return call


def _join_all(processes):
    for p in processes:
        p.join(DEADLINE)
        assert p.exitcode == 0, p


def _elapsed(func, *args, **kwargs):
    t0 = time.monotonic()
    result = func(*args, **kwargs)
    return result, time.monotonic() - t0


def _blocked(pid):
    """Whether the process sleeps in the kernel on a futex (a lock or
    semaphore wait)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rpartition(")")[2].split()[0]
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read()
    except OSError:
        return False
    return state == "S" and ("futex" in wchan or wchan in ("", "0"))


# ---- Lock ---------------------------------------------------------------------


def test_lock_acquire_release(mp):
    lock = mp.Lock()
    assert lock.acquire() is True
    assert lock.acquire(False) is False
    assert lock.acquire(block=False) is False
    lock.release()
    assert lock.acquire(block=False) is True
    lock.release()


def test_lock_context_manager(mp):
    lock = mp.Lock()
    with lock as entered:
        assert entered is True
        assert lock.acquire(False) is False
    assert lock.acquire(False) is True
    lock.release()


def test_lock_release_unlocked(mp):
    lock = mp.Lock()
    with pytest.raises(ValueError, match=r"^semaphore or lock released too many times$"):
        lock.release()
    lock.acquire()
    lock.release()
    with pytest.raises(ValueError, match=r"^semaphore or lock released too many times$"):
        lock.release()


def test_lock_repr(mp):
    lock = mp.Lock()
    assert repr(lock) == "<Lock(owner=None)>"
    with lock:
        assert repr(lock) == "<Lock(owner=MainProcess)>"


def test_lock_timeout(mp):
    lock = mp.Lock()
    lock.acquire()
    got, elapsed = _elapsed(lock.acquire, timeout=0.3)
    assert got is False
    assert 0.28 <= elapsed < 10
    got, elapsed = _elapsed(lock.acquire, True, 0.2)
    assert got is False
    assert 0.18 <= elapsed < 10
    lock.release()


@pytest.mark.parametrize("timeout", [0, 0.0, -1, -5.5])
def test_lock_zero_or_negative_timeout_does_not_wait(mp, timeout):
    lock = mp.Lock()
    assert lock.acquire(timeout=timeout) is True
    got, elapsed = _elapsed(lock.acquire, True, timeout)
    assert got is False
    assert elapsed < 1
    lock.release()


def test_lock_block_false_ignores_timeout(mp):
    lock = mp.Lock()
    lock.acquire()
    got, elapsed = _elapsed(lock.acquire, False, 5)
    assert got is False
    assert elapsed < 1
    got, elapsed = _elapsed(lock.acquire, block=False, timeout=None)
    assert got is False
    assert elapsed < 1
    lock.release()
    assert lock.acquire(False, 5) is True
    lock.release()


def test_lock_held_by_another_process(mp, procs):
    lock, ready, go = mp.Lock(), mp.Event(), mp.Event()
    p = procs(tasks.acquire_hold_release, lock, ready, go)
    assert ready.wait(DEADLINE)
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0.1) is False
    assert repr(lock) == "<Lock(owner=SomeOtherProcess)>"
    go.set()
    # Blocks until the child releases it.
    assert lock.acquire(timeout=DEADLINE) is True
    lock.release()
    _join_all([p])


def test_lock_released_by_another_process(mp, child_call):
    lock = mp.Lock()
    lock.acquire()
    assert child_call(tasks.release, lock) == "ok None"
    assert lock.acquire(False) is True
    lock.release()
    assert child_call(tasks.release, lock) == \
        "ValueError: semaphore or lock released too many times"


def test_lock_released_by_another_thread(mp):
    lock = mp.Lock()
    lock.acquire()
    t = threading.Thread(target=lock.release)
    t.start()
    t.join()
    assert lock.acquire(False) is True
    lock.release()


def test_lock_mutual_exclusion_across_processes(mp, procs):
    counter = mp.Value("i", 0, lock=False)
    lock = mp.Lock()
    ps = [procs(tasks.increment, counter, 2000, lock) for _ in range(4)]
    _join_all(ps)
    assert counter.value == 8000


# ---- RLock --------------------------------------------------------------------


def test_rlock_recursion_and_repr(mp):
    lock = mp.RLock()
    assert repr(lock) == "<RLock(None, 0)>"
    assert lock.acquire() is True
    assert lock.acquire() is True
    assert lock.acquire(False) is True
    assert repr(lock) == "<RLock(MainProcess, 3)>"
    lock.release()
    assert repr(lock) == "<RLock(MainProcess, 2)>"
    lock.release()
    lock.release()
    assert repr(lock) == "<RLock(None, 0)>"


def test_rlock_release_unowned(mp):
    lock = mp.RLock()
    with pytest.raises(AssertionError,
                       match=r"^attempt to release recursive lock not owned by thread$"):
        lock.release()
    with lock:
        pass
    with pytest.raises(AssertionError,
                       match=r"^attempt to release recursive lock not owned by thread$"):
        lock.release()


def test_rlock_release_by_another_thread(mp):
    lock = mp.RLock()
    lock.acquire()
    errors = []

    def other():
        try:
            lock.release()
        except AssertionError as e:
            errors.append(str(e))
        errors.append(lock.acquire(timeout=0.1))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors == ["attempt to release recursive lock not owned by thread", False]
    lock.release()


def test_rlock_other_process(mp, child_call):
    lock = mp.RLock()
    lock.acquire()
    lock.acquire()
    assert child_call(tasks.release, lock) == \
        "AssertionError: attempt to release recursive lock not owned by thread"
    assert child_call(tasks.try_acquire, lock, True, 0.1) == "ok False"
    lock.release()
    assert child_call(tasks.try_acquire, lock, True, 0.1) == "ok False"
    lock.release()
    assert child_call(tasks.try_acquire, lock, True, DEADLINE) == "ok True"


def test_rlock_timeouts(mp, child_call):
    lock = mp.RLock()
    lock.acquire()
    # The owner never waits; zero, negative and block=False are the same.
    assert lock.acquire(timeout=-1) is True
    assert lock.acquire(False, 5) is True
    for _ in range(3):
        lock.release()
    assert child_call(tasks.try_acquire, lock, False, 5) == "ok True"


# ---- Semaphore, BoundedSemaphore ------------------------------------------------


def test_semaphore(mp):
    sem = mp.Semaphore(2)
    assert sem.get_value() == 2
    assert sem.acquire() is True
    assert sem.get_value() == 1
    assert sem.acquire(False) is True
    assert sem.get_value() == 0
    assert sem.acquire(False) is False
    sem.release()
    assert sem.get_value() == 1
    # A plain Semaphore may be released above its initial value.
    sem.release()
    sem.release()
    assert sem.get_value() == 3
    assert repr(sem) == "<Semaphore(value=3)>"
    with sem:
        assert sem.get_value() == 2
    assert sem.get_value() == 3


def test_semaphore_default_value(mp):
    sem = mp.Semaphore()
    assert sem.get_value() == 1


def test_semaphore_timeout(mp):
    sem = mp.Semaphore(0)
    for args in [(False,), (False, None), (False, 5), (True, 0), (True, -1),
                 (True, 0.0)]:
        got, elapsed = _elapsed(sem.acquire, *args)
        assert got is False, args
        assert elapsed < 1, args
    got, elapsed = _elapsed(sem.acquire, timeout=0.3)
    assert got is False
    assert 0.28 <= elapsed < 10


def test_semaphore_negative_value(mp):
    with pytest.raises(OSError) as ei:
        mp.Semaphore(-1)
    assert ei.value.errno == 22


def test_semaphore_across_processes(mp, procs, child_call):
    sem = mp.Semaphore(0)
    assert child_call(tasks.acquire_n, sem, 1, 0.1) == "ok 0"
    sem.release()
    sem.release()
    assert child_call(tasks.acquire_n, sem, 3, 0.1) == "ok 2"
    assert sem.get_value() == 0
    # A blocked acquire wakes when another process releases.
    assert child_call(tasks.release, sem) == "ok None"
    assert sem.acquire(timeout=DEADLINE) is True
    p = procs(tasks.acquire_n, sem, 3, DEADLINE)
    for _ in range(3):
        sem.release()
    _join_all([p])
    assert sem.get_value() == 0


def test_bounded_semaphore(mp):
    sem = mp.BoundedSemaphore(2)
    assert repr(sem) == "<BoundedSemaphore(value=2, maxvalue=2)>"
    with pytest.raises(ValueError, match=r"^semaphore or lock released too many times$"):
        sem.release()
    sem.acquire()
    sem.acquire()
    assert sem.acquire(False) is False
    assert repr(sem) == "<BoundedSemaphore(value=0, maxvalue=2)>"
    sem.release()
    sem.release()
    with pytest.raises(ValueError, match=r"^semaphore or lock released too many times$"):
        sem.release()
    assert sem.get_value() == 2


def test_bounded_semaphore_over_release_in_child(mp, child_call):
    sem = mp.BoundedSemaphore(1)
    assert child_call(tasks.release, sem) == \
        "ValueError: semaphore or lock released too many times"
    sem.acquire()
    assert child_call(tasks.release, sem) == "ok None"
    assert sem.get_value() == 1


# ---- Condition ----------------------------------------------------------------


def test_condition_requires_lock(mp):
    cond = mp.Condition()
    with pytest.raises(AssertionError,
                       match=r"^must acquire\(\) condition before using wait\(\)$"):
        cond.wait(0.1)
    with pytest.raises(AssertionError, match=r"^lock is not owned$"):
        cond.notify()
    with pytest.raises(AssertionError, match=r"^lock is not owned$"):
        cond.notify_all()


def test_condition_repr_and_lock(mp):
    cond = mp.Condition()
    assert repr(cond) == "<Condition(<RLock(None, 0)>, 0)>"
    # The default lock is an RLock.
    with cond:
        with cond:
            assert cond.acquire(False) is True
            cond.release()
    lock = mp.Lock()
    cond = mp.Condition(lock)
    with cond:
        assert lock.acquire(False) is False
    assert lock.acquire(False) is True
    lock.release()


def test_condition_wait_timeout(mp):
    for cond in (mp.Condition(), mp.Condition(mp.Lock())):
        with cond:
            got, elapsed = _elapsed(cond.wait, 0.3)
            assert got is False
            assert 0.28 <= elapsed < 10
            # Still held after the wait.
            cond.notify()
            for timeout in (0, -1):
                got, elapsed = _elapsed(cond.wait, timeout)
                assert got is False
                assert elapsed < 1


def test_condition_rlock_depth_restored(mp):
    cond = mp.Condition()
    cond.acquire()
    cond.acquire()
    assert cond.wait(0.05) is False
    cond.release()
    cond.release()
    with pytest.raises(AssertionError):
        cond.release()


def test_condition_wait_notified_by_another_process(mp, procs):
    cond = mp.Condition()
    with cond:
        # The child can only take the lock, and notify, once we wait.
        p = procs(tasks.cond_notify, cond)
        assert cond.wait(DEADLINE) is True
    _join_all([p])


def test_condition_notify_n(mp, procs):
    cond = mp.Condition()
    sleeping, woken = mp.Semaphore(0), mp.Semaphore(0)
    ps = [procs(tasks.cond_waiter, cond, sleeping, woken) for _ in range(4)]
    for _ in range(4):
        assert sleeping.acquire(timeout=DEADLINE)
    # Each child released `sleeping` with the lock held and holds it until
    # it waits: once we have the lock, all four wait.
    with cond:
        cond.notify()
    assert woken.acquire(timeout=DEADLINE)
    assert woken.acquire(timeout=0.2) is False
    with cond:
        cond.notify(2)
    assert woken.acquire(timeout=DEADLINE)
    assert woken.acquire(timeout=DEADLINE)
    assert woken.acquire(timeout=0.2) is False
    with cond:
        cond.notify(0)
    assert woken.acquire(timeout=0.2) is False
    with cond:
        cond.notify_all()
    assert woken.acquire(timeout=DEADLINE)
    _join_all(ps)
    assert woken.get_value() == 0
    # Nobody waits: notifying is a no-op.
    with cond:
        cond.notify_all()
        cond.notify(3)
        assert cond.wait(0.05) is False


def test_condition_notify_all(mp, procs):
    cond = mp.Condition(mp.Lock())
    sleeping, woken = mp.Semaphore(0), mp.Semaphore(0)
    ps = [procs(tasks.cond_waiter, cond, sleeping, woken) for _ in range(3)]
    for _ in range(3):
        assert sleeping.acquire(timeout=DEADLINE)
    with cond:
        cond.notify_all()
    for _ in range(3):
        assert woken.acquire(timeout=DEADLINE)
    _join_all(ps)


def test_condition_wait_timeout_in_children(mp, procs):
    cond = mp.Condition()
    sleeping, woken = mp.Semaphore(0), mp.Semaphore(0)
    ps = [procs(tasks.cond_waiter, cond, sleeping, woken, 0.2) for _ in range(2)]
    _join_all(ps)
    assert woken.get_value() == 2
    # Their waits are gone: a notify now wakes nobody.
    with cond:
        cond.notify_all()


def test_condition_wait_for(mp, procs):
    cond = mp.Condition()
    state = mp.Value("i", 0)
    p = procs(tasks.cond_count_to, cond, state, 5)
    with cond:
        assert cond.wait_for(lambda: state.value == 5, DEADLINE) is True
        assert state.value == 5
    _join_all([p])
    with cond:
        result, elapsed = _elapsed(cond.wait_for, lambda: state.value * 0, 0.3)
        assert result == 0
        assert 0.28 <= elapsed < 10
        assert cond.wait_for(lambda: state.value, 0) == 5


def test_condition_wait_for_without_timeout(mp, procs):
    cond = mp.Condition(mp.Lock())
    state = mp.Value("i", 0)
    p = procs(tasks.cond_count_to, cond, state, 3)
    with cond:
        assert cond.wait_for(lambda: state.value >= 3) is True
    _join_all([p])


# ---- Event --------------------------------------------------------------------


def test_event(mp):
    event = mp.Event()
    assert event.is_set() is False
    assert re.fullmatch(r"<Event at 0x[0-9a-f]+ unset>", repr(event))
    got, elapsed = _elapsed(event.wait, 0.3)
    assert got is False
    assert 0.28 <= elapsed < 10
    for timeout in (0, -1):
        got, elapsed = _elapsed(event.wait, timeout)
        assert got is False
        assert elapsed < 1
    event.set()
    assert event.is_set() is True
    assert re.fullmatch(r"<Event at 0x[0-9a-f]+ set>", repr(event))
    assert event.wait() is True
    assert event.wait(0) is True
    event.set()
    assert event.is_set() is True
    event.clear()
    assert event.is_set() is False
    assert event.wait(0.05) is False


def test_event_set_by_another_process(mp, procs):
    event = mp.Event()
    p = procs(tasks.event_set, event)
    assert event.wait(DEADLINE) is True
    _join_all([p])
    event.clear()
    assert event.wait(0.05) is False


def test_event_waited_for_in_another_process(mp, child_call, procs, tmp_path):
    event = mp.Event()
    assert child_call(tasks.event_wait, event, 0.2) == "ok False"
    ready = mp.Event()
    path = str(tmp_path / "out")
    p = procs(tasks.record_call, path, tasks.event_wait, event, DEADLINE, ready)
    assert ready.wait(DEADLINE)
    event.set()
    _join_all([p])
    with open(path) as f:
        assert f.read() == "ok True"
    assert child_call(tasks.event_wait, event, 0) == "ok True"


def test_event_wakes_every_waiter(mp, procs, tmp_path):
    event = mp.Event()
    paths = [str(tmp_path / str(i)) for i in range(3)]
    readies = [mp.Event() for _ in paths]
    ps = [procs(tasks.record_call, path, tasks.event_wait, event, DEADLINE, ready)
          for path, ready in zip(paths, readies)]
    for ready in readies:
        assert ready.wait(DEADLINE)
    event.set()
    _join_all(ps)
    for path in paths:
        with open(path) as f:
            assert f.read() == "ok True"


# ---- Barrier ------------------------------------------------------------------


def test_barrier_attributes(mp):
    barrier = mp.Barrier(3)
    assert barrier.parties == 3
    assert barrier.n_waiting == 0
    assert barrier.broken is False
    assert mp.Barrier(1).wait() == 0


def test_barrier_three_processes(mp, procs):
    counter = mp.Value("i", 0)
    barrier = mp.Barrier(3, action=functools.partial(tasks.increment_value, counter))
    cycles = 3
    results = mp.Array("i", [-2] * (3 * cycles))
    ps = [procs(tasks.barrier_wait, barrier, results, i, cycles) for i in range(3)]
    _join_all(ps)
    for k in range(cycles):
        assert sorted(results[i * cycles + k] for i in range(3)) == [0, 1, 2]
    # The action ran once per cycle.
    assert counter.value == cycles
    assert barrier.n_waiting == 0
    assert barrier.broken is False


def test_barrier_with_this_process(mp, procs):
    barrier = mp.Barrier(3)
    results = mp.Array("i", [-2, -2])
    ps = [procs(tasks.barrier_wait, barrier, results, i) for i in range(2)]
    assert wait_until(lambda: barrier.n_waiting == 2, timeout=DEADLINE)
    index = barrier.wait(DEADLINE)
    _join_all(ps)
    assert sorted([index] + results[:]) == [0, 1, 2]


def test_barrier_timeout_breaks_it_for_everyone(mp, procs):
    barrier = mp.Barrier(4)
    results = mp.Array("i", [-2, -2, -2])
    ps = [procs(tasks.barrier_wait, barrier, results, i) for i in range(2)]
    assert wait_until(lambda: barrier.n_waiting == 2, timeout=DEADLINE)
    t0 = time.monotonic()
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(0.2)
    assert 0.18 <= time.monotonic() - t0 < 10
    _join_all(ps)
    assert results[:2] == [-1, -1]
    assert barrier.broken is True
    assert barrier.n_waiting == 0
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(DEADLINE)
    barrier.reset()
    assert barrier.broken is False
    # Usable again.
    ps = [procs(tasks.barrier_wait, barrier, results, i) for i in range(3)]
    index = barrier.wait(DEADLINE)
    _join_all(ps)
    assert sorted([index] + results[:]) == [0, 1, 2, 3]


def test_barrier_timeout_in_children(mp, procs):
    barrier = mp.Barrier(3)
    results = mp.Array("i", [-2, -2])
    ps = [procs(tasks.barrier_wait, barrier, results, 0, 1, 0.2),
          procs(tasks.barrier_wait, barrier, results, 1, 1, None)]
    _join_all(ps)
    assert results[:] == [-1, -1]
    assert barrier.broken is True


def test_barrier_default_timeout(mp):
    barrier = mp.Barrier(2, timeout=0.2)
    t0 = time.monotonic()
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait()
    assert 0.18 <= time.monotonic() - t0 < 10
    assert barrier.broken is True


def test_barrier_abort(mp, procs):
    barrier = mp.Barrier(3)
    results = mp.Array("i", [-2, -2])
    ps = [procs(tasks.barrier_wait, barrier, results, i) for i in range(2)]
    assert wait_until(lambda: barrier.n_waiting == 2, timeout=DEADLINE)
    barrier.abort()
    _join_all(ps)
    assert results[:] == [-1, -1]
    assert barrier.broken is True
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(DEADLINE)
    barrier.reset()
    assert barrier.broken is False
    assert barrier.n_waiting == 0


def test_barrier_reset_breaks_current_waiters(mp, procs):
    barrier = mp.Barrier(3)
    results = mp.Array("i", [-2, -2])
    ps = [procs(tasks.barrier_wait, barrier, results, i) for i in range(2)]
    assert wait_until(lambda: barrier.n_waiting == 2, timeout=DEADLINE)
    barrier.reset()
    _join_all(ps)
    assert results[:] == [-1, -1]
    assert barrier.broken is False
    assert barrier.n_waiting == 0


def test_barrier_action_error(mp):
    barrier = mp.Barrier(1, action=functools.partial(tasks.raise_value_error, "in action"))
    with pytest.raises(ValueError, match="in action"):
        barrier.wait()
    assert barrier.broken is True
    barrier.reset()
    assert barrier.broken is False


# ---- Ctrl-C -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lock", "rlock", "semaphore", "condition", "event",
                                  "barrier"])
def test_sigint_interrupts_a_blocked_wait(mp, procs, tmp_path, kind):
    if kind == "lock":
        obj = mp.Lock()
        obj.acquire()
        how = "acquire"
    elif kind == "rlock":
        obj = mp.RLock()
        obj.acquire()
        how = "acquire"
    elif kind == "semaphore":
        obj, how = mp.Semaphore(0), "acquire"
    elif kind == "condition":
        obj, how = mp.Condition(), "cond_wait"
    elif kind == "event":
        obj, how = mp.Event(), "event_wait"
    else:
        obj, how = mp.Barrier(2), "barrier_wait"
    ready = mp.Event()
    path = tmp_path / "out"
    p = procs(tasks.interruptible_wait, how, obj, ready, str(path))
    assert ready.wait(DEADLINE)
    assert wait_until(lambda: _blocked(p.pid), timeout=DEADLINE)
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGINT)
    p.join(DEADLINE)
    assert p.exitcode == 0
    assert time.monotonic() - t0 < 5
    assert path.read_text() == "KeyboardInterrupt"
    if kind in ("lock", "rlock"):
        obj.release()


# ---- a holder killed with SIGKILL (polypool) ----------------------------------


@pytest.mark.polypool_only
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_holder_killed_hands_the_lock_over(mp, procs, kind):
    lock, ready = getattr(mp, kind)(), mp.Event()
    p = procs(tasks.acquire_and_hold, lock, ready)
    assert ready.wait(DEADLINE)
    assert lock.acquire(timeout=0.1) is False
    os.kill(p.pid, signal.SIGKILL)
    p.join(DEADLINE)
    assert p.exitcode == -signal.SIGKILL
    with pytest.warns(RuntimeWarning, match="previous holder died"):
        got, elapsed = _elapsed(lock.acquire, timeout=DEADLINE)
    assert got is True
    assert elapsed < 10
    assert "MainProcess" in repr(lock)
    lock.release()
    # Handed over once: no warning any more.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lock.acquire(timeout=DEADLINE) is True
        lock.release()


@pytest.mark.polypool_only
def test_holder_killed_while_waiting(mp, procs):
    """A waiter already blocked when the holder dies gets the lock."""
    lock, ready = mp.Lock(), mp.Event()
    p = procs(tasks.acquire_and_hold, lock, ready)
    assert ready.wait(DEADLINE)
    result = []

    def waiter():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result.append(lock.acquire(timeout=DEADLINE))
        result.append([str(w.message) for w in caught])

    t = threading.Thread(target=waiter)
    t.start()
    os.kill(p.pid, signal.SIGKILL)
    t.join(DEADLINE + 5)
    assert result and result[0] is True
    assert len(result[1]) == 1 and "previous holder died" in result[1][0]
    lock.release()
    p.join(DEADLINE)


@pytest.mark.polypool_only
def test_holder_killed_warning_as_error_releases(mp, procs):
    lock, ready = mp.Lock(), mp.Event()
    p = procs(tasks.acquire_and_hold, lock, ready)
    assert ready.wait(DEADLINE)
    os.kill(p.pid, signal.SIGKILL)
    p.join(DEADLINE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="previous holder died"):
            lock.acquire(timeout=DEADLINE)
    # The exception left the lock free.
    assert lock.acquire(False) is True
    lock.release()


@pytest.mark.polypool_only
def test_c_task_killed_holding_the_lock(mp, libpptest):
    lock = mp.Lock()
    with mp.Pool(1) as p:
        with pytest.raises(mp.WorkerLostError):
            p.apply(mp.cfunc(libpptest, "pt_acquire_and_die"), (lock, 0))
    with pytest.warns(RuntimeWarning, match="previous holder died"):
        assert lock.acquire(timeout=DEADLINE) is True
    lock.release()


# ---- passing primitives at any time (polypool) --------------------------------


@pytest.mark.polypool_only
def test_pickle_at_any_time(mp):
    lock = mp.Lock()
    copy = pickle.loads(pickle.dumps(lock))
    assert type(copy) is type(lock)
    lock.acquire()
    assert copy.acquire(False) is False
    copy.release()
    assert lock.acquire(False) is True
    lock.release()
    for obj in (mp.RLock(), mp.Semaphore(3), mp.BoundedSemaphore(2), mp.Event(),
                mp.Condition(), mp.Barrier(2)):
        copy = pickle.loads(pickle.dumps(obj))
        assert type(copy) is type(obj)
    sem = mp.BoundedSemaphore(2)
    copy = pickle.loads(pickle.dumps(sem))
    assert repr(copy) == "<BoundedSemaphore(value=2, maxvalue=2)>"
    with pytest.raises(ValueError):
        copy.release()


@pytest.mark.polypool_only
def test_lock_and_value_to_pool_tasks(mp, pool):
    lock = mp.Lock()
    counter = mp.Value("i", 0, lock=False)
    results = [pool.apply_async(tasks.increment, (counter, 500, lock)) for _ in range(6)]
    assert [r.get(timeout=DEADLINE) for r in results] == [500] * 6
    assert counter.value == 3000
    # The task's lock is this lock.
    lock.acquire()
    assert pool.apply(tasks.try_acquire, (lock, True, 0.1)) is False
    lock.release()
    assert pool.apply(tasks.try_acquire, (lock, True, DEADLINE)) is True
    assert pool.map(tasks.try_acquire, [lock] * 4) == [True] * 4


@pytest.mark.polypool_only
def test_event_and_barrier_to_pool_tasks(mp, pool):
    event = mp.Event()
    r = pool.apply_async(tasks.event_wait, (event, DEADLINE))
    event.set()
    assert r.get(timeout=DEADLINE) is True
    barrier = mp.Barrier(3)
    results = mp.Array("i", [-2, -2])
    rs = [pool.apply_async(tasks.barrier_wait, (barrier, results, i)) for i in range(2)]
    index = barrier.wait(DEADLINE)
    for r in rs:
        r.get(timeout=DEADLINE)
    assert sorted([index] + results[:]) == [0, 1, 2]


@pytest.mark.polypool_only
def test_primitives_to_c_tasks(mp, pool, libpptest):
    acquire = mp.cfunc(libpptest, "pt_acquire")
    for lock in (mp.Lock(), mp.RLock(), mp.Semaphore(1), mp.BoundedSemaphore(1)):
        assert pool.apply(acquire, (lock, 0, 1)) == "PP_OK"
        lock.acquire()
        assert pool.apply(acquire, (lock, 0, 1)) == "PP_ETIMEDOUT"
        assert pool.apply(acquire, (lock, 100, 1)) == "PP_ETIMEDOUT"
        lock.release()
    # A Lock the C task takes and keeps (a Lock may be released by anyone).
    lock = mp.Lock()
    assert pool.apply(acquire, (lock, 0, 0)) == "PP_OK"
    assert lock.acquire(False) is False
    lock.release()
    event = mp.Event()
    assert pool.apply(mp.cfunc(libpptest, "pt_event_wait"), (event, 0)) == "PP_ETIMEDOUT"
    r = pool.apply_async(mp.cfunc(libpptest, "pt_event_wait"), (event, DEADLINE * 1000))
    event.set()
    assert r.get(timeout=DEADLINE) == "PP_OK"


@pytest.mark.polypool_only
def test_barrier_with_c_tasks(mp, pool, libpptest):
    barrier = mp.Barrier(3)
    wait = mp.cfunc(libpptest, "pt_barrier_wait")
    rs = [pool.apply_async(wait, (barrier, DEADLINE * 1000)) for _ in range(2)]
    index = barrier.wait(DEADLINE)
    assert sorted([index] + [r.get(timeout=DEADLINE) for r in rs]) == [0, 1, 2]


@pytest.mark.polypool_only
def test_context_exports(mp):
    for ctx in (mp.get_context(), mp.get_context("spawn")):
        for name in ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event"):
            obj = getattr(ctx, name)()
            assert type(obj) is getattr(mp, name)
        assert type(ctx.Barrier(2)) is mp.Barrier
    from polypool import synchronize
    assert mp.Lock is synchronize.Lock
