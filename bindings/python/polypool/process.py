"""multiprocessing.Process on polypool.

A Process is a child of this program started with spawn semantics: a
fresh interpreter (``python -m polypool._worker --process 3``) that gets
this program's sys.path, imports its main module as __mp_main__, unpickles
the Process object from a memfd on fd 3 and runs it. Being a real child,
its exit code, signals and stdout/stderr are the operating system's own:
output shows up live on this program's stdout and stderr, ``exitcode`` is
``-N`` when signal N killed it, and ``sentinel`` is a pidfd that becomes
readable when it ends.
"""
import atexit
import itertools
import os
import pickle
import signal
import sys
import threading

from . import _env

__all__ = ["Process", "current_process", "parent_process", "active_children"]

_children = set()
_counter = itertools.count(1)


def _flush_std_streams():
    for f in (sys.stdout, sys.stderr):
        try:
            if f is not None:
                f.flush()
        except (AttributeError, ValueError, OSError):
            pass


class BaseProcess:
    """The state every process object shares (this program's and children's)."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs={}, *,
                 daemon=None):
        assert group is None, "group argument must be None for now"
        count = next(_counter)
        parent = _current
        self._identity = parent._identity + (count,)
        self._config = dict(parent._config)
        self._parent_pid = os.getpid()
        self._parent_name = parent.name
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs)
        self._name = name or type(self).__name__ + "-" + ":".join(str(i) for i in self._identity)
        self._pid = None
        self._pidfd = None
        self._zygote = None
        self._dproc = None          # a process the daemon started (C target)
        self._exitcode = None
        self._closed = False
        if daemon is not None:
            self.daemon = daemon

    def run(self):
        """What the process does: target(*args, **kwargs). Override it."""
        if self._target:
            self._target(*self._args, **self._kwargs)

    # state -------------------------------------------------------------------

    def _check_closed(self):
        if self._closed:
            raise ValueError("process object is closed")

    def start(self):
        """Starts the process (at most once)."""
        self._check_closed()
        assert self._pid is None, "cannot start a process twice"
        assert self._parent_pid == os.getpid(), "can only start a process object created by current process"
        assert not _current._config.get("daemon"), "daemonic processes are not allowed to have children"
        _reap()
        if _runs_c_function(self):
            _start_in_daemon(self)
        else:
            _spawn(self)
        # As multiprocessing does: the child has its own copies now.
        del self._target, self._args, self._kwargs
        _children.add(self)

    def _poll(self, timeout):
        """exitcode after waiting up to timeout seconds (None: forever)."""
        if self._exitcode is not None or self._pid is None:
            return self._exitcode
        if self._dproc is not None:
            return self._poll_daemon(timeout)
        if timeout is not None:
            import select
            try:
                ready = select.select([self._pidfd], [], [], max(timeout, 0))[0]
            except InterruptedError:
                ready = []
            if not ready:
                return None
        if self._zygote is not None:
            # Not our child: the fork helper reaped it and reports.
            if timeout is None:
                import select
                select.select([self._pidfd], [], [])
            status = self._zygote.wait_status(self._pid)
            if status is None:           # the helper died: the status is lost
                status = 255 << 8
        else:
            while True:
                try:
                    pid, status = os.waitpid(self._pid, 0)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:
                    status = 0
                    break
        self._exitcode = os.waitstatus_to_exitcode(status)
        os.close(self._pidfd)
        self._pidfd = None
        _children.discard(self)
        return self._exitcode

    def _poll_daemon(self, timeout):
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        if not self._dproc.join(ms):
            return None
        self._exitcode = self._dproc.exitcode()
        self._dproc.free()
        self._dproc = None
        _children.discard(self)
        return self._exitcode

    def join(self, timeout=None):
        """Waits for the process to end, at most timeout seconds. Returns
        None either way: check exitcode."""
        self._check_closed()
        assert self._parent_pid == os.getpid(), "can only join a child process"
        assert self._pid is not None, "can only join a started process"
        self._poll(timeout)

    def is_alive(self):
        self._check_closed()
        if self is _current:
            return True
        assert self._parent_pid == os.getpid(), "can only test a child process"
        if self._pid is None:
            return False
        return self._poll(0) is None

    def _signal(self, sig):
        self._check_closed()
        if self._dproc is not None and sig in (signal.SIGTERM, signal.SIGKILL):
            (self._dproc.terminate if sig == signal.SIGTERM else self._dproc.kill)()
        elif self._pid is not None and self._exitcode is None:
            try:
                os.kill(self._pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self):
        """SIGTERM: the process ends at once (no finally blocks run)."""
        self._signal(signal.SIGTERM)

    def kill(self):
        """SIGKILL."""
        self._signal(signal.SIGKILL)

    def interrupt(self):
        """SIGINT: KeyboardInterrupt in the process."""
        self._signal(signal.SIGINT)

    def close(self):
        """Releases the process's resources; later uses raise ValueError."""
        if self._closed:
            return
        if self._pid is not None and self._poll(0) is None:
            raise ValueError("Cannot close a process while it is still running. "
                             "You should first call join() or terminate().")
        self._release()
        self._closed = True

    # attributes --------------------------------------------------------------

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):
        assert isinstance(name, str), "name must be a string"
        self._name = name

    @property
    def daemon(self):
        return self._config.get("daemon", False)

    @daemon.setter
    def daemon(self, daemonic):
        assert self._pid is None, "process has already started"
        self._config["daemon"] = daemonic

    @property
    def authkey(self):
        return self._config.get("authkey", b"")

    @authkey.setter
    def authkey(self, authkey):
        self._config["authkey"] = bytes(authkey)

    @property
    def exitcode(self):
        self._check_closed()
        if self._pid is None:
            return self._exitcode
        return self._poll(0)

    @property
    def ident(self):
        self._check_closed()
        return os.getpid() if self is _current else self._pid

    pid = ident

    @property
    def sentinel(self):
        """A file descriptor that becomes readable when the process ends."""
        self._check_closed()
        if self._pidfd is None and self._pid is None:
            raise ValueError("process not started")
        if self._pidfd is None and self._dproc is not None:
            try:                        # not our child, but a pidfd tells its end
                self._pidfd = os.pidfd_open(self._pid)
            except ProcessLookupError:
                pass
        if self._pidfd is None:         # ended and reaped: a readable stand-in
            r, w = os.pipe()
            os.close(w)
            self._pidfd = r
        return self._pidfd

    def _release(self):
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        if self._dproc is not None:
            self._dproc.free()
            self._dproc = None

    def __repr__(self):
        if self is _current:
            status = "started"
        elif self._closed:
            status = "closed"
        elif self._parent_pid != os.getpid():
            status = "unknown"
        elif self._pid is None:
            status = "initial"
        else:
            code = self._poll(0)
            status = "started" if code is None else "stopped"
        info = [type(self).__name__, "name=%r" % self._name]
        if self._pid is not None:
            info.append("pid=%s" % self._pid)
        info.append("parent=%s" % self._parent_pid)
        info.append(status)
        if status == "stopped":
            code = self._exitcode
            if code < 0:
                try:
                    code = signal.Signals(-code).name
                    code = "-" + code
                except ValueError:
                    pass
            info.append("exitcode=%s" % code)
        if self.daemon:
            info.append("daemon")
        return "<%s>" % " ".join(info)

    def __reduce_ex__(self, protocol):
        # Only the spawn machinery sends a process object (see _spawn).
        if not getattr(_sending, "on", False):
            raise TypeError("Pickling a Process object is not allowed: pass what it needs "
                            "as arguments")
        import copyreg
        return (copyreg.__newobj__, (type(self),), self.__getstate__())

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pidfd"] = None
        state["_pid"] = None
        state["_zygote"] = None
        state["_dproc"] = None
        return state

    # in the child ------------------------------------------------------------

    def _bootstrap(self):
        """Runs the process in the child; returns its exit code."""
        global _current, _parent
        _children.clear()
        _current = self
        self._pid = os.getpid()
        _parent = _ParentProcess(self._parent_name, self._parent_pid)
        try:
            sys.stdin.close()
            sys.stdin = open(os.devnull)
        except (OSError, ValueError):
            pass
        try:
            exitcode = _run_as_process(self.run, self.name)
        finally:
            _exit_children()
            _flush_std_streams()
        return exitcode


