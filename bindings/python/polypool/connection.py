"""multiprocessing.connection.wait for what polypool's Pool and Process
give: process sentinels (file descriptors) and objects with fileno()."""
import selectors
import time

__all__ = ["wait"]


def wait(object_list, timeout=None):
    """The objects of object_list that are ready (a sentinel whose process
    ended, a readable fd), waiting at most timeout seconds (None: until
    one is)."""
    with selectors.DefaultSelector() as sel:
        for obj in object_list:
            sel.register(obj, selectors.EVENT_READ)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = sel.select(left)
            if ready:
                return [key.fileobj for key, _ in ready]
            if deadline is not None and time.monotonic() >= deadline:
                return []
