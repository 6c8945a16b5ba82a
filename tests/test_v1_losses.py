"""losskit.v1's loss functions on every backend, against float64 NumPy oracles written here.

The oracles are TensorFlow 1's documented formulas (``tf.compat.v1.losses``) and its
reductions, in float64. Live TensorFlow is the oracle of ``tests/conformance/test_v1_losses.py``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import losskit
from losskit import v1
from losskit.distribute import replica_context
from tests._helpers import TOLERANCE, Backend, assert_close
from tests._v1_formulas import logsumexp as _logsumexp
from tests._v1_formulas import pairwise_by_pairs as _pairwise_by_pairs
from tests._v1_formulas import reduce as _reduce
from tests._v1_formulas import terms as _terms

R = v1.Reduction
REDUCTIONS = (R.NONE, R.SUM, R.SUM_OVER_BATCH_SIZE, R.MEAN, R.SUM_BY_NONZERO_WEIGHTS)
B, C = 4, 3
RNG = np.random.default_rng(20240611)


# ----------------------------------------------------------------------------- inputs


def _inputs(name: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any], np.ndarray]:
    """(labels, predictions or logits, options, per-example weights) for ``name``."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    normal = rng.normal(size=(B, C))
    options: dict[str, Any] = {}
    if name in ("log_loss", "hinge_loss", "sigmoid_cross_entropy"):
        labels = rng.integers(0, 2, size=(B, C)).astype(np.float64)
        preds = rng.uniform(0.05, 0.95, size=(B, C)) if name == "log_loss" else 3 * normal
    elif name == "cosine_distance":
        labels = normal / np.linalg.norm(normal, axis=1, keepdims=True)
        other = rng.normal(size=(B, C))
        preds = other / np.linalg.norm(other, axis=1, keepdims=True)
        options["axis"] = 1
    elif name == "softmax_cross_entropy":
        labels = np.eye(C)[rng.integers(0, C, size=B)]
        preds = 3 * normal
    elif name == "sparse_softmax_cross_entropy":
        labels = rng.integers(0, C, size=B)
        preds = 3 * normal
    else:
        labels, preds = normal, rng.normal(size=(B, C))
    per_example = name in ("softmax_cross_entropy", "sparse_softmax_cross_entropy")
    weights = np.array([1.5, 0.0, 2.0, 0.5])
    return labels, preds, options, weights if per_example else weights[:, None]


FUNCTIONS = (
    "absolute_difference",
    "cosine_distance",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
)


def _call(name: str, labels: Any, preds: Any, weights: Any = 1.0, **kwargs: Any) -> Any:
    return getattr(v1, name)(labels, preds, weights=weights, **kwargs)