def _run_as_process(run, name):
    """run() as a process's whole life: returns the exit code, 0, the code
    of a SystemExit, or 1 after printing "Process NAME:" and the traceback
    of any other exception (multiprocessing's _bootstrap)."""
    try:
        run()
        return 0
    except SystemExit as e:
        if e.code is None:
            return 0
        if isinstance(e.code, int):
            return e.code
        sys.stderr.write(str(e.code) + "\n")
        return 1
    except BaseException:
        import traceback
        sys.stderr.write("Process %s:\n" % name)
        traceback.print_exc()
        return 1


class Process(BaseProcess):
    """multiprocessing.Process(group=None, target=None, name=None, args=(),
    kwargs={}, *, daemon=None)."""


class _MainProcess(BaseProcess):
    def __init__(self):
        self._identity = ()
        self._name = "MainProcess"
        self._parent_pid = None
        self._pid = None
        self._pidfd = None
        self._zygote = None
        self._exitcode = None
        self._closed = False
        self._config = {"authkey": os.urandom(32)}

    def close(self):
        pass


class _ParentProcess:
    """parent_process() in a child: its name and pid."""

    def __init__(self, name, pid):
        self.name = name
        self.pid = self.ident = pid

    def is_alive(self):
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def join(self, timeout=None):
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(0.01)

    def __repr__(self):
        return "<_ParentProcess name=%r pid=%s>" % (self.name, self.pid)


_current = _MainProcess()
_parent = None
_sending = threading.local()


