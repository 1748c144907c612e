"""A fork server for Process: spawn semantics at the price of a fork.

The first Process.start() of a program starts one helper interpreter
(``python -m polypool._worker --zygote 3``) with the program's
environment: it sets up sys.path and imports the main module under its
``__main__`` guard, exactly as a spawned child would, then waits. Every
start after that asks it to fork: the child gets this program's current
stdout and stderr (passed over the socket), working directory and
environment variables,
unpickles its Process object and runs it. A spawned interpreter costs
tens of milliseconds; a fork of a ready one, a few.

The helper is single-threaded and never connects to the daemon, so
forking it is safe. Children are its children, so it reaps them and
reports each exit status back; the program sees them through
Process.exitcode as usual. When the program exits, the helper sees EOF
and exits too (children still running carry on, as with multiprocessing).

Frames both ways: a 4-byte little-endian length and a pickle.
  program -> helper: (payload, cwd, environ) with fds [stdout, stderr, ack]:
  the child closes ack once it has unpickled the payload
  helper -> program: ("forked", pid) | ("failed", message) | ("exited", pid, status)
"""
import os
import pickle
import socket
import sys
import threading

from ._forkloop import HDR as _HDR, ForkLoop, frame


def _send(sock, obj, fds=()):
    msg = frame(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    if fds:
        n = socket.send_fds(sock, [msg], list(fds))
        msg = msg[n:]
    if msg:
        sock.sendall(msg)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("the process helper went away")
        buf += chunk
    return bytes(buf)


class Zygote:
    """The program side: one helper per environment."""

    def __init__(self, env, environ):
        from .process import _flush_std_streams
        interpreter = env[0]
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _flush_std_streams()
            argv = [interpreter, "-m", "polypool._worker", "--zygote", "3"]
            self.pid = os.posix_spawn(interpreter, argv, environ,
                                      file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)])
        finally:
            theirs.close()
        self.sock = mine
        self.lock = threading.Lock()
        self.status = {}        # pid -> wait status, reported but not yet collected
        self.dead = False

    def _read(self):
        """Reads one message (the lock is held)."""
        (n,) = _HDR.unpack(_recv_exact(self.sock, _HDR.size))
        msg = pickle.loads(_recv_exact(self.sock, n))
        if msg[0] == "exited":
            self.status[msg[1]] = msg[2]
            return None
        return msg

    def fork(self, payload, cwd, environ, ack=None):
        with self.lock:
            try:
                _send(self.sock, (payload, cwd, environ),
                      fds=(1, 2) if ack is None else (1, 2, ack))
            except OSError:
                self.dead = True        # get() starts a new helper
                raise
            while True:
                try:
                    msg = self._read()
                except (EOFError, OSError):
                    self.dead = True
                    raise
                if msg is None:
                    continue
                if msg[0] == "forked":
                    return msg[1]
                raise OSError("cannot start the process: %s" % msg[1])

    def wait_status(self, pid):
        """The wait status of child pid, which has ended (its pidfd said
        so); reads the helper's reports until it is there."""
        with self.lock:
            while pid not in self.status:
                if self.dead:
                    return None
                try:
                    self._read()
                except (EOFError, OSError):
                    self.dead = True
                    return None
            return self.status.pop(pid)


_zygotes = {}
_zlock = threading.Lock()


def _close_all():
    """At exit: the helpers see EOF and exit; no socket is left to warn."""
    for z in _zygotes.values():
        z.sock.close()


def get(env, environ):
    """The helper for env, started on first use (and again if it died).
    Environment variables do not count: each fork request carries them
    (a program that sets one must not get a new helper each time)."""
    key = (env[0], tuple(env[1])) + tuple(env[2:5])
    with _zlock:
        z = _zygotes.get(key)
        if z is None or z.dead:
            if not _zygotes:
                import atexit
                atexit.register(_close_all)
            z = _zygotes[key] = Zygote(env, environ)
        return z


# ---- the helper side ----------------------------------------------------------

def _run_child(payload, cwd, environ, fds):
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    ack = fds[2] if len(fds) > 2 else -1
    for fd in fds[:2]:
        os.close(fd)
    if cwd:
        try:
            os.chdir(cwd)
        except OSError:
            pass
    code = 1
    try:
        try:
            proc = pickle.loads(payload)
        finally:
            if ack >= 0:
                os.close(ack)   # the program may let go of our arguments
        code = proc._bootstrap()
    except BaseException:  # noqa: B902 - reported, and the child ends
        import traceback
        traceback.print_exc()
    finally:
        try:
            import atexit
            atexit._run_exitfuncs()
        finally:
            for f in (sys.stdout, sys.stderr):
                try:
                    f.flush()
                except Exception:
                    pass
            os._exit(code if isinstance(code, int) else 1)


def main(fd):
    """``python -m polypool._worker --zygote FD``: serve fork requests."""
    from . import _worker
    from . import process   # noqa: F401 - every child needs it: imported once, here
    _worker.prepare()
    sock = socket.socket(fileno=fd)
    loop = ForkLoop(sock, 1 << 20, 16)

    def on_request(data, fds):
        payload, cwd, environ = pickle.loads(data)
        if _worker._main_error is not None:
            for f in fds:
                os.close(f)
            _send(sock, ("failed", "the main module failed to import: %r"
                         % (_worker._main_error,)))
            return True
        pid = loop.fork()
        if pid == 0:
            _run_child(payload, cwd, environ, fds)
        for f in fds:
            os.close(f)
        _send(sock, ("forked", pid))
        return True

    return loop.run(on_request, lambda pid, status: _send(sock, ("exited", pid, status)))