def _labels_on(xp: Backend, name: str, labels: np.ndarray) -> Any:
    return xp.asarray(labels, "int64" if name.startswith("sparse") else "float64")


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("reduction", REDUCTIONS, ids=str)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_values_match_the_formulas(xp: Backend, name: str, reduction: str) -> None:
    labels, preds, options, weights = _inputs(name)
    got = xp.run(
        lambda t, p, w: _call(name, t, p, w, reduction=reduction, **options),
        _labels_on(xp, name, labels),
        xp.asarray(preds),
        xp.asarray(weights),
    )
    expected = _reduce(_terms(name, labels, preds, **options), weights, reduction)
    assert tuple(got.shape) == expected.shape
    assert xp.dtype_name(got) == "float64"
    assert_close(xp.numpy(got), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_default_is_the_mean_over_non_zero_weights(name: str) -> None:
    labels, preds, options, weights = _inputs(name)
    expected = _reduce(_terms(name, labels, preds, **options), weights, R.SUM_BY_NONZERO_WEIGHTS)
    assert_close(_call(name, labels, preds, weights, **options), expected, rtol=1e-12)
    terms = _terms(name, labels, preds, **options)
    assert_close(_call(name, labels, preds, **options), terms.mean(), rtol=1e-12)


@pytest.mark.parametrize(
    "weight", [2.3, 2, np.float32(2.5), np.float64(2.3), np.array(2.3), [[2.3]]], ids=repr
)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_scalar_weights_of_every_kind(name: str, weight: Any) -> None:
    """Python numbers, NumPy scalars and 0-d arrays (and [[w]], broadcast) scale the loss."""
    labels, preds, options, _ = _inputs(name)
    if name.startswith(("softmax", "sparse")) and np.ndim(weight) == 2:
        weight = [2.3]  # their losses are [batch]: a [1] weight broadcasts
    value = float(np.asarray(weight, np.float64).ravel()[0])
    terms = _terms(name, labels, preds, **options)
    got = _call(name, labels, preds, weight, reduction=R.SUM, **options)
    assert_close(got, value * terms.sum(), rtol=1e-6 if value == 2.5 else 1e-12)


@pytest.mark.parametrize(
    ("delta", "epsilon", "smoothing"), [(0.5, 1e-3, 0.1), (2.0, 0.0, 0.9), (0.0, 1e-7, 1.0)]
)
def test_options(delta: float, epsilon: float, smoothing: float) -> None:
    for name, key, value in (
        ("huber_loss", "delta", delta),
        ("log_loss", "epsilon", epsilon),
        ("sigmoid_cross_entropy", "label_smoothing", smoothing),
        ("softmax_cross_entropy", "label_smoothing", smoothing),
    ):
        labels, preds, _, weights = _inputs(name)
        got = _call(name, labels, preds, weights, reduction=R.NONE, **{key: value})
        expected = _reduce(_terms(name, labels, preds, **{key: value}), weights, R.NONE)
        assert_close(got, expected, rtol=1e-12, atol=1e-15)


def test_cosine_distance_axes_and_dim() -> None:
    labels = np.array([1.0, 1.0, 1.0, 1.0]) / 2
    preds = np.array([1.0, -1.0, 1.0, -1.0]) / 2
    # upstream losses_impl_test: orthogonal vectors, 1-D and as [2, 2] over both axes
    assert float(v1.cosine_distance(labels, preds, axis=0)) == 1.0
    square = v1.cosine_distance(labels.reshape(2, 2), preds.reshape(2, 2), axis=[0, 1])
    assert float(square) == 1.0
    none = v1.cosine_distance(
        labels.reshape(2, 2), preds.reshape(2, 2), axis=(0, -1), reduction=R.NONE
    )
    assert none.shape == (1, 1)
    by_dim = v1.cosine_distance(labels.reshape(2, 2), preds.reshape(2, 2), dim=1)
    assert_close(by_dim, 1 - ((labels * preds).reshape(2, 2).sum(axis=1)).mean())


# ----------------------------------------------------------------------------- pairwise


def test_mean_pairwise_squared_error_by_pairs(xp: Backend) -> None:
    labels = RNG.normal(size=(3, 2, 3))
    preds = RNG.normal(size=(3, 2, 3))
    weights = np.array([2.0, 0.0, 0.5])
    got = xp.run(
        v1.mean_pairwise_squared_error,
        xp.asarray(labels),
        xp.asarray(preds),
        xp.asarray(weights.reshape(3, 1, 1)),
    )
    assert tuple(got.shape) == ()
    assert_close(xp.numpy(got), _pairwise_by_pairs(labels, preds, weights), rtol=1e-12)
    scalar = v1.mean_pairwise_squared_error(labels, preds, 3.0)
    assert_close(scalar, _pairwise_by_pairs(labels, preds, np.full(3, 3.0)), rtol=1e-12)


def test_mean_pairwise_squared_error_upstream_numbers() -> None:
    """TensorFlow's MeanPairwiseSquaredErrorTest.test3d (137.5); weights of the labels' full
    shape repeat each example's loss once per element (its test3dWeighted2x3x3: 9 x)."""
    labels = np.array([[[1, 9, 2], [12, 11, 10], [9, 8, 7]], [[-5, -5, 7], [6, 5, 4], [3, 2, 1]]])
    preds = np.array([[[4, 8, 12], [1, 2, 3], [4, 5, 6]], [[8, 1, 3], [7, 8, 9], [10, 11, 12]]])
    assert_close(v1.mean_pairwise_squared_error(labels, preds), 137.5, rtol=1e-12)
    full = v1.mean_pairwise_squared_error(labels, preds, np.ones((2, 3, 3)))
    assert_close(full, 9 * 137.5, rtol=1e-12)


def test_mean_pairwise_squared_error_counts_present_elements() -> None:
    """Element weights: n_b counts the non-zero weights, the sums run over all elements
    (TensorFlow's computation, written out)."""
    labels = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]])
    preds = np.array([[1.0, 2.0, 4.0], [4.0, 5.0, 6.0]])
    weights = np.array([[1.0, 0.0, 1.0], [2.0, 2.0, 2.0]])
    d = preds - labels
    n = np.array([2.0, 3.0])
    per_example = 2 * (d**2).sum(1) / (n - 1) - 2 * d.sum(1) ** 2 / (n * (n - 1))
    expected = (per_example[:, None] * weights).sum()
    assert_close(v1.mean_pairwise_squared_error(labels, preds, weights), expected, rtol=1e-12)
    assert float(v1.mean_pairwise_squared_error(labels, preds, 0.0)) == 0.0
    single = v1.mean_pairwise_squared_error(np.array([1.0, 2.0]), np.array([3.0, 5.0]))
    assert float(single) == 0.0  # one element per example: no pair


