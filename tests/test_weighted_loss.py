"""compute_weighted_loss on every backend, against a float64 NumPy oracle written here."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from losskit import Reduction, compute_weighted_loss
from tests._helpers import TOLERANCE, Backend, assert_close

REDUCTIONS = [
    "none",
    "sum",
    "sum_over_batch_size",
    "weighted_mean",
    "sum_by_nonzero_weights",
    "mean_with_sample_weight",
]


def oracle(losses: np.ndarray, weights: np.ndarray, reduction: str) -> np.ndarray:
    """TF1's (and Keras 3's) definitions, spelled out in float64 with explicit broadcasting."""
    losses = np.asarray(losses, np.float64)
    weights = np.asarray(weights, np.float64)
    broadcast = np.broadcast_to(weights, losses.shape)
    weighted = losses * broadcast
    if reduction == "none":
        return weighted
    total = weighted.sum()
    denominator = {
        "sum": 1.0,
        "sum_over_batch_size": float(losses.size),
        "weighted_mean": broadcast.sum(),
        "sum_by_nonzero_weights": float(np.count_nonzero(broadcast)),
        # Keras 3: unbroadcast weights; a scalar weights every element (deviations.md)
        "mean_with_sample_weight": weights.sum() if weights.ndim else broadcast.sum(),
    }[reduction]
    return np.float64(0.0) if denominator == 0 else np.float64(total / denominator)


SHAPES_AND_WEIGHTS = [
    ((4,), ()),
    ((4,), (4,)),
    ((4,), (1,)),
    ((2, 3), ()),
    ((2, 3), (2, 3)),
    ((2, 3), (2, 1)),
    ((2, 3), (1, 3)),
    ((2, 3), (1, 1)),
    ((2, 3, 4), (2, 1, 1)),
    ((2, 3, 4), (2, 3, 1)),
    ((2, 3, 4), (1, 3, 4)),
    ((2, 3, 4, 2), (2, 1, 4, 1)),
    ((), ()),
    ((0,), ()),
    ((0,), (0,)),
    ((0, 3), (0, 1)),
    ((3, 0), (3, 1)),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("shape", "weight_shape"), SHAPES_AND_WEIGHTS)
def test_matches_float64_oracle(xp: Backend, shape, weight_shape, reduction) -> None:
    rng = np.random.default_rng(abs(hash((shape, weight_shape))) % 2**32)
    losses = rng.normal(size=shape)
    weights = rng.uniform(-1.0, 2.0, size=weight_shape)
    if weights.size > 1:
        weights.reshape(-1)[0] = 0.0  # a zero weight, so the non-zero count differs
    got = xp.run(
        compute_weighted_loss, xp.asarray(losses), xp.asarray(weights), reduction=reduction
    )
    expected = oracle(losses, weights, reduction)
    assert tuple(got.shape) == expected.shape
    assert xp.dtype_name(got) == "float64"
    assert_close(xp.numpy(got), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_python_scalar_weight(xp: Backend, reduction) -> None:
    losses = np.array([[1.0, -2.0], [3.5, 4.0]])
    got = xp.run(compute_weighted_loss, xp.asarray(losses), 2.5, reduction=reduction)
    assert_close(xp.numpy(got), oracle(losses, np.array(2.5), reduction))


def test_default_reduction_is_sum_by_nonzero_weights(xp: Backend) -> None:
    losses, weights = xp.asarray([1.0, 2.0, 3.0, 4.0]), xp.asarray([1.0, 0.0, 2.0, 0.0])
    assert_close(xp.numpy(xp.run(compute_weighted_loss, losses, weights)), (1 + 6) / 2)
    # default weights=1.0: every element is present
    assert_close(xp.numpy(xp.run(compute_weighted_loss, losses)), 10 / 4)


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [("weighted_mean", 0.0), ("sum_by_nonzero_weights", 0.5), ("mean_with_sample_weight", 0.0)],
)
def test_negative_weights(xp: Backend, reduction, expected) -> None:
    # TF1: weights [-1, 1, 0, 0] sum to zero (MEAN -> 0) but two are non-zero (SBNZ -> 1/2)
    losses, weights = xp.asarray([1.0, 2.0, 3.0, 4.0]), xp.asarray([-1.0, 1.0, 0.0, 0.0])
    got = xp.run(compute_weighted_loss, losses, weights, reduction=reduction)
    assert_close(xp.numpy(got), expected)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("reduction", [r for r in REDUCTIONS if r != "none"])
def test_zero_weights_give_zero_not_nan(xp: Backend, reduction) -> None:
    losses = xp.asarray([1.0, np.inf, 3.0])
    got = xp.run(compute_weighted_loss, losses, xp.asarray([0.0, 0.0, 0.0]), reduction=reduction)
    # inf * 0 is NaN for every reduction whose numerator sees it; TF agrees (0 * inf = nan)
    # except where the denominator is 0, which wins: div_no_nan(nan, 0) == 0.
    expected = 0.0 if reduction != "sum" and reduction != "sum_over_batch_size" else np.nan
    assert_close(xp.numpy(got), expected)


def test_nan_weight_counts_as_present(xp: Backend) -> None:
    # TF's num_present uses `w != 0`: a NaN weight is "present" and the result is NaN.
    losses, weights = xp.asarray([1.0, 2.0, 3.0, 4.0]), xp.asarray([np.nan, 1.0, 1.0, 1.0])
    assert np.isnan(xp.numpy(xp.run(compute_weighted_loss, losses, weights)))


def test_empty_losses(xp: Backend) -> None:
    empty = xp.asarray(np.zeros((0,)))
    for reduction in REDUCTIONS[1:]:
        assert_close(xp.numpy(xp.run(compute_weighted_loss, empty, reduction=reduction)), 0.0)
    assert xp.numpy(xp.run(compute_weighted_loss, empty, reduction="none")).shape == (0,)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_floating_dtype_is_kept(xp: Backend, dtype, reduction) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    rng = np.random.default_rng(7)
    losses = rng.uniform(0, 3, size=(8, 5)).astype(np.float32)
    weights = rng.uniform(0, 1, size=(8, 1)).astype(np.float32)
    got = xp.run(
        compute_weighted_loss,
        xp.asarray(losses, dtype),
        xp.asarray(weights, "float32"),
        reduction=reduction,
    )
    assert xp.dtype_name(got) == dtype
    # the oracle sees the inputs as rounded to `dtype`
    rounded = xp.numpy(xp.asarray(losses, dtype)).astype(np.float64)
    weights_rounded = weights.astype(np.float64)
    assert_close(xp.numpy(got), oracle(rounded, weights_rounded, reduction), rtol=TOLERANCE[dtype])


def test_float16_accumulates_in_float32(xp: Backend) -> None:
    if not xp.supports("float16"):
        pytest.skip("no float16")
    # 4096 * 30 = 122880 overflows a float16 sum (max 65504); the mean (30) does not.
    losses = xp.asarray(np.full((4096,), 30.0), "float16")
    got = xp.run(compute_weighted_loss, losses, reduction="sum_over_batch_size")
    assert xp.dtype_name(got) == "float16"
    assert_close(xp.numpy(got), 30.0)


@pytest.mark.parametrize(
    ("dtype", "float_dtype"),
    [("int8", "float32"), ("uint8", "float32"), ("int32", "float64"), ("int64", "float64")],
)
def test_integers_reduce_in_floating_point(xp: Backend, dtype, float_dtype) -> None:
    losses = xp.asarray([1, 2, 100, 100], dtype)
    got = xp.run(compute_weighted_loss, losses, reduction="sum_over_batch_size")
    assert xp.dtype_name(got) == float_dtype
    assert_close(xp.numpy(got), 203 / 4)  # TF1 truncates to 50 and wraps int8 sums
    none = xp.run(compute_weighted_loss, losses, xp.asarray([0.5, 0.5, 1.0, 1.0]), reduction="none")
    assert_close(xp.numpy(none), [0.5, 1.0, 100.0, 100.0])


def test_bool_weights_are_zero_or_one(xp: Backend) -> None:
    losses, mask = xp.asarray([1.0, 2.0, 3.0, 4.0]), xp.asarray([True, False, True, False])
    assert_close(xp.numpy(xp.run(compute_weighted_loss, losses, mask)), 2.0)


def test_results_stay_in_the_namespace(xp: Backend) -> None:
    got = compute_weighted_loss(xp.asarray([1.0, 2.0]), [1.0, 0.0], reduction="sum")
    assert type(got) is type(xp.asarray([1.0]))


def test_python_lists_are_numpy() -> None:
    got = compute_weighted_loss([1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 2.0, 0.0], reduction="sum")
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float64
    assert float(got) == 7.0


@pytest.mark.parametrize("reduction", REDUCTIONS[1:])
def test_gradients_flow_into_losses_and_weights(xp: Backend, reduction) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    rng = np.random.default_rng(3)
    losses, weights = rng.normal(size=(3, 4)), rng.uniform(0.5, 2.0, size=(3, 1))
    weights[1, 0] = 0.0

    def loss(values, w):
        return compute_weighted_loss(values, w, reduction=reduction)

    d_losses, d_weights = xp.grad(loss, xp.asarray(losses), xp.asarray(weights))
    # d/dl_ij = w_i / D ; d/dw_i = sum_j l_ij / D - S * dD/dw_i / D**2
    broadcast = np.broadcast_to(weights, losses.shape)
    total = (losses * broadcast).sum()
    row_sums = losses.sum(axis=1, keepdims=True)
    if reduction == "sum":
        den, d_den = 1.0, np.zeros_like(weights)
    elif reduction == "sum_over_batch_size":
        den, d_den = losses.size, np.zeros_like(weights)
    elif reduction == "weighted_mean":
        den, d_den = broadcast.sum(), np.full_like(weights, losses.shape[1])
    elif reduction == "sum_by_nonzero_weights":
        den, d_den = np.count_nonzero(broadcast), np.zeros_like(weights)
    else:  # mean_with_sample_weight
        den, d_den = weights.sum(), np.ones_like(weights)
    assert_close(d_losses, broadcast / den, rtol=1e-12)
    assert_close(d_weights, row_sums / den - total * d_den / den**2, rtol=1e-10, atol=1e-15)


def test_gradient_is_zero_when_the_denominator_is_zero(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")

    def loss(values, w):
        return compute_weighted_loss(values, w, reduction="weighted_mean")

    d_losses, d_weights = xp.grad(loss, xp.asarray([1.0, 2.0]), xp.asarray([0.0, 0.0]))
    assert_close(d_losses, [0.0, 0.0])
    assert_close(d_weights, [0.0, 0.0])


def test_auto_is_sum_over_batch_size_on_one_replica(xp: Backend) -> None:
    losses = xp.asarray([[1.0, 2.0], [3.0, 4.0]])
    weights = xp.asarray([[1.0], [0.0]])
    auto = xp.run(compute_weighted_loss, losses, weights, reduction=Reduction.AUTO)
    assert_close(xp.numpy(auto), 0.75)
    with losskit.distribute.replica_context(1):
        assert_close(xp.numpy(compute_weighted_loss(losses, weights, reduction="auto")), 0.75)


@pytest.mark.parametrize(
    "reduction",
    [
        "auto",
        "sum_over_batch_size",
        "weighted_mean",
        "sum_by_nonzero_weights",
        "mean_with_sample_weight",
    ],
)
def test_local_means_refused_with_several_replicas(reduction) -> None:
    with (
        losskit.distribute.replica_context(2),
        pytest.raises(
            ValueError, match=r"divides by the local batch.*2 replicas.*compute_average_loss"
        ),
    ):
        compute_weighted_loss(np.ones(4), reduction=reduction)


def test_local_means_allowed_in_cross_replica_context() -> None:
    # code in cross-replica context runs once for all replicas: no gradient is summed
    with losskit.distribute.cross_replica_context(4):
        got = compute_weighted_loss(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0]))
    assert_close(got, 2.0)


@pytest.mark.parametrize("weights", [1.0, 2.5, np.array(2.5)], ids=["default", "python", "0-d"])
def test_mean_with_sample_weight_scalar_weights_every_element(xp: Backend, weights) -> None:
    # Keras 3 divides by a bare scalar weight (its mean becomes a sum); losskit by w * count
    losses = xp.asarray([1.0, 2.0, 3.0, 4.0])
    weights = weights if isinstance(weights, float) else xp.asarray(weights)
    got = xp.run(compute_weighted_loss, losses, weights, reduction="mean_with_sample_weight")
    assert_close(xp.numpy(got), 2.5)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_sum_and_none_allowed_with_several_replicas(reduction) -> None:
    with losskit.distribute.replica_context(4):
        got = compute_weighted_loss(np.array([1.0, 2.0]), reduction=reduction)
    assert_close(got, 3.0 if reduction == "sum" else [1.0, 2.0])


LARGE = [
    ((3 * 65536,), (3 * 65536,)),  # blocked dot products
    ((65537,), (65537,)),  # a prime size: no exact block
    ((512, 300), (512, 1)),  # per-row weights: a matrix-vector product
    ((300, 512), (1, 512)),  # per-column weights
    ((70000, 2), (70000, 1)),  # too many rows for one dot each: the product
    ((2, 64, 1024), (2, 64, 1)),
    ((4, 70000), ()),  # a scalar array weight, blocked
]


@pytest.mark.parametrize(("shape", "weight_shape"), LARGE)
def test_large_arrays_are_accurate_in_float32(xp: Backend, shape, weight_shape) -> None:
    rng = np.random.default_rng(17)
    losses = rng.uniform(0.0, 2.0, size=shape).astype(np.float32)
    weights = rng.uniform(0.0, 1.0, size=weight_shape).astype(np.float32)
    got = xp.run(
        compute_weighted_loss,
        xp.asarray(losses, "float32"),
        xp.asarray(weights, "float32"),
        reduction="sum",
    )
    expected = (losses.astype(np.float64) * weights.astype(np.float64)).sum()
    assert xp.dtype_name(got) == "float32"
    assert_close(xp.numpy(got), expected, rtol=1e-6)


@pytest.mark.parametrize(("shape", "weight_shape"), LARGE[:4])
def test_large_array_gradients(xp: Backend, shape, weight_shape) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    rng = np.random.default_rng(18)
    losses = rng.uniform(0.0, 2.0, size=shape)
    weights = rng.uniform(0.0, 1.0, size=weight_shape)

    def loss(values, w):
        return compute_weighted_loss(values, w, reduction="sum")

    d_losses, d_weights = xp.grad(loss, xp.asarray(losses), xp.asarray(weights))
    assert_close(d_losses, np.broadcast_to(weights, shape), rtol=1e-12)
    axes = tuple(i for i, d in enumerate(weight_shape) if d == 1 and shape[i] != 1)
    assert_close(d_weights, losses.sum(axis=axes, keepdims=True).reshape(weight_shape), rtol=1e-9)
