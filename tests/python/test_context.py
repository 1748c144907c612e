"""Module helpers: current_process, parent_process, active_children,
cpu_count, contexts and start methods, freeze_support."""
import pytest

import tasks
from helpers import describe, run_script


def test_current_process_in_main(mp):
    me = mp.current_process()
    assert me.name == "MainProcess"
    assert me is mp.current_process()


def test_parent_process_in_main(mp):
    assert mp.parent_process() is None


def test_active_children(mp):
    p = mp.Process(target=tasks.sleep_forever)
    assert p not in mp.active_children()
    p.start()
    try:
        assert p in mp.active_children()
    finally:
        p.kill()
        p.join()
    assert p not in mp.active_children()


def test_cpu_count(mp):
    n = mp.cpu_count()
    assert type(n) is int and n >= 1


def test_freeze_support_is_a_no_op(mp):
    assert mp.freeze_support() is None


def test_exceptions_exported(mp):
    assert issubclass(mp.ProcessError, Exception)
    for name in ("TimeoutError", "BufferTooShort", "AuthenticationError"):
        assert issubclass(getattr(mp, name), mp.ProcessError)


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_get_context(mp, method, tmp_path):
    ctx = mp.get_context(method)
    assert ctx.get_start_method() == method
    with ctx.Pool(2) as p:
        assert p.map(tasks.square, range(5)) == [0, 1, 4, 9, 16]
    out = tmp_path / "out"
    proc = ctx.Process(target=tasks.write_file, args=(str(out), method))
    proc.start()
    proc.join()
    assert proc.exitcode == 0
    assert out.read_text() == method


def test_pool_class_with_context_argument(mp, mp_pool_module):
    with mp_pool_module.Pool(2, context=mp.get_context("spawn")) as p:
        assert p.apply(tasks.square, (4,)) == 16


@pytest.mark.polypool_only
def test_pool_with_context_argument(mp):
    # multiprocessing.Pool (a context method) takes no `context`; polypool's does.
    with mp.Pool(2, context=mp.get_context("spawn")) as p:
        assert p.apply(tasks.square, (4,)) == 16


def test_get_context_default(mp):
    ctx = mp.get_context()
    with ctx.Pool(2) as p:
        assert p.apply(tasks.add, (1, 2)) == 3


def test_get_context_unknown(mp):
    with pytest.raises(ValueError):
        mp.get_context("bogus")


def test_get_all_start_methods(mp):
    assert {"spawn", "fork", "forkserver"} <= set(mp.get_all_start_methods())


START_METHOD_SCRIPT = """\
import polypool as multiprocessing

if __name__ == '__main__':
    multiprocessing.set_start_method('spawn')
    print(multiprocessing.get_start_method())
    try:
        multiprocessing.set_start_method('fork')
    except RuntimeError as e:
        print('RuntimeError:', e)
    multiprocessing.set_start_method('fork', force=True)
    print(multiprocessing.get_start_method())
"""


def test_set_start_method_twice(tmp_path):
    proc = run_script(START_METHOD_SCRIPT, tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "spawn\nRuntimeError: context has already been set\nfork\n", describe(proc)
