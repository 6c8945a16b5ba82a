"""accelerate (DDP on 2 gloo processes): the docs' example equals one float64 process."""

from __future__ import annotations

import pytest

from losskit.testing import run_processes
from tests.engines import _accelerate, _examples
from tests.engines._reference import check, regression_reference, round_robin_steps

pytestmark = pytest.mark.slow
pytest.importorskip("accelerate")


def test_windows_are_exact_with_a_partial_last_window() -> None:
    windows = [2, 3]  # 5 batches per rank: windows of 2, 2, 1 and of 3, 2
    results = run_processes(_accelerate.runs, 2, args=(windows,), timeout=300)
    example = _examples.load("accelerate")
    data = example["dataset"]()
    sizes = example["SIZES"]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    batches = [data[start : start + n] for start, n in zip(starts, sizes, strict=True)]
    for steps in windows:
        want = regression_reference(example["model"](), round_robin_steps(batches, 2, steps))
        check(results, f"losskit K={steps}", want)
