"""Failures in tasks, in pickling, in workers, in callbacks; polypool's
status exceptions."""
import os
import pickle
import signal
import threading

import pytest

import tasks
from helpers import describe, run_script, wait_until


# --- exceptions raised by a task ----------------------------------------------

def test_apply_reraises_same_type_and_args(pool, mp_pool_module):
    with pytest.raises(tasks.CustomError) as ei:
        pool.apply(tasks.raise_custom, ("a", 2))
    assert type(ei.value) is tasks.CustomError
    assert ei.value.args == ("a", 2)
    cause = ei.value.__cause__
    assert isinstance(cause, mp_pool_module.RemoteTraceback)
    assert "raise_custom" in str(cause)
    assert "Traceback" in str(cause)


def test_map_reraises_with_remote_traceback(pool, mp_pool_module):
    with pytest.raises(ValueError) as ei:
        pool.map(tasks.raise_value_error, [1, 2, 3])
    assert ei.value.args in [(1,), (2,), (3,)]
    assert isinstance(ei.value.__cause__, mp_pool_module.RemoteTraceback)
    assert "raise_value_error" in str(ei.value.__cause__)


@pytest.mark.parametrize("method", ["imap", "imap_unordered"])
def test_imap_reraises(pool, method):
    it = getattr(pool, method)(tasks.raise_value_error, [5])
    with pytest.raises(ValueError) as ei:
        next(it)
    assert ei.value.args == (5,)


def test_map_waits_for_every_chunk_and_raises_the_first_error(pool, tmp_path):
    # -1 fails at once; -99 fails a second later. Every item still runs.
    items = [(x, str(tmp_path)) for x in (-1, 1, 2, -99, 3)]
    with pytest.raises(ValueError) as ei:
        pool.starmap(tasks.record, items, chunksize=1)
    assert ei.value.args == (-1,)
    assert sorted(os.listdir(tmp_path)) == sorted(["-1", "1", "2", "-99", "3"])


def test_pool_usable_after_task_errors(pool):
    with pytest.raises(ValueError):
        pool.map(tasks.raise_value_error, range(10))
    assert pool.map(tasks.square, range(10)) == [x * x for x in range(10)]


# --- exceptions from the input iterable ---------------------------------------

def test_map_iterable_exception_unchanged(pool, mp_pool_module):
    error = KeyError("from the iterable")

    def items():
        yield 1
        raise error

    with pytest.raises(KeyError) as ei:
        pool.map(tasks.square, items())
    assert ei.value is error
    assert not isinstance(ei.value.__cause__, mp_pool_module.RemoteTraceback)
    assert pool.apply(tasks.square, (3,)) == 9


# --- pickling -----------------------------------------------------------------

def _unpicklable_callables():
    def local(x):
        return x
    return {"lambda": lambda x: x, "local": local}


@pytest.mark.parametrize("kind", ["lambda", "local"])
@pytest.mark.parametrize("method", ["map", "apply"])
def test_unpicklable_function_raises(pool, kind, method):
    # The stdlib (3.11+) raises AttributeError from pickle; polypool raises
    # PicklingError (checked below). Either way the call raises, not hangs.
    func = _unpicklable_callables()[kind]
    args = ([1, 2],) if method == "map" else ((1,),)
    with pytest.raises((pickle.PicklingError, AttributeError)) as ei:
        getattr(pool, method)(func, *args)
    assert "lambda" in str(ei.value) or "local" in str(ei.value)
    assert pool.apply(tasks.square, (2,)) == 4


@pytest.mark.polypool_only
@pytest.mark.parametrize("kind", ["lambda", "local"])
@pytest.mark.parametrize("method", ["apply", "apply_async", "map", "map_async", "starmap",
                                    "starmap_async", "imap", "imap_unordered"])
def test_unpicklable_function_fails_at_submission(pool, kind, method):
    func = _unpicklable_callables()[kind]
    if method.startswith("apply"):
        args = ((1,),)
    elif method.startswith("starmap"):
        args = ([(1,)],)
    else:
        args = ([1],)
    with pytest.raises(pickle.PicklingError) as ei:
        getattr(pool, method)(func, *args)  # raises here, not from get() or next()
    assert not isinstance(ei.value, AttributeError)
    assert "lambda" in str(ei.value) or "local" in str(ei.value)
    assert pool.apply(tasks.square, (2,)) == 4


def test_unpicklable_argument(pool):
    with pytest.raises((TypeError, pickle.PicklingError)):
        pool.map(tasks.identity, [threading.Lock()])
    assert pool.apply(tasks.square, (5,)) == 25


@pytest.mark.parametrize("func", [tasks.return_lock, tasks.return_generator])
def test_unpicklable_result(pool, mp_pool_module, func):
    with pytest.raises(mp_pool_module.MaybeEncodingError) as ei:
        pool.apply(func)
    assert "Error sending result" in str(ei.value)
    assert pool.map(tasks.square, range(4)) == [0, 1, 4, 9]


def test_unpicklable_result_in_map(pool, mp_pool_module):
    with pytest.raises(mp_pool_module.MaybeEncodingError):
        pool.map(tasks.return_lock, range(3))
    assert pool.apply(tasks.square, (3,)) == 9


# --- BaseException in a task, dead workers (stdlib Pool hangs on these) ------

