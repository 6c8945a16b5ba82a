"""compute_average_loss and scale_regularization_loss on every backend.

Expected numbers are hand arithmetic (written next to each case) or a float64 NumPy oracle;
the cases follow the tables of docs/tf-semantics.md sections 1 and 2.
"""

from __future__ import annotations

import numpy as np
import pytest

from losskit import compute_average_loss, scale_regularization_loss
from losskit.distribute import cross_replica_context, replica_context
from tests._helpers import TOLERANCE, Backend, assert_close

L4 = [1.0, 2.0, 3.0, 4.0]
M22 = [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("losses", "weights", "expected"),
    [
        (L4, None, 10 / 4),
        (L4, [1.0, 0.0, 2.0, 0.0], (1 + 6) / 4),  # zero weights still count in the batch
        (L4, [[1.0], [0.0], [2.0], [0.0]], (1 + 6) / 4),  # [B, 1] squeezed
        (L4, 2.0, 20 / 4),
        (M22, [1.0, 2.0], (1 + 2 + 6 + 8) / 2),  # [B] expanded to [B, 1]: per row
        (M22, [[1.0], [2.0]], (1 + 2 + 6 + 8) / 2),
        (M22, [[1.0, 0.0], [2.0, 1.0]], (1 + 6 + 4) / 2),
        (M22, [[[1.0], [0.0]], [[2.0], [1.0]]], (1 + 6 + 4) / 2),  # [B, d, 1] squeezed
        (np.ones((2, 2, 2)).tolist(), [1.0, 3.0], 16 / 2),  # rank gap 2: trailing axis
        (M22, [[1.0, 1.0]], 10 / 2),  # [1, d] broadcast over rows
    ],
)
def test_weight_shapes(xp: Backend, losses, weights, expected) -> None:
    weights_arg = None if weights is None else xp.asarray(weights)
    got = xp.run(compute_average_loss, xp.asarray(losses), weights_arg)
    assert tuple(got.shape) == ()
    assert_close(xp.numpy(got), expected)


@pytest.mark.parametrize(
    ("losses", "weights", "match"),
    [
        (M22, [[[1.0, 0.0], [2.0, 1.0]]], r"last dimension must be 1 to be squeezed"),
        (L4[:3], [[1.0, 2.0, 3.0]], r"last dimension must be 1 to be squeezed"),
        (np.ones((2, 3, 4)).tolist(), [1.0, 2.0], r"broadcasts to the shape"),
        # TF accepts these two and changes the batch size (deviation batch-growing-weights)
        ([[1.0, 2.0, 3.0]], [1.0, 2.0, 3.0], r"may not enlarge the losses"),
        ([1.0], [1.0, 2.0, 3.0], r"may not enlarge the losses"),
        (L4[:3], [[[1.0, 2.0, 3.0]]], r"may not enlarge the losses"),
    ],
)
def test_incompatible_weights(xp: Backend, losses, weights, match) -> None:
    with pytest.raises(ValueError, match=r"Invalid `sample_weight`.*" + match):
        compute_average_loss(xp.asarray(losses), xp.asarray(weights))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_empty_losses_give_zero(xp: Backend, shape) -> None:
    got = xp.run(compute_average_loss, xp.asarray(np.zeros(shape)))
    assert_close(xp.numpy(got), 0.0)


def test_zero_global_batch_size_gives_zero_even_for_nan(xp: Backend) -> None:
    got = xp.run(compute_average_loss, xp.asarray([np.nan, 1.0]), global_batch_size=0)
    assert_close(xp.numpy(got), 0.0)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_weight_and_inf_times_zero_propagate(xp: Backend) -> None:
    nan_weight = xp.run(compute_average_loss, xp.asarray([1.0, 2.0]), xp.asarray([np.nan, 1.0]))
    assert np.isnan(xp.numpy(nan_weight))
    inf_zero = xp.run(compute_average_loss, xp.asarray([np.inf, 2.0]), xp.asarray([0.0, 1.0]))
    assert np.isnan(xp.numpy(inf_zero))


@pytest.mark.parametrize(
    ("global_batch_size", "expected"),
    [
        (8, 10 / 8),
        (np.int64(5), 10 / 5),
        (np.array(2), 10 / 2),
        (2**40, 10 / 2**40),
        (2.5, 10 / 2.5),
        (np.float32(4.0), 10 / 4),
    ],
)
def test_host_global_batch_size(xp: Backend, global_batch_size, expected) -> None:
    got = xp.run(compute_average_loss, xp.asarray(L4), global_batch_size=global_batch_size)
    assert_close(xp.numpy(got), expected)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64"])
