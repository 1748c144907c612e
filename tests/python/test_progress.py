"""progress=True draws a progress bar on stderr (polypool only), also
without tqdm; results and stdout are unchanged."""
import pytest

from helpers import describe, run_script

SCRIPT = """\
import sys
sys.modules["tqdm"] = None  # as if tqdm were not installed
import polypool as multiprocessing
import tasks

if __name__ == '__main__':
    with multiprocessing.Pool(2) as pool:
        print(sorted({call}))
"""

CALLS = {
    "map": "pool.map(tasks.square, range(10), progress=True)",
    "imap": "pool.imap(tasks.square, range(10), progress=True)",
    "imap_unordered": "pool.imap_unordered(tasks.square, range(10), progress=True)",
}


@pytest.mark.polypool_only
@pytest.mark.parametrize("method", sorted(CALLS))
def test_progress_bar(tmp_path, method):
    proc = run_script(SCRIPT.replace("{call}", CALLS[method]), tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n", describe(proc)
    assert "10/10" in proc.stderr, describe(proc)