def test_mean_pairwise_squared_error_has_no_reduction() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'reduction'"):
        v1.mean_pairwise_squared_error(np.ones(2), np.ones(2), reduction=R.SUM)  # type: ignore[call-arg]


# ----------------------------------------------------------------------------- shapes


def test_sparse_label_and_weight_squeezes() -> None:
    """TensorFlow's _remove_squeezable_dimensions: [B, 1] labels and [B, 1] weights."""
    logits = RNG.normal(size=(B, C))
    labels = np.array([0, 2, 1, 1])
    weights = np.array([1.0, 2.0, 0.0, 3.0])
    expected = v1.sparse_softmax_cross_entropy(labels, logits, weights, reduction=R.NONE)
    for t, w in ((labels[:, None], weights), (labels, weights[:, None])):
        got = v1.sparse_softmax_cross_entropy(t, logits, w, reduction=R.NONE)
        assert_close(got, expected, rtol=0)
    # logits with a trailing 1 two ranks above the labels lose it: one class, loss 0
    one_class = v1.sparse_softmax_cross_entropy(np.zeros(B, int), np.ones((B, 1)))
    assert float(one_class) == 0.0
    squeezed = v1.sparse_softmax_cross_entropy(labels, logits[..., None], reduction=R.NONE)
    assert_close(squeezed, v1.sparse_softmax_cross_entropy(labels, logits, reduction=R.NONE))


@pytest.mark.parametrize("reduction", REDUCTIONS, ids=str)
def test_none_keeps_the_losses_shape(reduction: str) -> None:
    shapes = {
        "mean_squared_error": (2, 3, 4),
        "cosine_distance": (2, 1, 4),
        "softmax_cross_entropy": (2, 3),
        "sparse_softmax_cross_entropy": (2, 3),
    }
    x = RNG.uniform(size=(2, 3, 4))
    results = {
        "mean_squared_error": v1.mean_squared_error(x, x + 1, reduction=reduction),
        "cosine_distance": v1.cosine_distance(x, x, axis=1, reduction=reduction),
        "softmax_cross_entropy": v1.softmax_cross_entropy(x, x, reduction=reduction),
        "sparse_softmax_cross_entropy": v1.sparse_softmax_cross_entropy(
            np.zeros((2, 3), int), x, reduction=reduction
        ),
    }
    for name, result in results.items():
        assert result.shape == (shapes[name] if reduction == R.NONE else ()), name