def test_array_global_batch_size_of_the_same_library(xp: Backend, dtype) -> None:
    # A token count or a summed weight, kept as an array of the losses' library.
    got = xp.run(compute_average_loss, xp.asarray(L4), global_batch_size=xp.asarray(5, dtype))
    assert_close(xp.numpy(got), 10 / 5)
    zero = xp.run(compute_average_loss, xp.asarray(L4), global_batch_size=xp.asarray(0, dtype))
    assert_close(xp.numpy(zero), 0.0)


def test_explicit_global_batch_size_ignores_replicas(xp: Backend) -> None:
    with replica_context(2):
        assert_close(xp.numpy(compute_average_loss(xp.asarray(L4), global_batch_size=4)), 2.5)


@pytest.mark.parametrize("replicas", [1, 2, 3, 8])
def test_default_denominator_counts_every_replica(xp: Backend, replicas) -> None:
    with replica_context(replicas):
        got = compute_average_loss(xp.asarray(M22), xp.asarray([1.0, 0.5]))
    assert_close(xp.numpy(got), (1 + 2 + 1.5 + 2) / (2 * replicas))


def test_cross_replica_context_needs_global_batch_size(xp: Backend) -> None:
    with cross_replica_context(2):
        with pytest.raises(RuntimeError, match=r"`compute_average_loss` in cross-replica context"):
            compute_average_loss(xp.asarray([1.0, 2.0]))
        # an explicit global batch size needs no replica count (TF: 0.75)
        assert_close(xp.numpy(compute_average_loss(xp.asarray([1.0, 2.0]), None, 4)), 0.75)


