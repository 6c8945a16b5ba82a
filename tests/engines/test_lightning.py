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
