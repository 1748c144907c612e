"""Manager(): the dict, list and Namespace proxies, every operation and
error as multiprocessing's, across Process children, Pool tasks and queues;
the manager's Queue, Lock, Event, Value and Array across processes; and
what polypool adds (no server process: objects live in the daemon while
some process holds a proxy, and proxies keep working after shutdown)."""
import gc
import importlib
import os
import pickle
import re
import signal

import pytest

import tasks
from helpers import IS_POLYPOOL, MODULE, wait_until

DEADLINE = 30


@pytest.fixture(scope="module")
def managers(mp):
    return importlib.import_module(MODULE + ".managers")


@pytest.fixture(scope="module")
def manager(mp):
    with mp.Manager() as m:
        yield m


def run_child(mp, target, *args):
    """Runs target(*args) in a Process and returns its exit code."""
    p = mp.Process(target=target, args=args)
    p.start()
    p.join(DEADLINE)
    if p.is_alive():
        p.kill()
        p.join()
        pytest.fail("the child running %s did not finish" % target.__name__)
    return p.exitcode


def alive(obj):
    """Whether the daemon still has the managed object with that id (or of
    that proxy): attaching takes a reference, given back at once."""
    from polypool import _polypool
    from polypool._errors import NotFoundError
    obj_id = obj if isinstance(obj, int) else obj._id
    try:
        _polypool.obj_new(0, obj_id)
    except NotFoundError:
        return False
    _polypool.obj_release(obj_id)
    return True


def gone(obj_id):
    def check():
        gc.collect()
        return not alive(obj_id)
    return wait_until(check, timeout=10.0)


# ---- Manager ------------------------------------------------------------------


def test_manager_is_a_started_sync_manager(mp, managers):
    m = mp.Manager()
    try:
        assert isinstance(m, managers.SyncManager)
        d = m.dict(a=1)
        assert d["a"] == 1
    finally:
        m.shutdown()


def test_manager_as_context_manager(mp):
    with mp.Manager() as m:
        d = m.dict()
        lst = m.list()
        ns = m.Namespace()
        d["k"] = "v"
        lst.append(1)
        ns.x = 2
        assert (d["k"], lst[0], ns.x) == ("v", 1, 2)


def test_context_manager_method(mp):
    ctx = mp.get_context()
    with ctx.Manager() as m:
        d = m.dict(x=1)
        assert d["x"] == 1


def test_shutdown_is_idempotent(mp):
    m = mp.Manager()
    m.shutdown()
    m.shutdown()


@pytest.mark.polypool_only
def test_manager_lifecycle_errors(mp, managers):
    m = managers.SyncManager()
    with pytest.raises(RuntimeError, match="not started"):
        m.dict()
    with pytest.raises(TypeError):
        m.start(initializer=42)
    m.start()
    with pytest.raises(RuntimeError, match="already"):
        m.start()
    m.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        m.list()


@pytest.mark.polypool_only
def test_proxies_outlive_the_manager(mp):
    """There is no server process: a proxy made before shutdown still works."""
    with mp.Manager() as m:
        d = m.dict(a=1)
        lst = m.list([1])
        ns = m.Namespace(x=1)
    d["b"] = 2
    lst.append(2)
    ns.y = 2
    assert sorted(d.items()) == [("a", 1), ("b", 2)]
    assert lst[:] == [1, 2]
    assert (ns.x, ns.y) == (1, 2)


# ---- dict ---------------------------------------------------------------------


def test_dict_construction(manager):
    assert manager.dict().copy() == {}
    assert manager.dict({"a": 1}, b=2).copy() == {"a": 1, "b": 2}
    assert manager.dict([("a", 1), ("b", 2)]).copy() == {"a": 1, "b": 2}
    assert manager.dict(a=1, b=2).copy() == {"a": 1, "b": 2}


