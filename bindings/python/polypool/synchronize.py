"""Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier.

multiprocessing's synchronisation primitives, with its semantics, living
in polypool shared memory: every process that holds one (C programs
included) operates on the same memory. An uncontended acquire is one
atomic instruction in this process; waits sleep on a futex and wake for
Ctrl-C.

Beyond multiprocessing:

- a process killed while holding a Lock or RLock does not deadlock the
  others: the next acquire succeeds and issues a RuntimeWarning saying the
  previous holder died (``warnings.simplefilter("error", RuntimeWarning)``
  turns it into an exception, with the lock released again);
- primitives may be passed to Pool tasks and through queues at any time,
  not only to Process children at creation.
"""
import errno
import os
import threading

from . import _polypool, _shared
from ._shared import BARRIER, BOUNDED_SEMAPHORE, CONDITION, EVENT, LOCK, RLOCK, SEMAPHORE, SLOT

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier"]

SEM_VALUE_MAX = 2147483647


class _Primitive(_polypool.Sync):
    """A primitive alone in its own segment."""
    _type = None

    def _create(self, value=0, maxvalue=0):
        seg = _shared.new_segment(SLOT, [(self._type, 0, value, maxvalue)])
        _polypool.Sync.__init__(self, seg, 0, self._type)

    @property
    def _pp_handle(self):
        return _shared.sync_handle(self)

    def __reduce__(self):
        _shared.keep(self)
        return _shared.rebuild, (self._pp_handle,)


def _owner_name(pid):
    if pid == 0:
        return "None"
    if pid == os.getpid():
        from .process import current_process
        return current_process().name
    return "SomeOtherProcess"


class Lock(_Primitive):
    """A non-recursive lock; any process may release it."""
    _type = LOCK

    def __init__(self, *, ctx=None):
        self._create()

    def __repr__(self):
        holder = self._holder()
        name = _owner_name(holder)
        if holder == os.getpid() and threading.current_thread() is not threading.main_thread() \
                and self._is_mine():
            name += "|" + threading.current_thread().name
        return "<%s(owner=%s)>" % (type(self).__name__, name)


class RLock(_Primitive):
    """A recursive lock, owned by the thread that acquired it."""
    _type = RLOCK

    def __init__(self, *, ctx=None):
        self._create()

    def __repr__(self):
        holder = self._holder()
        if holder == 0:
            return "<%s(None, 0)>" % type(self).__name__
        if self._is_mine():
            name = _owner_name(holder)
            if threading.current_thread() is not threading.main_thread():
                name += "|" + threading.current_thread().name
            return "<%s(%s, %d)>" % (type(self).__name__, name, self._count())
        return "<%s(SomeOtherThread, nonzero)>" % type(self).__name__


class Semaphore(_Primitive):
    """A counting semaphore."""
    _type = SEMAPHORE

    def __init__(self, value=1, *, ctx=None):
        _check_value(value)
        self._create(value)

    def __repr__(self):
        return "<%s(value=%s)>" % (type(self).__name__, self.get_value())


class BoundedSemaphore(Semaphore):
    """A semaphore that cannot be released above its initial value."""
    _type = BOUNDED_SEMAPHORE

    def __init__(self, value=1, *, ctx=None):
        _check_value(value)
        self._create(value, value)
        self._maxvalue = value

    def __repr__(self):
        return "<%s(value=%s, maxvalue=%s)>" % (type(self).__name__, self.get_value(),
                                                self._maxvalue)

    def __reduce__(self):
        _shared.keep(self)
        return _rebuild_bounded, (self._pp_handle, self._maxvalue)


def _check_value(value):
    if not isinstance(value, int):
        raise TypeError("an integer is required (got type %s)" % type(value).__name__)
    if value < 0:
        # As multiprocessing (sem_open fails): OSError(EINVAL), not ValueError.
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    if value > SEM_VALUE_MAX:
        raise OverflowError("semaphore initial value is too large")


class Event(_Primitive):
    """A flag processes can wait for."""
    _type = EVENT

    def __init__(self, *, ctx=None):
        self._create()

    is_set = _polypool.Sync._ev_is_set
    set = _polypool.Sync._ev_set
    clear = _polypool.Sync._ev_clear
    wait = _polypool.Sync._ev_wait

    def __repr__(self):
        return "<%s at %#x %s>" % (type(self).__name__, id(self),
                                   "set" if self.is_set() else "unset")


