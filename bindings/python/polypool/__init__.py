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
import pickle as _pickle
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
from .process import Process, active_children, current_process, parent_process  # noqa: F401
from .pool import Pool  # noqa: F401
from . import context as _context
from .pool import _future_ready

__version__ = _polypool.VERSION

__all__ = [
    "Process", "current_process", "active_children", "parent_process", "cpu_count", "Pool",
    "freeze_support", "get_context", "get_start_method", "set_start_method",
    "get_all_start_methods", "set_executable", "set_forkserver_preload", "get_logger",
    "log_to_stderr", "allow_connection_pickling",
    "ProcessError", "BufferTooShort", "AuthenticationError", "TimeoutError",
    "cfunc", "CFunction", "PolypoolError", "WorkerLostError", "TaskError",
]


def _write_output(fd, data):
    """Task output, written through sys.stdout / sys.stderr so it keeps its
    place among this program's own prints."""
    stream = _sys.stdout if fd == 1 else _sys.stderr
    if stream is None:
        return
    try:
        stream.write(data.decode("utf-8", "replace"))
    except (OSError, ValueError):
        _os.write(fd, data)


_polypool._setup({
    "make_error": _make_error,
    "pickle_dumps": lambda o: _pickle.dumps(o, protocol=_pickle.HIGHEST_PROTOCOL),
    "pickle_loads": _pickle.loads,
    "write_output": _write_output,
    "future_ready": _future_ready,
})

_default = _context._default
cpu_count = _default.cpu_count
freeze_support = _default.freeze_support
get_context = _default.get_context
get_start_method = _default.get_start_method
set_start_method = _default.set_start_method
get_all_start_methods = _default.get_all_start_methods
set_executable = _default.set_executable
set_forkserver_preload = _default.set_forkserver_preload
get_logger = _default.get_logger
log_to_stderr = _default.log_to_stderr
allow_connection_pickling = _default.allow_connection_pickling