def test_dict_operations(manager):
    d = manager.dict()
    assert len(d) == 0
    d["a"] = 1
    d["b"] = 2
    d["a"] = 10                 # replaces, keeps the order
    assert len(d) == 2
    assert d["a"] == 10
    assert "a" in d and "zz" not in d
    assert list(d.keys()) == ["a", "b"]
    assert list(d.values()) == [10, 2]
    assert list(d.items()) == [("a", 10), ("b", 2)]
    assert list(d) == ["a", "b"]
    assert d.get("a") == 10
    assert d.get("zz") is None
    assert d.get("zz", 5) == 5
    assert d.setdefault("a", 99) == 10
    assert d.setdefault("c", 3) == 3
    assert d["c"] == 3
    assert d.setdefault("n") is None
    assert "n" in d and d["n"] is None
    del d["n"]
    assert d.pop("c") == 3
    assert d.pop("c", "dflt") == "dflt"
    d.update({"x": 1}, y=2)
    d.update([("z", 3)])
    assert d.copy() == {"a": 10, "b": 2, "x": 1, "y": 2, "z": 3}
    assert type(d.copy()) is dict
    assert d.popitem() == ("z", 3)         # the last inserted, as dict
    del d["a"]
    assert d.copy() == {"b": 2, "x": 1, "y": 2}
    assert str(d) == str({"b": 2, "x": 1, "y": 2})
    d.clear()
    assert len(d) == 0 and d.copy() == {}


def test_dict_errors(manager):
    d = manager.dict(a=1)
    with pytest.raises(KeyError) as e:
        d["missing"]
    assert e.value.args == ("missing",)
    with pytest.raises(KeyError):
        del d["missing"]
    with pytest.raises(KeyError):
        d.pop("missing")
    d.clear()
    with pytest.raises(KeyError, match="dictionary is empty"):
        d.popitem()
    with pytest.raises(TypeError, match="unhashable"):
        d[["a", "list"]] = 1
    with pytest.raises(TypeError, match="unhashable"):
        d[{"a": 1}]
    assert len(d) == 0


def test_dict_repr_and_identity(manager):
    d = manager.dict(a=1)
    assert re.fullmatch(r"<DictProxy object, typeid 'dict' at 0x[0-9a-f]+>", repr(d))
    # As multiprocessing's: no comparison by value.
    assert d != {"a": 1}
    assert d == d


KEYS = ["s", "", 0, -5, 2 ** 70, b"bytes", (1, "t"), None, 3.5, frozenset({1})]
VALUES = [1, -2 ** 63, 2 ** 80, 0.25, "text", b"\x00\xff", None, True, (1, (2, 3)),
          [1, [2]], {"k": [1, 2]}, {1, 2}, tasks.CustomError("x", 1).args,
          "x" * 100000]


def test_dict_keys_and_values_of_many_types(manager):
    d = manager.dict()
    for i, k in enumerate(KEYS):
        d[k] = VALUES[i]
    for i, k in enumerate(KEYS):
        assert d[k] == VALUES[i]
        assert k in d
    assert list(d.keys()) == KEYS
    for v in VALUES:
        d["v"] = v
        assert d["v"] == v
        assert type(d["v"]) is type(v)


def test_dict_values_are_copies(manager):
    d = manager.dict()
    d["l"] = [1]
    d["l"].append(2)                 # changes a copy, as multiprocessing's
    assert d["l"] == [1]
    inner = d["l"]
    inner.append(2)
    d["l"] = inner                   # reassigning stores it
    assert d["l"] == [1, 2]


def test_nested_proxies(manager):
    d = manager.dict()
    lst = manager.list()
    d["l"] = lst
    d["l"].append(1)
    assert lst[:] == [1]
    inner = manager.dict()
    lst.append(inner)
    lst[1]["x"] = 5
    assert inner["x"] == 5