@pytest.mark.polypool_only
def test_system_exit_in_task(mp):
    with mp.Pool(2) as p:
        with pytest.raises(SystemExit) as ei:
            p.apply(tasks.raise_system_exit, (3,))
        assert ei.value.code == 3
        with pytest.raises(SystemExit):
            p.map(tasks.raise_system_exit, [4, 4])
        with pytest.raises(SystemExit):
            p.apply_async(tasks.raise_system_exit, (5,)).get(timeout=30)
        assert p.map(tasks.square, range(10)) == [x * x for x in range(10)]


@pytest.mark.polypool_only
def test_keyboard_interrupt_in_task(mp):
    with mp.Pool(2) as p:
        with pytest.raises(KeyboardInterrupt):
            p.apply(tasks.raise_keyboard_interrupt)
        with pytest.raises(KeyboardInterrupt):
            p.map(tasks.raise_keyboard_interrupt, [1, 2])
        assert p.map(tasks.square, range(10)) == [x * x for x in range(10)]


@pytest.mark.polypool_only
def test_worker_killed_by_signal(mp):
    with mp.Pool(2) as p:
        with pytest.raises(mp.WorkerLostError) as ei:
            p.apply(tasks.kill_self)
        assert ei.value.signal == signal.SIGKILL == 9
        assert (ei.value.status, ei.value.status_name) == (11, "EWORKER")
        with pytest.raises(mp.WorkerLostError):
            p.apply_async(tasks.kill_self).get(timeout=30)
        assert p.map(tasks.square, range(10)) == [x * x for x in range(10)]


@pytest.mark.polypool_only
def test_worker_exits(mp):
    with mp.Pool(2) as p:
        with pytest.raises(mp.WorkerLostError) as ei:
            p.apply(tasks.exit_now, (7,))
        assert ei.value.exitcode == 7
        assert (ei.value.status, ei.value.status_name) == (11, "EWORKER")
        with pytest.raises(mp.WorkerLostError):
            p.map(tasks.exit_now, [7, 7])
        assert p.map(tasks.square, range(10)) == [x * x for x in range(10)]


@pytest.mark.polypool_only
def test_worker_lost_fails_only_its_task(mp):
    with mp.Pool(2) as p:
        ok = [p.apply_async(tasks.square, (i,)) for i in range(10)]
        lost = p.apply_async(tasks.kill_self)
        more = [p.apply_async(tasks.square, (i,)) for i in range(10)]
        with pytest.raises(mp.WorkerLostError):
            lost.get(timeout=30)
        assert [r.get(timeout=30) for r in ok + more] == [i * i for i in range(10)] * 2


@pytest.mark.polypool_only
def test_exception_classes(mp):
    assert issubclass(mp.WorkerLostError, mp.PolypoolError)
    assert issubclass(mp.WorkerLostError, mp.ProcessError)
    assert issubclass(mp.TimeoutError, mp.ProcessError)
    assert issubclass(mp.DaemonUnavailableError, mp.PolypoolError)
    assert issubclass(mp.DaemonUnavailableError, ConnectionRefusedError)
    assert issubclass(mp.TaskError, mp.PolypoolError)
    assert issubclass(mp.LibraryNotFoundError, mp.PolypoolError)
    assert issubclass(mp.LibraryNotFoundError, ImportError)
    assert issubclass(mp.SymbolNotFoundError, mp.PolypoolError)
    assert issubclass(mp.SymbolNotFoundError, AttributeError)


# --- callbacks that raise (stdlib: the result handler dies, join hangs) -------

def _raising_callback(result):
    raise RuntimeError("callback exploded %r" % (result,))


@pytest.mark.polypool_only
@pytest.mark.parametrize("which", ["callback", "error_callback"])
def test_raising_callback_does_not_hang(mp, capfd, which):
    p = mp.Pool(2)
    func, args = (tasks.square, (2,)) if which == "callback" else (tasks.raise_value_error, (2,))
    r = p.apply_async(func, args, **{which: _raising_callback})
    assert r.wait(30) is None and r.ready()
    assert p.apply(tasks.square, (3,)) == 9
    assert p.map_async(func, [1, 2], **{which: _raising_callback}).wait(30) is None
    p.close()
    p.join()
    err = []
    wait_until(lambda: err.append(capfd.readouterr().err) or "callback exploded" in "".join(err))
    assert "callback exploded" in "".join(err)


# --- status exceptions --------------------------------------------------------

NO_DAEMON_SCRIPT = """\
import polypool as multiprocessing
import polypool

if __name__ == '__main__':
    try:
        multiprocessing.Pool(2)
    except polypool.DaemonUnavailableError as e:
        print(type(e).__name__, isinstance(e, polypool.PolypoolError),
              isinstance(e, ConnectionRefusedError), e.status, e.status_name)
    else:
        print("no error")
"""


@pytest.mark.polypool_only
def test_no_daemon(tmp_path):
    env = dict(os.environ, POLYPOOL_ADDRESS="ipc://%s/nothing.sock" % tmp_path,
               POLYPOOL_NO_AUTOSTART="1")
    proc = run_script(NO_DAEMON_SCRIPT, tmp_path, env=env)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "DaemonUnavailableError True True 8 ECONNREFUSED\n", describe(proc)
