"""Manager, SyncManager and their proxies: dict, list and Namespace hosted by
the polypool daemon.

``with Manager() as m: d = m.dict()`` works as under multiprocessing, but
there is no manager process: a dict, list or Namespace lives in the daemon,
every operation on it is one atomic round trip, and C programs reach the
same objects (pp_dict_*, pp_list_*). The manager's other types (Queue,
Lock, Event, Value, Array...) are polypool's own process-shared objects,
which need no proxy. A proxy passes to Process children, Pool tasks (and C
tasks, as a handle) at any time; the object lives while some process holds
a proxy to it.

Keys and values are stored as copies of what was sent (as multiprocessing's
proxies: ``d['l'].append(1)`` changes a copy); keys are equal when they
encode alike: ints, strings, bytes and tuples of those compare as in a
dict, but 1, 1.0 and True are three different keys.
"""
import operator
import weakref

from . import _polypool
from ._errors import NotFoundError

__all__ = ["Manager", "SyncManager", "BaseProxy", "DictProxy", "ListProxy", "Namespace"]

DICT, LIST, NAMESPACE = 12, 13, 14
(LEN, GET, SET, DEL, CONTAINS, KEYS, VALUES, ITEMS, CLEAR, POP, APPEND, INSERT, UPDATE,
 SETDEFAULT, INDEX, COUNT, REMOVE, SET_ALL, GET_SLICE, POPITEM) = range(1, 21)

_MISSING = object()


class GoneError(NotFoundError):
    """NotFoundError: a proxy names a managed object that is gone (no
    process held it when it was unpickled)."""


def _obj_op(obj_id, op, args=(), index=0, stop=0):
    """One operation. A result that is a proxy to an object nobody holds
    any more (a stored proxy does not keep its object alive) raises
    ReferenceError, not the KeyError or IndexError of a missing item."""
    try:
        return _polypool.obj_op(obj_id, op, args, index, stop)
    except GoneError as e:
        raise ReferenceError("%s: a proxy stored in a managed object does not keep its "
                             "object alive" % (e,)) from None


class BaseProxy:
    """A reference to a managed object; _callmethod is not supported (the
    daemon runs a fixed set of operations), _getvalue() is."""
    _type = None

    def __init__(self, _id=None):
        object.__setattr__(self, "_id", _polypool.obj_new(self._type) if _id is None else _id)
        object.__setattr__(self, "_finalizer",
                           weakref.finalize(self, _polypool.obj_release, self._id))

    @classmethod
    def _attach(cls, obj_id):
        return _rebuild(cls._type, obj_id)

    @property
    def _pp_handle(self):
        return (self._type, self._id, "", 0, 0, "", 0, 0, 0, "", 0, 0, "")

    def __reduce__(self):
        from . import _shared
        _shared.keep(self)
        return _rebuild, (self._type, self._id)

    def _op(self, op, args=(), index=0, stop=0):
        return _obj_op(self._id, op, args, index, stop)

    def __repr__(self):
        return "<%s object, typeid %r at %#x>" % (type(self).__name__, self._typeid, id(self))


class DictProxy(BaseProxy):
    _type = DICT
    _typeid = "dict"

    def __init__(self, *args, _id=None, **kwargs):
        BaseProxy.__init__(self, _id)
        if args or kwargs:
            self.update(*args, **kwargs)

    def _getvalue(self):
        flat = self._op(ITEMS)[0]
        return dict(zip(flat[0::2], flat[1::2]))

    def __str__(self):
        return str(self._getvalue())

    def __len__(self):
        return self._op(LEN)[1]

    def __getitem__(self, key):
        hash(key)   # an unhashable key is a TypeError, as in a dict
        try:
            return self._op(GET, (key,))[0][0]
        except NotFoundError:
            raise KeyError(key) from None

    def __setitem__(self, key, value):
        hash(key)
        self._op(SET, (key, value))

    def __delitem__(self, key):
        hash(key)
        try:
            self._op(DEL, (key,))
        except NotFoundError:
            raise KeyError(key) from None

    def __contains__(self, key):
        hash(key)
        return bool(self._op(CONTAINS, (key,))[1])

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return self._op(KEYS)[0]

    def values(self):
        return self._op(VALUES)[0]

    def items(self):
        flat = self._op(ITEMS)[0]
        return list(zip(flat[0::2], flat[1::2]))

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def pop(self, key, default=_MISSING):
        hash(key)
        try:
            return self._op(POP, (key,))[0][0]
        except NotFoundError:
            if default is _MISSING:
                raise KeyError(key) from None
            return default

    def popitem(self):
        try:
            k, v = self._op(POPITEM)[0]
        except NotFoundError:
            raise KeyError("popitem(): dictionary is empty") from None
        return k, v

    def setdefault(self, key, default=None):
        hash(key)
        return self._op(SETDEFAULT, (key, default))[0][0]

    def update(self, *args, **kwargs):
        flat = []
        for k, v in dict(*args, **kwargs).items():
            flat += (k, v)
        if flat:
            self._op(UPDATE, flat)

    def clear(self):
        self._op(CLEAR)

    def copy(self):
        return self._getvalue()

    def has_key(self, key):
        return key in self


