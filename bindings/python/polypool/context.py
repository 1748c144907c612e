"""Contexts and start methods.

polypool has one way to start work: the daemon's worker hosts and
spawned children, with spawn semantics (the main module is imported under
its ``__main__`` guard). ``get_context(method)`` accepts multiprocessing's
names ('spawn', 'fork', 'forkserver') so programs that ask for one keep
working, and returns the same API; the method is recorded, not obeyed.
"""
import os

from . import pool as _pool
from . import process as _process

_METHODS = ("spawn", "fork", "forkserver")


class BaseContext:
    from ._errors import (AuthenticationError, BufferTooShort, ProcessError,  # noqa: F401
                          TimeoutError)

    Process = _process.Process
    current_process = staticmethod(_process.current_process)
    parent_process = staticmethod(_process.parent_process)
    active_children = staticmethod(_process.active_children)

    def __init__(self, method=None):
        self._method = method

    def cpu_count(self):
        """Number of CPUs of this machine (os.cpu_count())."""
        n = os.cpu_count()
        if n is None:
            raise NotImplementedError("cannot determine number of cpus")
        return n

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None, *,
             name=None):
        return _pool.Pool(processes, initializer, initargs, maxtasksperchild, context=self,
                          name=name)

    def Lock(self):
        from .synchronize import Lock
        return Lock()

    def RLock(self):
        from .synchronize import RLock
        return RLock()

    def Condition(self, lock=None):
        from .synchronize import Condition
        return Condition(lock)

    def Semaphore(self, value=1):
        from .synchronize import Semaphore
        return Semaphore(value)

    def BoundedSemaphore(self, value=1):
        from .synchronize import BoundedSemaphore
        return BoundedSemaphore(value)

    def Event(self):
        from .synchronize import Event
        return Event()

    def Barrier(self, parties, action=None, timeout=None):
        from .synchronize import Barrier
        return Barrier(parties, action, timeout)

    def RawValue(self, typecode_or_type, *args):
        from .sharedctypes import RawValue
        return RawValue(typecode_or_type, *args)

    def RawArray(self, typecode_or_type, size_or_initializer):
        from .sharedctypes import RawArray
        return RawArray(typecode_or_type, size_or_initializer)

    def Value(self, typecode_or_type, *args, lock=True):
        from .sharedctypes import Value
        return Value(typecode_or_type, *args, lock=lock)

    def Array(self, typecode_or_type, size_or_initializer, *, lock=True):
        from .sharedctypes import Array
        return Array(typecode_or_type, size_or_initializer, lock=lock)

    def Queue(self, maxsize=0):
        from .queues import Queue
        return Queue(maxsize)

    def JoinableQueue(self, maxsize=0):
        from .queues import JoinableQueue
        return JoinableQueue(maxsize)

    def SimpleQueue(self):
        from .queues import SimpleQueue
        return SimpleQueue()

    def Manager(self):
        from .managers import Manager
        return Manager()

    def Pipe(self, duplex=True):
        from .connection import Pipe
        return Pipe(duplex)

    def freeze_support(self):
        """Accepted for compatibility: polypool needs nothing for frozen
        programs on Linux (workers start the interpreter, not the program)."""

    def get_context(self, method=None):
        if method is None:
            return _default
        if method not in _METHODS:
            raise ValueError("cannot find context for %r" % (method,))
        return _contexts[method]

    def get_start_method(self, allow_none=False):
        return self._method

    def set_start_method(self, method, force=False):
        raise ValueError("cannot set start method of concrete context")

    def get_all_start_methods(self):
        return list(_METHODS)

    def set_executable(self, executable):
        """Accepted: workers and processes use the submitting interpreter."""

    def set_forkserver_preload(self, module_names):
        if not all(type(m) is str for m in module_names):
            raise TypeError("module_names must be a list of strings")

    def get_logger(self):
        import multiprocessing.util
        return multiprocessing.util.get_logger()

    def log_to_stderr(self, level=None):
        import multiprocessing.util
        return multiprocessing.util.log_to_stderr(level)

    def allow_connection_pickling(self):
        pass


class DefaultContext(BaseContext):
    def __init__(self):
        super().__init__(None)
        self._actual = None

    def get_context(self, method=None):
        if method is None:
            if self._actual is None:
                self._actual = _contexts["spawn"]
            return self._actual
        return super().get_context(method)

    def get_start_method(self, allow_none=False):
        if self._actual is None:
            if allow_none:
                return None
            self._actual = _contexts["spawn"]
        return self._actual._method

    def set_start_method(self, method, force=False):
        if self._actual is not None and not force:
            raise RuntimeError("context has already been set")
        if method is None and force:
            self._actual = None
            return
        self._actual = self.get_context(method)


_contexts = {m: BaseContext(m) for m in _METHODS}
_default = DefaultContext()
