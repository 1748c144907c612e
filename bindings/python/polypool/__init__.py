"""polypool: Python's multiprocessing as a runtime service.

``import polypool as multiprocessing`` and programs written for
multiprocessing run on polypool: Pool work goes to warm worker processes
owned by the polypool daemon (shared with other programs, C or Python),
and Process children start with spawn semantics. See docs/python-api.md.

Beyond multiprocessing: ``cfunc(library, symbol)`` runs C functions in
pools; ``Pool(name=...)`` shares a named pool between programs; map and
imap take ``progress=True``; every polypool failure is a PolypoolError
subclass carrying its status.
"""
import os as _os
import sys as _sys

# Workers import this program's main script as __mp_main__ (spawn
# semantics): objects of classes defined there come back pickled under
# that name, so it must name the main module here too (as
# multiprocessing does).
_sys.modules.setdefault("__mp_main__", _sys.modules.get("__main__"))

from . import _polypool
from ._errors import (  # noqa: F401
    AuthenticationError, BufferTooShort, BusyError, CancelledError, ClosedError,
    ConnectionLostError, DaemonUnavailableError, DeadlineError, ExistsError, ForkedError,
    EndOfIterationError, InternalError, InvalidArgumentError, LibraryNotFoundError,
    MaybeEncodingError, MessageTooLargeError, NotFoundError, NotReadyError, OutOfMemoryError,
    OwnerDeadError, PermissionDeniedError, PolypoolError, ProcessError, ProtocolError,
    RemoteTraceback, SpawnError, StateError, SymbolNotFoundError, TaskError, TimeoutError,
    VersionError, WorkerLostError, make_error as _make_error)
from ._functions import CFunction, cfunc  # noqa: F401
from . import _shared  # noqa: F401,E402  (registers the handle rebuilder)

__version__ = _polypool.VERSION

__all__ = [
    "Process", "current_process", "active_children", "parent_process", "cpu_count", "Pool",
    "freeze_support", "get_context", "get_start_method", "set_start_method",
    "get_all_start_methods", "set_executable", "set_forkserver_preload", "get_logger",
    "log_to_stderr", "allow_connection_pickling",
    "ProcessError", "BufferTooShort", "AuthenticationError", "TimeoutError",
    "cfunc", "CFunction", "PolypoolError", "WorkerLostError", "TaskError",
    "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
    "Value", "Array", "RawValue", "RawArray", "Queue", "SimpleQueue", "JoinableQueue", "Pipe",
    "Manager",
]

# The Pool and Process machinery loads on first use (PEP 562): every worker
# host and every child imports this package, through the main script, and
# most of them never touch it. pickle, threading and traceback alone cost
# a Python start-up ~20 ms.
_LAZY = {
    "Pool": ("pool", "Pool"),
    "Process": ("process", "Process"),
    "current_process": ("process", "current_process"),
    "parent_process": ("process", "parent_process"),
    "active_children": ("process", "active_children"),
    "Lock": ("synchronize", "Lock"),
    "RLock": ("synchronize", "RLock"),
    "Semaphore": ("synchronize", "Semaphore"),
    "BoundedSemaphore": ("synchronize", "BoundedSemaphore"),
    "Condition": ("synchronize", "Condition"),
    "Event": ("synchronize", "Event"),
    "Barrier": ("synchronize", "Barrier"),
    "Value": ("sharedctypes", "Value"),
    "Array": ("sharedctypes", "Array"),
    "RawValue": ("sharedctypes", "RawValue"),
    "RawArray": ("sharedctypes", "RawArray"),
    "Queue": ("queues", "Queue"),
    "SimpleQueue": ("queues", "SimpleQueue"),
    "JoinableQueue": ("queues", "JoinableQueue"),
    "Pipe": ("connection", "Pipe"),
    "Manager": ("managers", "Manager"),
}
_CONTEXT_FUNCTIONS = (
    "cpu_count", "freeze_support", "get_context", "get_start_method", "set_start_method",
    "get_all_start_methods", "set_executable", "set_forkserver_preload", "get_logger",
    "log_to_stderr", "allow_connection_pickling")
_SUBMODULES = ("pool", "process", "context", "connection", "synchronize", "sharedctypes",
               "shared_memory", "queues", "managers")


def __getattr__(name):
    import importlib
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module("." + module, __name__), attr)
    elif name in _CONTEXT_FUNCTIONS:
        value = getattr(importlib.import_module(".context", __name__)._default, name)
    elif name in _SUBMODULES:
        value = importlib.import_module("." + name, __name__)
    else:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_CONTEXT_FUNCTIONS) | set(_SUBMODULES))


def _write_output(fd, data):
    """Task output, written through sys.stdout / sys.stderr so it keeps its
    place among this program's own prints."""
    stream = _sys.stdout if fd == 1 else _sys.stderr
    if stream is None:
        return
    try:
        raw = getattr(stream, "buffer", None)
        if raw is None:             # a text-only stream (io.StringIO)
            stream.write(data.decode("utf-8", "replace"))
            return
        # The bytes as they are, behind what the text layer holds: no
        # decoding and re-encoding of megabytes a child printed.
        stream.flush()
        raw.write(data)
        if getattr(stream, "line_buffering", False) or getattr(stream, "write_through", False):
            raw.flush()
    except (OSError, ValueError):
        _os.write(fd, data)


def _pickle_dumps(obj):
    import pickle
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_loads(data):
    import pickle
    return pickle.loads(data)


def _future_ready(result):
    from .pool import _future_ready
    _future_ready(result)


_polypool._setup({
    "make_error": _make_error,
    "pickle_dumps": _pickle_dumps,
    "pickle_loads": _pickle_loads,
    "write_output": _write_output,
    "future_ready": _future_ready,
})
