"""The seed guide's Pool and Process examples, run unchanged except for
`import polypool as multiprocessing`, must print what the guide says."""
import os

import pytest

from helpers import HERE, describe, run_script

SQUARES_1_5 = "[1, 4, 9, 16, 25]\n"
SQUARES_0_9 = "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n"

# script -> (expected stdout, True if the guide says the order may vary)
CASES = {
    "pool_map_my_func.py": (SQUARES_1_5, False),
    "process_subclass.py": ("0\n1\n4\n9\n16\n", True),
    "pool_default_map.py": (SQUARES_1_5, False),
    "pool_imap_slow_square.py": ("1\n4\n9\n16\n25\n", False),
    # The guide: "The order of these messages may vary".
    "process_hello.py": ("Hello from a child process!\nThe child process has completed.\n", True),
    "process_args_alice.py": ("Hello from Alice!\nThe child process has completed.\n", False),
    "pool_square_range10.py": (SQUARES_0_9, False),
    "pool_my_function_range10.py": (SQUARES_0_9, False),
    "process_print_number.py": ("Process 1: 1\nProcess 2: 2\nProcess 3: 3\nProcess 4: 4\n", True),
    "shared_value_counter.py": ("4000000\n", False),
    "shared_array_double.py": ("Before: [1, 2, 3, 4, 5]\nAfter: [2, 4, 6, 8, 10]\n", False),
    "queue_producer_consumer.py": ("0\n1\n2\n3\n4\n", False),
    "pipe_hello.py": ("hello\n", False),
}

LOCK_LINES = ("acquired lock", "is working", "released lock")


def test_seed_lock_example(tmp_path):
    """Four processes print three lines each under the lock, five times:
    the three lines of one holding are never interleaved with another's."""
    with open(os.path.join(HERE, "seed", "sync_lock_workers.py")) as f:
        proc = run_script(f.read(), tmp_path, name="sync_lock_workers.py")
    assert proc.returncode == 0, describe(proc)
    assert proc.stderr == "", describe(proc)
    lines = proc.stdout.splitlines()
    assert len(lines) == 4 * 5 * 3, describe(proc)
    names = set()
    for i in range(0, len(lines), 3):
        who = [line.split()[1] for line in lines[i:i + 3]]
        assert len(set(who)) == 1, describe(proc)
        assert [line.split(" ", 2)[2] for line in lines[i:i + 3]] == list(LOCK_LINES)
        names.add(who[0])
    assert names == {"Process-1", "Process-2", "Process-3", "Process-4"}, describe(proc)


def test_every_seed_script_is_tested():
    scripts = [n for n in os.listdir(os.path.join(HERE, "seed")) if n.endswith(".py")]
    assert sorted(scripts) == sorted(list(CASES) + ["sync_lock_workers.py"])


@pytest.mark.parametrize("script", sorted(CASES))
def test_seed_example(script, tmp_path):
    expected, any_order = CASES[script]
    with open(os.path.join(HERE, "seed", script)) as f:
        source = f.read()
    proc = run_script(source, tmp_path, name=script)
    assert proc.returncode == 0, describe(proc)
    assert proc.stderr == "", describe(proc)
    if any_order:
        assert sorted(proc.stdout.splitlines()) == sorted(expected.splitlines()), describe(proc)
        assert proc.stdout.endswith("\n")
    else:
        assert proc.stdout == expected, describe(proc)
