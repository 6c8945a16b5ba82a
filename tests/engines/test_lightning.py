"""Lightning (DDP on 2 gloo processes, float64): the docs' example equals one float64 process."""

from __future__ import annotations

import pytest

from losskit.testing import run_processes
from tests.engines import _examples, _lightning
from tests.engines._reference import max_difference, sgd_reference

pytestmark = pytest.mark.slow
pytest.importorskip("lightning")

WINDOWS = [2, 3]  # 25 examples, 3 per rank and batch: 5 batches per rank (the last: 1 and 0)


def test_windows_are_exact_with_a_partial_last_window() -> None:
    results = run_processes(_lightning.runs, 2, args=(WINDOWS,), timeout=300)
    example = _examples.load("lightning")
    data = example["dataset"]()
    global_batches = [data[start : start + 6] for start in range(0, len(data), 6)]
    for steps in WINDOWS:
        want = sgd_reference(
            example["Regression"]().net,
            [global_batches[s : s + steps] for s in range(0, len(global_batches), steps)],
            predict=lambda net, b: ((net(b[0]).squeeze(-1) - b[1]) ** 2, b[2]),
            lr=0.1,
            kernels=["0.weight", "2.weight"],
            l2=0.05,
            activity="0",
            l1=0.1,
        )
        for rank in results:
            assert max_difference(rank[f"losskit K={steps}"], want) < 1e-9
            assert max_difference(rank[f"naive K={steps}"], want) > 1e-4
