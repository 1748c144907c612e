"""The Python task of the counter example."""


def add(counter, n):
    """Adds 1 to a shared counter n times under its lock; returns n."""
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1
    return n
