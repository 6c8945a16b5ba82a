"""The audit on parallel layouts: sequences split over sequence groups
(``Layout(sequence_shards=...)``) and micro-batches held by several ranks
(``Layout(replicas=...)``): the oracle, the collectives a loss function sees, losskit's
plan passing on every mode, the naive forms failing, and the layout's errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from losskit.aggregation import MODES, plan
from losskit.distribute import replica_context
from losskit.testing import Layout, MicroStep, Window, audit_loss
from tests.aggregation import _split


def _layout(seed: int, packed: bool, how: str, **engine: Any) -> Layout:
    _, sharded, _ = _split.layout(seed, 2, 2, 2, packed=packed, num_groups=3, how=how)
    pick = {key: [[mb[key] for mb in row] for row in sharded] for key in ("mask", "seg", "group")}
    return Layout(
        pick["mask"],
        segment_ids=pick["seg"] if packed else None,
        group_ids=pick["group"],
        num_groups=3,
        sequence_shards=2,
        **engine,
    )


def _planned(mode: str) -> Any:
    def prepare(window: Window) -> Any:
        return plan(
            list(window.masks),
            mode=mode,
            segment_ids=list(window.segment_ids) if window.segment_ids is not None else None,
            group_ids=list(window.group_ids or ()),
            num_groups=window.num_groups,
            max_length=4.0,
        )

    return prepare


def _loss(per_token_loss: Any, step: MicroStep) -> Any:
    return step.state.loss(per_token_loss, step.micro_batch)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("packed", "how", "gradients"),
    [(False, "zigzag", "mean"), (True, "random", "sum"), (True, "contiguous", "mean")],
)
def test_losskit_plans_pass_on_context_parallel_layouts(
    mode: str, packed: bool, how: str, gradients: str
) -> None:
    layout = _layout(4, packed, how, gradients=gradients)
    report = audit_loss(_loss, layout, mode=mode, max_length=4.0, prepare=_planned(mode))
    assert report.check().relative_error < 1e-12


@pytest.mark.parametrize("mode", ["seq-mean-token-mean", "seq-mean-token-sum", "group-seq-mean"])
def test_a_plan_that_ignores_the_split_fails(mode: str) -> None:
    layout = _layout(5, False, "zigzag")
    unsplit = _planned(mode)

    def prepare(window: Window) -> Any:  # a context that does not know the sequence group
        with replica_context(
            window.num_ranks,
            replica_id=window.rank,
            gradients=window.gradients,
            all_reduce=window.all_reduce,
            accumulation_steps=window.accumulation_steps,
        ):
            return unsplit(window)

    report = audit_loss(_loss, layout, mode=mode, max_length=4.0, prepare=prepare)
    assert not report.passed


def test_the_collectives_and_the_unsharded_masks() -> None:
    # 2 data groups x 2 shards; rank r = 2 d + c
    masks = [[np.full((1, 2), r % 2 + 1.0) * (np.arange(2) < 1 + r // 2)] for r in range(4)]
    masks = [[(m > 0).astype(float)] for (m,) in masks]
    layout = Layout(masks, sequence_shards=2)
    seen: dict[int, Any] = {}

    def loss_fn(per_token_loss: Any, step: MicroStep) -> Any:
        here = float(np.sum(step.mask))
        seen[step.rank] = (
            step.sequence_shard,
            step.sequence_shards,
            step.replicas,
            step.unsharded_mask.tolist(),
            float(step.all_reduce(here)),
            float(step.sequence_all_reduce(here)),
            float(step.data_all_reduce(here)),
        )
        return (per_token_loss * step.mask).sum()

    audit_loss(loss_fn, layout, mode="token-sum")
    # tokens per rank: 1, 1, 2, 2 (data group 1 holds two per shard)
    assert seen[0] == (0, 2, 1, [[1.0, 0.0, 1.0, 0.0]], 6.0, 2.0, 3.0)
    assert seen[3] == (1, 2, 1, [[1.0, 1.0, 1.0, 1.0]], 6.0, 4.0, 3.0)


def test_copies_count_once() -> None:
    whole = [[np.array([[1.0, 1.0, 0.0]])], [np.array([[1.0, 0.0, 0.0]])]]
    layout = Layout([row for row in whole for _ in range(2)], replicas=2)  # 4 ranks, 2 copies
    assert layout.describe().endswith("padded rows, each micro-batch on 2 ranks")

    def copies_known(per_token_loss: Any, step: MicroStep) -> Any:  # N over the distinct tokens
        distinct = step.all_reduce(float(np.sum(step.mask))) / step.replicas
        return (per_token_loss * step.mask).sum() / distinct * step.num_ranks / step.replicas

    def copies_counted(per_token_loss: Any, step: MicroStep) -> Any:
        distinct = step.all_reduce(float(np.sum(step.mask))) / step.replicas
        return (per_token_loss * step.mask).sum() / distinct * step.num_ranks

    assert audit_loss(copies_known, layout, mode="token-mean").passed
    report = audit_loss(copies_counted, layout, mode="token-mean")
    assert (report.ratio_min, report.ratio_max) == (pytest.approx(2.0), pytest.approx(2.0))
    assert report.combined_loss == pytest.approx(2 * report.target_loss)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"masks": [[np.ones((1, 2))]] * 3, "sequence_shards": 2},
            r"Invalid `masks`: expected a multiple of sequence_shards x replicas = 2 ranks, "
            r"received '3 ranks'",
        ),
        (
            {"masks": [[np.ones((1, 2))], [np.zeros((1, 2))]], "replicas": 2},
            r"Invalid `masks\[1\]\[0\]`: expected a copy of masks\[0\]\[0\] \(replicas=2\)",
        ),
        (
            {"masks": [[np.ones((1, 2))], [np.ones((2, 2))]], "sequence_shards": 2},
            r"Invalid `masks\[1\]\[0\]`: expected the shape of masks\[0\]\[0\], \(1, 2\) "
            r"\(a shard of the same rows\)",
        ),
        (
            {
                "masks": [[np.ones((1, 2))], [np.ones((1, 2))]],
                "segment_ids": [[np.array([[0, 0]])], [np.array([[0, 0]])]],
                "group_ids": [[np.array([[0, 0]])], [np.array([[1, 1]])]],
                "num_groups": 2,
                "sequence_shards": 2,
            },
            r"Invalid `group_ids\[0\]\[0\] and its shards`: expected one group id per sequence",
        ),
        (
            {"masks": [[np.ones((1, 2))]], "sequence_shards": 0},
            r"Invalid `sequence_shards`: expected a positive integer",
        ),
        (
            {"masks": [[np.ones((1, 2))]], "replicas": 1.5},
            r"Invalid `replicas`: expected a positive integer",
        ),
    ],
)
def test_parallel_layout_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Layout(**kwargs)


def test_layout_indices_and_description() -> None:
    layout = Layout([[np.ones((1, 2))]] * 8, sequence_shards=2, replicas=2)
    assert [layout.data_index(r) for r in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [layout.shard_index(r) for r in range(8)] == [0, 0, 1, 1, 0, 0, 1, 1]
    assert [layout.replica_index(r) for r in range(8)] == [0, 1, 0, 1, 0, 1, 0, 1]
    assert layout.sequence_group(5) == [5, 7]
    assert layout.describe() == (
        "8 ranks x 1 micro-batch (accumulation_steps=1, gradients='mean', accumulation='sum'), "
        "padded rows, each sequence split over 2 ranks, each micro-batch on 2 ranks"
    )
