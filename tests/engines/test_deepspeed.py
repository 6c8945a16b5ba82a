"""DeepSpeed on CPU (2 gloo processes, float32): ZeRO 0, 1, 2 and 3 equal one float64 process."""

from __future__ import annotations

import os
import re

import pytest

from losskit.testing import run_processes
from tests.engines import _deepspeed, _examples
from tests.engines._reference import check, regression_reference, round_robin_steps

pytestmark = pytest.mark.slow
os.environ.setdefault("DS_ACCELERATOR", "cpu")  # before deepspeed is imported
pytest.importorskip("deepspeed")

STAGES, WINDOWS = [0, 1, 2, 3], [2, 3]  # 5 micro-batches per rank: windows 2, 2, 1 and 3, 2


@pytest.fixture(scope="module")
def results() -> list[dict]:
    """One launch for every case (DeepSpeed's start-up is the slow part)."""
    return run_processes(_deepspeed.runs, 2, args=(STAGES, WINDOWS), timeout=420)


def test_zero_stages_are_exact_with_a_short_last_window(results) -> None:
    example = _examples.load("deepspeed")
    for steps in WINDOWS:
        windows = round_robin_steps(example["batches"](), 2, steps)
        want = regression_reference(example["model"](), windows)
        for stage in STAGES:  # float32: 1e-5 (measured: 2.5e-8)
            check(results, f"losskit stage={stage} K={steps}", want, tolerance=1e-5, naive_off=1e-3)


def test_an_empty_zero3_partition_is_refused_not_zero(results) -> None:
    for message in (rank["zero-3 refusal"] for rank in results):
        assert re.search(
            r"parameter '0\.weight' is a DeepSpeed ZeRO-3 partition, empty outside the forward "
            r"\(12 elements.*losskit\.engines\.deepspeed\.windows",
            message,
        ), message
