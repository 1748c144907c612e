"""Pipe and Connection, and multiprocessing.connection.wait.

A Pipe is a polypool segment with one message ring per direction, plus a
small segment per end that stands for it: every process holding an end
holds that segment, and when the last one lets go (close(), garbage
collection, or death) the daemon marks the rings, so the other end gets
EOFError once it has read what is left. Messages never merge or split;
send() pickles (as multiprocessing does; plain ints, strings, lists...
cross natively, so C programs read them: pp_conn_recv), send_bytes()
sends raw bytes, of any size.
"""
import selectors
import time

from . import _polypool, _shared

__all__ = ["Pipe", "Connection", "wait"]

CONNECTION, QUEUE = 11, 10
CAPACITY = 1 << 20
RING_NO_WRITERS, RING_NO_READERS = 1, 2
GOT, TIMEOUT, EOF = 0, 1, 2


class Connection:
    """One end of a Pipe."""

    def __init__(self, seg, end, in_off, out_off):
        self._seg = seg
        self._end = end
        self._in = in_off           # ring offset + 1, 0: none
        self._out = out_off
        self._rin = _polypool.Ring(seg, in_off - 1) if in_off else None
        self._rout = _polypool.Ring(seg, out_off - 1) if out_off else None

    @property
    def _pp_handle(self):
        if self._end is None:
            raise OSError("handle is closed")
        seg, end = self._seg, self._end
        return (CONNECTION, seg.id, seg.path, self._in, seg.size, "", 0, 0, 0, "", 0, 0, "",
                self._out, end.id, end.path, end.size)

    def __reduce__(self):
        h = self._pp_handle
        _shared.keep(self._seg, self._end)
        return _rebuild, (h,)

    @property
    def closed(self):
        return self._end is None

    @property
    def readable(self):
        return self._rin is not None

    @property
    def writable(self):
        return self._rout is not None

    def _check_closed(self):
        if self._end is None:
            raise OSError("handle is closed")

    def _check_readable(self):
        self._check_closed()
        if self._rin is None:
            raise OSError("connection is write-only")

    def _check_writable(self):
        self._check_closed()
        if self._rout is None:
            raise OSError("connection is read-only")

    def send(self, obj):
        """Sends obj (pickled when it is not a plain value)."""
        self._check_writable()
        code, _ = self._rout.put(obj)
        if code != GOT:
            raise BrokenPipeError("the other end of the pipe is closed")

    def send_bytes(self, buf, offset=0, size=None):
        """Sends bytes from a bytes-like object as one message."""
        self._check_writable()
        m = memoryview(buf)
        if m.itemsize > 1:
            m = m.cast("B")
        n = m.nbytes
        if offset < 0:
            raise ValueError("offset is negative")
        if n < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = n - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > n:
            raise ValueError("buffer length < offset + size")
        code, _ = self._rout.put_bytes(m[offset:offset + size])
        if code != GOT:
            raise BrokenPipeError("the other end of the pipe is closed")

    def recv(self):
        """The next object sent; EOFError once the other end is closed and
        nothing is left."""
        self._check_readable()
        code, obj = self._rin.get()
        if code == GOT:
            return obj
        raise EOFError

    def recv_bytes(self, maxlength=None):
        """The next message's bytes."""
        self._check_readable()
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        code, data = self._rin.get_bytes()
        if code != GOT:
            raise EOFError
        if maxlength is not None and len(data) > maxlength:
            self.close()
            raise OSError("bad message length")
        return data

    def recv_bytes_into(self, buf, offset=0):
        """Reads the next message into buf at offset; returns its length.
        BufferTooShort (its args[0] is the message) when it does not fit."""
        self._check_readable()
        m = memoryview(buf)
        if m.itemsize > 1:
            m = m.cast("B")
        if offset < 0:
            raise ValueError("negative offset")
        if offset > m.nbytes:
            raise ValueError("offset too large")
        code, data = self._rin.get_bytes()
        if code != GOT:
            raise EOFError
        if len(data) > m.nbytes - offset:
            from ._errors import BufferTooShort
            raise BufferTooShort(data)
        m[offset:offset + len(data)] = data
        return len(data)

    def poll(self, timeout=0.0):
        """Whether there is something to read (waits up to timeout; None:
        for ever). True at EOF too: recv() then raises EOFError."""
        self._check_readable()
        return self._rin.poll(timeout) != TIMEOUT

    def close(self):
        """Lets go of this end in this process."""
        self._rin = self._rout = None
        self._end = None

    def fileno(self):
        raise OSError("a polypool connection has no file descriptor")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def Pipe(duplex=True, *, ctx=None):
    """(conn1, conn2): duplex, both ways; otherwise conn1 only receives
    and conn2 only sends."""
    size = _polypool.RING_HEADER + CAPACITY
    rings = [(QUEUE, 0, 0, 0, CAPACITY)]
    if duplex:
        rings.append((QUEUE, size, 0, 0, CAPACITY))
    seg = _shared.new_segment(size * len(rings), rings)
    if duplex:
        a_in, a_out, b_in, b_out = size + 1, 1, 1, size + 1
    else:
        a_in, a_out, b_in, b_out = 1, 0, 0, 1
    ends = []
    for rin, rout in ((a_in, a_out), (b_in, b_out)):
        closers = []
        if rout:
            closers.append((seg.id, rout - 1, RING_NO_WRITERS))
        if rin:
            closers.append((seg.id, rin - 1, RING_NO_READERS))
        ends.append(_polypool.shm_create(64, "", (), closers))
    return (Connection(seg, ends[0], a_in, a_out), Connection(seg, ends[1], b_in, b_out))


def _rebuild(h):
    seg = _shared.segment(h[1])
    end = _polypool.shm_attach(id=h[14])
    return Connection(seg, end, h[3], h[13])


def wait(object_list, timeout=None):
    """The objects of object_list that are ready: a Connection with
    something to read (or at EOF), a sentinel whose process ended, a
    readable fd; waiting at most timeout seconds (None: until one is)."""
    conns = [o for o in object_list if isinstance(o, Connection)]
    others = [o for o in object_list if not isinstance(o, Connection)]
    deadline = None if timeout is None else time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for obj in others:
            sel.register(obj, selectors.EVENT_READ)
        while True:
            ready = [c for c in conns if c._rin is not None and c._rin.poll(0) != TIMEOUT]
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if others:
                # With connections too, look again every 10 ms; with one
                # ready, only see which others are ready too.
                if ready:
                    step = 0
                else:
                    step = left if not conns else min(0.01, left if left is not None else 0.01)
                ready += [key.fileobj for key, _ in sel.select(step)]
            elif not ready and conns:
                step = 0.01 if left is None else min(0.01, left)
                conns[0]._rin.poll(step) if conns[0]._rin is not None else time.sleep(step)
                ready = [c for c in conns if c._rin is not None and c._rin.poll(0) != TIMEOUT]
            if ready:
                return ready
            if deadline is not None and time.monotonic() >= deadline:
                return []
