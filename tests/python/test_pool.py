"""Pool: construction, the blocking and iterator methods, lifecycle."""
import json
import os

import pytest

import tasks
from helpers import describe, run_script

SQUARES = [x * x for x in range(10)]


# --- map, starmap, apply ------------------------------------------------------

def test_map(pool):
    assert pool.map(tasks.square, range(10)) == SQUARES


@pytest.mark.parametrize("chunksize", [1, 3, 20])
def test_map_chunksize(pool, chunksize):
    assert pool.map(tasks.square, range(10), chunksize=chunksize) == SQUARES


def test_map_empty(pool):
    assert pool.map(tasks.square, []) == []


def test_map_iterable_without_len(pool):
    assert pool.map(tasks.square, (x for x in range(10))) == SQUARES


def test_map_many_items_keep_order(pool):
    assert pool.map(tasks.square, range(1000)) == [x * x for x in range(1000)]


def test_starmap(pool):
    assert pool.starmap(tasks.add, [(1, 2), (3, 4), (5, 6)]) == [3, 7, 11]


def test_apply(pool):
    assert pool.apply(tasks.add, (2, 3)) == 5


def test_apply_kwds(pool):
    assert pool.apply(tasks.mul, (3,), {"y": 4}) == 12


def test_apply_no_args(pool):
    assert pool.apply(tasks.get_state) is None


def test_values_round_trip(pool):
    values = [None, True, 1.5, "text", b"bytes", (1, "a"), [1, [2]], {"k": (1, 2)},
              2 ** 70, -3, {1, 2}, tasks.CustomError("x")]
    out = pool.map(tasks.identity, values)
    assert out[:-1] == values[:-1]
    assert type(out[-1]) is tasks.CustomError and out[-1].args == ("x",)


# --- imap, imap_unordered -----------------------------------------------------

@pytest.mark.parametrize("chunksize", [1, 4])
def test_imap_in_order(pool, chunksize):
    assert list(pool.imap(tasks.square, range(10), chunksize=chunksize)) == SQUARES


@pytest.mark.parametrize("chunksize", [1, 4])
def test_imap_unordered(pool, chunksize):
    assert sorted(pool.imap_unordered(tasks.square, range(10), chunksize=chunksize)) == SQUARES


def test_imap_generator_input(pool):
    assert list(pool.imap(tasks.square, (x for x in range(10)))) == SQUARES


def test_imap_empty(pool):
    assert list(pool.imap(tasks.square, [])) == []
    assert list(pool.imap_unordered(tasks.square, [])) == []


@pytest.mark.parametrize("method", ["imap", "imap_unordered"])
def test_imap_chunksize_below_one(pool, method):
    with pytest.raises(ValueError):
        getattr(pool, method)(tasks.square, range(3), chunksize=0)


def test_imap_next_timeout(mp):
    with mp.Pool(2) as p:
        it = p.imap(tasks.slow, [1])  # not done before terminate
        with pytest.raises(mp.TimeoutError):
            it.next(timeout=0.05)


def test_imap_iterable_exception_at_position(pool):
    error = ValueError("from the iterable")

    def items():
        yield 1
        yield 2
        raise error

    it = pool.imap(tasks.square, items())
    assert next(it) == 1
    assert next(it) == 4
    with pytest.raises(ValueError) as ei:
        next(it)
    assert ei.value.args == error.args


# --- constructor --------------------------------------------------------------

@pytest.mark.parametrize("processes", [0, -1])
def test_processes_must_be_positive(mp, processes):
    with pytest.raises(ValueError, match="^Number of processes must be at least 1$"):
        mp.Pool(processes)


@pytest.mark.parametrize("value", [0, -1, 0.5, "12"])
def test_maxtasksperchild_invalid(mp, value):
    with pytest.raises(ValueError, match="^maxtasksperchild must be a positive int or None$"):
        mp.Pool(2, maxtasksperchild=value)


def test_initializer_not_callable(mp):
    with pytest.raises(TypeError, match="^initializer must be a callable$"):
        mp.Pool(2, initializer=42)


def test_initializer_runs_in_every_worker(mp):
    with mp.Pool(2, initializer=tasks.init_state, initargs=(42,)) as p:
        assert p.map(tasks.get_state, range(8), chunksize=1) == [42] * 8


def test_default_processes(mp):
    with mp.Pool() as p:
        assert p.map(tasks.square, range(10)) == SQUARES


