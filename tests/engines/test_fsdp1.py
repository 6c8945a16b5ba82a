"""FSDP1 (``FullyShardedDataParallel`` on 2 gloo processes, float64, both
``use_orig_params``): the plain recipe is exact for a token mean with an activity penalty;
weight penalties on its flat parameters are refused, never a shard's value or a silent 0."""

from __future__ import annotations

import pytest

from losskit.testing import run_processes
from tests.engines import _examples, _fsdp1
from tests.engines._reference import (
    ACTIVITY,
    L1,
    LR,
    check,
    regression_predict,
    round_robin_steps,
    sgd_reference,
)

pytestmark = pytest.mark.slow

WINDOWS = [2, 3]  # 5 micro-batches per rank: windows 2, 2, 1 and 3, 2


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return run_processes(_fsdp1.runs, 2, args=(WINDOWS,), timeout=300)


def test_the_plain_recipe_is_exact_with_a_partial_last_window(results) -> None:
    example = _examples.load("fsdp")
    batches = [
        b
        for pair in zip(*(example["micro_batches"](r, 2) for r in (0, 1)), strict=False)
        for b in pair
    ]
    for steps in WINDOWS:
        want = sgd_reference(
            _fsdp1.network(),
            round_robin_steps(batches, 2, steps),
            predict=regression_predict,
            lr=LR,
            kernels=[],
            l2=0.0,
            activity=ACTIVITY,
            l1=L1,
        )
        for original in _fsdp1.ORIGINAL:
            check(results, f"losskit original={original} K={steps}", want)


def test_weight_penalties_on_flat_parameters_are_refused(results) -> None:
    for rank in results:
        views, replaced = rank["refusals"][True], rank["refusals"][False]
        assert views.startswith(
            "losskit.torch: parameter '_fsdp_wrapped_module.0.weight' is this rank's view of "
            "an FSDP1 flat parameter"
        ), views
        assert replaced.startswith(
            "losskit.torch: '_fsdp_wrapped_module.0.weight' is regularized but is no longer a "
            "parameter of its module (a Tensor of shape (6, 3) took its place)"
        ), replaced
        for message in (views, replaced):
            assert "Shard with FSDP2's `fully_shard`" in message
