"""multiprocessing.Pool on polypool.

A Pool is a private pool of the daemon: its workers are Python worker
hosts started with this program's interpreter, sys.path and main module
(spawn semantics), which also run C functions (``polypool.cfunc``). With
``name=`` it is a named pool other programs, in C or Python, share.

Differences from multiprocessing, all in the user's favour:

- A worker that dies mid-task (a crash, SIGKILL, os._exit) fails that
  task with WorkerLostError; the pool replaces the worker and goes on.
- SystemExit or KeyboardInterrupt in a task is raised in the client like
  any other exception; the worker survives.
- A callback that raises prints its traceback and the pool goes on.
- A lambda or a local function fails at submission with PicklingError.
- map, imap and imap_unordered take ``progress=True`` for a progress bar.
"""
import pickle
import queue
import threading
import traceback
import warnings

from . import _errors, _functions, _polypool
from ._env import current as _current_env
from ._errors import MaybeEncodingError, RemoteTraceback, TimeoutError  # noqa: F401

__all__ = ["Pool", "ThreadPool", "AsyncResult", "ApplyResult", "MapResult", "IMapIterator",
           "IMapUnorderedIterator", "RemoteTraceback", "MaybeEncodingError"]

RUN, CLOSE, TERMINATE = 0, 1, 2