def test_maxtasksperchild_replaces_workers(mp):
    with mp.Pool(2, maxtasksperchild=1) as p:
        pids = [p.apply(tasks.getpid) for _ in range(4)]
    assert len(set(pids)) == 4


def test_workers_are_other_processes(pool):
    pids = set(pool.map(tasks.getpid, range(20), chunksize=1))
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


# --- lifecycle ----------------------------------------------------------------

def _calls(p):
    return [
        lambda: p.apply(tasks.square, (1,)),
        lambda: p.apply_async(tasks.square, (1,)),
        lambda: p.map(tasks.square, [1]),
        lambda: p.map_async(tasks.square, [1]),
        lambda: p.starmap(tasks.add, [(1, 2)]),
        lambda: p.starmap_async(tasks.add, [(1, 2)]),
        lambda: p.imap(tasks.square, [1]),
        lambda: p.imap_unordered(tasks.square, [1]),
    ]


@pytest.mark.parametrize("stop", ["close", "terminate"])
def test_methods_after_stop_raise(mp, stop):
    p = mp.Pool(2)
    getattr(p, stop)()
    for call in _calls(p):
        with pytest.raises(ValueError, match="^Pool not running$"):
            call()
    p.join()


def test_join_before_close(mp):
    p = mp.Pool(2)
    try:
        with pytest.raises(ValueError, match="^Pool is still running$"):
            p.join()
    finally:
        p.terminate()
        p.join()


def test_close_then_join_finishes_submitted_work(mp):
    p = mp.Pool(2)
    results = [p.apply_async(tasks.sleep_return, (i, 0.2)) for i in range(4)]
    p.close()
    p.join()
    assert all(r.ready() for r in results)
    assert [r.get(0) for r in results] == [0, 1, 2, 3]


def test_terminate_with_pending_work_returns(mp):
    p = mp.Pool(2)
    r = p.starmap_async(tasks.sleep_return, [(i, 30) for i in range(6)])
    p.terminate()
    p.join()
    assert not r.ready() or not r.successful()


def test_context_manager(mp):
    with mp.Pool(2) as p:
        assert p.apply(tasks.square, (7,)) == 49
    # __exit__ terminates: the pool takes no more work, join is allowed.
    with pytest.raises(ValueError, match="^Pool not running$"):
        p.apply(tasks.square, (1,))
    p.join()


def test_context_manager_exit_terminates_running_work(mp):
    with mp.Pool(2) as p:
        r = p.apply_async(tasks.sleep_return, (1, 30))
    p.join()  # returns although the task would sleep 30 s
    assert not r.ready() or not r.successful()


def test_reenter_terminated_pool(mp):
    p = mp.Pool(2)
    p.terminate()
    with pytest.raises(ValueError):
        with p:
            pass
    p.join()


def test_close_and_terminate_twice(mp):
    p = mp.Pool(2)
    p.close()
    p.close()
    p.terminate()
    p.terminate()
    p.join()
    p.join()


# --- named pools (polypool) ---------------------------------------------------

NAMED_POOL_SCRIPT = """\
import polypool as multiprocessing
import json
import os
import subprocess
import sys
import tasks

if __name__ == '__main__':
    p = multiprocessing.Pool(2, name="t-shared")
    assert p.map(tasks.square, range(5)) == [0, 1, 4, 9, 16]
    # While both clients hold the pool, ask the daemon what it has.
    status = subprocess.run([sys.argv[1], "--address", os.environ["POLYPOOL_ADDRESS"],
                             "status", "--json"], capture_output=True, text=True, check=True)
    print(json.dumps({"pid": os.getpid(), "status": json.loads(status.stdout)}))
    p.close()
    p.join()
"""


@pytest.mark.polypool_only
def test_named_pool_is_shared_between_processes(mp, tmp_path, polypool_cli):
    p = mp.Pool(2, name="t-shared")
    try:
        assert p.map(tasks.square, range(10)) == SQUARES
        proc = run_script(NAMED_POOL_SCRIPT, tmp_path, args=[polypool_cli])
        assert proc.returncode == 0, describe(proc)
        out = json.loads(proc.stdout)
        status = out["status"]
        pools = [q for q in status["pools"] if q["name"] == "t-shared"]
        assert len(pools) == 1, status
        session = {c["pid"]: c["session_id"] for c in status["clients"]}
        assert {session[os.getpid()], session[out["pid"]]} <= set(pools[0]["sessions"]), status
        assert pools[0]["size"] == 2, status
        assert p.map(tasks.square, range(10)) == SQUARES
    finally:
        p.close()
        p.join()