def current_process():
    """The Process object of this process ('MainProcess' in the main one)."""
    return _current


def parent_process():
    """The parent of this process, or None in the main process."""
    return _parent


def _reap():
    for p in list(_children):
        if p._pid is not None and p._exitcode is None:
            p._poll(0)


def active_children():
    """The live children of this process (finished ones are reaped)."""
    _reap()
    return list(_children)


# ---- spawning ---------------------------------------------------------------

def _child_environ(env):
    interpreter, path, main_path, main_module, cwd = env[:5]
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(path)
    e["POLYPOOL_PY_PATH"] = "\x1f".join(path)
    e["POLYPOOL_PY_MAIN_PATH"] = main_path or ""
    e["POLYPOOL_PY_MAIN_MODULE"] = main_module or ""
    return e


def _hold_until_loaded(r, kept):
    """Keeps the shared objects of a child's arguments until the child has
    unpickled them (it closes its end of the pipe, or dies)."""
    try:
        os.read(r, 1)
    finally:
        os.close(r)
        kept.clear()


def _runs_c_function(proc):
    """A Process whose target is a C function (polypool.cfunc) and whose
    run() is the default: the daemon starts it (no interpreter needed)."""
    from ._functions import CFunction
    return isinstance(proc._target, CFunction) and type(proc).run is BaseProcess.run


def _start_in_daemon(proc):
    if proc._kwargs:
        raise TypeError("a C function target takes no keyword arguments")
    from ._polypool import process_start
    _flush_std_streams()
    proc._dproc = process_start(proc._target._fn, list(proc._args), proc._name,
                                bool(proc.daemon))
    proc._pid = proc._dproc.pid()


def _spawn(proc):
    env = _env.current()
    interpreter = env[0]
    if not interpreter:
        raise RuntimeError("cannot start a process: sys.executable is not set")
    from . import _shared
    _sending.on = True
    kept = _shared.collect()
    try:
        payload = pickle.dumps(proc, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        _sending.on = False
        _shared.stop_collecting()
    # The child closes ack once it has its arguments: until then this
    # process holds the shared objects among them (a pipe end the caller
    # closes right after start() must still reach the child).
    r, ack = os.pipe()
    try:
        _start(proc, env, interpreter, payload, ack)
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(ack)
    if kept:
        threading.Thread(target=_hold_until_loaded, args=(r, kept), daemon=True,
                         name="polypool-handoff").start()
    else:
        os.close(r)


def _start(proc, env, interpreter, payload, ack):
    if _use_zygote():
        from . import _zygote
        _flush_std_streams()
        for attempt in (1, 2):
            z = _zygote.get(env, _child_environ(env))
            try:
                pid = z.fork(payload, os.getcwd(), dict(os.environ), ack)
                break
            except (EOFError, BrokenPipeError, ConnectionResetError):
                if attempt == 2:    # a helper that dies at once: say so
                    raise OSError("cannot start the process: the process helper exited")
        proc._pid = pid
        proc._zygote = z
        proc._pidfd = os.pidfd_open(pid)
        os.set_inheritable(proc._pidfd, False)
        return
    fd = os.memfd_create("polypool-process", os.MFD_CLOEXEC)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        _flush_std_streams()
        argv = [interpreter, "-m", "polypool._worker", "--process", "3", "--ack", "4"]
        pid = os.posix_spawn(interpreter, argv, _child_environ(env),
                             file_actions=[(os.POSIX_SPAWN_DUP2, fd, 3),
                                           (os.POSIX_SPAWN_DUP2, ack, 4)])
    finally:
        os.close(fd)
    proc._pid = pid
    proc._pidfd = os.pidfd_open(pid)
    os.set_inheritable(proc._pidfd, False)


def _use_zygote():
    """Fork server unless POLYPOOL_PROCESS_START=spawn asks for a fresh
    interpreter per process (see _zygote.py)."""
    return os.environ.get("POLYPOOL_PROCESS_START", "forkserver") != "spawn"


def _child_main(argv):
    """The child side: ``python -m polypool._worker --process FD``."""
    from . import _worker
    fd = int(argv[argv.index("--process") + 1])
    ack = int(argv[argv.index("--ack") + 1]) if "--ack" in argv else -1
    with os.fdopen(fd, "rb") as f:
        payload = f.read()
    _worker.prepare()
    if _worker._main_error is not None:
        raise _worker._main_error
    try:
        proc = pickle.loads(payload)
    finally:
        if ack >= 0:
            os.close(ack)       # the parent may let go of our arguments
    return proc._bootstrap()


# ---- exit -------------------------------------------------------------------

def _exit_children():
    """As multiprocessing at exit: daemonic children are terminated, the
    others joined."""
    for p in list(_children):
        if p.daemon:
            p.terminate()
    for p in list(_children):
        try:
            p.join()
        except (AssertionError, ValueError):
            pass


atexit.register(_exit_children)