@pytest.mark.polypool_only
def test_keys_compare_by_encoding(manager):
    d = manager.dict()
    d[1] = "int"
    d[1.0] = "float"
    d[True] = "bool"
    assert len(d) == 3
    assert (d[1], d[1.0], d[True]) == ("int", "float", "bool")
    assert list(d.keys()) == [1, 1.0, True]
    assert [type(k) for k in d.keys()] == [int, float, bool]
    # str and bytes, tuple and list values stay apart too.
    d["a"] = 1
    d[b"a"] = 2
    assert (d["a"], d[b"a"]) == (1, 2)


def test_pickled_proxy_reaches_the_same_dict(manager):
    d = manager.dict()
    d2 = pickle.loads(pickle.dumps(d))
    d2["x"] = 1
    assert d["x"] == 1


# ---- list ---------------------------------------------------------------------


def test_list_construction(manager):
    assert manager.list()[:] == []
    assert manager.list(range(3))[:] == [0, 1, 2]
    assert manager.list("abc")[:] == ["a", "b", "c"]
    assert manager.list((1, [2])).__getitem__(1) == [2]


def test_list_operations(manager):
    lst = manager.list([1, 2, 3])
    assert len(lst) == 3
    assert (lst[0], lst[-1], lst[1]) == (1, 3, 2)
    assert lst[0:2] == [1, 2]
    assert lst[::-1] == [3, 2, 1]
    assert lst[5:] == []
    lst[0] = "one"
    lst[-1] = "three"
    assert lst[:] == ["one", 2, "three"]
    lst[1:2] = ["a", "b"]
    assert lst[:] == ["one", "a", "b", "three"]
    del lst[1]
    del lst[-1]
    assert lst[:] == ["one", "b"]
    del lst[:]
    assert lst[:] == [] and len(lst) == 0
    lst.append(1)
    lst.extend([2, 3])
    lst.extend((4,))
    lst.insert(0, 0)
    lst.insert(-1, 3.5)
    lst.insert(100, 9)
    lst.insert(-100, -1)
    assert lst[:] == [-1, 0, 1, 2, 3, 3.5, 4, 9]
    assert 3.5 in lst and 7 not in lst
    assert list(lst) == lst[:]
    assert [x for x in lst] == lst[:]
    assert lst.pop() == 9
    assert lst.pop(0) == -1
    assert lst.pop(-2) == 3.5
    assert lst[:] == [0, 1, 2, 3, 4]
    lst.extend([2, 2])
    assert lst.count(2) == 3 and lst.count(99) == 0
    assert lst.index(2) == 2
    assert lst.index(2, 3) == 5
    assert lst.index(2, 3, 6) == 5
    assert lst.index(2, -2) == 5
    lst.remove(2)
    assert lst[:] == [0, 1, 3, 4, 2, 2]
    lst.reverse()
    assert lst[:] == [2, 2, 4, 3, 1, 0]
    lst.sort()
    assert lst[:] == [0, 1, 2, 2, 3, 4]
    lst.sort(reverse=True)
    assert lst[:] == [4, 3, 2, 2, 1, 0]
    lst[:] = [3, -5, 1]
    lst.sort(key=abs)               # the key must pickle (multiprocessing)
    assert lst[:] == [1, 3, -5]
    assert str(lst) == str([1, 3, -5])


def test_list_arithmetic(manager):
    lst = manager.list([1, 2])
    assert lst + [3] == [1, 2, 3]
    assert lst * 2 == [1, 2, 1, 2]
    assert 2 * lst == [1, 2, 1, 2]
    assert list(reversed(lst)) == [2, 1]
    same = lst
    lst += [3]
    assert lst is same
    lst *= 2
    assert lst is same
    assert lst[:] == [1, 2, 3, 1, 2, 3]