def test_rank_zero_inputs() -> None:
    assert float(v1.mean_squared_error(np.array(0), np.array(0))) == 0.0  # upstream testScalar
    assert_close(v1.sigmoid_cross_entropy(np.array(1.0), np.array(0.5)), np.log1p(np.exp(-0.5)))


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_result_dtype_is_the_predictions(xp: Backend, dtype: str) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    labels, preds, _, weights = _inputs("mean_squared_error")
    got = v1.mean_squared_error(xp.asarray(labels, dtype), xp.asarray(preds, dtype), weights)
    assert xp.dtype_name(got) == dtype
    rounded = [xp.numpy(xp.asarray(a, dtype)).astype(np.float64) for a in (labels, preds)]
    expected = _reduce(_terms("mean_squared_error", *rounded), weights, R.SUM_BY_NONZERO_WEIGHTS)
    assert_close(xp.numpy(got), expected, rtol=TOLERANCE[dtype])
    logits = xp.asarray(preds, dtype)
    ce = v1.sigmoid_cross_entropy(xp.asarray(labels > 0, dtype), logits, weights)
    assert xp.dtype_name(ce) == dtype


def test_float64_is_not_rounded_through_float32() -> None:
    """Deviation `v1-float32-inputs`: TensorFlow 1 returns float32 0.04000000707805157."""
    got = v1.mean_squared_error(np.array([0.1]), np.array([0.3]))
    assert got.dtype == np.float64
    assert float(got) == (0.3 - 0.1) ** 2


def test_integer_predictions_give_a_float() -> None:
    got = v1.absolute_difference(np.array([1, 9, 2]), np.array([4, 8, 12]))
    assert got.dtype == np.float64
    assert float(got) == (3 + 1 + 10) / 3
    small = v1.mean_squared_error(np.array([1], np.int8), np.array([3], np.int8))
    assert small.dtype == np.float32


# ----------------------------------------------------------------------------- gradients


def _numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(x)
    step = 1e-6
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (f(up) - f(down)) / (2 * step)
    return grad


@pytest.mark.parametrize("reduction", [R.SUM, R.MEAN, R.SUM_BY_NONZERO_WEIGHTS], ids=str)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_gradients_match_finite_differences(xp: Backend, name: str, reduction: str) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    labels, preds, options, weights = _inputs(name)
    labels_xp = _labels_on(xp, name, labels)

    def loss(p: Any, w: Any) -> Any:
        return _call(name, labels_xp, p, w, reduction=reduction, **options)

    d_preds, d_weights = xp.grad(loss, xp.asarray(preds), xp.asarray(weights))

    shape = _terms(name, labels, preds, **options).shape
    present = np.count_nonzero(np.broadcast_to(weights, shape))

    def oracle(p: np.ndarray, w: np.ndarray) -> float:
        terms = _terms(name, labels, p, **options)
        if reduction == R.SUM_BY_NONZERO_WEIGHTS:
            # the count of non-zero weights is piecewise constant: its derivative is 0
            return float((terms * np.broadcast_to(w, shape)).sum() / present)
        return float(_reduce(terms, w, reduction))

    assert_close(d_preds, _numeric_gradient(lambda p: oracle(p, weights), preds), atol=1e-6)
    assert_close(d_weights, _numeric_gradient(lambda w: oracle(preds, w), weights), atol=1e-6)


def test_gradients_at_the_kinks_follow_tensorflow(xp: Backend) -> None:
    """|x| at 0 has slope 0 (JAX's abs has 1), the hinge at margin 0 has 0, Huber at
    |x| = delta has delta: TensorFlow's gradients, on every autograd backend."""
    if not xp.has_autograd:
        pytest.skip("no autograd")
    zero = xp.asarray([0.0, 1.0])
    (absolute,) = xp.grad(
        lambda p: v1.absolute_difference(xp.asarray([0.0, 0.0]), p, reduction=R.SUM), zero
    )
    assert_close(absolute, [0.0, 1.0])
    (hinge,) = xp.grad(
        lambda z: v1.hinge_loss(xp.asarray([1.0, 1.0]), z, reduction=R.SUM), xp.asarray([1.0, 0.5])
    )
    assert_close(hinge, [0.0, -1.0])
    (huber,) = xp.grad(
        lambda p: v1.huber_loss(xp.asarray([0.0, 0.0]), p, delta=0.5, reduction=R.SUM),
        xp.asarray([0.5, -0.5]),
    )
    assert_close(huber, [0.5, -0.5])


