"""What a task or a Process prints reaches the client's stdout and stderr,
and does so before the result is returned (or join returns)."""
import pytest

from helpers import describe, run_script

SCRIPT = """\
import polypool as multiprocessing
import sys
import tasks

def say(*args):
    line = " ".join(map(str, args)) + "\\n"
    for stream in (sys.stdout, sys.stderr):
        stream.write(line)
        stream.flush()

if __name__ == '__main__':
    task = tasks.{task}
    with multiprocessing.Pool(2) as pool:
        say("result", pool.apply(task, ("apply",)))
        say("result", pool.apply_async(task, ("async",)).get())
        say("result", pool.map(task, ["m1", "m2", "m3"]))
        for x in pool.imap(task, ["i1", "i2", "i3"]):
            say("got", x)
    p = multiprocessing.Process(target=tasks.print_unflushed, args=("process",))
    p.start()
    p.join()
    say("joined")
"""


def check_stream(text, tag):
    """`tag` is "out" or "err": the prefix of what the tasks print."""
    lines = text.splitlines()
    expected = ["%s %s" % (tag, x) for x in
                ("apply", "async", "m1", "m2", "m3", "i1", "i2", "i3", "process")]
    expected += ["result apply", "result async", "result ['m1', 'm2', 'm3']",
                 "got i1", "got i2", "got i3", "joined"]
    assert sorted(lines) == sorted(expected), text
    # The client's own lines keep their order...
    mine = [line for line in lines if not line.startswith(tag + " ")]
    assert mine == expected[9:]
    # ...and each task's output comes before its result.
    pos = lines.index
    for x in ("apply", "async"):
        assert pos("%s %s" % (tag, x)) < pos("result %s" % x)
    for x in ("m1", "m2", "m3"):
        assert pos("%s %s" % (tag, x)) < pos("result ['m1', 'm2', 'm3']")
    for x in ("i1", "i2", "i3"):
        assert pos("%s %s" % (tag, x)) < pos("got %s" % x)
    assert pos("%s process" % tag) < pos("joined")


def _run(tmp_path, task):
    proc = run_script(SCRIPT.replace("{task}", task), tmp_path)
    assert proc.returncode == 0, describe(proc)
    check_stream(proc.stdout, "out")
    check_stream(proc.stderr, "err")


def test_output_before_results(tmp_path):
    _run(tmp_path, "print_and_return")


@pytest.mark.polypool_only
def test_unflushed_output_before_results(tmp_path):
    # A stdlib pool worker's stdout is block-buffered: unflushed prints show
    # up late or never. polypool delivers them before the result.
    _run(tmp_path, "print_unflushed")