class ListProxy(BaseProxy):
    _type = LIST
    _typeid = "list"

    def __init__(self, sequence=(), *, _id=None):
        BaseProxy.__init__(self, _id)
        items = list(sequence)
        if items:
            self._op(APPEND, items)

    def _getvalue(self):
        return self._op(GET_SLICE, (), 0, 1 << 62)[0]

    def __str__(self):
        return str(self._getvalue())

    def __len__(self):
        return self._op(LEN)[1]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._getvalue()[i]
        try:
            return self._op(GET, (), _index(i))[0][0]
        except NotFoundError:
            raise IndexError("list index out of range") from None

    def __setitem__(self, i, value):
        if isinstance(i, slice):
            items = self._getvalue()
            items[i] = value
            self._op(SET_ALL, items)
            return
        try:
            self._op(SET, (value,), _index(i))
        except NotFoundError:
            raise IndexError("list assignment index out of range") from None

    def __delitem__(self, i):
        if isinstance(i, slice):
            items = self._getvalue()
            del items[i]
            self._op(SET_ALL, items)
            return
        try:
            self._op(DEL, (), _index(i))
        except NotFoundError:
            raise IndexError("list assignment index out of range") from None

    def __contains__(self, value):
        return bool(self._op(CONTAINS, (value,))[1])

    def __iter__(self):
        return iter(self._getvalue())

    def __iadd__(self, other):
        self.extend(other)
        return self

    def __add__(self, other):
        return self._getvalue() + list(other)

    def __imul__(self, n):
        self._op(SET_ALL, self._getvalue() * n)
        return self

    def __mul__(self, n):
        return self._getvalue() * n

    __rmul__ = __mul__

    def __reversed__(self):
        return reversed(self._getvalue())

    def append(self, value):
        self._op(APPEND, (value,))

    def extend(self, values):
        values = list(values)
        if values:
            self._op(APPEND, values)

    def insert(self, i, value):
        self._op(INSERT, (value,), _index(i))

    def pop(self, i=-1):
        try:
            return self._op(POP, (), _index(i))[0][0]
        except NotFoundError:
            raise IndexError("pop from empty list" if not len(self)
                             else "pop index out of range") from None

    def remove(self, value):
        try:
            self._op(REMOVE, (value,))
        except NotFoundError:
            raise ValueError("list.remove(x): x not in list") from None

    def index(self, value, start=0, stop=None):
        if stop is not None:
            return self._getvalue().index(value, start, stop)
        try:
            start = max(-(1 << 62), min(operator.index(start), 1 << 62))
            return self._op(INDEX, (value,), start)[1]
        except NotFoundError:
            raise ValueError("%r is not in list" % (value,)) from None

    def count(self, value):
        return self._op(COUNT, (value,))[1]

    def clear(self):
        self._op(CLEAR)

    def reverse(self):
        self._op(SET_ALL, self._getvalue()[::-1])

    def sort(self, *, key=None, reverse=False):
        self._op(SET_ALL, sorted(self._getvalue(), key=key, reverse=reverse))


