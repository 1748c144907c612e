"""Value, Array, RawValue, RawArray: ctypes objects in shared memory.

As multiprocessing.sharedctypes, with the memory in a polypool segment:
the ctypes object is a view on the segment (``type.from_buffer``), so
reads and writes go straight to shared memory, and the buffer protocol
works (``memoryview(arr.get_obj())``, ``numpy.frombuffer``). The
synchronized wrappers are multiprocessing's own classes, subclassed so
that they pickle as handles: a Value or Array may be passed to Process
children, Pool tasks (C tasks see a PP_H_VALUE handle: pp_array_from_value)
and through queues at any time.
"""
import copyreg
import ctypes
from multiprocessing import sharedctypes as _mpsc

from . import _shared, synchronize
from ._shared import LOCK, RLOCK, SLOT, VALUE

__all__ = ["RawValue", "RawArray", "Value", "Array", "copy", "synchronized"]

typecode_to_type = dict(_mpsc.typecode_to_type)
typecode_to_type["?"] = ctypes.c_bool
_code_of = {}
for _code, _type in typecode_to_type.items():
    _code_of.setdefault(_type, _code)
_code_of[ctypes.c_longlong] = "q"
_code_of[ctypes.c_ulonglong] = "Q"


def _type_of(typecode_or_type):
    type_ = typecode_to_type.get(typecode_or_type, typecode_or_type)
    if isinstance(type_, str):
        raise TypeError("this type has no size")
    return type_


def _lock_handle(h):
    """The handle tuple of the lock in a VALUE handle."""
    return (h[7], h[8], h[9], h[10], h[11], "", 0, 0, 0, "", 0, 0, "")


def _alloc(type_, lock):
    """(ctypes object of type_ in a new segment, the lock or None, handle)."""
    size = max(ctypes.sizeof(type_), 1)
    if lock is True:
        seg = _shared.new_segment(SLOT + size, [(RLOCK, 0, 0, 0)])
        lock = synchronize._rebuild(_shared.handle(RLOCK, seg))
        offset = SLOT
    else:
        seg = _shared.new_segment(size)
        offset = 0
    obj = type_.from_buffer(seg, offset)
    base, count = (type_._type_, type_._length_) if issubclass(type_, ctypes.Array) else (type_, 0)
    code = _code_of.get(base, "")
    pp_lock = lock if isinstance(lock, (synchronize.Lock, synchronize.RLock)) else None
    h = _shared.handle(VALUE, seg, offset, code, count, pp_lock)
    return obj, lock, h


def _spec(type_):
    """What pickles for a ctypes type: array types have no importable name."""
    if issubclass(type_, ctypes.Array):
        return (type_._type_, type_._length_)
    return (type_, None)


def _unspec(spec):
    base, n = spec
    return base if n is None else base * n


def _raw(spec, h):
    type_ = _unspec(spec)
    obj = type_.from_buffer(_shared.segment(h[1]), h[3])
    _mark_raw(obj, type_, h)
    return obj


def _mark_raw(obj, type_, h):
    obj._pp_handle = h if h[5] else None
    obj._pp_type = type_
    obj._pp_h = h
    if type_ not in copyreg.dispatch_table:
        copyreg.pickle(type_, _reduce_raw)


def _reduce_raw(obj):
    h = getattr(obj, "_pp_h", None)
    if h is None:
        return obj.__reduce__()
    _shared.keep(obj)
    return _raw, (_spec(obj._pp_type), h)


def RawValue(typecode_or_type, *args):
    """A ctypes object in shared memory, without a lock."""
    type_ = _type_of(typecode_or_type)
    obj, _, h = _alloc(type_, False)
    if args:
        obj.__init__(*args)
    _mark_raw(obj, type_, h)
    return obj


def RawArray(typecode_or_type, size_or_initializer):
    """A ctypes array in shared memory, without a lock."""
    type_ = _type_of(typecode_or_type)
    if isinstance(size_or_initializer, int):
        type_ = type_ * size_or_initializer
        obj, _, h = _alloc(type_, False)
    else:
        type_ = type_ * len(size_or_initializer)
        obj, _, h = _alloc(type_, False)
        obj.__init__(*size_or_initializer)
    _mark_raw(obj, type_, h)
    return obj