class Condition(_polypool.Sync):
    """A condition variable over a Lock or RLock (a new RLock by default)."""

    def __init__(self, lock=None, *, ctx=None):
        if lock is None:
            seg = _shared.new_segment(2 * SLOT, [(RLOCK, 0, 0, 0), (CONDITION, SLOT, 0, 0)])
            lock = RLock.__new__(RLock)
            _polypool.Sync.__init__(lock, seg, 0, RLOCK)
            _polypool.Sync.__init__(self, seg, SLOT, CONDITION, seg, 0, RLOCK)
        else:
            if not isinstance(lock, (Lock, RLock)):
                raise TypeError("a Condition's lock must be a polypool Lock or RLock, not %s"
                                % type(lock).__name__)
            seg = _shared.new_segment(SLOT, [(CONDITION, 0, 0, 0)])
            _, lseg, loffset = lock._parts[:3]
            _polypool.Sync.__init__(self, seg, 0, CONDITION, lseg, loffset, lock._parts[0])
        self._lock = lock

    @property
    def _pp_handle(self):
        return _shared.sync_handle(self)

    def __reduce__(self):
        _shared.keep(self)
        return _shared.rebuild, (self._pp_handle,)

    def wait(self, timeout=None):
        return self._cond_wait(timeout)

    def notify(self, n=1):
        self._cond_notify(n)

    def notify_all(self):
        self._cond_notify(SEM_VALUE_MAX)

    notifyAll = notify_all

    def wait_for(self, predicate, timeout=None):
        result = predicate()
        if result:
            return result
        if timeout is not None:
            import time
            endtime = time.monotonic() + timeout
        else:
            endtime = None
            waittime = None
        while not result:
            if endtime is not None:
                import time
                waittime = endtime - time.monotonic()
                if waittime <= 0:
                    break
            self.wait(waittime)
            result = predicate()
        return result

    def __repr__(self):
        return "<%s(%s, %d)>" % (type(self).__name__, self._lock, 0)


class Barrier(_polypool.Sync):
    """threading.Barrier's interface, shared between processes."""

    def __init__(self, parties, action=None, timeout=None, *, ctx=None):
        if not isinstance(parties, int):
            raise TypeError("parties must be an integer")
        if parties < 1:
            raise ValueError("parties must be >= 1")
        seg = _shared.new_segment(2 * SLOT, [(LOCK, 0, 0, 0), (BARRIER, SLOT, parties, 0)])
        _polypool.Sync.__init__(self, seg, SLOT, BARRIER, seg, 0, LOCK)
        self._action = action
        self._timeout = timeout

    @property
    def _pp_handle(self):
        return _shared.sync_handle(self)

    def __reduce__(self):
        _shared.keep(self)
        return _rebuild_barrier, (self._pp_handle, self._action, self._timeout)

    def wait(self, timeout=None):
        if timeout is None:
            timeout = self._timeout
        index = self._barrier_wait(timeout, self._action)
        if index < 0:
            raise threading.BrokenBarrierError
        return index

    def reset(self):
        self._barrier_reset()

    def abort(self):
        self._barrier_abort()

    @property
    def parties(self):
        return self._barrier_state()[0]

    @property
    def n_waiting(self):
        return self._barrier_state()[1]

    @property
    def broken(self):
        return self._barrier_state()[2]

    def __repr__(self):
        parties, waiting, broken = self._barrier_state()
        if broken:
            return "<%s.%s at %#x: broken>" % (type(self).__module__, type(self).__qualname__,
                                               id(self))
        return "<%s.%s at %#x: waiters=%d/%d>" % (type(self).__module__,
                                                  type(self).__qualname__, id(self),
                                                  waiting, parties)


_CLASSES = {LOCK: Lock, RLOCK: RLock, SEMAPHORE: Semaphore, BOUNDED_SEMAPHORE: BoundedSemaphore,
            EVENT: Event, CONDITION: Condition, BARRIER: Barrier}


def _rebuild(h):
    type_, seg_id, offset = h[0], h[1], h[3]
    cls = _CLASSES[type_]
    obj = cls.__new__(cls)
    seg = _shared.segment(seg_id)
    if type_ in (CONDITION, BARRIER):
        ltype, lid, loffset = h[7], h[8], h[10]
        lseg = seg if lid == seg_id else _shared.segment(lid)
        _polypool.Sync.__init__(obj, seg, offset, type_, lseg, loffset, ltype)
        if type_ == CONDITION:
            lock = _CLASSES[ltype].__new__(_CLASSES[ltype])
            _polypool.Sync.__init__(lock, lseg, loffset, ltype)
            obj._lock = lock
        else:
            obj._action = None
            obj._timeout = None
    else:
        _polypool.Sync.__init__(obj, seg, offset, type_)
        if type_ == BOUNDED_SEMAPHORE:
            obj._maxvalue = obj._sem_max()
    return obj


def _rebuild_bounded(h, maxvalue):
    obj = _rebuild(h)
    obj._maxvalue = maxvalue
    return obj


def _rebuild_barrier(h, action, timeout):
    obj = _rebuild(h)
    obj._action = action
    obj._timeout = timeout
    return obj