def _index(i):
    if not hasattr(i, "__index__"):
        raise TypeError("list indices must be integers or slices, not %s" % type(i).__name__)
    i = operator.index(i)
    if not -(1 << 62) < i < (1 << 62):
        raise IndexError("list index out of range")
    return i


class Namespace(BaseProxy):
    """A managed namespace: attributes live in the daemon."""
    _type = NAMESPACE
    _typeid = "Namespace"

    def __init__(self, _id=None, **kwds):
        BaseProxy.__init__(self, _id)
        for k, v in kwds.items():
            setattr(self, k, v)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return _obj_op(self._id, GET, (name,))[0][0]
        except NotFoundError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        _polypool.obj_op(self._id, SET, (name, value))

    def __delattr__(self, name):
        if name.startswith("_"):
            object.__delattr__(self, name)
            return
        try:
            _polypool.obj_op(self._id, DEL, (name,))
        except NotFoundError:
            raise AttributeError(name) from None

    def __repr__(self):
        flat = _obj_op(self._id, ITEMS)[0]
        items = sorted("%s=%r" % kv for kv in zip(flat[0::2], flat[1::2]))
        return "Namespace(%s)" % ", ".join(items)


_PROXIES = {DICT: DictProxy, LIST: ListProxy, NAMESPACE: Namespace}


def _rebuild(type_, obj_id):
    cls = _PROXIES[type_]
    obj = cls.__new__(cls)
    try:
        new_id = _polypool.obj_new(0, obj_id)
    except NotFoundError as e:
        raise GoneError(str(e), status=e.status) from None
    BaseProxy.__init__(obj, new_id)
    return obj


class SyncManager:
    """multiprocessing's SyncManager: start() and shutdown() are accepted
    (there is no server process to run), and its types make polypool's
    process-shared objects."""

    def __init__(self, address=None, authkey=None, serializer="pickle", ctx=None, *,
                 shutdown_timeout=1.0):
        self._state = "initial"

    def start(self, initializer=None, initargs=()):
        if self._state == "started":
            raise RuntimeError("Manager has already been started")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._state = "started"

    def connect(self):
        self._state = "started"

    def shutdown(self):
        self._state = "shutdown"

    def join(self, timeout=None):
        pass

    def __enter__(self):
        if self._state == "initial":
            self.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def _check(self):
        if self._state != "started":
            raise RuntimeError("Manager is not started" if self._state == "initial"
                               else "Manager has shut down")

    def dict(self, *args, **kwargs):
        self._check()
        return DictProxy(*args, **kwargs)

    def list(self, sequence=()):
        self._check()
        return ListProxy(sequence)

    def Namespace(self, **kwds):
        self._check()
        return Namespace(**kwds)

    def Queue(self, maxsize=0):
        self._check()
        from .queues import Queue
        return Queue(maxsize)

    def JoinableQueue(self, maxsize=0):
        self._check()
        from .queues import JoinableQueue
        return JoinableQueue(maxsize)

    def Lock(self):
        self._check()
        from .synchronize import Lock
        return Lock()

    def RLock(self):
        self._check()
        from .synchronize import RLock
        return RLock()

    def Semaphore(self, value=1):
        self._check()
        from .synchronize import Semaphore
        return Semaphore(value)

    def BoundedSemaphore(self, value=1):
        self._check()
        from .synchronize import BoundedSemaphore
        return BoundedSemaphore(value)

    def Condition(self, lock=None):
        self._check()
        from .synchronize import Condition
        return Condition(lock)

    def Event(self):
        self._check()
        from .synchronize import Event
        return Event()

    def Barrier(self, parties, action=None, timeout=None):
        self._check()
        from .synchronize import Barrier
        return Barrier(parties, action, timeout)

    def Value(self, typecode, value, lock=True):
        self._check()
        from .sharedctypes import Value
        return Value(typecode, value, lock=lock)

    def Array(self, typecode, sequence, lock=True):
        self._check()
        from .sharedctypes import Array
        return Array(typecode, sequence, lock=lock)

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):
        self._check()
        from .pool import Pool
        return Pool(processes, initializer, initargs, maxtasksperchild)


def Manager(*, ctx=None):
    """A started SyncManager."""
    m = SyncManager()
    m.start()
    return m
