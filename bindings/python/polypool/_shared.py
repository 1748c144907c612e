"""Segments and handles: what Value, Array, SharedMemory and the
synchronisation primitives are built on.

Every shared object lives in a shared memory segment the polypool daemon
created and counts references to. A process maps each segment once
(``segment``: a cache by id), and the daemon unlinks the segment when no
process holds it any more, even after ``kill -9``.

A shared object travels between processes, and to C tasks, as a handle
tuple (polypool.proto's Handle):

    (type, id, path, offset, size, typecode, count,
     lock_type, lock_id, lock_path, lock_offset, lock_size, label)

Pickling a shared object pickles its handle; unpickling attaches the
segment (a new daemon reference for this process), so a Lock, a Value or a
SharedMemory may be passed to Process children, Pool tasks (Python or C)
and through queues, at any time.
"""
import threading
import weakref

from . import _polypool

# HandleType (polypool.proto).
(SEGMENT, LOCK, RLOCK, SEMAPHORE, BOUNDED_SEMAPHORE, EVENT, CONDITION, BARRIER, VALUE, QUEUE,
 CONNECTION, DICT, LIST, NAMESPACE) = range(1, 15)
SLOT = 64

_segments = weakref.WeakValueDictionary()

# Counts the shared objects this process rebuilt (segment() calls, and
# SharedMemory attaches): _worker does not cache a callable whose unpickling
# rebuilt one, which would keep its segment alive as long as the worker.
rebuilds = 0


# While a Process payload is pickled, the shared objects in it: the parent
# keeps them until the child has unpickled (attached) them, so that
# ``p.start(); conn.close()`` does not free a pipe end on its way.
_pickling = threading.local()


def keep(*objs):
    """Called by shared objects' __reduce__: hold objs while a Process
    payload is on its way (no-op otherwise)."""
    kept = getattr(_pickling, "kept", None)
    if kept is not None:
        kept.extend(objs)


def collect():
    """Starts collecting what keep() gets; returns the list."""
    _pickling.kept = []
    return _pickling.kept


def stop_collecting():
    _pickling.kept = None


def new_segment(size, syncs=(), label=""):
    """A new segment of `size` bytes with primitives initialised: syncs is
    a sequence of (type, offset, value, max)."""
    seg = _polypool.shm_create(size, label, syncs)
    _segments[seg.id] = seg
    return seg


def segment(seg_id):
    """The segment with that id, mapped once per process."""
    global rebuilds
    rebuilds += 1
    seg = _segments.get(seg_id)
    if seg is None:
        seg = _polypool.shm_attach(id=seg_id)
        _segments[seg.id] = seg
    return seg


def handle(type_, seg, offset=0, typecode="", count=0, lock=None):
    """The handle tuple of an object at offset of seg; lock: the Sync guarding it."""
    if lock is not None:
        ltype, lseg, loffset = lock._parts[0], lock._parts[1], lock._parts[2]
        return (type_, seg.id, seg.path, offset, seg.size, typecode, count,
                ltype, lseg.id, lseg.path, loffset, lseg.size, "")
    return (type_, seg.id, seg.path, offset, seg.size, typecode, count, 0, 0, "", 0, 0, "")


def sync_handle(obj):
    """The handle tuple of a primitive (a polypool._polypool.Sync)."""
    type_, seg, offset, lseg, loffset, ltype = obj._parts
    if lseg is None:
        return (type_, seg.id, seg.path, offset, seg.size, "", 0, 0, 0, "", 0, 0, "")
    return (type_, seg.id, seg.path, offset, seg.size, "", 0,
            ltype, lseg.id, lseg.path, loffset, lseg.size, "")


def rebuild(h):
    """The shared object a handle tuple names, in this process."""
    type_ = h[0]
    if type_ == SEGMENT:
        from .shared_memory import SharedMemory
        return SharedMemory(h[12]) if h[12] else SharedMemory._from_segment(h[1])
    if LOCK <= type_ <= BARRIER:
        from . import synchronize
        return synchronize._rebuild(h)
    if type_ == VALUE:
        from . import sharedctypes
        return sharedctypes._rebuild(h)
    if type_ == QUEUE:
        from . import queues
        return queues.rebuild_handle(h)
    if type_ == CONNECTION:
        from . import connection
        return connection._rebuild(h)
    if type_ in (DICT, LIST, NAMESPACE):
        from . import managers
        return managers._rebuild(type_, h[1])
    raise ValueError("unknown polypool handle type %r" % (type_,))


_polypool._setup({"from_handle": rebuild})
