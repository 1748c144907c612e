"""Value, Array, RawValue, RawArray, sharedctypes, SharedMemory and
ShareableList: multiprocessing's semantics across processes, the buffer
protocol (memoryview, numpy), and what polypool adds (objects go to Pool
tasks and C tasks at any time; segments vanish from /dev/shm once no
process holds them, even after kill -9)."""
import array
import ctypes
import functools
import gc
import importlib
import os
import pickle
import signal
import uuid

import numpy
import pytest

import tasks
from helpers import MODULE, shm_entries, wait_until

pytestmark = pytest.mark.usefixtures("no_leaked_segments")

DEADLINE = 30

TYPECODES = "cbBhHiIlLqQfd"


@pytest.fixture(scope="module")
def sharedctypes(mp):
    return importlib.import_module(MODULE + ".sharedctypes")


@pytest.fixture(scope="module")
def shared_memory(mp):
    return importlib.import_module(MODULE + ".shared_memory")


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


@pytest.fixture
def unique_name():
    """A fresh SharedMemory name (unlinked at the end if still there)."""
    names = []

    def make():
        names.append("pptest_%s" % uuid.uuid4().hex[:8])
        return names[-1]

    yield make


def _unlink_quietly(shm):
    try:
        shm.unlink()
    except FileNotFoundError:
        pass


# ---- Value --------------------------------------------------------------------


@pytest.mark.parametrize("code", TYPECODES + "u")
def test_value_zero_initialised(mp, code):
    v = mp.Value(code)
    assert v.value == {"c": b"\x00", "u": "\x00"}.get(code, 0)
    assert mp.RawValue(code).value == v.value


@pytest.mark.parametrize("code,first,second", [
    ("i", 4343, 24234), ("d", 3.625, -4.25), ("h", -232, 234), ("q", 2 ** 33, 2 ** 34),
    ("c", b"x", b"y"), ("b", -7, 8), ("B", 200, 3), ("H", 60000, 1), ("I", 2 ** 31, 7),
    ("l", -2 ** 40, 2 ** 40), ("L", 2 ** 63, 5), ("Q", 2 ** 64 - 1, 0), ("f", 0.5, -1.25),
    ("u", "x", "y")])
def test_value_roundtrip_through_a_child(mp, child_call, code, first, second):
    v = mp.Value(code, first)
    raw = mp.RawValue(code, first)
    assert v.value == first and raw.value == first
    assert child_call(tasks.set_value, v, second) == "ok None"
    assert child_call(tasks.set_value, raw, second) == "ok None"
    assert v.value == second
    assert raw.value == second


def test_value_repr_and_wrapper(mp):
    v = mp.Value("i", 5)
    assert repr(v) == "<Synchronized wrapper for c_int(5)>"
    assert type(v.get_obj()) is ctypes.c_int
    assert v.get_obj().value == 5
    v.value = 6
    assert v.get_obj().value == 6


def test_value_lock_argument(mp):
    rlock_type = type(mp.RLock())
    for lock in (True, None):
        v = mp.Value("i", 1, lock=lock)
        assert type(v.get_lock()) is rlock_type
    lock = mp.Lock()
    v = mp.Value("i", 1, lock=lock)
    assert v.get_lock() is lock
    lock = mp.RLock()
    assert mp.Value("d", lock=lock).get_lock() is lock
    raw = mp.Value("i", 7, lock=False)
    assert type(raw) is ctypes.c_int
    assert raw.value == 7
    assert not hasattr(raw, "get_lock") and not hasattr(raw, "get_obj")
    with pytest.raises(AttributeError, match=r"^'navalue' has no method 'acquire'$"):
        mp.Value("i", 1, lock="navalue")


def test_value_lock_is_shared(mp, child_call):
    v = mp.Value("i", 1)
    with v:
        assert child_call(tasks.try_acquire, v.get_lock(), True, 0.1) == "ok False"
    with v.get_lock():
        v.value += 1
    assert child_call(tasks.try_acquire, v.get_lock(), True, DEADLINE) == "ok True"
    assert v.value == 2