def test_list_errors(manager):
    lst = manager.list([1, 2])
    with pytest.raises(IndexError):
        lst[2]
    with pytest.raises(IndexError):
        lst[-3]
    with pytest.raises(IndexError, match="assignment index out of range"):
        lst[2] = 0
    with pytest.raises(IndexError, match="assignment index out of range"):
        del lst[5]
    with pytest.raises(IndexError, match="pop index out of range"):
        lst.pop(5)
    with pytest.raises(ValueError):
        lst.remove(99)
    with pytest.raises(ValueError, match="is not in list"):
        lst.index(99)
    with pytest.raises(ValueError, match="is not in list"):
        lst.index(1, 1)
    with pytest.raises(ValueError, match="is not in list"):
        lst.index(2, 0, 1)
    with pytest.raises(TypeError):
        lst["a"]
    assert lst[:] == [1, 2]
    empty = manager.list()
    with pytest.raises(IndexError, match="pop from empty list"):
        empty.pop()


def test_list_repr_and_identity(manager):
    lst = manager.list([1, 2, 3])
    assert re.fullmatch(r"<ListProxy object, typeid 'list' at 0x[0-9a-f]+>", repr(lst))
    assert lst != [1, 2, 3]


@pytest.mark.polypool_only
def test_list_clear(manager):
    lst = manager.list([1, 2])
    lst.clear()
    assert lst[:] == []


# ---- Namespace ----------------------------------------------------------------


def test_namespace(manager):
    ns = manager.Namespace(a=1, b="two")
    assert (ns.a, ns.b) == (1, "two")
    ns.c = [3]
    ns.a = 10
    assert ns.a == 10 and ns.c == [3]
    assert str(ns) == "Namespace(a=10, b='two', c=[3])"
    del ns.b
    assert str(ns) == "Namespace(a=10, c=[3])"
    assert hasattr(ns, "a") and not hasattr(ns, "b")
    ns.c.append(4)                    # a copy
    assert ns.c == [3]


def test_namespace_errors(manager):
    ns = manager.Namespace()
    with pytest.raises(AttributeError):
        ns.missing
    with pytest.raises(AttributeError):
        del ns.missing
    assert getattr(ns, "missing", "dflt") == "dflt"


def test_namespace_private_attributes_stay_local(manager):
    ns = manager.Namespace()
    ns._local = 5
    ns.shared = 6
    assert ns._local == 5
    assert str(ns) == "Namespace(shared=6)"
    copy = pickle.loads(pickle.dumps(ns))
    assert copy.shared == 6
    assert not hasattr(copy, "_local")


# ---- across processes ---------------------------------------------------------


def test_process_children_see_and_change(mp, manager):
    d = manager.dict(parent="p")
    lst = manager.list(["parent"])
    ns = manager.Namespace(parent="p")
    assert run_child(mp, tasks.mgr_fill, d, lst, ns) == 0
    assert d["seen"] == "p"
    assert d["child"] != os.getpid() and isinstance(d["child"], int)
    assert lst[:] == ["parent", "child"]
    assert (ns.child, ns.seen) == ("here", "p")


@pytest.mark.polypool_only
def test_process_argument_only_the_child_keeps(mp, manager):
    """A proxy that only a Process's arguments reference reaches the child
    even if the parent lets go of it right after start() (under
    multiprocessing the server may free it first: KeyError in the child)."""
    out = manager.dict()
    p = mp.Process(target=tasks.mgr_copy_into, args=(manager.dict(x=5), out))
    p.start()
    gc.collect()
    p.join(DEADLINE)
    assert p.exitcode == 0
    assert out.copy() == {"x": 5}


