"""Task functions for the Python-client benchmarks (bench/bench_py.py).

They live in a module of their own, not in the benchmark's __main__, so that
every contender's workers can import them by name: multiprocessing's spawn
children and polypool's Python workers (bench/run.py puts this directory on
their PYTHONPATH).
"""


def square(x):
    """The Python twin of bench/benchtasks.c's bench_square."""
    return x * x


def noop(*args):
    """The Python twin of bench/benchtasks.c's bench_noop: a Process target."""
    return None
