"""One counter, one lock, two languages (the Python side).

A multiprocessing.Value('q') is incremented at the same time by this
program, by a Process child, and by the C task cnt_add of libcounter.so
running in a pool: the total is exact because every increment holds the
counter's lock, whichever language takes it.

    COUNTER_LIB=build/examples/counter/libcounter.so python3 examples/counter/counter.py [N]
"""
import os
import sys

import polypool as multiprocessing

from counttasks import add

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    counter = multiprocessing.Value("q", 0)
    cnt_add = multiprocessing.cfunc(os.environ["COUNTER_LIB"], "cnt_add")
    with multiprocessing.Pool(2) as pool:
        c_task = pool.apply_async(cnt_add, (counter, n))       # C, in a worker
        child = multiprocessing.Process(target=add, args=(counter, n))
        child.start()                                          # Python, a child
        add(counter, n)                                        # Python, here
        c_task.get()
        child.join()
    print("Python program + Process child + C task: %d increments, counter = %d"
          % (3 * n, counter.value))
    sys.exit(0 if counter.value == 3 * n else 1)
