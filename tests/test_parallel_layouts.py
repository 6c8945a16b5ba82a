"""Context parallelism simulated in one process: hypothesis over random data x sequence
layouts (contiguous, zigzag and scattered column splits, padded and packed rows, partial
windows, sum and mean engines) against the unsharded float64 oracle, the collectives of a
window, denominators, the debug check ``check_layout``, the contexts' new arguments and
every error message."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit
from losskit._state import enter, get_context
from losskit.aggregation import MODES, plan
from losskit.distribute import (
    LayoutError,
    check_layout,
    cross_replica_context,
    global_denominator,
    jax_context,
    replica_context,
    torch_context,
)
from losskit.testing import run_replicas
from tests.aggregation import _layouts, _split

VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]
NEEDS_SEQUENCES = (
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "group-seq-mean",
)


def counted(calls: list[str]) -> Any:
    """The current context with its all-reduces recorded in ``calls``."""
    context = get_context()
    assert context is not None

    def tag(name: str, collective: Any) -> Any:
        def call(value: Any) -> Any:
            calls.append(name)
            return collective(value)

        return call

    return enter(
        dataclasses.replace(
            context,
            all_reduce=tag("combining", context.all_reduce),
            sequence_all_reduce=tag("sequence", context.sequence_all_reduce),
        )
    )


@st.composite
def layouts(draw: st.DrawFn) -> dict[str, Any]:
    steps = draw(st.integers(1, 3))
    return {
        "data": draw(st.integers(1, 3)),
        "shards": draw(st.integers(1, 4)),
        "steps": steps,
        "present": draw(st.integers(1, steps)),
        "packed": draw(st.booleans()),
        "how": draw(st.sampled_from(["contiguous", "zigzag", "random"])),
        "density": draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
        "gradients": draw(st.sampled_from(["sum", "mean"])),
        "accumulation": draw(st.sampled_from(["sum", "mean"])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@settings(max_examples=400, deadline=None)
@given(step=layouts())
def test_every_mode_matches_the_unsharded_objective(step: dict[str, Any]) -> None:
    whole, sharded, positions = _split.layout(
        step["seed"],
        step["data"],
        step["shards"],
        step["present"],
        packed=step["packed"],
        num_groups=3,
        how=step["how"],
        density=step["density"],
    )
    losses = _layouts.losses(step["seed"], sharded)  # NaN and inf where masked
    ranks = step["data"] * step["shards"]

    def replica(r: int) -> list[Any]:
        out = []
        for mode, count_empty in VARIANTS:
            calls: list[str] = []
            with counted(calls):
                p = plan(
                    [mb["mask"] for mb in sharded[r]],
                    mode=mode,
                    segment_ids=[mb["seg"] for mb in sharded[r]] if step["packed"] else None,
                    group_ids=[mb["group"] for mb in sharded[r]],
                    num_groups=3,
                    max_length=5.0,
                    count_empty=count_empty,
                )
            weights = [np.asarray(p.weights(k)) / p.scale for k in range(step["present"])]
            values = [float(p.loss(loss, k)) / p.scale for k, loss in enumerate(losses[r])]
            out.append((weights, values, calls))
        return out

    results = run_replicas(
        replica,
        ranks,
        sequence_shards=step["shards"],
        gradients=step["gradients"],
        accumulation_steps=step["steps"],
        accumulation=step["accumulation"],
    )
    for v, (mode, count_empty) in enumerate(VARIANTS):
        expected = _split.coefficients(
            whole, positions, step["shards"], mode, count_empty=count_empty, max_length=5.0
        )
        objective = 0.0
        for r in range(ranks):
            weights, _, calls = results[r][v]
            for k in range(step["present"]):
                np.testing.assert_allclose(weights[k], expected[r][k], rtol=1e-12, atol=1e-15)
                objective += float(
                    np.sum(
                        np.where(
                            expected[r][k] != 0, expected[r][k] * np.nan_to_num(losses[r][k]), 0.0
                        )
                    )
                )
            sequence = int(mode in NEEDS_SEQUENCES and step["shards"] > 1)
            combining = int(mode != "token-sum" and ranks > 1)
            assert calls == ["sequence"] * sequence + ["combining"] * combining, (mode, calls)
        combined = sum(sum(results[r][v][1]) for r in range(ranks))
        assert combined == pytest.approx(objective, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------- denominators


def test_denominators_count_tokens_everywhere_and_sequences_once() -> None:
    # one sequence group of 2 shards; the whole rows: [1 1 | 0 1] and [0 0 | 1 0]
    shards = [np.array([[1, 1], [0, 0]]), np.array([[0, 1], [1, 0]])]
    losses = [np.array([3.0, 5.0]), np.array([7.0, 11.0])]  # per-row partial sums

    def replica(r: int) -> tuple[float, float, float, float]:
        tokens = global_denominator(shards[r])
        elements = global_denominator(shards[r], reduction="sum_over_batch_size")
        rows = global_denominator(np.ones(2), reduction="sum_over_batch_size")
        mean = losskit.compute_average_loss(losses[r])
        return float(tokens), float(elements), float(rows), float(mean)

    found = run_replicas(replica, 2, sequence_shards=2)
    assert [f[:3] for f in found] == [(4.0, 8.0, 2.0)] * 2  # 4 tokens, 8 positions, 2 rows
    # the mean over the 2 examples of their whole losses: ((3 + 7) + (5 + 11)) / 2
    assert sum(f[3] for f in found) == pytest.approx(13.0)
    naive = run_replicas(lambda r: float(losskit.compute_average_loss(losses[r])), 2)
    assert sum(naive) == pytest.approx(6.5)  # each example counted on both shards


def test_a_per_sequence_weight_of_shape_b_1_is_refused_under_a_sequence_split() -> None:
    # [B, 1] could be a weight per sequence (count once per group) or a one-token shard's
    # token weights (count on every rank): counting it on every rank would double it
    def replica(r: int) -> float:
        return float(global_denominator(np.ones((2, 1)), reduction="sum_over_batch_size"))

    with pytest.raises(ValueError, match=r"micro_batch_weights\[0\]") as caught:
        run_replicas(replica, 2, sequence_shards=2)
    message = str(caught.value)
    assert "shape (2, 1)" in message
    assert "A [B, 1] weight is ambiguous here (the sequence group has 2 shards)" in message
    # the unambiguous forms: [B] once per group, the broadcast token weights on every rank
    rows = run_replicas(
        lambda r: float(global_denominator(np.ones(2), reduction="sum_over_batch_size")),
        2,
        sequence_shards=2,
    )
    assert rows == [2.0, 2.0]
    # without a sequence split a [B, 1] weight is an ordinary array of 2 elements per replica
    plain = run_replicas(replica, 2)
    assert plain == [4.0, 4.0]


def test_weighted_denominators_and_mean_engines() -> None:
    weights = [np.array([[0.5, 2.0]]), np.array([[1.0, 0.0]])]
    example = [np.array([2.0]), np.array([2.0])]  # one weighted example, seen by both

    def replica(r: int) -> tuple[float, float]:
        total = global_denominator(weights[r % 2], reduction="weighted_mean")
        per_example = global_denominator(example[r % 2], reduction="weighted_mean")
        return float(total), float(per_example)

    assert run_replicas(replica, 4, sequence_shards=2, gradients="mean") == [(7.0, 4.0)] * 4


# ----------------------------------------------------------------------- check_layout


def _check(positions: list[list[np.ndarray]], shards: int) -> list[Any]:
    def replica(r: int) -> Any:
        try:
            check_layout(positions[r])
        except LayoutError as error:
            return error
        return None

    return run_replicas(replica, len(positions), sequence_shards=shards)


def test_check_layout_accepts_every_split_of_whole_rows() -> None:
    rng = np.random.default_rng(0)
    for how in ("contiguous", "zigzag", "random"):
        _, _, positions = _split.layout(3, 2, 4, 2, packed=True, num_groups=2, how=how)
        assert _check(positions, 4) == [None] * 8, how
    check_layout([np.arange(6)[None, :].repeat(3, 0)])  # outside every context: whole rows
    check_layout([rng.permutation(6)[None, :]])  # any order of the columns


def test_check_layout_names_each_failure() -> None:
    whole = np.array([[0, 1, 2, 3]])
    halves = [[np.array([[0, 1]])], [np.array([[2, 3]])]]
    twice = _check([[whole[:, :2]], [whole[:, :2]]], 2)  # both shards hold columns 0-1
    assert all(
        e.kind == "twice" and (e.micro_batch, e.row, e.column, e.count) == (0, 0, 0, 2)
        for e in twice
    )
    assert str(twice[0]).startswith("column 0 of row 0 in micro-batch 0 is held 2 times")
    gap = _check([[np.array([[0, 1]])], [np.array([[1, 3]])]], 2)
    assert [e.kind for e in gap] == ["twice", "twice"]  # column 1 twice (and 2 nowhere)
    missing = _check([[np.array([[0, 3]])], [np.array([[3, 4]])]], 2)
    assert [e.kind for e in missing] == ["missing", "missing"]  # 4: beyond the whole row
    assert str(missing[0]).startswith(
        "row 0 of micro-batch 0 holds 1 position(s) outside [0, 4), "
        "the whole row the 2 ranks of this sequence group hold"
    )
    hole = _check([[np.array([[0, 0]])], [np.array([[2, 3]])]], 2)
    assert hole[0].kind == "twice"
    nowhere = _check([[np.array([[0, 5]])], [np.array([[2, 3]])]], 2)
    assert nowhere[0].kind == "missing"
    assert _check(halves, 2) == [None, None]
    undeclared = _check(halves, 1)  # split rows, no sequence group
    assert undeclared[0].kind == "elsewhere"
    assert undeclared[0].replicas == (1,)
    assert undeclared[1].kind == "missing"
    assert "the row this rank holds (no sequence group)" in str(undeclared[1])
    shapes = _check([[whole[:, :2]], [whole[:, :2], whole[:, 2:]]], 2)
    assert shapes[0].kind == "shapes"
    assert "hold [1, 2] micro-batches in this window" in str(shapes[0])
    rows = _check([[np.zeros((1, 2), int)], [np.zeros((2, 2), int)]], 2)
    assert rows[0].kind == "shapes"
    assert rows[0].micro_batch == 0
    assert "micro-batch 0 has [1, 2] rows on the 2 ranks" in str(rows[0])
    lonely = np.array([[0, 2]])
    with pytest.raises(
        LayoutError,
        match=r"column 0 of row 0 in micro-batch 0 is held 2 times by the rank: its token "
        r"would be counted 2 times",
    ):
        check_layout([np.array([[0, 0]])])
    with pytest.raises(LayoutError, match=r"holds 1 position\(s\) outside \[0, 2\)"):
        check_layout([lonely])


def test_check_layout_argument_errors() -> None:
    with pytest.raises(TypeError, match=r"Invalid `positions`: expected a non-empty list"):
        check_layout([])
    with pytest.raises(
        TypeError, match=r"Invalid `positions\[0\]`: expected an array of integer dtype"
    ):
        check_layout([np.zeros((1, 2))])
    with pytest.raises(ValueError, match=r"Invalid `positions\[0\]`: expected a \[B, T\] array"):
        check_layout([np.zeros(3, int)])
    with cross_replica_context(2), pytest.raises(RuntimeError, match="cross-replica context"):
        check_layout([np.zeros((1, 2), int)])
    with (
        replica_context(2),
        pytest.raises(RuntimeError, match=r"check_layout: the context .* has no all-reduce"),
    ):
        check_layout([np.array([[0, 1]])])


def test_check_layout_refuses_traced_values() -> None:
    jax = pytest.importorskip("jax")

    def traced(positions: Any) -> Any:
        check_layout([positions])
        return positions

    with pytest.raises(RuntimeError, match="check_layout reads the positions on the host"):
        jax.jit(traced)(jax.numpy.zeros((1, 2), dtype=int))


# ----------------------------------------------------------------------- the contexts


def test_replica_context_sequence_arguments() -> None:
    with replica_context(4, replica_id=3, sequence_shards=2, sequence_shard=1) as context:
        assert (context.sequence_shards, context.sequence_shard, context.data_replicas) == (2, 1, 2)
    with pytest.raises(
        ValueError,
        match=r"Invalid `sequence_shards`: expected a divisor of num_replicas=4, received 3",
    ):
        replica_context(4, sequence_shards=3)
    with pytest.raises(ValueError, match=r"Invalid `sequence_shards`: expected a positive integer"):
        replica_context(4, sequence_shards=0)
    with pytest.raises(
        ValueError,
        match=r"Invalid `sequence_shard`: expected an integer in \[0, 2\) for 2 shards, received 2",
    ):
        replica_context(4, sequence_shards=2, sequence_shard=2)
    with pytest.raises(
        TypeError, match=r"Invalid `sequence_all_reduce`: expected a callable or None"
    ):
        replica_context(4, sequence_shards=2, sequence_all_reduce=3)
    with pytest.raises(
        ValueError,
        match=r"Invalid `sequence_shards`: expected a divisor of num_replicas=3, received 2",
    ):
        run_replicas(lambda r: r, 3, sequence_shards=2)


def test_a_plan_without_a_sequence_all_reduce_is_refused() -> None:
    with (
        replica_context(2, all_reduce=lambda x: 2 * x, sequence_shards=2),
        pytest.raises(
            RuntimeError,
            match=r"plan: the context \(replica_context, sequences split over 2 replicas\) "
            r"has no sequence all-reduce",
        ),
    ):
        plan([np.ones((1, 2))], mode="seq-mean-token-mean")


def test_packed_ids_reach_the_whole_row_under_a_split() -> None:
    mask = np.ones((1, 2), bool)
    with replica_context(
        2, all_reduce=lambda x: 2 * x, sequence_shards=2, sequence_all_reduce=lambda x: 2 * x
    ):
        plan([mask], mode="seq-mean-token-mean", segment_ids=[np.array([[3, 3]])])
        with pytest.raises(
            ValueError,
            match=r"Invalid `segment_ids\[0\]`: expected integers in \[0, 4\) "
            r"\(the whole row's length\)",
        ):
            plan([mask], mode="seq-mean-token-mean", segment_ids=[np.array([[4, 4]])])
    with pytest.raises(
        ValueError, match=r"\(row length\).*enter the engine's context with its sequence group"
    ):
        plan([mask], mode="seq-mean-token-mean", segment_ids=[np.array([[3, 3]])])


def test_torch_context_needs_an_initialized_group() -> None:
    pytest.importorskip("torch")
    with pytest.raises(
        RuntimeError,
        match=r"torch_context\(sequence_group=.*\): torch.distributed is not initialized",
    ):
        torch_context(sequence_group=object())


def test_jax_context_sequence_axis() -> None:
    jax = pytest.importorskip("jax")

    def inner(x: Any) -> Any:
        with jax_context(("data", "seq"), sequence_axis="seq", gradients="mean") as context:
            return x * 0 + context.sequence_shards * 100 + context.sequence_shard

    shards = jax.vmap(jax.vmap(inner, axis_name="seq"), axis_name="data")(jax.numpy.zeros((2, 3)))
    assert shards.tolist() == [[300, 301, 302]] * 2

    def wrong(x: Any) -> Any:
        with jax_context(("data",), sequence_axis="seq", gradients="mean"):
            return x

    with pytest.raises(
        ValueError, match=r"Invalid `sequence_axis`: expected an axis of axis_name \('data',\)"
    ):
        jax.vmap(jax.vmap(wrong, axis_name="seq"), axis_name="data")(jax.numpy.zeros((2, 3)))
