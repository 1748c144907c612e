"""Exceptions: multiprocessing's, plus one class per polypool status.

Every status of the wire (``pp_status`` in C) has a class here; where a
builtin exception means the same thing, the class also inherits it, so
``except ConnectionRefusedError`` catches a missing daemon.
"""
import builtins

from . import _polypool


class ProcessError(Exception):
    """Base class of multiprocessing's errors."""


class BufferTooShort(ProcessError):
    pass


class AuthenticationError(ProcessError):
    pass


class TimeoutError(ProcessError, builtins.TimeoutError):
    """A get() or next() that timed out (multiprocessing.TimeoutError).

    Also a builtin TimeoutError, so either ``except`` catches it.
    """


class PolypoolError(Exception):
    """A failure reported by polypool. ``status`` is the numeric status
    (the wire and C API's), ``status_name`` its name ("ECONNREFUSED"), and
    ``where`` says where a task failed (worker pid, function, item)."""

    status = None

    def __init__(self, message="", *, where="", status=None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.where = where

    @property
    def status_name(self):
        if self.status is None:
            return None
        name = _polypool.strerror(self.status)[0]
        return name[3:] if name.startswith("PP_") else name


def _status_class(name, status, *bases, doc=""):
    cls = type(name, (PolypoolError,) + bases, {"status": status, "__doc__": doc,
                                                 "__module__": __name__})
    return cls


InvalidArgumentError = _status_class("InvalidArgumentError", 1, ValueError,
                                     doc="EINVAL: a bad argument.")
NotFoundError = _status_class("NotFoundError", 2, LookupError,
                              doc="ENOENT: no such pool or object.")
DeadlineError = _status_class("DeadlineError", 3, TimeoutError,
                              doc="ETIMEDOUT: a task's deadline passed.")
ClosedError = _status_class("ClosedError", 4, ValueError,
                            doc="ECLOSED: the pool (or object) is closed or terminated.")
OutOfMemoryError = _status_class("OutOfMemoryError", 5, MemoryError, doc="ENOMEM.")
ProtocolError = _status_class("ProtocolError", 6, doc="EPROTO: a malformed message.")
MessageTooLargeError = _status_class("MessageTooLargeError", 7, ValueError,
                                     doc="EMSGSIZE: a message over the daemon's limit.")
DaemonUnavailableError = _status_class("DaemonUnavailableError", 8, ConnectionRefusedError,
                                       doc="ECONNREFUSED: no daemon (and none could be started).")
ConnectionLostError = _status_class("ConnectionLostError", 9, ConnectionResetError,
                                    doc="ECONNRESET: the daemon went away during a call.")
TaskError = _status_class("TaskError", 10, doc="ETASK: a C task failed; str() is its message.")
WorkerLostError = _status_class("WorkerLostError", 11, ProcessError,
                                doc="EWORKER: the worker died running the task. "
                                    "``signal`` / ``exitcode`` say how.")
LibraryNotFoundError = _status_class("LibraryNotFoundError", 12, ImportError,
                                     doc="ENOLIB: the C task's library could not be loaded.")
SymbolNotFoundError = _status_class("SymbolNotFoundError", 13, AttributeError,
                                    doc="ENOSYM: the symbol is not in the library.")
PermissionDeniedError = _status_class("PermissionDeniedError", 14, PermissionError, doc="EPERM.")
BusyError = _status_class("BusyError", 15, doc="EBUSY: still running or in use.")
CancelledError = _status_class("CancelledError", 16, doc="ECANCELED: the task was cancelled.")
ForkedError = _status_class("ForkedError", 17, doc="EFORKED: a client used in a forked child.")
VersionError = _status_class("VersionError", 18, doc="EVERSION: protocol version mismatch.")
ExistsError = _status_class("ExistsError", 19, FileExistsError, doc="EEXIST.")
NotReadyError = _status_class("NotReadyError", 20, doc="EAGAIN: not ready yet.")
EndOfIterationError = _status_class("EndOfIterationError", 21, doc="EEOF.")
InternalError = _status_class("InternalError", 22, doc="EINTERNAL: a bug in polypool.")
SpawnError = _status_class("SpawnError", 23, OSError,
                           doc="ENOSPAWN: worker processes could not be started.")
OwnerDeadError = _status_class("OwnerDeadError", 24, doc="EOWNERDEAD.")
StateError = _status_class("StateError", 25, ValueError,
                           doc="ESTATE: not valid in the object's current state.")

_BY_STATUS = {c.status: c for c in (
    InvalidArgumentError, NotFoundError, DeadlineError, ClosedError, OutOfMemoryError,
    ProtocolError, MessageTooLargeError, DaemonUnavailableError, ConnectionLostError,
    TaskError, WorkerLostError, LibraryNotFoundError, SymbolNotFoundError,
    PermissionDeniedError, BusyError, CancelledError, ForkedError, VersionError, ExistsError,
    NotReadyError, EndOfIterationError, InternalError, SpawnError, OwnerDeadError, StateError)}


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker: set as the
    ``__cause__`` of the exception re-raised in the client."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


class MaybeEncodingError(Exception):
    """A task's result could not be sent back (it does not pickle)."""

    def __init__(self, exc, value):
        self.exc = repr(exc)
        self.value = repr(value)
        super().__init__(self.exc, self.value)

    def __str__(self):
        return "Error sending result: '%s'. Reason: '%s'" % (self.value, self.exc)

    def __repr__(self):
        return "<%s: %s>" % (self.__class__.__name__, self)


def make_error(status, message, where, index, signal, exit_code, exception, traceback):
    """Builds the exception for a failure (called by the extension)."""
    if exception is not None:
        import pickle
        try:
            exc = pickle.loads(exception)
        except Exception as e:  # the class does not exist here, say
            exc = TaskError("%s (and its exception could not be rebuilt here: %r)"
                            % (message, e), where=where)
        if isinstance(exc, BaseException):
            if traceback:
                exc.__cause__ = RemoteTraceback(traceback)
            return exc
    if status == 3 and not where:
        return TimeoutError(message)
    cls = _BY_STATUS.get(status, PolypoolError)
    exc = cls(message, where=where, status=status)
    if cls is WorkerLostError:
        exc.signal = signal or None
        exc.exitcode = -signal if signal else exit_code
    if traceback:
        exc.__cause__ = RemoteTraceback(traceback)
    return exc
