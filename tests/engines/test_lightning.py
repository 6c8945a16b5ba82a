"""Lightning (DDP on 2 gloo processes, float64): the docs' example equals one float64 process."""

from __future__ import annotations

import pytest

from losskit.testing import run_processes
from tests.engines import _examples, _lightning
from tests.engines._reference import check, regression_reference

pytestmark = pytest.mark.slow
pytest.importorskip("lightning")

WINDOWS = [2, 3]  # 25 examples, 3 per rank and batch: 5 batches per rank (the last: 1 and 0)


def test_windows_are_exact_with_a_partial_last_window() -> None:
    results = run_processes(_lightning.runs, 2, args=(WINDOWS,), timeout=300)
    example = _examples.load("lightning")
    data = example["dataset"]()
    global_batches = [data[start : start + 6] for start in range(0, len(data), 6)]
    for steps in WINDOWS:
        windows = [global_batches[s : s + steps] for s in range(0, len(global_batches), steps)]
        want = regression_reference(example["Regression"]().net, windows)
        check(results, f"losskit K={steps}", want)


def test_one_command_starts_both_processes(tmp_path) -> None:
    """The docs' first way to run the example: ``python lightning_example.py``, with
    Lightning's own launcher starting the second process (no ``run_processes`` here)."""
    import os
    import subprocess
    import sys

    import numpy as np

    from tests.engines._reference import max_difference

    driver = tmp_path / "driver.py"
    driver.write_text(
        "import os, runpy, sys\n"
        "import numpy as np\n"
        f"example = runpy.run_path({str(_examples.DOCS / 'lightning_example.py')!r}, "
        "run_name='lightning_example')\n"
        "parameters = example['train'](3)\n"
        "rank = int(os.environ.get('LOCAL_RANK', '0'))\n"
        f"np.savez({str(tmp_path)!r} + f'/rank{{rank}}.npz', "
        "*[p.numpy() for p in parameters])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE")}
    done = subprocess.run(
        [sys.executable, str(driver)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    example = _examples.load("lightning")
    data = example["dataset"]()
    global_batches = [data[start : start + 6] for start in range(0, len(data), 6)]
    windows = [global_batches[s : s + 3] for s in range(0, len(global_batches), 3)]
    want = regression_reference(example["Regression"]().net, windows)
    for rank in (0, 1):
        saved = np.load(tmp_path / f"rank{rank}.npz")
        got = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        assert max_difference(got, want) < 1e-9, rank
