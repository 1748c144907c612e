"""The daemon's fork server for Python worker hosts:
``python -m polypool._worker --forkserver 3`` (see runtime/forkserver.h).

It prepares the interpreter once, as a host would (sys.path, the client's
main module under its guard), then forks a host for each request: the child
takes the three file descriptors that came with the request as its fds 3,
1 and 2 and runs the worker loop. Before each fork it checks that no module
it has imported changed on disk since; if one did it answers "stale" and
exits, so a program edited between two runs never runs its old code.

It is single-threaded and never connects to the daemon's socket, so
forking it is safe. It reaps its children and reports their exit statuses.
"""
import os
import socket
import sys

from ._forkloop import ForkLoop, frame


def _send(sock, text):
    sock.sendall(frame(text.encode()))


def _signature(path):
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


def _module_files():
    """{path: (mtime, size, inode)} of every module file imported so far."""
    files = {}
    for m in list(sys.modules.values()):
        path = getattr(m, "__file__", None)
        if isinstance(path, str):
            try:
                files[path] = _signature(path)
            except OSError:
                pass
    return files


def _stale(files):
    for path, sig in files.items():
        try:
            if _signature(path) != sig:
                return True
        except OSError:
            return True
    return False


def _run_host(fds):
    """The forked child: becomes a worker host."""
    for target, fd in zip((3, 1, 2), fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd not in (1, 2, 3):
            os.close(fd)
    os.set_inheritable(3, False)
    code = 1
    try:
        from . import _worker
        code = _worker.run_host(["--fd", "3"])
    finally:
        _worker.flush()
        os._exit(code)


def main(fd):
    import time
    from . import _worker
    started = time.time_ns()
    _worker.prepare()
    sock = socket.socket(fileno=fd)
    if _worker._main_error is not None:
        # Hosts report this error task by task; a server has no use.
        _send(sock, "failed the main module does not import: %r" % (_worker._main_error,))
        return 0
    # Everything a host needs, loaded once here rather than in each host.
    from . import _polypool  # noqa: F401
    files = _module_files()
    # A file written while it was being imported may have been read half
    # written or old: such a server is not to be trusted (the next host
    # started the slow way asks for a new one). File times come from a
    # coarse clock, hence the 50 ms of slack.
    if any(sig[0] >= started - 50_000_000 for sig in files.values()):
        _send(sock, "failed a module changed while it was imported")
        return 0
    _send(sock, "ready %d" % os.getpid())
    loop = ForkLoop(sock, 4096, 3)

    def on_request(payload, fds):
        msg = payload.decode(errors="replace")
        if msg != "fork" or len(fds) != 3:
            for f in fds:
                os.close(f)
            _send(sock, "failed unexpected request %r" % msg)
            return True
        if _stale(files):
            _send(sock, "stale")
            return False
        pid = loop.fork()
        if pid == 0:
            _run_host(fds)
        for f in fds:
            os.close(f)
        _send(sock, "forked %d" % pid)
        return True

    return loop.run(on_request, lambda pid, status: _send(sock, "exited %d %d" % (pid, status)))
