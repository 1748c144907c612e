"""AsyncResult: apply_async, map_async, starmap_async, callbacks."""
import threading

import pytest

import tasks


class Recorder:
    """Collects callback calls; `wait` blocks until one has arrived."""

    def __init__(self):
        self.calls = []
        self.event = threading.Event()

    def __call__(self, value):
        self.calls.append(value)
        self.event.set()

    def wait(self):
        assert self.event.wait(10), "callback not called within 10 s"


def test_apply_async(pool):
    r = pool.apply_async(tasks.add, (2, 3))
    assert r.get(timeout=10) == 5
    assert r.ready() is True
    assert r.successful() is True


def test_apply_async_kwds(pool):
    assert pool.apply_async(tasks.mul, (3,), {"y": 5}).get() == 15


def test_wait_returns_none_then_ready(pool):
    r = pool.apply_async(tasks.square, (6,))
    assert r.wait() is None
    assert r.ready()
    assert r.get() == 36


def test_map_async(pool):
    r = pool.map_async(tasks.square, range(10))
    assert r.get() == [x * x for x in range(10)]
    assert r.successful()


def test_map_async_empty(pool):
    r = pool.map_async(tasks.square, [])
    assert r.get(timeout=10) == []


def test_starmap_async(pool):
    assert pool.starmap_async(tasks.add, [(1, 1), (2, 2)]).get() == [2, 4]


def test_many_outstanding_results(pool):
    results = [pool.apply_async(tasks.square, (i,)) for i in range(100)]
    assert [r.get() for r in results] == [i * i for i in range(100)]


def test_not_ready(mp):
    with mp.Pool(2) as p:
        r = p.apply_async(tasks.slow, (1,))
        assert r.ready() is False
        with pytest.raises(ValueError):
            r.successful()
        with pytest.raises(mp.TimeoutError):
            r.get(timeout=0.05)
        assert r.wait(0.05) is None
        assert r.ready() is False


def test_timeout_error_is_a_process_error(mp):
    assert issubclass(mp.TimeoutError, mp.ProcessError)
    assert issubclass(mp.ProcessError, Exception)


def test_failed_result(pool):
    r = pool.apply_async(tasks.raise_value_error, ("bad", 7))
    r.wait()
    assert r.ready()
    assert r.successful() is False
    with pytest.raises(ValueError) as ei:
        r.get()
    assert ei.value.args == ("bad", 7)


def test_callback_gets_result(pool):
    ok, err = Recorder(), Recorder()
    r = pool.apply_async(tasks.square, (9,), callback=ok, error_callback=err)
    assert r.get() == 81
    ok.wait()
    assert ok.calls == [81]
    assert err.calls == []


def test_error_callback_gets_exception(pool):
    ok, err = Recorder(), Recorder()
    r = pool.apply_async(tasks.raise_value_error, ("x",), callback=ok, error_callback=err)
    with pytest.raises(ValueError):
        r.get()
    err.wait()
    assert len(err.calls) == 1
    assert type(err.calls[0]) is ValueError and err.calls[0].args == ("x",)
    assert ok.calls == []


def test_map_async_callback_gets_whole_list(pool):
    ok, err = Recorder(), Recorder()
    r = pool.map_async(tasks.square, range(5), callback=ok, error_callback=err)
    assert r.get() == [0, 1, 4, 9, 16]
    ok.wait()
    assert ok.calls == [[0, 1, 4, 9, 16]]
    assert err.calls == []


def test_map_async_error_callback(pool):
    ok, err = Recorder(), Recorder()
    r = pool.map_async(tasks.raise_value_error, [1, 2, 3], callback=ok, error_callback=err)
    with pytest.raises(ValueError):
        r.get()
    err.wait()
    assert len(err.calls) == 1 and type(err.calls[0]) is ValueError
    assert ok.calls == []
