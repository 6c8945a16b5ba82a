"""The modes on hand-computed examples, on every backend (``xp``: NumPy, PyTorch, JAX
jitted, array-api-strict): values, weights, gradients, NaN-safety, empty steps, dtypes,
engine scaling and the one all-reduce."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit
from losskit.aggregation import MODES, Plan, aggregate, plan
from losskit.distribute import replica_context
from tests._helpers import assert_close

NAN, INF = np.nan, np.inf

# Padded: two micro-batches. Sequences (row sums / valid tokens / group):
# mb0 row0 3/2/g0, row1 empty/g2, row2 15/3/g0; mb1 row0 4/1/g1, row1 10/2/g1, row2 empty/g1.
PADDED = {
    "masks": [
        [[1, 1, 0], [0, 0, 0], [1, 1, 1]],
        [[1, 0, 0], [1, 1, 0], [0, 0, 0]],
    ],
    "losses": [
        [[1.0, 2.0, NAN], [INF, 5.0, 6.0], [3.0, 3.0, 9.0]],
        [[4.0, INF, NAN], [2.0, 8.0, -INF], [NAN, NAN, NAN]],
    ],
    "segment_ids": None,
    "group_ids": [[0, 2, 0], [1, 1, 1]],
}
# Packed: one micro-batch of two rows. (row, id): (0, 0) 1+3 / 2 tokens / g0,
# (0, 1) 2+6+4 / 3 / g1, (1, 3) 4+8 / 2 / g1, (1, 2) empty / g2, (1, 0) 5+9 / 2 / g0.
PACKED = {
    "masks": [[[1, 1, 1, 1, 1], [1, 1, 0, 1, 1]]],
    "losses": [[[1.0, 3.0, 2.0, 6.0, 4.0], [4.0, 8.0, NAN, 5.0, 9.0]]],
    "segment_ids": [[[0, 0, 1, 1, 1], [3, 3, 2, 0, 0]]],
    "group_ids": [[[0, 0, 1, 1, 1], [1, 1, 2, 0, 0]]],
}
L = 4.0
# (mode, count_empty) -> the objective, by hand (means of sequences, of groups).
EXPECTED = {
    "padded": {
        ("token-mean", False): 32 / 8,
        ("token-sum", False): 32.0,
        ("seq-mean-token-mean", False): (1.5 + 5 + 4 + 5) / 4,
        ("seq-mean-token-mean", True): (1.5 + 5 + 4 + 5) / 6,
        ("seq-mean-token-sum", False): 32 / 4,
        ("seq-mean-token-sum", True): 32 / 6,
        ("seq-mean-token-sum-norm", False): 32 / (4 * L),
        ("seq-mean-token-sum-norm", True): 32 / (6 * L),
        ("group-token-mean", False): (18 / 5 + 14 / 3) / 2,
        ("group-token-mean", True): (18 / 5 + 14 / 3) / 3,
        ("group-seq-mean", False): ((1.5 + 5) / 2 + (4 + 5) / 2) / 2,
        ("group-seq-mean", True): ((1.5 + 5) / 2 + (4 + 5) / 3 + 0) / 3,
    },
    "packed": {
        ("token-mean", False): 42 / 9,
        ("token-sum", False): 42.0,
        ("seq-mean-token-mean", False): (2 + 4 + 6 + 7) / 4,
        ("seq-mean-token-mean", True): (2 + 4 + 6 + 7) / 5,
        ("seq-mean-token-sum", False): 42 / 4,
        ("seq-mean-token-sum", True): 42 / 5,
        ("seq-mean-token-sum-norm", False): 42 / (4 * L),
        ("seq-mean-token-sum-norm", True): 42 / (5 * L),
        ("group-token-mean", False): (18 / 4 + 24 / 5) / 2,
        ("group-token-mean", True): (18 / 4 + 24 / 5) / 3,
        ("group-seq-mean", False): ((2 + 7) / 2 + (4 + 6) / 2) / 2,
        ("group-seq-mean", True): ((2 + 7) / 2 + (4 + 6) / 2 + 0) / 3,
    },
}
CASES = [
    (layout, mode, count_empty)
    for layout in ("padded", "packed")
    for mode, count_empty in EXPECTED[layout]
]
LAYOUTS = {"padded": PADDED, "packed": PACKED}


def _arrays(xp, layout: dict, dtype: str = "float64") -> dict:
    ints = lambda items: None if items is None else [xp.asarray(a, "int64") for a in items]  # noqa: E731
    return {
        "masks": [xp.asarray(np.asarray(m, dtype=bool)) for m in layout["masks"]],
        "losses": [xp.asarray(v, dtype) for v in layout["losses"]],
        "segment_ids": ints(layout["segment_ids"]),
        "group_ids": ints(layout["group_ids"]),
    }


def _plan(data: dict, mode: str, count_empty: bool) -> Plan:
    return plan(
        data["masks"],
        mode=mode,
        segment_ids=data["segment_ids"],
        group_ids=data["group_ids"],
        num_groups=3,
        max_length=L,
        count_empty=count_empty,
    )


def test_modes_are_the_issue_names() -> None:
    assert MODES == (
        "token-mean",
        "token-sum",
        "seq-mean-token-mean",
        "seq-mean-token-sum",
        "seq-mean-token-sum-norm",
        "group-token-mean",
        "group-seq-mean",
    )


@pytest.mark.parametrize(("layout", "mode", "count_empty"), CASES)
def test_value_equals_the_hand_computed_objective(xp, layout, mode, count_empty) -> None:
    data = _arrays(xp, LAYOUTS[layout])
    count = len(data["masks"])
    names = [name for name in ("masks", "losses", "segment_ids", "group_ids") if data[name]]

    def total(*arrays):  # flat, so that xp.run traces every array under jax.jit
        given = {name: list(arrays[i * count : (i + 1) * count]) for i, name in enumerate(names)}
        given.setdefault("segment_ids", None)
        p = _plan(given, mode, count_empty)
        return sum(p.loss(values, k) for k, values in enumerate(given["losses"]))

    got = xp.run(total, *[array for name in names for array in data[name]])
    assert_close(xp.numpy(got), EXPECTED[layout][(mode, count_empty)], rtol=1e-14)


@pytest.mark.parametrize(("layout", "mode", "count_empty"), CASES)
def test_weights_are_the_gradient_and_zero_where_masked(xp, layout, mode, count_empty) -> None:
    """d loss / d l = weights: the coefficients at valid tokens, exactly 0 (not NaN) where the
    loss is masked, even at NaN and infinite losses; sum(weights * l) = loss."""
    if not xp.has_autograd:
        pytest.skip(f"{xp.name} has no autograd")
    data = _arrays(xp, LAYOUTS[layout])
    p = _plan(data, mode, count_empty)
    for k, values in enumerate(data["losses"]):
        (grad,) = xp.grad(lambda v, k=k: p.loss(v, k), values)
        weights = xp.numpy(p.weights(k))
        mask = xp.numpy(data["masks"][k])
        assert_close(grad, weights, rtol=1e-15)
        assert np.all(grad[~mask] == 0)
        assert np.all(weights[mask] > 0)
        finite = np.where(mask, xp.numpy(values), 0.0)
        assert_close(np.sum(weights * finite), xp.numpy(p.loss(values, k)), rtol=1e-14)


def test_aggregate_is_a_one_entry_plan(xp) -> None:
    data = _arrays(xp, PACKED)
    for mode, count_empty in EXPECTED["packed"]:
        got = aggregate(
            data["losses"][0],
            data["masks"][0],
            mode=mode,
            segment_ids=data["segment_ids"][0],
            group_ids=data["group_ids"][0],
            num_groups=3,
            max_length=L,
            count_empty=count_empty,
        )
        assert_close(xp.numpy(got), EXPECTED["packed"][(mode, count_empty)], rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_step_gives_zero_and_zero_gradients(xp, mode) -> None:
    """No valid token anywhere, and an empty [0, T] micro-batch: 0, connected, no NaN."""
    masks = [xp.asarray(np.zeros((2, 3), dtype=bool)), xp.asarray(np.zeros((0, 3), dtype=bool))]
    losses = [xp.asarray(np.full((2, 3), np.nan)), xp.asarray(np.zeros((0, 3)))]
    segments = [xp.asarray(np.zeros((2, 3), dtype=np.int64)), xp.asarray(np.zeros((0, 3), "i8"))]
    groups = [xp.asarray(np.zeros((2, 3), dtype=np.int64)), xp.asarray(np.zeros((0, 3), "i8"))]
    p = plan(masks, mode=mode, segment_ids=segments, group_ids=groups, num_groups=1, max_length=2)
    for k in range(2):
        assert xp.numpy(p.loss(losses[k], k)) == 0.0
        assert np.all(xp.numpy(p.weights(k)) == 0.0)
        if xp.has_autograd:
            (grad,) = xp.grad(lambda v, k=k: p.loss(v, k), losses[k])
            assert grad.shape == tuple(losses[k].shape)
            assert np.all(grad == 0.0)


def test_an_empty_micro_batch_still_reaches_backward() -> None:
    torch = pytest.importorskip("torch")
    leaf = torch.zeros((0, 4), dtype=torch.float64, requires_grad=True)
    value = aggregate(leaf, torch.zeros((0, 4), dtype=torch.bool), mode="seq-mean-token-mean")
    value.backward()  # connected to the graph
    assert leaf.grad is not None
    assert leaf.grad.shape == (0, 4)


@pytest.mark.parametrize(
    ("dtype", "result"),
    [("float16", "float16"), ("float32", "float32"), ("float64", "float64"), ("int32", "float64")],
)
def test_result_dtype_follows_the_losses(xp, dtype, result) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    mask = xp.asarray(np.array([[True, True, False]]))
    losses = xp.asarray(np.array([[1, 2, 0]]), dtype)
    value = aggregate(losses, mask, mode="seq-mean-token-mean")
    assert xp.dtype_name(value) == result
    assert_close(xp.numpy(value), 1.5, rtol=1e-3)


def test_masks_may_be_zero_one_numbers(xp) -> None:
    losses = xp.asarray(np.array([[1.0, 2.0, NAN], [4.0, 4.0, 4.0]]))
    for dtype in ("float32", "int64", "uint8"):
        mask = xp.asarray(np.array([[1, 1, 0], [1, 0, 1]]), dtype)
        value = aggregate(losses, mask, mode="seq-mean-token-mean")
        assert_close(xp.numpy(value), (1.5 + 4.0) / 2)


def test_float64_counts_are_exact_beyond_float32() -> None:
    """2**24 + 1 valid tokens: float32 counts would round the denominator to 2**24."""
    n = 2**24 + 1
    mask = np.ones((1, n), dtype=bool)
    value = aggregate(np.ones((1, n)), mask, mode="token-mean")
    assert float(value) == 1.0
    p = plan([mask], mode="token-mean")
    assert float(p.counts["tokens"]) == n
    assert p.weights(0)[0, 0] == 1 / n


def test_engine_scale_and_replica_counts() -> None:
    """Inside a context: counts summed over replicas (one all-reduce of one vector), the
    value scaled by what the engine divides by (here replicas x accumulation steps)."""
    calls = []

    def all_reduce(vector):  # the other replica holds 3 more sequences, all non-empty
        calls.append(vector.shape)
        return vector + np.array([3.0])

    mask = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
    losses = np.array([[1.0, 3.0, 0.0], [5.0, 0.0, 0.0]])
    with replica_context(
        2,
        gradients="mean",
        accumulation_steps=3,
        accumulation="mean",
        all_reduce=all_reduce,
    ):
        p = plan([mask, mask], mode="seq-mean-token-sum")
        assert p.scale == 6
        assert calls == [(1,)]
        assert float(p.counts["sequences"]) == 4 + 3
        assert_close(p.loss(losses, 1), 6 * 9 / 7)
        assert_close(p.unscaled_loss(losses, 1), 9 / 7)
        assert_close(p.weights(0), 6 / 7 * mask)
        # the window has 2 micro-batches: the penalty is added 2 x 2 times
        assert_close(losskit.scale_regularization_loss(np.float64(8.0)), 6 * 8.0 / 4)


@pytest.mark.parametrize(
    ("mode", "collectives"), [(mode, int(mode != "token-sum")) for mode in MODES]
)
def test_one_collective_per_window(mode, collectives) -> None:
    calls = []

    def all_reduce(vector):
        calls.append(vector.shape)
        return vector * 2  # the other replica: the same counts

    masks = [np.array([[1, 0], [1, 1]], dtype=bool)] * 3
    groups = [np.array([0, 2])] * 3
    with replica_context(2, accumulation_steps=3, all_reduce=all_reduce):
        p = plan(masks, mode=mode, group_ids=groups, num_groups=3, max_length=2)
        for k in range(3):
            p.loss(np.ones((2, 2)), k)
            p.weights(k)
    assert len(calls) == collectives
    if mode.startswith("group"):
        assert calls[0] == (3,)  # one vector: the per-group counts


def test_count_empty_group_token_mean_sends_both_group_vectors_at_once() -> None:
    calls = []

    def all_reduce(vector):
        calls.append(vector.shape)
        return vector

    with replica_context(2, all_reduce=all_reduce):
        plan(
            [np.ones((2, 2), dtype=bool)],
            mode="group-token-mean",
            group_ids=[np.array([0, 1])],
            num_groups=5,
            count_empty=True,
        )
    assert calls == [(10,)]


def test_results_stay_on_the_callers_device() -> None:
    torch = pytest.importorskip("torch")
    meta = torch.device("meta")
    mask = torch.ones((2, 4), dtype=torch.bool, device=meta)
    seg = torch.zeros((2, 4), dtype=torch.int64, device=meta)
    losses = torch.ones((2, 4), dtype=torch.float16, device=meta)
    for mode in MODES:
        p = plan([mask], mode=mode, segment_ids=[seg], group_ids=[seg], num_groups=2, max_length=3)
        assert p.weights(0).device == meta
        value = p.loss(losses, 0)
        assert value.device == meta
        assert value.dtype == torch.float16


def test_repr() -> None:
    p = plan([np.ones((1, 2), dtype=bool)], mode="token-mean")
    assert repr(p) == "Plan(mode='token-mean', count_empty=False, micro_batches=1, scale=1)"


def test_framework_aliases_plan_their_framework_objective() -> None:
    # verl's seq-mean-token-mean counts empty sequences (its configured batch): an alias
    # carries that option, and an explicit count_empty overrides it
    masks = [np.array([[1, 1, 0], [0, 0, 0]]), np.array([[1, 0, 0]])]
    losses = [np.array([[2.0, 4.0, 0.0], [0.0, 0.0, 0.0]]), np.array([[3.0, 0.0, 0.0]])]

    def total(p: Any) -> float:
        return sum(float(p.loss(loss, k)) for k, loss in enumerate(losses))

    # (6/2 + 3/1) / 3 rows for verl; / 2 non-empty sequences for the canonical mode
    assert total(plan(masks, mode="verl:seq-mean-token-mean")) == pytest.approx(6 / 3)
    assert plan(masks, mode="verl:seq-mean-token-mean").count_empty is True
    assert total(plan(masks, mode="seq-mean-token-mean")) == pytest.approx(6 / 2)
    exact = plan(masks, mode="verl:seq-mean-token-mean", count_empty=False)
    assert total(exact) == pytest.approx(6 / 2)
    assert plan(masks, mode="trl:grpo").mode == "seq-mean-token-mean"
    with pytest.raises(ValueError, match=r"'prompt_mean' means different things"):
        plan(masks, mode="prompt_mean")


@pytest.mark.parametrize("count_empty", [False, True])
def test_packed_counts_of_many_rows_in_blocks(count_empty) -> None:
    # NumPy counts packed sequences by blocks of rows (163 rows of 200 tokens here: two
    # blocks, the second partial); every weight equals the oracle's
    from tests.aggregation import _oracle

    rng = np.random.default_rng(5)
    shape = (300, 200)
    ids = np.sort(rng.integers(0, 12, size=shape), axis=1)
    mask = rng.random(shape) < 0.7
    mask[7] = False  # a row of empty sequences
    mask[250, ids[250] == ids[250, 0]] = False  # one empty sequence in the second block
    layout = [[{"mask": mask, "seg": ids, "group": None}]]
    expected = _oracle.coefficients(layout, "seq-mean-token-mean", count_empty=count_empty)
    got = plan([mask], mode="seq-mean-token-mean", segment_ids=[ids], count_empty=count_empty)
    np.testing.assert_allclose(got.weights(0), expected[0][0], rtol=1e-13, atol=0)
    assert np.count_nonzero(got.weights(0)) == np.count_nonzero(mask)