def _ms(timeout):
    """A timeout in seconds as the extension's milliseconds (-1: none)."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return max(1, min(int(timeout * 1000 + 0.999), 2**31 - 1))


# ---- callbacks --------------------------------------------------------------
#
# libpolypool calls back on its collector thread, which must not block;
# the extension hands ready futures to _ready, and one daemon thread per
# process runs the user's callbacks, as multiprocessing's result handler
# does. A raising callback prints its traceback; nothing hangs.

_ready = queue.SimpleQueue()
_runner = None
_runner_lock = threading.Lock()


def _future_ready(result):
    _ready.put(result)


def _run_callbacks():
    while True:
        _ready.get()._fire()


def _ensure_runner():
    global _runner
    with _runner_lock:
        if _runner is None or not _runner.is_alive():
            _runner = threading.Thread(target=_run_callbacks, name="polypool-callbacks",
                                       daemon=True)
            _runner.start()


# ---- results ----------------------------------------------------------------

class ApplyResult:
    """The result of apply_async (multiprocessing.pool.AsyncResult)."""

    def __init__(self, pool, callback=None, error_callback=None, post=None):
        self._pool = pool
        self._fut = None
        self._callback = callback
        self._error_callback = error_callback
        self._post = post
        # Only results with callbacks need events (the callback thread sets
        # them); the others ask the future directly.
        want = callback is not None or error_callback is not None
        self._event = threading.Event() if want else None
        self._submitted = threading.Event() if want else None
        self._value = None
        self._exc = None
        self._done = False

    def _resolve(self):
        """Fetches the outcome once (the future is ready)."""
        if not self._done:
            try:
                value = self._fut.get()
                self._value = self._post(value) if self._post else value
            except BaseException as e:  # noqa: B902 - the task's own exception
                self._exc = e
            self._done = True

    def _submit(self, submit, *args):
        if self._event is None:
            self._fut = submit(*args, None)
            return self
        _ensure_runner()
        try:
            self._fut = submit(*args, self)
        finally:
            self._submitted.set()
        return self

    def _fire(self):
        # The callback can come before the submitting call has returned.
        self._submitted.wait()
        self._resolve()
        try:
            if self._exc is None:
                if self._callback is not None:
                    self._callback(self._value)
            elif self._error_callback is not None:
                self._error_callback(self._exc)
        except BaseException:  # noqa: B902 - a callback must not kill the runner
            traceback.print_exc()
        finally:
            self._event.set()

    def ready(self):
        if self._event is not None:
            return self._event.is_set()
        return self._fut.ready()

    def successful(self):
        if not self.ready():
            raise ValueError("{0!r} not ready".format(self))
        self._resolve()
        return self._exc is None

    def wait(self, timeout=None):
        if self._event is not None:
            self._event.wait(timeout)
        else:
            self._fut.wait(_ms(timeout))

    def get(self, timeout=None):
        if self._event is not None:
            if not self._event.wait(timeout):
                raise TimeoutError("the result was not ready within %ss" % timeout)
        elif not self._done:
            if timeout is not None and not self._fut.wait(_ms(timeout)):
                raise TimeoutError("the result was not ready within %ss" % timeout)
        self._resolve()
        if self._exc is not None:
            raise self._exc
        return self._value


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """The result of map_async / starmap_async."""


class IMapIterator:
    """The iterator imap returns: ``next(timeout)`` raises TimeoutError."""

    def __init__(self, it, progress=None):
        self._it = it
        self._progress = progress

    def __iter__(self):
        return self

    def next(self, timeout=None):
        try:
            value = self._it.next(_ms(timeout))
        except StopIteration:
            if self._progress is not None:
                self._progress.close()
            raise
        except _errors.TimeoutError:
            raise
        except BaseException:
            self._tick()
            raise
        self._tick()
        return value

    __next__ = next

    def _tick(self):
        if self._progress is not None:
            self._progress.update(1)


class IMapUnorderedIterator(IMapIterator):
    pass


# ---- the pool ---------------------------------------------------------------

class Pool:
    """multiprocessing.Pool(processes, initializer, initargs, maxtasksperchild,
    context), plus ``name=``: a named pool shared with other programs."""

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None, *, name=None):
        self._state = RUN
        self._pool = None
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (not isinstance(maxtasksperchild, int) or
                                             isinstance(maxtasksperchild, bool) or
                                             maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        # The environment the workers start in, as spawned children would:
        # this program's as it is now. Tasks of this pool name their
        # functions in it (and it is looked up once, not per task).
        self._env = _current_env()
        init = None
        args = None
        if initializer is not None:
            init, prefix = _functions.resolve(initializer, env=self._env)
            args = list(prefix) + list(initargs)
        self._pool = _polypool.Pool(size=int(processes or 0), maxtasks=maxtasksperchild or 0,
                                    initializer=init, initargs=args, name=name,
                                    env=self._env)
        self._processes = self._pool.size
        self._name = name

    def __repr__(self):
        state = {RUN: "RUN", CLOSE: "CLOSE", TERMINATE: "TERMINATE"}[self._state]
        return "<%s.%s state=%s pool_size=%d%s>" % (
            self.__class__.__module__, self.__class__.__qualname__, state, self._processes,
            " name=%r" % self._name if self._name else "")

    def __reduce__(self):
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")

    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _fn(self, func, kwds=None):
        return _functions.resolve(func, kwds, self._env)

    @staticmethod
    def _args(prefix, args):
        return list(prefix) + list(args) if prefix else list(args)

    def _items(self, iterable, prefix, star):
        """The input as a list of argument lists (star) or of items; a
        prefix (a pickled callable) turns every call into a star call."""
        if not prefix:
            return iterable if isinstance(iterable, list) else list(iterable), star
        if star:
            return [list(prefix) + list(args) for args in iterable], True
        return [list(prefix) + [item] for item in iterable], True

    # apply ------------------------------------------------------------------

    def apply(self, func, args=(), kwds={}):
        self._check_running()
        fn, prefix = self._fn(func, kwds)
        return self._pool.apply(fn, self._args(prefix, args))

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        self._check_running()
        fn, prefix = self._fn(func, kwds)
        return ApplyResult(self, callback, error_callback)._submit(
            self._pool.apply_async, fn, self._args(prefix, args))

    # map --------------------------------------------------------------------

    def _default_chunksize(self, n):
        chunksize, extra = divmod(n, self._processes * 4)
        return chunksize + 1 if extra else chunksize

    def _chunks(self, func, items, chunksize, star):
        """A Python function's input as pickled chunks for run_chunk (one
        task per chunk, as multiprocessing: a pickle each way), made lazily
        so that they can be sent while the first ones run; None for a C
        function (C tasks take native items)."""
        spec = _functions.chunk_spec(func, self._env)
        if spec is None:
            return None
        cs = chunksize or self._default_chunksize(len(items)) or 1
        dumps, hp = pickle.dumps, pickle.HIGHEST_PROTOCOL
        return ([spec, star, dumps(items[i:i + cs], hp)] for i in range(0, len(items), cs))

    @staticmethod
    def _gather(it):
        """The results of a chunk iterator, as map returns them: every
        chunk runs to the end, then the first failure is raised (no fail
        fast, as multiprocessing)."""
        out = []
        first = None
        loads = pickle.loads
        while True:
            try:
                blob = next(it)
            except StopIteration:
                break
            except BaseException as e:  # noqa: B902
                if not isinstance(e, Exception) and not isinstance(e.__cause__, RemoteTraceback):
                    raise           # this program's own Ctrl-C, not a task's
                if first is None:
                    first = e
                continue
            if first is None:
                out.extend(loads(blob))
        if first is not None:
            raise first
        return out

    @staticmethod
    def _unchunk(blobs):
        out = []
        for blob in blobs:
            out.extend(pickle.loads(blob))
        return out

    def _map(self, func, iterable, chunksize, star, progress):
        self._check_running()
        if progress:
            fn, prefix = self._fn(func)
            items, star = self._items(iterable, prefix, star)
            return list(self._imap(fn, items, chunksize or self._default_chunksize(len(items))
                                   or 1, True, star, progress, len(items)))
        items = iterable if isinstance(iterable, list) else list(iterable)
        if not items:
            return []
        chunks = self._chunks(func, items, chunksize, star)
        if chunks is not None:
            # Streamed: results are unpickled while the last chunks run.
            return self._gather(self._pool.imap(_functions.chunk_runner(self._env), chunks, 1,
                                                True, True))
        fn, prefix = self._fn(func)
        items, star = self._items(items, prefix, star)
        return self._pool.map(fn, items, chunksize or 0, star)

    def map(self, func, iterable, chunksize=None, *, progress=False):
        """func applied to every item, in order. ``progress=True`` (or a
        description string) draws a progress bar on stderr."""
        return self._map(func, iterable, chunksize, False, progress)

    def starmap(self, func, iterable, chunksize=None, *, progress=False):
        return self._map(func, iterable, chunksize, True, progress)

    def _map_async(self, func, iterable, chunksize, star, callback, error_callback):
        self._check_running()
        items = iterable if isinstance(iterable, list) else list(iterable)
        chunks = self._chunks(func, items, chunksize, star)
        if chunks is not None:
            return MapResult(self, callback, error_callback, self._unchunk)._submit(
                self._pool.map_async, _functions.chunk_runner(self._env), list(chunks), 1, True)
        fn, prefix = self._fn(func)
        items, star = self._items(items, prefix, star)
        return MapResult(self, callback, error_callback)._submit(
            self._pool.map_async, fn, items, chunksize or 0, star)

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, chunksize, False, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None,
                      error_callback=None):
        return self._map_async(func, iterable, chunksize, True, callback, error_callback)

    # imap -------------------------------------------------------------------

    def _imap(self, fn, iterable, chunksize, ordered, star, progress, total=None):
        bar = None
        if progress:
            from ._progress import progress_bar
            if total is None and hasattr(iterable, "__len__"):
                total = len(iterable)
            bar = progress_bar(total, progress)
        it = self._pool.imap(fn, iterable, chunksize, ordered, star)
        cls = IMapIterator if ordered else IMapUnorderedIterator
        return cls(it, bar)

    def _imap_checked(self, func, iterable, chunksize, ordered, progress):
        self._check_running()
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not {0:n}".format(chunksize))
        fn, prefix = self._fn(func)
        if prefix:
            iterable = (list(prefix) + [item] for item in iterable)
        return self._imap(fn, iterable, chunksize, ordered, bool(prefix), progress)

    def imap(self, func, iterable, chunksize=1, *, progress=False):
        """Like map, lazily: results in order as they come. The input is
        consumed as the results are (a bounded window ahead), not eagerly."""
        return self._imap_checked(func, iterable, chunksize, True, progress)

    def imap_unordered(self, func, iterable, chunksize=1, *, progress=False):
        return self._imap_checked(func, iterable, chunksize, False, progress)

    # life cycle -------------------------------------------------------------

    def close(self):
        if self._state == RUN:
            self._state = CLOSE
            self._pool.close()

    def terminate(self):
        if self._state != TERMINATE and self._pool is not None:
            self._state = TERMINATE
            self._pool.terminate()

    def join(self):
        if self._state == RUN:
            raise ValueError("Pool is still running")
        self._pool.join()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, *exc):
        self.terminate()

    def __del__(self, _warn=warnings.warn, RUN=RUN):
        if getattr(self, "_state", None) == RUN and getattr(self, "_pool", None) is not None:
            _warn("unclosed running multiprocessing pool %r" % self, ResourceWarning,
                  source=self)


class ThreadPool:
    """multiprocessing.pool.ThreadPool: the same API on threads of this
    process (it is the stdlib's; polypool has nothing to add to threads)."""

    def __new__(cls, processes=None, initializer=None, initargs=()):
        from multiprocessing.pool import ThreadPool as _ThreadPool
        return _ThreadPool(processes, initializer, initargs)
