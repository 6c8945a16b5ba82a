"""The "who weighs what" audit: its oracle against a brute-force single-device objective, its
engine arithmetic, its libraries, its report and its errors."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losskit
from losskit.aggregation._aliases import CANONICAL_MODES
from losskit.testing import Layout, MicroStep, audit_loss, random_layout
from losskit.testing._oracle import target_weights

# ----------------------------------------------------------------- brute-force objective


def objective(
    layout: Layout, mode: str, losses: list[list[np.ndarray]], *, length: float, empty: bool
) -> float:
    """The single-device loss, written from the formula table of issue #12 with plain
    Python loops over sequences (no shared code with the oracle)."""
    sequences: dict[tuple[int, ...], dict[str, float]] = {}
    for r, k, mask, segments, groups in layout.pieces():
        for b in range(mask.shape[0]):
            ids = [0] if segments is None else sorted(set(segments[b].tolist()))
            for s in ids:
                at = [t for t in range(mask.shape[1]) if segments is None or segments[b, t] == s]
                if groups is None:
                    g = 0
                else:
                    g = int(groups[b]) if segments is None else int(groups[b, at[0]])
                seq = sequences.setdefault((r, k, b, s), {"sum": 0.0, "n": 0.0, "g": g})
                for t in at:
                    if mask[b, t]:
                        seq["sum"] += float(losses[r][k][b, t])
                        seq["n"] += 1.0
    total_n = sum(s["n"] for s in sequences.values())
    if total_n == 0:
        return 0.0
    live = [s for s in sequences.values() if s["n"] > 0]
    counted = list(sequences.values()) if empty else live
    if mode == "token-mean":
        return sum(s["sum"] for s in live) / total_n
    if mode == "token-sum":
        return sum(s["sum"] for s in live)
    if mode == "seq-mean-token-mean":
        return sum(s["sum"] / s["n"] for s in live) / len(counted)
    if mode == "seq-mean-token-sum":
        return sum(s["sum"] for s in live) / len(counted)
    if mode == "seq-mean-token-sum-norm":
        return sum(s["sum"] for s in live) / (len(counted) * length)
    groups: dict[int, list[dict[str, float]]] = {}
    for s in counted:
        groups.setdefault(int(s["g"]), []).append(s)
    value = 0.0
    for members in groups.values():
        tokens = sum(s["n"] for s in members)
        if tokens == 0:
            continue
        if mode == "group-token-mean":
            value += sum(s["sum"] for s in members) / tokens
        else:
            value += sum(s["sum"] / s["n"] for s in members if s["n"] > 0) / len(members)
    return value / len(groups)


def _layouts() -> st.SearchStrategy[tuple[Layout, str, bool]]:
    @st.composite
    def draw(data: st.DrawFn) -> tuple[Layout, str, bool]:
        mode = data(st.sampled_from(CANONICAL_MODES))
        micro = data(st.integers(1, 4))
        layout = random_layout(
            data(st.integers(0, 2**31 - 1)),
            ranks=data(st.integers(1, 8)),
            micro_steps=micro,
            accumulation_steps=micro + data(st.integers(0, 2)),
            rows=(0, data(st.integers(1, 4))),
            length=(1, data(st.integers(1, 8))),
            packed=data(st.booleans()),
            num_groups=data(st.integers(1, 5)) if mode.startswith("group") else None,
            empty=data(st.sampled_from([0.0, 0.3, 1.0])),
        )
        return layout, mode, data(st.booleans())

    return draw()


@settings(max_examples=300)
@given(_layouts(), st.integers(0, 2**31 - 1))
def test_oracle_is_the_single_device_objective(case: tuple[Layout, str, bool], seed: int) -> None:
    layout, mode, empty = case
    c = target_weights(layout, mode, max_length=7.0, count_empty=empty)
    rng = np.random.default_rng(seed)
    for _ in range(2):  # two random directions pin a linear functional
        losses = [[rng.standard_normal(m.shape) for m in row] for row in layout.masks]
        expected = objective(layout, mode, losses, length=7.0, empty=empty)
        got = sum(
            float(np.sum(w * u))
            for wr, ur in zip(c, losses, strict=False)
            for w, u in zip(wr, ur, strict=False)
        )
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)
    for (_, _, mask, _, _), weights in zip(layout.pieces(), itertools.chain(*c), strict=False):
        assert np.all(weights[mask == 0] == 0)


def test_oracle_counts_by_hand() -> None:
    # rank 0: sequences [a a] and [b]; rank 1: [c c c] and an empty row
    layout = Layout(
        [[np.array([[1, 1, 0], [1, 0, 0]])], [np.array([[1, 1, 1], [0, 0, 0]])]],
        group_ids=[[np.array([0, 1])], [np.array([1, 2])]],
        num_groups=3,
    )

    def weights(mode: str, **kw: Any) -> list[float]:
        c = target_weights(layout, mode, **kw)
        return [float(x) for x in np.concatenate([c[0][0].ravel(), c[1][0].ravel()]) if x]

    assert weights("token-mean") == pytest.approx([1 / 6] * 6)
    assert weights("seq-mean-token-mean") == pytest.approx(
        [1 / 6, 1 / 6, 1 / 3, 1 / 9, 1 / 9, 1 / 9]
    )
    assert weights("seq-mean-token-mean", count_empty=True) == pytest.approx(
        [1 / 8, 1 / 8, 1 / 4, 1 / 12, 1 / 12, 1 / 12]
    )
    assert weights("seq-mean-token-sum-norm", max_length=10) == pytest.approx([1 / 30] * 6)
    # groups: g0 = {a} (2 tokens), g1 = {b, c} (4 tokens), g2 = {empty}
    assert weights("group-token-mean") == pytest.approx([1 / 4, 1 / 4, 1 / 8, 1 / 8, 1 / 8, 1 / 8])
    assert weights("group-token-mean", count_empty=True) == pytest.approx(
        [1 / 6, 1 / 6, 1 / 12, 1 / 12, 1 / 12, 1 / 12]
    )
    assert weights("group-seq-mean") == pytest.approx([1 / 4, 1 / 4, 1 / 4, 1 / 12, 1 / 12, 1 / 12])


# ------------------------------------------------------------ correct losses pass


def global_token_mean(per_token_loss: Any, step: MicroStep) -> Any:
    """What a user writes with losskit: one global denominator per window."""
    D = losskit.distribute.global_denominator(*step.window.masks)
    return losskit.compute_average_loss(per_token_loss, step.mask, global_batch_size=D)


@pytest.mark.parametrize(
    ("gradients", "accumulation", "micro", "steps"),
    [("mean", "sum", 2, 2), ("sum", "sum", 3, 4), ("mean", "mean", 1, 3), ("sum", "mean", 2, 2)],
)
@pytest.mark.parametrize("packed", [False, True])
def test_losskit_token_mean_passes_on_every_engine(
    gradients: str, accumulation: str, micro: int, steps: int, packed: bool
) -> None:
    layout = random_layout(
        7,
        ranks=3,
        micro_steps=micro,
        accumulation_steps=steps,
        packed=packed,
        gradients=gradients,
        accumulation=accumulation,
    )
    report = audit_loss(global_token_mean, layout, mode="token-mean").check()
    assert report.relative_error < 1e-12
    assert report.ratio_min == pytest.approx(1.0)
    assert report.ratio_max == pytest.approx(1.0)
    assert report.combined_loss == pytest.approx(report.target_loss, rel=1e-12)


def test_engine_weights_are_applied() -> None:
    # a raw sum on 2 replicas x 2 of 4 micro-steps: weight 1 per micro-step, divided by R=2
    # (mean over replicas) and by 4 (accumulation="mean" divides by the configured steps)
    layout = random_layout(
        3, ranks=2, micro_steps=2, accumulation_steps=4, gradients="mean", accumulation="mean"
    )
    report = audit_loss(lambda x, s: (x * s.mask).sum(), layout, mode="token-sum")
    assert report.ratio_min == pytest.approx(1 / 8)
    assert report.ratio_max == pytest.approx(1 / 8)
    assert not report.passed


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_autograd_libraries_agree_with_unit_vectors(library: str) -> None:
    layout = random_layout(5, ranks=2, micro_steps=2, packed=True, num_groups=3)

    def local_mean(per_token_loss: Any, step: MicroStep) -> Any:  # a mean of means
        return (per_token_loss * step.mask).sum() / (1.0 + step.mask.sum())

    numpy = audit_loss(local_mean, layout, mode="token-mean")
    other = audit_loss(local_mean, layout, mode="token-mean", library=library)
    for a, b in zip(itertools.chain(*numpy.weights), itertools.chain(*other.weights), strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-16)
    assert other.relative_error == pytest.approx(numpy.relative_error, rel=1e-12)
    assert type(other.layout.masks[0][0]) is np.ndarray  # the layout stays NumPy


def test_user_function_sees_library_arrays_and_its_place() -> None:
    import torch

    layout = random_layout(1, ranks=2, micro_steps=3, accumulation_steps=4, num_groups=2)
    seen: set[tuple[Any, ...]] = set()

    def spy(per_token_loss: Any, step: MicroStep) -> Any:
        assert isinstance(per_token_loss, torch.Tensor)
        assert per_token_loss.dtype == torch.float64
        assert isinstance(step.mask, torch.Tensor)
        assert isinstance(step.group_ids, torch.Tensor)
        assert step.mask.shape == per_token_loss.shape
        assert step.segment_ids is None
        context = losskit.distribute.get_context()
        assert context is not None
        assert context.replica_id == step.rank
        seen.add(
            (
                step.rank,
                step.micro_batch,
                step.num_ranks,
                step.micro_steps,
                step.accumulation_steps,
                step.gradients,
                step.accumulation,
                step.num_groups,
            )
        )
        return (per_token_loss * step.mask).sum()

    audit_loss(spy, layout, mode="token-sum", library="torch")
    assert seen == {(r, k, 2, 3, 4, "mean", "sum", 2) for r in range(2) for k in range(3)}


def test_prepare_runs_once_per_replica_and_feeds_state() -> None:
    layout = random_layout(2, ranks=3, micro_steps=2)
    calls: list[int] = []

    def prepare(window: Any) -> Any:
        calls.append(window.rank)
        return losskit.distribute.global_denominator(*window.masks)

    def loss(per_token_loss: Any, step: MicroStep) -> Any:
        return losskit.compute_average_loss(per_token_loss, step.mask, global_batch_size=step.state)

    audit_loss(loss, layout, mode="token-mean", prepare=prepare).check()
    assert sorted(calls) == [0, 1, 2]


# ----------------------------------------------------------------- the report


def test_report_locates_the_worst_token_and_raises_readably() -> None:
    layout = Layout(
        [[np.array([[1, 1, 1, 0]])], [np.array([[1, 0], [0, 0]])]],
        segment_ids=[[np.array([[0, 0, 1, 1]])], [np.array([[0, 0], [0, 1]])]],
    )

    def local(per_token_loss: Any, step: MicroStep) -> Any:  # each rank's own mean
        return (per_token_loss * step.mask).sum() / step.mask.sum()

    report = audit_loss(local, layout, mode="token-mean")
    # rank 1's single token weighs (1/2)(1/1) = 1/2 against 1/4; rank 0's (1/2)(1/3) = 1/6
    assert report.worst is not None
    assert (report.worst.rank, report.worst.micro_batch, report.worst.row) == (1, 0, 0)
    assert (report.worst.position, report.worst.segment) == (0, 0)
    assert report.worst.weight == pytest.approx(0.5)
    assert report.worst.target == pytest.approx(0.25)
    assert report.ratio_min == pytest.approx(2 / 3)
    assert report.ratio_max == pytest.approx(2.0)
    assert report.spread == pytest.approx(3.0)
    expected = math.sqrt(3 * (1 / 6 - 1 / 4) ** 2 + (1 / 2 - 1 / 4) ** 2) / math.sqrt(4 / 16)
    assert report.relative_error == pytest.approx(expected)
    with pytest.raises(
        AssertionError,
        match=r"FAILED: relative gradient error 0\.5.*\n(.|\n)*"
        r"worst token: rank 1, micro-batch 0, row 0, position 0 \(segment 0\)",
    ):
        report.check()


def test_weight_on_a_masked_position_is_reported() -> None:
    layout = Layout([[np.array([[1, 0]])]])
    report = audit_loss(lambda x, s: x.sum(), layout, mode="token-mean")  # forgets the mask
    assert report.masked_weight == 1.0
    assert not report.passed
    assert (report.worst.row, report.worst.position) == (0, 1)  # type: ignore[union-attr]


def test_nan_weights_fail() -> None:
    layout = Layout([[np.zeros((1, 2))]])

    def zero_over_zero(per_token_loss: Any, step: MicroStep) -> Any:
        with np.errstate(invalid="ignore"):
            return (per_token_loss * step.mask).sum() / np.float64(step.mask.sum())

    report = audit_loss(zero_over_zero, layout, mode="token-mean")
    assert math.isnan(report.relative_error)
    assert not report.passed


def test_alias_options_and_overrides() -> None:
    layout = Layout([[np.array([[1, 1], [0, 0]])]])

    def per_row_over_all_rows(per_token_loss: Any, step: MicroStep) -> Any:
        rows = (per_token_loss * step.mask).sum(axis=-1) / np.maximum(step.mask.sum(axis=-1), 1)
        return rows.sum() / step.mask.shape[0]

    assert audit_loss(per_row_over_all_rows, layout, mode="verl:seq-mean-token-mean").passed
    assert audit_loss(
        per_row_over_all_rows, layout, mode="seq-mean-token-mean", count_empty=True
    ).passed
    failed = audit_loss(
        per_row_over_all_rows, layout, mode="verl:seq-mean-token-mean", count_empty=False
    )
    assert not failed.passed
    assert failed.options == {"count_empty": False}


# ----------------------------------------------------------------- errors


def test_nonlinear_function_is_refused() -> None:
    layout = Layout([[np.ones((1, 2))]])
    with pytest.raises(ValueError, match=r"Invalid `loss_fn`: expected a function linear in the"):
        audit_loss(lambda x, s: (x**2 * s.mask).sum(), layout, mode="token-sum")


def test_all_reducing_a_loss_dependent_value_is_refused() -> None:
    layout = random_layout(0, ranks=2, micro_steps=1, rows=(1, 2))

    def reduces_the_loss(per_token_loss: Any, step: MicroStep) -> Any:
        return step.all_reduce((per_token_loss * step.mask).sum())

    with pytest.raises(ValueError, match=r"all-reduces a value that depends on the per-token"):
        audit_loss(reduces_the_loss, layout, mode="token-sum")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "token-average"}, ValueError, r"Invalid `mode`: expected a canonical mode"),
        ({"mode": "prompt_mean"}, ValueError, r"'prompt_mean' means different things"),
        ({"mode": "token-mean", "library": "tf"}, ValueError, r"Invalid `library`"),
        ({"mode": "seq-mean-token-sum-norm"}, ValueError, r"Invalid `max_length`: expected a posi"),
        ({"mode": "seq-mean-token-sum-norm", "max_length": 0}, ValueError, r"`max_length`"),
        ({"mode": "group-token-mean"}, ValueError, r"Invalid `layout`: expected a layout with gr"),
        ({"mode": "token-mean", "rtol": -1.0}, ValueError, r"Invalid `rtol`"),
        ({"mode": "token-mean", "prepare": 3}, TypeError, r"Invalid `prepare`"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    layout = Layout([[np.ones((1, 2))]])
    with pytest.raises(error, match=match):
        audit_loss(lambda x, s: x.sum(), layout, **kwargs)


def test_bad_function_and_layout() -> None:
    layout = Layout([[np.ones((1, 2))]])
    with pytest.raises(TypeError, match=r"Invalid `loss_fn`: expected a function"):
        audit_loss(3, layout, mode="token-mean")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Invalid `layout`: expected a losskit.testing.Layout"):
        audit_loss(lambda x, s: x.sum(), [[np.ones((1, 2))]], mode="token-mean")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"Invalid `loss_fn`: expected a function that returns a s"
    ):
        audit_loss(lambda x, s: x, layout, mode="token-mean")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"masks": []}, r"Invalid `masks`: expected a non-empty list"),
        ({"masks": [[np.ones(3)]]}, r"Invalid `masks\[0\]\[0\]`: expected a \[B, T\] array"),
        ({"masks": [[np.full((1, 2), 2.0)]]}, r"`masks\[0\]\[0\]`: expected bool or 0/1"),
        ({"masks": [[np.ones((1, 2))], [np.ones((1, 2))] * 2]}, r"the same number of micro-b"),
        ({"segment_ids": [[np.zeros((1, 3), int)]]}, r"`segment_ids\[0\]\[0\]`: expected integ"),
        ({"segment_ids": [[np.zeros((1, 2))]]}, r"`segment_ids\[0\]\[0\]`: expected integers"),
        ({"group_ids": [[np.array([0])]]}, r"Invalid `num_groups`: expected a positive integer"),
        ({"group_ids": [[np.array([2])]], "num_groups": 2}, r"ids in \[0, num_groups=2\)"),
        ({"num_groups": 2}, r"Invalid `num_groups`: expected None when there are no group_ids"),
        ({"gradients": "avg"}, r"Invalid `gradients`: expected 'sum' or 'mean'"),
        ({"accumulation_steps": 0}, r"Invalid `accumulation_steps`: expected a positive integ"),
        ({"masks": [[np.ones((1, 2))] * 3], "accumulation_steps": 2}, r"at least the 3 micro"),
        (
            {
                "segment_ids": [[np.array([[0, 0]])]],
                "group_ids": [[np.array([[0, 1]])]],
                "num_groups": 2,
            },
            r"`group_ids\[0\]\[0\]`: expected one group id per sequence, "
            r"received 'ids \[0, 1\] in row 0",
        ),
    ],
)
def test_layout_errors(kwargs: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {"masks": [[np.ones((1, 2))]], **kwargs}
    with pytest.raises(ValueError, match=match):
        Layout(**arguments)


# ------------------------------------------- an exact distributed implementation passes


def exact_distributed(mode: str, count_empty: bool, length: float) -> Any:
    """A user's exact per-replica loss for any mode: local counts of the window, summed
    over the replicas with the step's all-reduce, then each token's coefficient."""

    def sequences(mask: Any, segments: Any) -> tuple[np.ndarray, int]:
        if segments is None:
            return np.repeat(np.arange(mask.shape[0])[:, None], mask.shape[1], 1), mask.shape[0]
        keys = {}
        index = np.zeros(mask.shape, dtype=int)
        for b, t in np.ndindex(*mask.shape):
            index[b, t] = keys.setdefault((b, int(segments[b, t])), len(keys))
        return index, len(keys)

    def counts(mask: Any, segments: Any, groups: Any, size: int) -> np.ndarray:
        """[tokens, sequences, tokens per group..., sequences per group..., present...]."""
        index, count = sequences(mask, segments)
        n = np.bincount(index.ravel(), weights=mask.ravel(), minlength=count)
        seq_group = np.zeros(count, dtype=int)
        if groups is not None:
            seq_group[index.ravel()] = (
                groups if segments is not None else groups[:, None] + 0 * index
            ).ravel()
        counted = np.ones(count) if count_empty else (n > 0).astype(float)
        return np.concatenate(
            [
                [n.sum(), counted.sum()],
                np.bincount(seq_group, weights=n, minlength=size),
                np.bincount(seq_group, weights=counted, minlength=size),
                np.bincount(seq_group, minlength=size).astype(float),
            ]
        )

    def loss(x: Any, step: MicroStep) -> Any:
        size = step.num_groups or 1
        window = zip(
            step.window.masks,
            step.window.segment_ids or [None] * step.micro_steps,
            step.window.group_ids or [None] * step.micro_steps,
            strict=True,
        )
        total = step.all_reduce(sum(counts(m, s, g, size) for m, s, g in window))
        tokens, seqs = total[0], total[1]
        group_tokens, group_seqs = total[2 : 2 + size], total[2 + size : 2 + 2 * size]
        present = total[2 + 2 * size :] > 0
        groups_counted = np.sum(present if count_empty else group_tokens > 0)
        index, _ = sequences(step.mask, step.segment_ids)
        n = np.bincount(index.ravel(), weights=step.mask.ravel())[index]
        g = np.zeros(step.mask.shape, dtype=int)
        if step.group_ids is not None:
            g = step.group_ids if step.segment_ids is not None else step.group_ids[:, None] + 0 * g
        safe = np.maximum
        c = {
            "token-mean": 1 / safe(tokens, 1),
            "token-sum": np.ones_like(n),
            "seq-mean-token-mean": 1 / (safe(seqs, 1) * safe(n, 1)),
            "seq-mean-token-sum": np.full_like(n, 1 / safe(seqs, 1)),
            "seq-mean-token-sum-norm": np.full_like(n, 1 / (safe(seqs, 1) * length)),
            "group-token-mean": 1 / (safe(groups_counted, 1) * safe(group_tokens[g], 1)),
            "group-seq-mean": 1 / (safe(groups_counted, 1) * safe(group_seqs[g], 1) * safe(n, 1)),
        }[mode]
        scale = (step.num_ranks if step.gradients == "mean" else 1) * (
            step.accumulation_steps if step.accumulation == "mean" else 1
        )
        return scale * (x * step.mask * c).sum()

    return loss


@settings(max_examples=60)
@given(_layouts(), st.sampled_from(["mean", "sum"]), st.sampled_from(["mean", "sum"]))
def test_an_exact_distributed_loss_passes(
    case: tuple[Layout, str, bool], gradients: str, accumulation: str
) -> None:
    layout, mode, empty = case
    import dataclasses

    layout = dataclasses.replace(layout, gradients=gradients, accumulation=accumulation)
    report = audit_loss(
        exact_distributed(mode, empty, 7.0), layout, mode=mode, count_empty=empty, max_length=7.0
    )
    assert report.relative_error < 1e-12, report.summary()