def test_pool_tasks_see_and_change(manager, pool):
    d = manager.dict(base=100)
    assert pool.map(tasks.mgr_square_into, [(d, i) for i in range(20)]) == [
        i * i for i in range(20)]
    assert d.copy() == dict([("base", 100)] + [(i, i * i) for i in range(20)])
    assert pool.apply(tasks.mgr_read, (d, "base")) == 100
    lst = manager.list(["a", "b"])
    assert pool.apply(tasks.mgr_read, (lst, -1)) == "b"
    ns = manager.Namespace(x=3)
    assert pool.apply(tasks.mgr_read, (ns, "x")) == 3
    assert pool.starmap(tasks.mgr_set_item, [(d, "k%d" % i, i) for i in range(5)])
    assert all(d["k%d" % i] == i for i in range(5))
    assert sorted(pool.apply(tasks.mgr_snapshot, (manager.dict(a=1, b=2),))) == [
        ("a", 1), ("b", 2)]


def test_pool_task_returns_the_proxy(manager, pool):
    d = manager.dict()
    back = pool.apply(tasks.identity, (d,))
    back["through"] = "worker"
    assert d["through"] == "worker"


def test_proxy_through_a_queue(mp, manager):
    d = manager.dict()
    inq, outq = mp.Queue(), mp.Queue()
    p = mp.Process(target=tasks.mgr_queue_echo, args=(inq, outq))
    p.start()
    inq.put(d)
    assert outq.get(timeout=DEADLINE) == "done"
    p.join(DEADLINE)
    assert p.exitcode == 0
    assert d["via_queue"] is True


def test_four_processes_update_under_a_manager_lock(mp, manager):
    n = 250
    d = manager.dict(n=0)
    lst = manager.list()
    lock = manager.Lock()
    names = ["p%d" % i for i in range(4)]
    procs = [mp.Process(target=tasks.mgr_count_under_lock, args=(d, lst, lock, name, n))
             for name in names]
    for p in procs:
        p.start()
    for p in procs:
        p.join(DEADLINE * 2)
    assert [p.exitcode for p in procs] == [0] * 4
    assert d["n"] == 4 * n
    assert all(d[name] == n for name in names)
    assert len(lst) == 4 * n
    assert sorted(lst[:]) == sorted(names * n)


def test_manager_queue(mp, manager):
    q = manager.Queue()
    assert run_child(mp, tasks.mgr_queue_put, q, [1, "two", (3,)]) == 0
    assert [q.get(timeout=DEADLINE) for _ in range(3)] == [1, "two", (3,)]
    jq = manager.JoinableQueue()
    jq.put("x")
    assert jq.get(timeout=DEADLINE) == "x"
    jq.task_done()
    jq.join()


def test_manager_lock(mp, manager):
    lock = manager.Lock()
    assert run_child(mp, tasks.mgr_lock_try, lock) == 0
    lock.acquire()
    try:
        assert run_child(mp, tasks.mgr_lock_try, lock) == 4
    finally:
        lock.release()
    rlock = manager.RLock()
    with rlock:
        with rlock:
            pass


def test_manager_event(mp, manager):
    event = manager.Event()
    assert not event.is_set()
    assert run_child(mp, tasks.mgr_event_wait, event, 0.05) == 3
    p = mp.Process(target=tasks.mgr_event_wait, args=(event, DEADLINE))
    p.start()
    event.set()
    p.join(DEADLINE)
    assert p.exitcode == 0
    assert event.is_set()
    event.clear()
    assert not event.is_set()


