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
}


def test_every_seed_script_is_tested():
    scripts = [n for n in os.listdir(os.path.join(HERE, "seed")) if n.endswith(".py")]
    assert sorted(scripts) == sorted(CASES)


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
