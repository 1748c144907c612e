"""C task functions (polypool.cfunc) in Python pools: polypool only."""
import pytest

import tasks

pytestmark = pytest.mark.polypool_only


@pytest.fixture(scope="module")
def c_square(mp, libpptest):
    return mp.cfunc(libpptest, "pt_square")


def test_map(pool, c_square):
    assert pool.map(c_square, range(10)) == [x * x for x in range(10)]


def test_every_pool_method(mp, pool, libpptest, c_square):
    add = mp.cfunc(libpptest, "pt_add")
    assert pool.apply(add, (2, 3)) == 5
    assert pool.apply_async(add, (4, 5)).get(timeout=30) == 9
    assert pool.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
    assert pool.starmap_async(add, [(1, 1)]).get(timeout=30) == [2]
    assert pool.map_async(c_square, [3]).get(timeout=30) == [9]
    assert list(pool.imap(c_square, range(5))) == [0, 1, 4, 9, 16]
    assert sorted(pool.imap_unordered(c_square, range(5))) == [0, 1, 4, 9, 16]


def test_mixed_with_python_tasks(pool, c_square):
    assert pool.map(c_square, range(5)) == pool.map(tasks.square, range(5))


def test_missing_library(mp, pool, tmp_path):
    with pytest.raises(mp.LibraryNotFoundError) as ei:
        pool.apply(mp.cfunc(str(tmp_path / "libnothing.so"), "pt_square"), (1,))
    assert isinstance(ei.value, mp.PolypoolError)
    assert isinstance(ei.value, ImportError)
    assert (ei.value.status, ei.value.status_name) == (12, "ENOLIB")


def test_missing_symbol(mp, pool, libpptest):
    with pytest.raises(mp.SymbolNotFoundError) as ei:
        pool.apply(mp.cfunc(libpptest, "pt_no_such_symbol"), (1,))
    assert isinstance(ei.value, mp.PolypoolError)
    assert isinstance(ei.value, AttributeError)
    assert (ei.value.status, ei.value.status_name) == (13, "ENOSYM")


def test_task_failure(mp, pool, libpptest):
    with pytest.raises(mp.TaskError) as ei:
        pool.apply(mp.cfunc(libpptest, "pt_fail"), ("boom",))
    assert "pt_fail: boom" in str(ei.value)
    assert (ei.value.status, ei.value.status_name) == (10, "ETASK")
    assert pool.apply(mp.cfunc(libpptest, "pt_square"), (3,)) == 9


def test_segfault(mp, libpptest):
    with mp.Pool(2) as p:
        with pytest.raises(mp.WorkerLostError) as ei:
            p.apply(mp.cfunc(libpptest, "pt_segv"))
        assert ei.value.signal == 11
        assert (ei.value.status, ei.value.status_name) == (11, "EWORKER")
        assert p.map(mp.cfunc(libpptest, "pt_square"), range(4)) == [0, 1, 4, 9]
