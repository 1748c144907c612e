"""Queue, SimpleQueue, JoinableQueue: multiprocessing's queues on polypool
message rings.

A queue is a ring in a daemon segment; put and get copy straight to and
from shared memory (no daemon round trip, no pipe), and C programs use the
same queue (pp_queue_*): items cross as Values, so ints, floats, strings,
bytes, lists and dicts arrive natively in C and anything else pickled.

As under multiprocessing, put() does not wait for room in the ring: what
does not fit yet waits in this process and a feeder thread moves it in
(``join_thread()`` waits for that, and a process does at exit unless
``cancel_join_thread()``). A bounded queue's put() blocks while maxsize
items are in it. An item in the queue is never lost when a process dies:
a consumer killed while taking it leaves it there.
"""
import collections
import queue as _queue
import threading
import weakref

from . import _polypool, _shared
from ._errors import ClosedError

__all__ = ["Queue", "SimpleQueue", "JoinableQueue"]

QUEUE = 10               # HandleType
CAPACITY = 1 << 20       # ring bytes
RING_CLOSED = 4
GOT, TIMEOUT, EOF = 0, 1, 2
SEM_VALUE_MAX = 2147483647


def _ring_size(capacity):
    return _polypool.RING_HEADER + capacity


class Queue:
    """multiprocessing.Queue(maxsize=0)."""
    _joinable = False

    def __init__(self, maxsize=0, *, ctx=None):
        if maxsize <= 0:
            maxsize = 0
        elif maxsize > SEM_VALUE_MAX:
            raise OverflowError("maxsize is too large")
        seg = _shared.new_segment(_ring_size(CAPACITY), [(QUEUE, 0, maxsize, 0, CAPACITY)])
        self._setup(seg, 0, maxsize)

    def _setup(self, seg, offset, maxsize):
        self._seg = seg
        self._offset = offset
        self._ring = _polypool.Ring(seg, offset)
        self._maxsize = maxsize
        self._closed = False
        self._buffer = collections.deque()
        self._feeder = None
        self._cond = threading.Condition()
        self._joincancelled = False

    @property
    def _pp_handle(self):
        seg = self._seg
        return (QUEUE, seg.id, seg.path, self._offset, seg.size, "", int(self._joinable),
                0, 0, "", 0, 0, "")

    def __reduce__(self):
        _shared.keep(self._seg)
        return _rebuild, (type(self), self._pp_handle)

    def __repr__(self):
        return "<%s.%s object at %#x>" % (type(self).__module__, type(self).__qualname__,
                                          id(self))

    def _check_open(self):
        if self._closed:
            raise ValueError("Queue %r is closed" % self)

    def put(self, obj, block=True, timeout=None):
        """Puts obj; with a maxsize, waits for room (queue.Full after timeout,
        or at once when block is False). An unbounded queue never waits:
        what does not fit in the ring yet goes through the feeder thread."""
        self._check_open()
        if not self._maxsize and (self._buffer or self._feeder_busy()):
            self._feed(obj)
            return
        code, _ = self._ring.put(obj, False, None, self._joinable)
        if code == GOT:
            return
        if code == EOF:
            raise ClosedError("the queue was closed")
        if self._maxsize:
            # Bounded: full is maxsize items, or the ring's bytes.
            if not block:
                raise _queue.Full
            code, _ = self._ring.put(obj, True, timeout, self._joinable)
            if code == GOT:
                return
            if code == EOF:
                raise ClosedError("the queue was closed")
            raise _queue.Full
        # The ring's bytes are full: the feeder puts it in when there is room.
        self._feed(obj)

    def _feeder_busy(self):
        return self._feeder is not None and self._feeder.is_alive() and self._pending

    def _feed(self, obj):
        if self._joinable:
            self._ring.add_unfinished()     # unfinished from put(), not from the ring
        with self._cond:
            self._buffer.append(obj)
            self._pending = True
            if self._feeder is None or not self._feeder.is_alive():
                self._feeder = threading.Thread(target=_feeder_main,
                                                args=(weakref.ref(self), self._ring,
                                                      self._buffer, self._cond),
                                                name="QueueFeederThread", daemon=True)
                self._feeder.start()
                if not self._joincancelled:
                    _pending_feeders.add(self._feeder)
            self._cond.notify()

    _pending = False

    def get(self, block=True, timeout=None):
        """The next item: queue.Empty after timeout (at once when block is
        False); ClosedError when the queue was closed (pp_queue_close)."""
        self._check_open()
        code, obj = self._ring.get(block, timeout)
        if code == GOT:
            return obj
        if code == EOF:
            raise ClosedError("the queue was closed")
        raise _queue.Empty

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def put_many(self, objs, block=True, timeout=None):
        """Puts every item of objs in order (polypool)."""
        for obj in objs:
            self.put(obj, block, timeout)

    def get_many(self, max_items, block=True, timeout=None):
        """Waits for one item, then takes up to max_items - 1 more that
        are there (polypool): a list."""
        items = [self.get(block, timeout)]
        while len(items) < max_items:
            code, obj = self._ring.get(False)
            if code != GOT:
                break
            items.append(obj)
        return items

    def qsize(self):
        return self._ring.count() + len(self._buffer)

    def empty(self):
        return self.qsize() == 0

    def full(self):
        return bool(self._maxsize) and self.qsize() >= self._maxsize

    def close(self):
        """This process puts no more (what it has put still goes in)."""
        self._closed = True

    def join_thread(self):
        """Waits until what this process put is in the queue (after close())."""
        if not self._closed:
            raise AssertionError("Queue {0!r} not closed".format(self))
        feeder = self._feeder
        if feeder is not None:
            feeder.join()

    def cancel_join_thread(self):
        """Do not wait for the feeder at exit (items still in this process
        may be lost)."""
        self._joincancelled = True
        if self._feeder is not None:
            _pending_feeders.discard(self._feeder)

    def _close_everywhere(self):
        """polypool: closes the queue for every process (gets then raise
        ClosedError once it is empty)."""
        self._ring.set_flags(RING_CLOSED)


