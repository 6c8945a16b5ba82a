"""FSDP2 (2 gloo processes, float64): root-only and per-layer sharding, FSDP2's mean and a
sum, equal one float64 process; sharded kernel penalties included."""

from __future__ import annotations

import pytest

from losskit.testing import run_processes
from tests.engines import _examples, _fsdp
from tests.engines._reference import check, regression_reference, round_robin_steps

pytestmark = pytest.mark.slow

WINDOWS = [2, 3]  # 5 micro-batches per rank: windows 2, 2, 1 and 3, 2


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return run_processes(_fsdp.runs, 2, args=(WINDOWS,), timeout=300)


def test_every_sharding_is_exact_with_a_partial_last_window(results) -> None:
    example = _examples.load("fsdp")
    batches = [
        b
        for pair in zip(*(example["micro_batches"](r, 2) for r in (0, 1)), strict=False)
        for b in pair
    ]
    for steps in WINDOWS:
        want = regression_reference(example["network"](), round_robin_steps(batches, 2, steps))
        for per_layer, summed in _fsdp.LAYOUTS:  # the naive run is per-layer, averaged
            check(results, f"losskit per_layer={per_layer} summed={summed} K={steps}", want)
        check(results, f"losskit force-sum K={steps}", want)  # still a mean


def test_penalties_that_do_not_split_over_shards_are_refused(results) -> None:
    for rank in results:
        orthogonal, hybrid = rank["sharded refusals"]
        assert orthogonal.startswith(
            "Invalid `regularizer`: expected L1, L2 or L1L2 for parameters sharded by FSDP2 "
            "(their penalty is the sum of the shards' penalties), received "
            "OrthogonalRegularizer"
        ), orthogonal
        assert hybrid.startswith(
            "Invalid `weight`: expected a parameter sharded on a 1-D device mesh (FSDP2's "
            "fully_shard), received 'a DTensor with placements (Replicate(), Shard(dim=0)) "
            "on a 2-D mesh'"
        ), hybrid


def test_a_divide_factor_on_the_root_alone_is_refused(results) -> None:
    for rank in results:
        assert rank["root-only divide factor"].startswith(
            "Invalid `model`: expected FSDP2 modules that all average (the default) or all sum "
            '(losskit.engines.fsdp.sum_gradients), received "gradient divide factors '
            "{'<root>': 'sum', '0': 'mean'}\". set_gradient_divide_factor applies to the module "
            "it is called on only."
        ), rank["root-only divide factor"]