def test_softmax_labels_are_not_differentiated(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    labels, logits, _, _ = _inputs("softmax_cross_entropy")
    d_labels, d_logits = xp.grad(
        lambda t, z: v1.softmax_cross_entropy(t, z, reduction=R.SUM),
        xp.asarray(labels),
        xp.asarray(logits),
    )
    assert_close(d_labels, np.zeros_like(labels))
    softmax = np.exp(logits - _logsumexp(logits)[:, None])
    assert_close(d_logits, softmax - labels, rtol=1e-12, atol=1e-15)


def test_zero_weights_give_finite_gradients(xp: Backend) -> None:
    """Upstream MeanPairwiseSquaredErrorTest.testGradientWithZeroWeight: no NaN."""
    if not xp.has_autograd:
        pytest.skip("no autograd")
    preds = xp.asarray(RNG.normal(size=(2, 4)))
    for fn in (
        lambda p: v1.mean_pairwise_squared_error(p, p, 0.0),
        lambda p: v1.mean_pairwise_squared_error(p, 2 * p, xp.zeros((2, 1))),
        lambda p: v1.mean_squared_error(p, 2 * p, xp.zeros((2, 1)), reduction=R.MEAN),
    ):
        (grad,) = xp.grad(fn, preds)
        assert np.isfinite(grad).all()
        assert_close(grad, np.zeros((2, 4)))


# ----------------------------------------------------------------------------- recording


@pytest.mark.parametrize("name", [*FUNCTIONS, "mean_pairwise_squared_error"])
def test_every_function_records_in_its_collection(name: str) -> None:
    labels, preds, options, _ = _inputs(name)
    fn = getattr(v1, name)
    with v1.collect_losses() as store:
        first = fn(labels, preds, **options)
        second = fn(labels, preds, loss_collection="aux", **options)
        fn(labels, preds, loss_collection=None, **options)
    assert store.get() == [first]
    assert store.get("aux") == [second]
    assert len(store) == 2
    fn(labels, preds, **options)  # outside a block: nothing kept, no error


def test_dividing_reductions_refuse_a_multi_replica_context() -> None:
    labels, preds, _, _ = _inputs("mean_squared_error")
    with replica_context(2):
        summed = v1.mean_squared_error(labels, preds, reduction=R.SUM)
        with pytest.raises(ValueError, match=r"divides by the local batch"):
            v1.mean_squared_error(labels, preds)
    assert_close(summed, ((preds - labels) ** 2).sum(), rtol=1e-12)


@pytest.mark.parametrize(
    "reduction",
    [*REDUCTIONS, *(r.value for r in REDUCTIONS), losskit.Reduction.WEIGHTED_MEAN],
    ids=repr,
)
def test_reduction_keys(reduction: Any) -> None:
    labels, preds, _, weights = _inputs("mean_squared_error")
    got = v1.mean_squared_error(labels, preds, weights, reduction=reduction)
    member = reduction if isinstance(reduction, losskit.Reduction) else R(reduction).core
    assert_close(
        got, losskit.compute_weighted_loss((preds - labels) ** 2, weights, reduction=member)
    )


# ----------------------------------------------------------------------------- laws


finite = st.floats(-50, 50, allow_nan=False, width=64)


@given(
    values=st.lists(st.tuples(finite, finite, st.floats(0, 3)), min_size=1, max_size=12),
    scale=st.floats(0.01, 100),
)
def test_laws_of_the_reductions(values: list[tuple[float, float, float]], scale: float) -> None:
    labels, preds, weights = (np.array(column) for column in zip(*values, strict=True))

    def run(w: Any, reduction: str) -> float:
        return float(v1.huber_loss(labels, preds, w, reduction=reduction).sum())

    assert_close(run(weights, R.SUM), run(weights, R.NONE), rtol=1e-12)
    assert_close(run(scale * weights, R.SUM), scale * run(weights, R.SUM), rtol=1e-9)
    assert_close(run(scale * weights, R.MEAN), run(weights, R.MEAN), rtol=1e-9, atol=1e-12)
    ones = np.ones_like(weights)
    assert_close(run(ones, R.SUM_BY_NONZERO_WEIGHTS), run(ones, R.SUM_OVER_BATCH_SIZE), rtol=1e-12)


@given(
    rows=st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=5),
    shift=finite,
)
def test_pairwise_error_ignores_a_shift_of_each_example(
    rows: list[list[float]], shift: float
) -> None:
    """Only differences of pairs count: a constant added to all of an example's predictions
    changes nothing."""
    labels = np.array(rows)
    preds = labels[::-1].copy() if len(rows) > 1 else labels + 1.0
    shifted = preds + shift * np.arange(len(rows))[:, None]
    assert_close(
        v1.mean_pairwise_squared_error(labels, shifted),
        v1.mean_pairwise_squared_error(labels, preds),
        rtol=1e-6,
        atol=1e-6,
    )