def _feeder_main(ref, ring, buffer, cond):
    while True:
        with cond:
            while not buffer:
                q = ref()
                if q is not None:
                    q._pending = False
                del q
                if not cond.wait(1.0) and not buffer:
                    return      # idle: a new one starts when needed
            obj = buffer[0]
        code, _ = ring.put(obj, True, None, False)   # already counted unfinished
        with cond:
            buffer.popleft()
        if code == EOF:
            with cond:
                buffer.clear()
            return


_pending_feeders = weakref.WeakSet()


def _join_feeders():
    for t in list(_pending_feeders):
        t.join()


import atexit  # noqa: E402
atexit.register(_join_feeders)


class JoinableQueue(Queue):
    """multiprocessing.JoinableQueue: Queue with task_done() and join()."""
    _joinable = True

    def task_done(self):
        if not self._ring.task_done():
            raise ValueError("task_done() called too many times")

    def join(self):
        self._ring.join(None)


class SimpleQueue:
    """multiprocessing.SimpleQueue: put, get, empty, close."""

    def __init__(self, *, ctx=None):
        self._q = Queue()

    def _check_open(self):
        # As multiprocessing's: its pipe's ends are closed.
        if self._q._closed:
            raise OSError("handle is closed")

    def put(self, obj):
        self._check_open()
        self._q.put(obj)

    def get(self):
        self._check_open()
        return self._q.get()

    def empty(self):
        self._check_open()
        return self._q.empty()

    def close(self):
        self._q.close()

    @property
    def _pp_handle(self):
        return self._q._pp_handle

    def __reduce__(self):
        _shared.keep(self._q._seg)
        return _rebuild_simple, (self._q._pp_handle,)


def _rebuild(cls, h):
    q = cls.__new__(cls)
    seg = _shared.segment(h[1])
    ring = _polypool.Ring(seg, h[3])
    q._setup(seg, h[3], ring.maxcount())
    return q


def _rebuild_simple(h):
    s = SimpleQueue.__new__(SimpleQueue)
    s._q = _rebuild(Queue, h)
    return s


def rebuild_handle(h):
    """A queue from a handle tuple (from C)."""
    return _rebuild(JoinableQueue if h[6] else Queue, h)
