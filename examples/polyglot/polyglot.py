"""The Python half of the polyglot example.

It shares the named pool "polyglot" with the C program polyglot.c, which
runs at the same time, and each runs the other's functions: this program
maps the C functions of libpolyglot.so with polypool.cfunc, and its own
Python functions (pgtasks.py) on the same pool; polyglot.c applies those
Python functions from C.

    POLYGLOT_LIB=build/examples/polyglot/libpolyglot.so python3 examples/polyglot/polyglot.py
"""
import os

import polypool

import pgtasks

LIB = os.environ.get("POLYGLOT_LIB") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "libpolyglot.so")

if __name__ == "__main__":
    collatz = polypool.cfunc(LIB, "pg_collatz")
    reverse = polypool.cfunc(LIB, "pg_reverse")
    with polypool.Pool(2, name="polyglot") as pool:
        print("Python: collatz steps (C pg_collatz):", pool.map(collatz, range(1, 11)))
        print("Python: reversed (C pg_reverse):", pool.map(reverse, ["polypool", "C and Python"]))
        print("Python: shouted (Python pgtasks.shout):", pool.map(pgtasks.shout, ["hello", "pool"]))