def test_manager_value_and_array(mp, manager):
    v = manager.Value("i", 0)
    lock = manager.Lock()
    procs = [mp.Process(target=tasks.mgr_value_add, args=(v, lock, 100)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(DEADLINE)
    assert [p.exitcode for p in procs] == [0] * 4
    assert v.value == 400
    arr = manager.Array("i", [1, 2, 3])
    assert run_child(mp, tasks.mgr_array_double, arr, lock) == 0
    assert [arr[i] for i in range(len(arr))] == [2, 4, 6]


def test_manager_other_types(manager):
    sem = manager.Semaphore(2)
    assert sem.acquire(timeout=1) and sem.acquire(timeout=1)
    assert not sem.acquire(timeout=0.01)
    sem.release()
    sem.release()
    bsem = manager.BoundedSemaphore(1)
    assert bsem.acquire(timeout=1)
    bsem.release()
    cond = manager.Condition()
    with cond:
        assert not cond.wait(0.01)
    barrier = manager.Barrier(1)
    assert barrier.wait(5) == 0


# ---- lifetime (polypool: objects live in the daemon while referenced) ----------


@pytest.mark.polypool_only
def test_object_goes_with_its_last_proxy(manager):
    d = manager.dict(a=1)
    lst = manager.list([1])
    ns = manager.Namespace(x=1)
    ids = [d._id, lst._id, ns._id]
    twin = pickle.loads(pickle.dumps(d))      # a second reference, this process
    del d
    gc.collect()
    assert alive(ids[0])
    assert twin["a"] == 1
    del twin, lst, ns
    for obj_id in ids:
        assert gone(obj_id), "managed object %d still exists" % obj_id
    from polypool import _polypool
    from polypool._errors import NotFoundError
    with pytest.raises(NotFoundError):
        _polypool.obj_op(ids[0], 1)


@pytest.mark.polypool_only
def test_object_lives_while_a_child_holds_it(mp, manager):
    d = manager.dict(a=1)
    obj_id = d._id
    ready, go = mp.Event(), mp.Event()
    p = mp.Process(target=tasks.mgr_hold, args=(d, ready, go))
    p.start()
    try:
        assert ready.wait(DEADLINE)
        del d
        gc.collect()
        assert alive(obj_id)
        go.set()
        p.join(DEADLINE)
        assert p.exitcode == 0
    finally:
        go.set()
        p.join(DEADLINE)
    assert gone(obj_id)


@pytest.mark.polypool_only
def test_killed_holder_releases(mp, manager):
    lst = manager.list([1, 2])
    obj_id = lst._id
    ready, go = mp.Event(), mp.Event()
    p = mp.Process(target=tasks.mgr_hold, args=(lst, ready, go))
    p.start()
    assert ready.wait(DEADLINE)
    del lst
    gc.collect()
    assert alive(obj_id)
    os.kill(p.pid, signal.SIGKILL)
    p.join(DEADLINE)
    assert p.exitcode == -signal.SIGKILL
    assert gone(obj_id)


@pytest.mark.polypool_only
def test_pool_workers_do_not_keep_objects(manager, pool):
    d = manager.dict(a=1)
    ns = manager.Namespace(x=1)
    obj_ids = [d._id, ns._id]
    assert pool.map(tasks.mgr_touch, [d] * 4) == [1] * 4
    assert pool.apply(tasks.mgr_read, (ns, "x")) == 1
    del d, ns
    for obj_id in obj_ids:
        assert gone(obj_id), "a worker still holds managed object %d" % obj_id


@pytest.mark.polypool_only
def test_stored_proxy_does_not_keep_its_object(manager):
    """A proxy stored in a dict, list or Namespace is a reference only:
    once no process holds the inner object, reading it raises
    ReferenceError (not a KeyError for a key that is there)."""
    d = manager.dict()
    lst = manager.list()
    ns = manager.Namespace()
    inner = manager.list([1])
    inner_id = inner._id
    d["inner"] = inner
    lst.append(inner)
    ns.inner = inner
    del inner
    assert gone(inner_id)
    assert "inner" in d and len(lst) == 1
    with pytest.raises(ReferenceError, match="is gone"):
        d["inner"]
    with pytest.raises(ReferenceError):
        d.get("inner")
    with pytest.raises(ReferenceError):
        lst[0]
    with pytest.raises(ReferenceError):
        ns.inner
    with pytest.raises(KeyError):
        d["missing"]


@pytest.mark.polypool_only
def test_many_objects_come_and_go(manager):
    ids = []
    for i in range(200):
        d = manager.dict(i=i)
        ids.append(d._id)
    del d
    for obj_id in ids:
        assert gone(obj_id)
