"""Python tasks for the C integration test of ShareableList
(tests/integration/test-shared.c): a C program and these tasks, run by a
pool's Python worker, share lists by name."""
from polypool import shared_memory

# Lists made here, held by the worker so that they outlive the task.
_kept = []


def sl_list(name):
    """[the items, the format] of the list named name."""
    sl = shared_memory.ShareableList(name=name)
    try:
        return [list(sl), sl.format]
    finally:
        sl.shm.close()


def sl_set(name, index, value):
    sl = shared_memory.ShareableList(name=name)
    try:
        sl[index] = value
    finally:
        sl.shm.close()


def sl_make(name, items):
    """A new list named name; returns its format."""
    sl = shared_memory.ShareableList(items, name=name)
    _kept.append(sl)
    return sl.format
