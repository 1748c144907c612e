"""Process: start, join, exit codes, signals, sentinel, close."""
import importlib
import os
import re
import select
import signal

import pytest

import tasks
from helpers import wait_until


def _run(p):
    p.start()
    p.join()
    return p.exitcode


def test_target_args_kwargs(mp, tmp_path):
    out = tmp_path / "out"
    p = mp.Process(target=tasks.write_file, args=(str(out), "hello"), kwargs={"suffix": "!"})
    assert _run(p) == 0
    assert out.read_text() == "hello!"


@pytest.mark.parametrize("size", [300_000, 5_000_000])
def test_large_arguments(mp, tmp_path, size):
    """Arguments that take several reads to reach the process helper."""
    out = tmp_path / "out"
    assert _run(mp.Process(target=tasks.write_file, args=(str(out), "x" * size))) == 0
    assert out.stat().st_size == size


def test_args_as_list(mp, tmp_path):
    out = tmp_path / "out"
    assert _run(mp.Process(target=tasks.write_file, args=[str(out), "x"])) == 0
    assert out.read_text() == "x"


def test_no_target(mp):
    assert _run(mp.Process()) == 0


def test_subclass_overriding_run(mp, tmp_path):
    outs = [tmp_path / str(i) for i in range(3)]
    procs = [tasks.SquareProcess(i, str(out)) for i, out in enumerate(outs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert [out.read_text() for out in outs] == ["0", "1", "4"]


def test_name(mp):
    assert mp.Process(name="worker-x").name == "worker-x"
    assert re.fullmatch(r"Process-\d+(:\d+)*", mp.Process().name)
    p = mp.Process()
    p.name = "renamed"
    assert p.name == "renamed"


def test_daemon_flag(mp):
    assert mp.Process().daemon is False
    assert mp.Process(daemon=True).daemon is True
    p = mp.Process(target=tasks.exit_with, args=(0,), daemon=True)
    assert _run(p) == 0


def test_start_twice(mp):
    p = mp.Process(target=tasks.exit_with, args=(0,))
    p.start()
    try:
        with pytest.raises(AssertionError):
            p.start()
    finally:
        p.join()


def test_join_before_start(mp):
    with pytest.raises(AssertionError):
        mp.Process().join()


def test_exitcode_none_before_start_and_while_running(mp):
    p = mp.Process(target=tasks.sleep_forever)
    assert p.exitcode is None
    p.start()
    try:
        assert p.exitcode is None
    finally:
        p.kill()
        p.join()


def test_exitcode_on_exception(mp, capfd):
    p = mp.Process(target=tasks.raise_runtime_error, name="failing-child")
    assert _run(p) == 1
    err = capfd.readouterr().err
    assert "Process failing-child:" in err
    assert "Traceback (most recent call last):" in err
    assert "RuntimeError: boom in the child" in err


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exitcode_sys_exit(mp, code):
    assert _run(mp.Process(target=tasks.exit_with, args=(code,))) == code


def test_terminate(mp):
    p = mp.Process(target=tasks.sleep_forever)
    p.start()
    assert p.is_alive()
    p.terminate()
    p.join()
    assert p.exitcode == -signal.SIGTERM
    assert not p.is_alive()


def test_kill(mp):
    p = mp.Process(target=tasks.sleep_forever)
    p.start()
    p.kill()
    p.join()
    assert p.exitcode == -signal.SIGKILL


def test_is_alive(mp):
    p = mp.Process(target=tasks.exit_with, args=(0,))
    assert p.is_alive() is False
    p.start()
    p.join()
    assert p.is_alive() is False


def test_pid(mp):
    p = mp.Process(target=tasks.exit_with, args=(0,))
    assert p.pid is None
    p.start()
    try:
        assert isinstance(p.pid, int) and p.pid > 0 and p.pid != os.getpid()
        assert p.ident == p.pid
    finally:
        p.join()


def _readable(fd, timeout):
    return fd in select.select([fd], [], [], timeout)[0]


def test_sentinel(mp):
    p = mp.Process(target=tasks.sleep_forever)
    with pytest.raises(ValueError):
        p.sentinel
    p.start()
    try:
        fd = p.sentinel
        assert isinstance(fd, int)
        assert not _readable(fd, 0)
    finally:
        p.terminate()
    assert wait_until(lambda: _readable(fd, 0.1), timeout=10)
    p.join()


def test_sentinel_ready_when_target_returns(mp):
    p = mp.Process(target=tasks.exit_with, args=(0,))
    p.start()
    assert wait_until(lambda: _readable(p.sentinel, 0.1), timeout=10)
    p.join()
    assert p.exitcode == 0


def test_connection_wait_on_sentinel(mp):
    wait = importlib.import_module(mp.__name__ + ".connection").wait
    p = mp.Process(target=tasks.sleep_forever)
    p.start()
    assert wait([p.sentinel], 0) == []
    p.kill()
    assert wait([p.sentinel], 10) == [p.sentinel]
    p.join()
    assert p.exitcode == -signal.SIGKILL


def test_join_timeout(mp):
    p = mp.Process(target=tasks.sleep_forever)
    p.start()
    try:
        assert p.join(0.1) is None
        assert p.join(0) is None
        assert p.is_alive()
        assert p.exitcode is None
    finally:
        p.kill()
        p.join()


def test_join_many_times(mp):
    p = mp.Process(target=tasks.exit_with, args=(0,))
    p.start()
    assert p.join() is None
    assert p.join() is None
    assert p.join(1) is None


def test_close(mp):
    p = mp.Process(target=tasks.sleep_forever)
    p.start()
    with pytest.raises(ValueError):
        p.close()
    p.kill()
    p.join()
    p.close()
    p.close()  # idempotent
    for attr in ("exitcode", "pid", "sentinel"):
        with pytest.raises(ValueError, match="^process object is closed$"):
            getattr(p, attr)
    for method in ("is_alive", "join", "terminate"):
        with pytest.raises(ValueError, match="^process object is closed$"):
            getattr(p, method)()


def test_current_process_in_child(mp, capfd):
    p = mp.Process(target=tasks.report_identity, name="child-name")
    assert _run(p) == 0
    assert capfd.readouterr().out == "name=child-name parent_is_none=False\n"