def test_unknown_typecode(mp):
    for make in (lambda: mp.Value("z"), lambda: mp.RawValue("z"),
                 lambda: mp.Array("z", 3), lambda: mp.RawArray("z", [1])):
        with pytest.raises(TypeError, match=r"^this type has no size$"):
            make()


def test_value_counter_across_processes(mp):
    v = mp.Value("i", 0)
    ps = [mp.Process(target=tasks.increment, args=(v, 1000)) for _ in range(4)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(DEADLINE)
        assert p.exitcode == 0
    assert v.value == 4000


def test_structure(mp, child_call):
    v = mp.Value(tasks.Point, 1.5, 2.5)
    assert (v.x, v.y) == (1.5, 2.5)
    assert child_call(tasks.set_point, v, -1.0, 4.0) == "ok None"
    assert (v.x, v.y) == (-1.0, 4.0)
    raw = mp.RawValue(tasks.Point)
    assert (raw.x, raw.y) == (0.0, 0.0)
    assert child_call(tasks.set_point, raw, 7.0, 8.0) == "ok None"
    assert (raw.x, raw.y) == (7.0, 8.0)
    arr = mp.Array(tasks.Point, [(1, 2), (3, 4)])
    assert len(arr) == 2
    assert (arr[1].x, arr[1].y) == (3.0, 4.0)


# ---- Array --------------------------------------------------------------------


def test_array_from_size_is_zeroed(mp):
    for code in TYPECODES:
        arr = mp.Array(code, 10)
        assert len(arr) == 10
        if code == "c":
            assert arr.raw == b"\x00" * 10
            assert mp.RawArray(code, 10).raw == b"\x00" * 10
        else:
            assert arr[:] == [0] * 10
            assert list(mp.RawArray(code, 10)) == [0] * 10


def test_array_indexing_and_slicing(mp):
    arr = mp.Array("i", range(10))
    assert len(arr) == 10
    assert arr[3] == 3 and arr[-1] == 9
    assert arr[2:5] == [2, 3, 4]
    assert arr[::3] == [0, 3, 6, 9]
    arr[0] = 100
    arr[-1] = -100
    arr[1:4] = array.array("i", [7, 8, 9])
    assert arr[:] == [100, 7, 8, 9, 4, 5, 6, 7, 8, -100]
    arr[4:6] = [1, 1]
    assert arr[4:6] == [1, 1]
    with pytest.raises(IndexError):
        arr[10]
    with pytest.raises(ValueError, match=r"^Can only assign sequence of same size$"):
        arr[0:3] = [1, 2]
    with pytest.raises(ValueError, match=r"^Can only assign sequence of same size$"):
        arr[:] = range(11)
    assert arr[0:3] == [100, 7, 8]
    assert repr(arr).startswith("<SynchronizedArray wrapper for ")


def test_array_lock_is_keyword_only(mp):
    with pytest.raises(TypeError):
        mp.Array("i", 3, False)
    raw = mp.Array("i", [1, 2], lock=False)
    assert list(raw) == [1, 2]
    assert not hasattr(raw, "get_lock")
    assert isinstance(raw, ctypes.Array)
    lock = mp.Lock()
    arr = mp.Array("d", 2, lock=lock)
    assert arr.get_lock() is lock
    assert type(mp.Array("d", 2).get_lock()) is type(mp.RLock())
    with pytest.raises(AttributeError, match=r"^42 has no method 'acquire'$"):
        mp.Array("i", 3, lock=42)


def test_array_get_obj(mp):
    arr = mp.Array("h", [1, 2, 3])
    obj = arr.get_obj()
    assert isinstance(obj, ctypes.Array) and obj._type_ is ctypes.c_short
    obj[1] = 20
    assert arr[1] == 20


def test_array_context_manager(mp, child_call):
    arr = mp.Array("i", 3)
    with arr:
        assert child_call(tasks.try_acquire, arr.get_lock(), True, 0.1) == "ok False"
    assert child_call(tasks.try_acquire, arr.get_lock(), True, DEADLINE) == "ok True"


def test_char_array(mp, child_call):
    arr = mp.Array("c", b"hello")
    assert repr(arr).startswith("<SynchronizedString wrapper for ")
    assert arr.value == b"hello"
    assert arr.raw == b"hello"
    arr.value = b"hi"
    assert arr.value == b"hi"
    assert arr.raw == b"hi\x00lo"
    assert child_call(tasks.set_array_value, arr, b"abc") == "ok None"
    assert arr.value == b"abc"
    assert arr[0] == b"a"
    assert mp.Array("c", 8).value == b""


def test_array_prefix_sums_in_a_child(mp, child_call):
    arr = mp.Array("i", range(10))
    raw = mp.RawArray("d", [float(i) for i in range(5)])
    assert child_call(tasks.prefix_sums, arr) == "ok None"
    assert child_call(tasks.prefix_sums, raw) == "ok None"
    assert arr[:] == [0, 1, 3, 6, 10, 15, 21, 28, 36, 45]
    assert list(raw) == [0.0, 1.0, 3.0, 6.0, 10.0]


def test_array_doubled_by_processes(mp):
    arr = mp.Array("q", [1, 2, 3, 4, 5])
    ps = [mp.Process(target=tasks.double_all, args=(arr,)) for _ in range(3)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(DEADLINE)
        assert p.exitcode == 0
    assert arr[:] == [8, 16, 24, 32, 40]


def test_raw_array(mp):
    raw = mp.RawArray(ctypes.c_int, [1, 2, 3])
    assert isinstance(raw, ctypes.Array)
    assert list(raw) == [1, 2, 3]
    raw[0] = 10
    assert raw[0] == 10
    assert len(mp.RawArray("b", 7)) == 7
    assert mp.RawValue(ctypes.c_double, 2.5).value == 2.5
    assert repr(mp.RawValue("i", 3)) == "c_int(3)"


# ---- sharedctypes.copy, synchronized ---------------------------------------------


def test_copy(mp, sharedctypes):
    raw = mp.RawValue("i", 5)
    c = sharedctypes.copy(raw)
    assert type(c) is ctypes.c_int and c.value == 5
    raw.value = 6
    assert c.value == 5
    arr = mp.RawArray("d", [1.0, 2.0])
    c = sharedctypes.copy(arr)
    arr[0] = 9.0
    assert list(c) == [1.0, 2.0]
    p = mp.RawValue(tasks.Point, 1, 2)
    c = sharedctypes.copy(p)
    assert (c.x, c.y) == (1.0, 2.0)


def test_synchronized(mp, sharedctypes, child_call):
    raw = mp.RawValue("i", 3)
    s = sharedctypes.synchronized(raw)
    assert isinstance(s, sharedctypes.Synchronized)
    assert type(s.get_lock()) is type(mp.RLock())
    assert s.get_obj() is raw
    s.value = 4
    assert raw.value == 4
    lock = mp.Lock()
    s = sharedctypes.synchronized(mp.RawArray("i", [1, 2]), lock)
    assert isinstance(s, sharedctypes.SynchronizedArray)
    assert s.get_lock() is lock
    assert s[:] == [1, 2]
    with s:
        assert child_call(tasks.try_acquire, lock, True, 0.1) == "ok False"
    assert child_call(tasks.prefix_sums, s) == "ok None"
    assert s[:] == [1, 3]
    s = sharedctypes.synchronized(mp.RawArray("c", b"xyz"))
    assert isinstance(s, sharedctypes.SynchronizedString)
    assert s.value == b"xyz"
    with pytest.raises(AssertionError):
        sharedctypes.synchronized(mp.Value("i"))


def test_sharedctypes_module_functions(mp, sharedctypes):
    assert sharedctypes.Value("i", 3).value == 3
    assert sharedctypes.Array("i", [1, 2])[:] == [1, 2]
    assert sharedctypes.RawValue("d", 1.5).value == 1.5
    assert list(sharedctypes.RawArray("h", 2)) == [0, 0]


def test_context_functions(mp):
    for ctx in (mp.get_context(), mp.get_context("spawn")):
        assert ctx.Value("i", 3).value == 3
        assert ctx.Array("i", [1, 2], lock=False)[:] == [1, 2]
        assert ctx.RawValue("q", 2).value == 2
        assert list(ctx.RawArray("b", 2)) == [0, 0]
        lock = ctx.Lock()
        assert ctx.Value("i", lock=lock).get_lock() is lock


# ---- buffer protocol ------------------------------------------------------------


def test_memoryview_of_values_and_arrays(mp):
    arr = mp.Array("i", [1, 2, 3])
    m = memoryview(arr.get_obj())
    assert m.itemsize == 4 and m.nbytes == 12 and m.ndim == 1
    m = m.cast("B").cast("i")
    assert m.tolist() == [1, 2, 3]
    m[0] = 7
    assert arr[0] == 7
    raw = mp.RawArray("d", 3)
    m = memoryview(raw)
    assert m.nbytes == 24
    m.cast("B")[:8] = memoryview(array.array("d", [2.5])).cast("B")
    assert raw[0] == 2.5
    v = mp.RawValue("q", 5)
    m = memoryview(v)
    assert m.nbytes == 8 and m.readonly is False
    assert m.cast("B").cast("q")[0] == 5
    del m


def test_numpy_over_shared_arrays(mp, child_call):
    raw = mp.RawArray("d", [1.0, 2.0, 3.0])
    a = numpy.frombuffer(raw, dtype=numpy.float64)
    a *= 2
    assert list(raw) == [2.0, 4.0, 6.0]
    arr = mp.Array("q", [1, 2, 3, 4])
    b = numpy.frombuffer(arr.get_obj(), dtype=numpy.int64)
    assert child_call(tasks.double_all, arr) == "ok None"
    assert b.tolist() == [2, 4, 6, 8]
    b[:] = 0
    assert arr[:] == [0, 0, 0, 0]


def test_numpy_over_shared_memory(mp, shared_memory, child_call):
    shm = shared_memory.SharedMemory(create=True, size=8 * 100)
    try:
        a = numpy.ndarray((100,), dtype=numpy.int64, buffer=shm.buf)
        a[:] = numpy.arange(100)
        assert child_call(tasks.shm_numpy_square, shm.name, 100) == "ok None"
        assert a.tolist() == [i * i for i in range(100)]
        b = numpy.frombuffer(shm.buf, dtype=numpy.int64)
        assert b[99] == 99 * 99
        # Views are exported: the block cannot be closed under them.
        with pytest.raises(BufferError):
            shm.close()
        del a, b
        shm.close()
        assert shm.buf is None
    finally:
        _unlink_quietly(shm)


# ---- SharedMemory ---------------------------------------------------------------


def test_shared_memory_basics(mp, shared_memory, unique_name, child_call):
    name = unique_name()
    shm = shared_memory.SharedMemory(name, create=True, size=512)
    try:
        assert shm.name == name
        assert shm.size >= 512
        assert repr(shm) == "SharedMemory(%r, size=%d)" % (name, shm.size)
        assert isinstance(shm.buf, memoryview) and len(shm.buf) >= 512
        assert bytes(shm.buf[:4]) == b"\x00" * 4
        shm.buf[:5] = b"hello"
        # Attach by name: size is ignored and comes from the block.
        other = shared_memory.SharedMemory(name, size=1)
        assert other.size == shm.size
        assert bytes(other.buf[:5]) == b"hello"
        other.buf[0] = ord("j")
        assert bytes(shm.buf[:5]) == b"jello"
        other.close()
        assert other.buf is None
        other.close()
        with pytest.raises(FileExistsError):
            shared_memory.SharedMemory(name, create=True, size=512)
        assert child_call(tasks.shm_write, name, b"child", 5) == "ok None"
        assert bytes(shm.buf[:10]) == b"jellochild"
        # close() only unmaps this handle: the block stays, by name.
        shm.close()
        assert shm.buf is None
        again = shared_memory.SharedMemory(name)
        assert bytes(again.buf[:10]) == b"jellochild"
        again.close()
    finally:
        shm.unlink()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name)
    with pytest.raises(FileNotFoundError):
        shm.unlink()


def test_shared_memory_auto_name(mp, shared_memory):
    shm = shared_memory.SharedMemory(create=True, size=10)
    try:
        assert shm.name.startswith("psm_") and len(shm.name) <= 14
        assert "/" not in shm.name
        other = shared_memory.SharedMemory(create=True, size=10)
        assert other.name != shm.name
        other.unlink()
        other.close()
    finally:
        shm.unlink()
        shm.close()


def test_shared_memory_invalid_arguments(mp, shared_memory):
    with pytest.raises(ValueError, match=r"^'size' must be a positive integer$"):
        shared_memory.SharedMemory(create=True, size=-2)
    with pytest.raises(ValueError,
                       match=r"^'size' must be a positive number different from zero$"):
        shared_memory.SharedMemory(create=True, size=0)
    with pytest.raises(ValueError, match=r"^'name' can only be None if create=True$"):
        shared_memory.SharedMemory()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory("pptest_no_such_block")


@pytest.mark.polypool_only   # Python 3.11's multiprocessing truncates at the NUL
def test_shared_memory_name_with_null(mp, shared_memory):
    with pytest.raises(ValueError):
        shared_memory.SharedMemory("pptest\0x", create=True, size=10)


def test_shared_memory_pickle(mp, shared_memory):
    shm = shared_memory.SharedMemory(create=True, size=64)
    try:
        shm.buf[:3] = b"abc"
        copy = pickle.loads(pickle.dumps(shm))
        assert copy.name == shm.name and copy.size == shm.size
        assert bytes(copy.buf[:3]) == b"abc"
        copy.buf[0] = ord("x")
        assert bytes(shm.buf[:3]) == b"xbc"
        copy.close()
        data = pickle.dumps(shm)
    finally:
        shm.unlink()
        shm.close()
    with pytest.raises(FileNotFoundError):
        pickle.loads(data)


def test_shared_memory_to_pool_tasks(mp, pool, shared_memory):
    shm = shared_memory.SharedMemory(create=True, size=32)
    try:
        assert pool.apply(tasks.shm_write_obj, (shm, b"from a task")) == shm.size
        assert bytes(shm.buf[:11]) == b"from a task"
        pool.apply(tasks.shm_write, (shm.name, b"by name"))
        assert bytes(shm.buf[:11]) == b"by nametask"
    finally:
        shm.unlink()
        shm.close()


def test_shared_memory_unlink_while_attached(mp, shared_memory):
    shm = shared_memory.SharedMemory(create=True, size=16)
    other = shared_memory.SharedMemory(shm.name)
    shm.unlink()
    # Still mapped in both; only the name is gone.
    shm.buf[:2] = b"ok"
    assert bytes(other.buf[:2]) == b"ok"
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(shm.name)
    other.close()
    shm.close()


# ---- ShareableList --------------------------------------------------------------


def test_shareable_list_basics(mp, shared_memory):
    sl = shared_memory.ShareableList(["howdy", b"HoWdY", -273.154, 100, None, True, 42])
    try:
        assert sl.shm.name in repr(sl)
        assert sl.format == "8s8sdqxxxxxx?xxxxxxxx?q"
        assert len(sl) == 7
        assert list(sl) == ["howdy", b"HoWdY", -273.154, 100, None, True, 42]
        assert sl.count("howdy") == 1 and sl.count(b"HoWdY") == 1 and sl.count("adios") == 0
        assert sl.index(42) == 6
        with pytest.raises(ValueError):
            sl.index("adios")
        assert sl[-1] == 42 and sl[-7] == "howdy"
        with pytest.raises(IndexError):
            sl[7]
        # (sl[-8] and sl[7] = 2 do not raise under Python 3.11:
        # multiprocessing's bugs, inherited.)
        # A slot may change type within its size.
        sl[3] = "text"
        sl[4] = 2.5
        sl[0] = "encodés"
        assert sl[3] == "text" and sl[4] == 2.5 and sl[0] == "encodés"
        assert sl.format == "8s8sd8sdxxxxxxx?q"
        with pytest.raises(ValueError, match="exceeds available storage"):
            sl[1] = b"far too long for the slot"
        assert sl[1] == b"HoWdY"
        with pytest.raises(AttributeError):
            sl.append(1)
        assert isinstance(sl.shm, shared_memory.SharedMemory)
    finally:
        sl.shm.unlink()
        sl.shm.close()


def test_shareable_list_unsupported_type_and_trailing_nul(mp, shared_memory):
    with pytest.raises(KeyError):
        shared_memory.ShareableList([[1, 2]])
    sl = shared_memory.ShareableList([b"abc\x00\x00", "xy\x00"])
    try:
        assert list(sl) == [b"abc", "xy"]
    finally:
        sl.shm.unlink()
        sl.shm.close()
    empty = shared_memory.ShareableList()
    try:
        assert len(empty) == 0 and list(empty) == []
    finally:
        empty.shm.unlink()
        empty.shm.close()


def test_shareable_list_attach_and_children(mp, shared_memory, child_call, pool):
    sl = shared_memory.ShareableList([1, 2.0, "three", b"four", None])
    try:
        other = shared_memory.ShareableList(name=sl.shm.name)
        assert list(other) == [1, 2.0, "three", b"four", None]
        other[0] = -1
        assert sl[0] == -1
        other.shm.close()
        assert child_call(tasks.shareable_list_set, sl.shm.name, 2, "3") == "ok None"
        assert sl[2] == "3"
        copy = pickle.loads(pickle.dumps(sl))
        assert list(copy) == list(sl)
        copy.shm.close()
        assert pool.apply(tasks.shareable_list_get, (sl,)) == [-1, 2.0, "3", b"four", None]
    finally:
        sl.shm.unlink()
        sl.shm.close()


# ---- passing objects at any time (polypool) ---------------------------------------


@pytest.mark.polypool_only
def test_pickle_values_at_any_time(mp):
    v = mp.Value("i", 3)
    copy = pickle.loads(pickle.dumps(v))
    assert copy.value == 3
    copy.value = 4
    assert v.value == 4
    with v:
        assert copy.get_lock().acquire(False) is True     # the same RLock, same thread
        copy.get_lock().release()
    arr = mp.Array("c", b"xyz")
    assert pickle.loads(pickle.dumps(arr)).value == b"xyz"
    raw = mp.RawArray("i", [1, 2, 3])
    copy = pickle.loads(pickle.dumps(raw))
    copy[0] = 5
    assert raw[0] == 5
    raw_struct = mp.RawValue(tasks.Point, 1, 2)
    assert pickle.loads(pickle.dumps(raw_struct)).y == 2.0


@pytest.mark.polypool_only
def test_values_to_pool_tasks(mp, pool):
    v = mp.Value("i", 0)
    rs = [pool.apply_async(tasks.increment, (v, 300)) for _ in range(6)]
    assert [r.get(timeout=DEADLINE) for r in rs] == [300] * 6
    assert v.value == 1800
    arr = mp.Array("i", range(5))
    assert pool.apply(tasks.sum_array, (arr,)) == 10
    pool.apply(tasks.double_all, (arr,))
    assert arr[:] == [0, 2, 4, 6, 8]
    raw = mp.RawArray("q", [1, 1, 1])
    pool.apply(tasks.prefix_sums, (raw,))
    assert list(raw) == [1, 2, 3]
    s = mp.Array("c", 6)
    pool.apply(tasks.set_array_value, (s, b"pool"))
    assert s.value == b"pool"
    point = mp.Value(tasks.Point)
    pool.apply(tasks.set_point, (point, 3.0, 4.0))
    assert (point.x, point.y) == (3.0, 4.0)
    # A Value whose lock was given.
    lock = mp.Lock()
    v = mp.Value("q", 0, lock=lock)
    assert pool.map(tasks.increment_value, [v] * 20) == [None] * 20
    assert v.value == 20


@pytest.mark.polypool_only
def test_values_to_c_tasks(mp, pool, libpptest):
    add = mp.cfunc(libpptest, "pt_array_add")
    inc = mp.cfunc(libpptest, "pt_py_array_inc")
    v = mp.Value("q", 0)
    assert pool.apply(add, (v, 1000)) == 1000
    assert v.value == 1000
    # C and Python tasks at once, each under the Value's lock.
    rs = [pool.apply_async(add, (v, 2000)) for _ in range(3)]
    rs += [pool.apply_async(tasks.increment, (v, 500)) for _ in range(3)]
    for r in rs:
        r.get(timeout=DEADLINE)
    assert v.value == 1000 + 3 * 2000 + 3 * 500
    arr = mp.Array("i", [1, 2, 3])
    assert pool.apply(inc, (arr,)) == 2 + 3 + 4
    assert arr[:] == [2, 3, 4]
    assert sorted(pool.map(inc, [arr] * 4, chunksize=1)) == [12, 15, 18, 21]
    assert arr[:] == [6, 7, 8]
    # The task blocks while this process holds the array's lock.
    with arr.get_lock():
        r = pool.apply_async(inc, (arr,))
        with pytest.raises(mp.TimeoutError):
            r.get(timeout=0.2)
        assert arr[:] == [6, 7, 8]
    assert r.get(timeout=DEADLINE) == 7 + 8 + 9
    assert pool.apply(inc, (mp.Value("l", 41),)) == 42
    v = mp.Value("q", 5, lock=mp.Lock())
    assert pool.apply(inc, (v,)) == 6
    with pytest.raises(mp.TaskError, match="want a locked"):
        pool.apply(inc, (mp.RawArray("i", 2),))


@pytest.mark.polypool_only
def test_shared_memory_to_c_tasks(mp, pool, libpptest, shared_memory):
    write = mp.cfunc(libpptest, "pt_shm_write")
    shm = shared_memory.SharedMemory(create=True, size=100)
    try:
        assert pool.apply(write, (shm, 3, b"from C")) == shm.size
        assert bytes(shm.buf[:9]) == b"\x00\x00\x00from C"
        with pytest.raises(mp.TaskError):
            pool.apply(write, (shm, 98, b"beyond the end"))
    finally:
        shm.unlink()
        shm.close()


# ---- segments in /dev/shm (polypool) ---------------------------------------------


def _gone(daemon_pid, entries):
    gc.collect()
    return not (shm_entries(daemon_pid) & entries)


@pytest.mark.polypool_only
def test_all_entries_gone_after_objects_deleted(mp, shared_memory, daemon_pid):
    gc.collect()
    before = shm_entries(daemon_pid)
    objs = [mp.Value("i"), mp.Value("d", lock=False), mp.Array("i", 100), mp.RawValue("q"),
            mp.RawArray("b", 1000), mp.Lock(), mp.RLock(), mp.Semaphore(), mp.BoundedSemaphore(),
            mp.Condition(), mp.Condition(mp.Lock()), mp.Event(), mp.Barrier(2),
            mp.Value("i", lock=mp.Lock())]
    shm = shared_memory.SharedMemory(create=True, size=100)
    sl = shared_memory.ShareableList([1, "two"])
    entries = shm_entries(daemon_pid) - before
    # One segment each; two for the Condition and the Value given a Lock.
    assert len(entries) == len(objs) + 2 + 2
    for name in entries:
        assert os.stat(os.path.join("/dev/shm", name)).st_size > 0
    # A SharedMemory is held until unlink() (as in multiprocessing, it can be
    # attached by name after close()).
    sl_shm = sl.shm
    shm.close()
    sl_shm.close()
    del objs, sl
    gc.collect()
    assert wait_until(lambda: len(shm_entries(daemon_pid) & entries) == 2, timeout=DEADLINE), \
        sorted(shm_entries(daemon_pid) & entries)
    shm.unlink()
    sl_shm.unlink()
    del shm, sl_shm
    assert wait_until(lambda: _gone(daemon_pid, entries), timeout=DEADLINE), \
        sorted(shm_entries(daemon_pid) & entries)
    assert shm_entries(daemon_pid) == before


@pytest.mark.polypool_only
def test_entries_gone_after_pool_tasks(mp, pool, daemon_pid):
    before = shm_entries(daemon_pid)
    v, lock = mp.Value("i"), mp.Lock()
    pool.starmap(tasks.increment, [(v, 10)] * 4, chunksize=1)
    pool.apply(tasks.try_acquire, (lock,))
    mine = shm_entries(daemon_pid) - before
    assert len(mine) == 2
    del v, lock
    assert wait_until(lambda: _gone(daemon_pid, mine), timeout=DEADLINE)


@pytest.mark.polypool_only
def test_entries_gone_after_partials_to_pool_tasks(mp, pool, daemon_pid):
    """Neither this process nor the workers keep a callable holding a
    shared object (their caches of pickled callables)."""
    before = shm_entries(daemon_pid)
    v, lock = mp.Value("i"), mp.Lock()
    pool.map(functools.partial(tasks.increment, v, 10), [lock] * 4, chunksize=1)
    assert pool.apply(functools.partial(tasks.increment, v, 5)) == 5
    assert list(pool.imap(functools.partial(tasks.try_acquire, lock), [True, False])) == \
        [True, True]
    assert v.value == 45
    mine = shm_entries(daemon_pid) - before
    assert len(mine) == 2
    del v, lock
    assert wait_until(lambda: _gone(daemon_pid, mine), timeout=DEADLINE)


@pytest.mark.polypool_only
def test_shared_memory_gone_after_pool_task_and_unlink(mp, pool, shared_memory, daemon_pid):
    before = shm_entries(daemon_pid)
    shm = shared_memory.SharedMemory(create=True, size=10)
    mine = shm_entries(daemon_pid) - before
    assert pool.apply(tasks.shm_write_obj, (shm, b"x")) == 10
    shm.unlink()
    shm.close()
    del shm
    assert wait_until(lambda: _gone(daemon_pid, mine), timeout=5)


@pytest.mark.polypool_only
def test_kill_9_of_a_creator_removes_its_segments(mp, shared_memory, daemon_pid, tmp_path):
    before = shm_entries(daemon_pid)
    path = str(tmp_path / "name")
    p = mp.Process(target=tasks.create_shared_and_wait, args=(path,))
    p.start()
    try:
        assert wait_until(lambda: os.path.exists(path), timeout=DEADLINE)
        with open(path) as f:
            name = f.read()
        created = shm_entries(daemon_pid) - before
        assert len(created) >= 4
        os.kill(p.pid, signal.SIGKILL)
        p.join(DEADLINE)
        assert p.exitcode == -signal.SIGKILL
        assert wait_until(lambda: _gone(daemon_pid, created), timeout=DEADLINE), \
            sorted(shm_entries(daemon_pid) & created)
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name)
    finally:
        if p.is_alive():
            p.kill()
            p.join()


@pytest.mark.polypool_only
def test_kill_9_of_a_creator_keeps_what_others_hold(mp, shared_memory, daemon_pid, tmp_path):
    before = shm_entries(daemon_pid)
    path = str(tmp_path / "name")
    p = mp.Process(target=tasks.create_shared_and_wait, args=(path,))
    p.start()
    try:
        assert wait_until(lambda: os.path.exists(path), timeout=DEADLINE)
        with open(path) as f:
            name = f.read()
        created = shm_entries(daemon_pid) - before
        shm = shared_memory.SharedMemory(name)
        shm.buf[:4] = b"kept"
        os.kill(p.pid, signal.SIGKILL)
        p.join(DEADLINE)
        # The Value, Array and Lock go; the block this process holds stays.
        assert wait_until(lambda: len(shm_entries(daemon_pid) & created) == 1,
                          timeout=DEADLINE), sorted(shm_entries(daemon_pid) & created)
        again = shared_memory.SharedMemory(name)
        assert bytes(again.buf[:4]) == b"kept"
        again.close()
        del again
        shm.unlink()
        shm.close()
        del shm
        assert wait_until(lambda: _gone(daemon_pid, created), timeout=DEADLINE)
    finally:
        if p.is_alive():
            p.kill()
            p.join()