def _check_lock(lock):
    if lock is None or lock is True:
        return True
    if lock is False:
        return False
    if not hasattr(lock, "acquire"):
        raise AttributeError("%r has no method 'acquire'" % lock)
    return lock


def Value(typecode_or_type, *args, lock=True, ctx=None):
    """A synchronized ctypes object in shared memory (lock=False: raw)."""
    lock = _check_lock(lock)
    type_ = _type_of(typecode_or_type)
    obj, lock, h = _alloc(type_, lock)
    if args:
        obj.__init__(*args)
    if lock is False:
        _mark_raw(obj, type_, h)
        return obj
    return _wrap(obj, lock, type_, h)


def Array(typecode_or_type, size_or_initializer, *, lock=True, ctx=None):
    """A synchronized ctypes array in shared memory (lock=False: raw)."""
    lock = _check_lock(lock)
    type_ = _type_of(typecode_or_type)
    init = None
    if isinstance(size_or_initializer, int):
        type_ = type_ * size_or_initializer
    else:
        init = size_or_initializer
        type_ = type_ * len(init)
    obj, lock, h = _alloc(type_, lock)
    if init is not None:
        obj.__init__(*init)
    if lock is False:
        _mark_raw(obj, type_, h)
        return obj
    return _wrap(obj, lock, type_, h)


class _HandleMixin:
    __slots__ = ()

    @property
    def _pp_handle(self):
        h = self._pp_h
        return h if h[5] and h[7] else None

    def __reduce__(self):
        _shared.keep(self)
        return _rebuild_wrapped, (_spec(self._pp_type), self._pp_h, self._lock)


class Synchronized(_HandleMixin, _mpsc.Synchronized):
    pass


class SynchronizedArray(_HandleMixin, _mpsc.SynchronizedArray):
    pass


class SynchronizedString(_HandleMixin, _mpsc.SynchronizedString):
    pass


_struct_classes = {}


def _wrapper_class(obj):
    if isinstance(obj, ctypes._SimpleCData):
        return Synchronized
    if isinstance(obj, ctypes.Array):
        return SynchronizedString if obj._type_ is ctypes.c_char else SynchronizedArray
    cls = type(obj)
    scls = _struct_classes.get(cls)
    if scls is None:
        d = {name: _mpsc.make_property(name) for name, *_ in cls._fields_}
        scls = _struct_classes[cls] = type("Synchronized" + cls.__name__,
                                           (_HandleMixin, _mpsc.SynchronizedBase), d)
    return scls


def _wrap(obj, lock, type_, h):
    w = _wrapper_class(obj)(obj, lock)
    w._pp_type = type_
    w._pp_h = h
    return w


def _rebuild_wrapped(spec, h, lock):
    type_ = _unspec(spec)
    obj = type_.from_buffer(_shared.segment(h[1]), h[3])
    return _wrap(obj, lock, type_, h)


def _rebuild(h):
    """A Value or Array from a handle tuple (from a C program or task)."""
    type_ = typecode_to_type.get(h[5])
    if type_ is None:
        raise ValueError("a shared value of unknown type code %r" % (h[5],))
    if h[6]:
        type_ = type_ * h[6]
    obj = type_.from_buffer(_shared.segment(h[1]), h[3])
    if h[7] in (LOCK, RLOCK):
        return _wrap(obj, synchronize._rebuild(_lock_handle(h)), type_, h)
    _mark_raw(obj, type_, h)
    return obj


def copy(obj):
    """A new raw shared copy of a ctypes object."""
    new_obj = RawValue(type(obj))
    ctypes.pointer(new_obj)[0] = obj
    return new_obj


def synchronized(obj, lock=None, ctx=None):
    """Wraps a shared ctypes object (from RawValue/RawArray) with a lock."""
    assert not isinstance(obj, _mpsc.SynchronizedBase), "object already synchronized"
    h = getattr(obj, "_pp_h", None)
    if h is None:
        raise TypeError("synchronized() needs a polypool shared ctypes object")
    if lock is None:
        lock = synchronize.RLock()
    h = h[:7] + (_shared.sync_handle(lock)[0], lock._parts[1].id, lock._parts[1].path,
                 lock._parts[2], lock._parts[1].size, "") \
        if isinstance(lock, (synchronize.Lock, synchronize.RLock)) else h
    return _wrap(obj, lock, type(obj), h)