@given(
    st.lists(st.tuples(finite, st.sampled_from([0.0, 1.0])), min_size=1, max_size=8),
    st.floats(0, 1),
)
def test_sigmoid_smoothing_is_the_smoothed_labels(
    pairs: list[tuple[float, float]], s: float
) -> None:
    logits, labels = (np.array(column) for column in zip(*pairs, strict=True))
    smoothed = labels * (1 - s) + 0.5 * s
    assert_close(
        v1.sigmoid_cross_entropy(labels, logits, label_smoothing=s, reduction=R.NONE),
        v1.sigmoid_cross_entropy(smoothed, logits, reduction=R.NONE),
        rtol=1e-12,
        atol=1e-12,
    )


def test_labels_out_of_range_never_give_another_class_loss(xp: Backend) -> None:
    """Deviation `sparse-label-values`: NumPy labels are checked (ValueError); elsewhere the
    values are not read, and an invalid label gives NaN (never the loss of the class a
    negative index wraps around to) or the library raises (PyTorch)."""
    logits = xp.asarray([[0.1, -0.2, 0.0], [1.0, 2.0, 3.0]])
    for bad in (3, -1):
        labels = xp.asarray([0, bad], "int64")

        def loss(t: Any, z: Any) -> Any:
            return v1.sparse_softmax_cross_entropy(t, z, reduction=R.NONE)

        if xp.name == "numpy":
            with pytest.raises(ValueError, match=r"expected class indices in \[0, 3\)"):
                loss(labels, logits)
            continue
        if xp.name == "torch":
            with pytest.raises(IndexError, match=r"out of bounds"):
                loss(labels, logits)
            continue
        try:
            values = xp.numpy(xp.run(loss, labels, logits))
        except IndexError:  # array-api-strict refuses an index past the end
            assert (xp.name, bad) == ("array_api_strict", 3)
            continue
        assert np.isnan(values[1])
        expected = _terms("sparse_softmax_cross_entropy", np.array([0]), xp.numpy(logits)[:1])
        assert_close(values[0], expected[0])


@pytest.mark.parametrize("name", [*FUNCTIONS, "mean_pairwise_squared_error"])
def test_framework_weights_with_numpy_inputs(name: str) -> None:
    """The weights choose the library too: NumPy labels and predictions with PyTorch weights
    give a PyTorch loss whose gradient reaches the weights (sparse softmax crossentropy and
    mean pairwise squared error used to refuse such weights)."""
    import torch

    labels, preds, options, weights = _inputs(name)
    leaf = torch.tensor(weights, requires_grad=True)
    loss = getattr(v1, name)(labels, preds, weights=leaf, **options)
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    assert leaf.grad is not None
    expected = getattr(v1, name)(labels, preds, weights=weights, **options)
    assert_close(loss.detach(), expected, rtol=1e-12)


def test_v1_members_work_where_losskit_reductions_do() -> None:
    """TF1 code passes ``tf.compat.v1.losses.Reduction`` members to TF2 APIs too: a v1
    member is its TF1 string, which every losskit ``reduction=`` reads with TF1's meaning."""
    losses, weights = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 3.0])
    for member in R:
        expected = _reduce(losses, weights, member.value)
        assert_close(losskit.compute_weighted_loss(losses, weights, reduction=member), expected)
    mse = losskit.losses.MeanSquaredError(reduction=R.MEAN)
    assert_close(mse(np.zeros((3, 1)), losses[:, None], sample_weight=weights), (1 + 48) / 4)
