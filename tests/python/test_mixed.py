"""Mixed pairs: the seed's examples with one side in C and the other in
Python, sharing one queue or one counter. A Process whose target is a C
function (polypool.cfunc) is started by the daemon. polypool only.

The C side is the test task library (tests/lib/pptest.c): pt_q_put(queue,
from, n) puts the ints from..from+n-1; pt_array_add(counter, n) adds 1 to
a Value('q') n times under its lock.
"""
import signal
import sys

import pytest

import tasks

pytestmark = pytest.mark.polypool_only


def consume(queue):
    """The seed's consumer: prints items until None."""
    while True:
        item = queue.get()
        if item is None:
            break
        print(item)
    sys.stdout.flush()


def test_c_producer_python_consumer(mp, libpptest, capfd):
    queue = mp.Queue()
    producer = mp.Process(target=mp.cfunc(libpptest, "pt_q_put"), args=(queue, 0, 5))
    consumer = mp.Process(target=consume, args=(queue,))
    producer.start()
    consumer.start()
    producer.join()
    assert producer.exitcode == 0
    queue.put(None)
    consumer.join()
    assert consumer.exitcode == 0
    assert capfd.readouterr().out.split() == ["0", "1", "2", "3", "4"]


def test_python_parent_c_child_one_counter(mp, libpptest):
    n = 20000
    counter = mp.Value("q", 0)
    c_child = mp.Process(target=mp.cfunc(libpptest, "pt_array_add"), args=(counter, n))
    py_child = mp.Process(target=tasks.increment, args=(counter, n))
    c_child.start()
    py_child.start()
    tasks.increment(counter, n)
    c_child.join()
    py_child.join()
    assert (c_child.exitcode, py_child.exitcode) == (0, 0)
    assert counter.value == 3 * n


def test_c_child_process_interface(mp, libpptest, capsys):
    p = mp.Process(target=mp.cfunc(libpptest, "pt_print"), args=("hi",), name="c-child")
    assert p.exitcode is None
    p.start()
    assert p.pid > 0 and p.name == "c-child"
    p.join()
    out, err = capsys.readouterr()
    assert (out, err) == ("out:hi\n", "err:hi\n")       # before join returned
    assert p.exitcode == 0 and not p.is_alive()
    assert "stopped exitcode=0" in repr(p)
    p.close()


@pytest.mark.parametrize("symbol, args, code", [
    ("pt_exit", (7,), 7),
    ("pt_kill_self", (), -signal.SIGKILL),
    ("pt_fail", ("boom",), 1),
])
def test_c_child_exit_codes(mp, libpptest, capsys, symbol, args, code):
    p = mp.Process(target=mp.cfunc(libpptest, symbol), args=args)
    p.start()
    p.join()
    assert p.exitcode == code
    if symbol == "pt_fail":
        assert capsys.readouterr().err == "Process %s: pt_fail: boom\n" % p.name


def test_c_child_terminate_kill_sentinel(mp, libpptest):
    from multiprocessing.connection import wait
    sleeper = mp.cfunc(libpptest, "pt_sleep_ms")
    p = mp.Process(target=sleeper, args=(60000,))
    p.start()
    p.join(0.05)
    assert p.is_alive() and p.exitcode is None
    p.terminate()
    assert wait([p.sentinel], timeout=30) == [p.sentinel]
    p.join()
    assert p.exitcode == -signal.SIGTERM
    q = mp.Process(target=sleeper, args=(60000,), daemon=True)
    q.start()
    q.kill()
    q.join()
    assert q.exitcode == -signal.SIGKILL


def test_c_child_rejects_kwargs(mp, libpptest):
    p = mp.Process(target=mp.cfunc(libpptest, "pt_square"), kwargs={"x": 1})
    with pytest.raises(TypeError):
        p.start()