def test_rank_check_comes_before_the_context_check() -> None:
    with cross_replica_context(2), pytest.raises(ValueError, match=r"rank >= 1"):
        compute_average_loss(np.float64(5.0))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_floating_dtypes_kept_and_accumulated_in_float32(xp: Backend, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    rng = np.random.default_rng(11)
    losses = rng.uniform(0, 2, size=(64, 3))
    weights = rng.uniform(0, 1, size=(64,))
    array = xp.asarray(losses, dtype)
    got = xp.run(compute_average_loss, array, xp.asarray(weights, "float32"))
    assert xp.dtype_name(got) == dtype
    rounded = xp.numpy(array).astype(np.float64)
    weights32 = weights.astype(np.float32).astype(np.float64)
    expected = (rounded * weights32[:, None]).sum() / 64
    assert_close(xp.numpy(got), expected, rtol=TOLERANCE[dtype])


def test_float64_is_not_rounded_through_float32(xp: Backend) -> None:
    got = xp.run(compute_average_loss, xp.asarray([0.1, 0.2, 0.3]), xp.asarray([1.0, 1.0, 1.0]))
    assert xp.dtype_name(got) == "float64"
    # TF: 0.2000000054637591 (2.7e-8 away); summation order may move the last bit
    assert_close(xp.numpy(got), (0.1 + 0.2 + 0.3) / 3, rtol=1e-15)


def test_large_float16_global_batch_size(xp: Backend) -> None:
    if not xp.supports("float16"):
        pytest.skip("no float16")
    losses = xp.asarray(np.full((4,), 35000.0), "float16")
    got = xp.run(compute_average_loss, losses, global_batch_size=70000)  # TF: inf -> 0.0
    assert_close(xp.numpy(got), 4 * 35000.0 / 70000, rtol=1e-3)


@pytest.mark.parametrize(
    ("dtype", "float_dtype", "expected"),
    [("int8", "float32", 100.0), ("int32", "float64", 100.0), ("int64", "float64", 100.0)],
)
def test_integer_losses(xp: Backend, dtype, float_dtype, expected) -> None:
    got = xp.run(compute_average_loss, xp.asarray([100, 100], dtype))  # TF int8: -28.0 (wraps)
    assert xp.dtype_name(got) == float_dtype
    assert_close(xp.numpy(got), expected)
    weighted = xp.run(compute_average_loss, xp.asarray([1, 2, 3], dtype), xp.asarray([0.5] * 3))
    assert_close(xp.numpy(weighted), 3 / 3)  # TF truncates the weighted values: 2/3


def test_gradients_into_losses_and_weights(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    losses = np.array([[1.0, 2.0, 0.5], [3.0, -4.0, 1.0]])
    weights = np.array([0.25, 2.0])

    def loss(values, w):
        with replica_context(2):
            return compute_average_loss(values, w)

    d_losses, d_weights = xp.grad(loss, xp.asarray(losses), xp.asarray(weights))
    assert_close(d_losses, np.broadcast_to(weights[:, None], (2, 3)) / 4)
    assert_close(d_weights, losses.sum(axis=1) / 4)


def test_gradient_with_zero_global_batch_size_is_zero(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    (d_losses,) = xp.grad(
        lambda values: compute_average_loss(values, global_batch_size=0), xp.asarray([1.0, 2.0])
    )
    assert_close(d_losses, [0.0, 0.0])


def test_gradient_through_an_array_global_batch_size(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    losses = xp.asarray([1.0, 3.0])
    eight = xp.asarray(8.0)
    (d_losses,) = xp.grad(lambda values: compute_average_loss(values, None, eight), losses)
    assert_close(d_losses, [1 / 8, 1 / 8])


# -------------------------------------------------------------------- scale_regularization_loss


@pytest.mark.parametrize(
    ("value", "replicas", "expected"),
    [(2.0, 1, 2.0), (4.0, 2, 2.0), ([1.0, 2.0, 3.0], 3, 2.0), (M22, 4, 2.5), ([], 2, 0.0)],
)
def test_scale_regularization_loss(xp: Backend, value, replicas, expected) -> None:
    with replica_context(replicas):
        got = xp.run(scale_regularization_loss, xp.asarray(value))
    assert tuple(got.shape) == ()
    assert_close(xp.numpy(got), expected)


def test_scale_regularization_loss_stacks_lists_of_scalars(xp: Backend) -> None:
    penalties = [xp.asarray(1.5), xp.asarray(2.5)]
    with replica_context(2):
        assert_close(xp.numpy(scale_regularization_loss(penalties)), 2.0)


def test_scale_regularization_loss_in_cross_replica_context() -> None:
    with (
        cross_replica_context(2),
        pytest.raises(
            RuntimeError,
            match=r"`scale_regularization_loss` in cross-replica context.*replica_context",
        ),
    ):
        scale_regularization_loss(4.0)


@pytest.mark.parametrize(
    ("dtype", "float_dtype"), [("int32", "float64"), ("int8", "float32"), ("float16", "float16")]
)
def test_scale_regularization_loss_dtypes(xp: Backend, dtype, float_dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    got = xp.run(scale_regularization_loss, xp.asarray([3, 4], dtype))
    assert xp.dtype_name(got) == float_dtype
    assert_close(xp.numpy(got), 7.0)


def test_scale_regularization_loss_gradient(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")

    def penalty(w):
        with replica_context(4):
            return scale_regularization_loss(xp.sum(w * w) / 2)

    (d_w,) = xp.grad(penalty, xp.asarray([1.0, -2.0, 3.0]))
    assert_close(d_w, np.array([1.0, -2.0, 3.0]) / 4)


def test_cached_small_numpy_calls_match_the_general_path() -> None:
    """The second call of a signature takes the single-dot shortcut: same value, type and
    dtype; a zero batch size or a context still take the general path."""
    losses = np.arange(1.0, 33.0, dtype=np.float32)
    weights = np.linspace(0.0, 2.0, 32, dtype=np.float32)
    expected = float(np.sum(losses.astype(np.float64) * weights.astype(np.float64)) / 64)
    results = [compute_average_loss(losses, weights, global_batch_size=64) for _ in range(3)]
    for result in results:
        assert type(result) is np.ndarray
        assert result.dtype == np.float32
        assert result.shape == ()
        assert float(result) == pytest.approx(expected, rel=1e-6)
    assert float(compute_average_loss(losses, weights, global_batch_size=0)) == 0.0
    with replica_context(2, gradients="mean"):
        got = compute_average_loss(losses, weights, global_batch_size=64)
    assert float(got) == pytest.approx(2 * expected, rel=1e-6)


@pytest.mark.parametrize("xp_name", ["numpy", "torch"])
def test_cached_calls_keep_the_rank_fix_up(xp_name: str) -> None:
    # [B, 1] weights against [B] losses are squeezed; the cached path must squeeze them too
    # (a shortcut once returned `losses @ weights`, of shape [1], from the second call on)
    module = np if xp_name == "numpy" else pytest.importorskip("torch")
    losses = module.asarray(np.array([2.0, 4.0, 1.0], dtype=np.float32))
    weights = module.asarray(np.array([[0.0], [2.0], [1.0]], dtype=np.float32))
    for _ in range(3):
        result = compute_average_loss(losses, weights, global_batch_size=5)
        assert tuple(result.shape) == ()
        assert float(result) == pytest.approx((8.0 + 1.0) / 5, rel=1e-6)
