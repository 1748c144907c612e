"""The loop both fork servers run (_zygote.py for Process children,
_forkserver.py for the daemon's worker hosts): read framed requests (a
4-byte little-endian length, then the payload, with file descriptors
attached), fork on request, reap the children and report their exit
statuses. Single-threaded, so forking from it is safe.
"""
import os
import selectors
import socket
import struct

HDR = struct.Struct("<I")


def frame(data):
    return HDR.pack(len(data)) + data


class ForkLoop:
    def __init__(self, sock, bufsize, maxfds):
        self.sock = sock
        self.bufsize = bufsize
        self.maxfds = maxfds
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, None)

    def fork(self):
        """os.fork(); in the child the loop's sockets are closed, in the
        parent the child is watched (on_exit reports it)."""
        pid = os.fork()
        if pid == 0:
            self.sel.close()
            self.sock.close()
        else:
            self.sel.register(os.pidfd_open(pid), selectors.EVENT_READ, pid)
        return pid

    def run(self, on_request, on_exit):
        """Serves until EOF on the socket: on_request(payload, fds) for each
        request (it owns the fds; they come with the first request of a
        read), on_exit(pid, wait_status) for each child that ended.
        on_request returns False to stop. Returns 0.

        A request larger than one read comes in several, with its fds in the
        first: they wait in `pending` until the request is complete (the
        program sends one request at a time and waits for its answer)."""
        buf = b""
        pending = []
        while True:
            for key, _ in self.sel.select():
                if key.data is not None:              # a child's pidfd: it ended
                    pid = key.data
                    self.sel.unregister(key.fileobj)
                    os.close(key.fileobj)
                    try:
                        _, status = os.waitpid(pid, 0)
                    except ChildProcessError:
                        status = 255 << 8
                    on_exit(pid, status)
                    continue
                data, fds, _, _ = socket.recv_fds(self.sock, self.bufsize, self.maxfds)
                if not data:
                    for fd in fds + pending:
                        os.close(fd)
                    return 0                          # the other end is gone
                buf += data
                pending += fds
                while len(buf) >= HDR.size and len(buf) >= HDR.size + HDR.unpack_from(buf)[0]:
                    n = HDR.unpack_from(buf)[0]
                    payload = buf[HDR.size:HDR.size + n]
                    buf = buf[HDR.size + n:]
                    go_on = on_request(payload, pending)
                    pending = []
                    if go_on is False:
                        return 0
