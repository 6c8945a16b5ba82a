"""The loss catalog on every backend: formulas, reductions, weights, masks, numerics, contexts.

Expected values come from float64 NumPy formulas written here (``ORACLES``) or from hand
arithmetic; tf_keras and Keras 3 themselves are the oracles of
``tests/conformance/test_keras_losses.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import losskit
from losskit import Reduction
from losskit import losses as L
from tests._helpers import Backend, assert_close, central_differences

EPS = 1e-7
RNG = np.random.default_rng(11)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _bce(z: np.ndarray, p: np.ndarray, logits: bool) -> np.ndarray:
    if logits:  # -z log sigmoid(x) - (1 - z) log sigmoid(-x), with log1p for accuracy
        return z * np.logaddexp(0.0, -p) + (1 - z) * np.logaddexp(0.0, p)
    q = np.clip(p, EPS, 1 - EPS)
    return -(z * np.log(q + EPS) + (1 - z) * np.log(1 - q + EPS))


def _signed(z: np.ndarray) -> np.ndarray:
    return 2 * z - 1 if np.isin(z, (0.0, 1.0)).all() else z


def _huber(z: np.ndarray, p: np.ndarray, delta: float) -> np.ndarray:
    e = np.abs(p - z)
    return np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2).mean(-1)


def _focal_binary(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    # gamma 2, from probabilities, no class balancing
    pt = z * p + (1 - z) * (1 - p)
    return ((1 - pt) ** 2 * _bce(z, p, False)).mean(-1)


def _focal_categorical(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = np.clip(_softmax(p), EPS, 1 - EPS)  # from logits; alpha 0.25, gamma 2
    return (-0.25 * (1 - q) ** 2 * z * np.log(q)).sum(-1)


def _cosine(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.sqrt(np.maximum((v**2).sum(-1, keepdims=True), 1e-12))

    return -(unit(z) * unit(p)).sum(-1)


# name -> (class, options, function, input kind, float64 oracle of the per-sample losses)
ORACLES: dict[str, tuple[Any, dict[str, Any], Callable[..., Any], str, Callable[..., Any]]] = {
    "mse": (
        L.MeanSquaredError,
        {},
        L.mean_squared_error,
        "real",
        lambda z, p: ((p - z) ** 2).mean(-1),
    ),
    "mae": (
        L.MeanAbsoluteError,
        {},
        L.mean_absolute_error,
        "real",
        lambda z, p: np.abs(p - z).mean(-1),
    ),
    "mape": (
        L.MeanAbsolutePercentageError,
        {},
        L.mean_absolute_percentage_error,
        "real",
        lambda z, p: 100 * (np.abs(z - p) / np.maximum(np.abs(z), EPS)).mean(-1),
    ),
    "msle": (
        L.MeanSquaredLogarithmicError,
        {},
        L.mean_squared_logarithmic_error,
        "positive",
        lambda z, p: ((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(z, EPS))) ** 2).mean(-1),
    ),
    "huber": (L.Huber, {"delta": 0.7}, L.huber, "real", lambda z, p: _huber(z, p, 0.7)),
    "log_cosh": (L.LogCosh, {}, L.log_cosh, "real", lambda z, p: np.log(np.cosh(p - z)).mean(-1)),
    "cosine": (L.CosineSimilarity, {}, L.cosine_similarity, "real", _cosine),
    "bce": (
        L.BinaryCrossentropy,
        {},
        L.binary_crossentropy,
        "binary",
        lambda z, p: _bce(z, p, False).mean(-1),
    ),
    "bce_logits": (
        L.BinaryCrossentropy,
        {"from_logits": True, "label_smoothing": 0.2},
        L.binary_crossentropy,
        "logits",
        lambda z, p: _bce(z * 0.8 + 0.1, p, True).mean(-1),
    ),
    "binary_focal": (
        L.BinaryFocalCrossentropy,
        {},
        L.binary_focal_crossentropy,
        "binary",
        _focal_binary,
    ),
    "cce": (
        L.CategoricalCrossentropy,
        {},
        L.categorical_crossentropy,
        "categorical",
        lambda z, p: -(z * np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))).sum(-1),
    ),
    "cce_logits": (
        L.CategoricalCrossentropy,
        {"from_logits": True, "label_smoothing": 0.1},
        L.categorical_crossentropy,
        "onehot_logits",
        lambda z, p: -((z * 0.9 + 0.1 / z.shape[-1]) * _log_softmax(p)).sum(-1),
    ),
    "categorical_focal": (
        L.CategoricalFocalCrossentropy,
        {"from_logits": True},
        L.categorical_focal_crossentropy,
        "onehot_logits",
        _focal_categorical,
    ),
    "sparse": (
        L.SparseCategoricalCrossentropy,
        {"from_logits": True},
        L.sparse_categorical_crossentropy,
        "sparse_logits",
        lambda z, p: -np.take_along_axis(_log_softmax(p), z[..., None].astype(int), -1)[..., 0],
    ),
    "sparse_probabilities": (
        L.SparseCategoricalCrossentropy,
        {},
        L.sparse_categorical_crossentropy,
        "sparse_probabilities",
        lambda z, p: (
            -np.take_along_axis(
                _log_softmax(np.log(np.clip(p, EPS, 1 - EPS))), z[..., None].astype(int), -1
            )[..., 0]
        ),
    ),
    "hinge": (
        L.Hinge,
        {},
        L.hinge,
        "binary_labels",
        lambda z, p: np.maximum(1 - _signed(z) * p, 0).mean(-1),
    ),
    "squared_hinge": (
        L.SquaredHinge,
        {},
        L.squared_hinge,
        "signed",
        lambda z, p: (np.maximum(1 - z * p, 0) ** 2).mean(-1),
    ),
    "categorical_hinge": (
        L.CategoricalHinge,
        {},
        L.categorical_hinge,
        "onehot_logits",
        lambda z, p: np.maximum(((1 - z) * p).max(-1) - (z * p).sum(-1) + 1, 0),
    ),
    "kld": (
        L.KLDivergence,
        {},
        L.kl_divergence,
        "distributions",
        lambda z, p: (np.clip(z, EPS, 1) * np.log(np.clip(z, EPS, 1) / np.clip(p, EPS, 1))).sum(-1),
    ),
    "poisson": (
        L.Poisson,
        {},
        L.poisson,
        "positive",
        lambda z, p: (p - z * np.log(p + EPS)).mean(-1),
    ),
}


def make_inputs(kind: str, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    onehot = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int64)
    return {
        "real": lambda: (rng.normal(size=shape), rng.normal(size=shape) * 2),
        "positive": lambda: (rng.exponential(size=shape), rng.exponential(size=shape)),
        "binary": lambda: ((rng.random(shape) < 0.5) * 1.0, rng.uniform(0.01, 0.99, shape)),
        "logits": lambda: ((rng.random(shape) < 0.5) * 1.0, rng.normal(size=shape) * 4),
        "categorical": lambda: (onehot, _softmax(rng.normal(size=shape))),
        "onehot_logits": lambda: (onehot, rng.normal(size=shape) * 3),
        "sparse_logits": lambda: (labels, rng.normal(size=shape) * 3),
        "sparse_probabilities": lambda: (labels, _softmax(rng.normal(size=shape))),
        "binary_labels": lambda: ((rng.random(shape) < 0.5) * 1.0, rng.normal(size=shape)),
        "signed": lambda: (np.where(rng.random(shape) < 0.5, -1.0, 1.0), rng.normal(size=shape)),
        "distributions": lambda: (
            _softmax(rng.normal(size=shape)),
            _softmax(rng.normal(size=shape)),
        ),
    }[kind]()


def _to(xp: Backend, value: np.ndarray, dtype: str = "float64") -> Any:
    return xp.asarray(value, "int64" if value.dtype.kind == "i" else dtype)


# ----------------------------------------------------------------------------- formulas


@pytest.mark.parametrize("name", list(ORACLES))
@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 4)], ids=["BxC", "BxTxC"])
def test_function_forms_match_float64(xp: Backend, name: str, shape: tuple[int, ...]) -> None:
    _, options, function, kind, oracle = ORACLES[name]
    y_true, y_pred = make_inputs(kind, shape)
    got = xp.run(lambda t, p: function(t, p, **options), _to(xp, y_true), _to(xp, y_pred))
    assert xp.dtype_name(got) == "float64"
    assert_close(xp.numpy(got), oracle(y_true, y_pred), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mse", "cce_logits", "sparse", "bce_logits", "hinge"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_dtypes_follow_y_pred(xp: Backend, name: str, dtype: str) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    cls, options, _, kind, oracle = ORACLES[name]
    y_true, y_pred = make_inputs(kind, (6, 5))
    got = xp.run(lambda t, p: cls(**options)(t, p), _to(xp, y_true, dtype), _to(xp, y_pred, dtype))
    assert xp.dtype_name(got) == dtype
    rounded = np.asarray(xp.numpy(_to(xp, y_pred, dtype)), np.float64)
    tolerance = {"float32": 1e-6, "float16": 2e-3, "bfloat16": 1e-2}[dtype]
    assert_close(xp.numpy(got), oracle(y_true, rounded).mean(), rtol=tolerance, atol=tolerance)


# ----------------------------------------------------------------------------- reductions


WEIGHT_SHAPES = {
    "scalar": (),
    "[B]": (4,),
    "[B,1]": (4, 1),
    "[B,T]": (4, 3),
    "[B,T,1]": (4, 3, 1),
}


def _full_weights(weights: np.ndarray, losses_shape: tuple[int, ...]) -> np.ndarray:
    """tf_keras's rank fix-up by hand: squeeze a trailing 1, or add one axis."""
    if weights.ndim == len(losses_shape) + 1:
        weights = weights[..., 0]
    elif weights.ndim == len(losses_shape) - 1 and weights.ndim > 0:
        weights = weights[..., None]
    return np.broadcast_to(weights, losses_shape)


@pytest.mark.parametrize("reduction", [r for r in Reduction.all()])
@pytest.mark.parametrize("weight_shape", list(WEIGHT_SHAPES))
@pytest.mark.parametrize("name", ["mse", "sparse"])
def test_every_reduction_and_weight_shape(
    xp: Backend, name: str, weight_shape: str, reduction: str
) -> None:
    cls, options, _, kind, oracle = ORACLES[name]
    y_true, y_pred = make_inputs(kind, (4, 3, 5), seed=3)
    weights = RNG.uniform(0, 2, size=WEIGHT_SHAPES[weight_shape])
    if weights.ndim:
        weights.reshape(-1)[::3] = 0.0
    per_sample = oracle(y_true, y_pred)  # [4, 3]
    full = _full_weights(weights, per_sample.shape)
    total = (per_sample * full).sum()
    expected = {
        "none": per_sample * full,
        "sum": total,
        "auto": total / per_sample.size,
        "sum_over_batch_size": total / per_sample.size,
        "weighted_mean": total / full.sum(),
        "sum_by_nonzero_weights": total / np.count_nonzero(full),
        # Keras 3: the weights as given, except that a scalar weights every element
        "mean_with_sample_weight": total / (full.sum() if weights.ndim == 0 else weights.sum()),
    }[reduction]
    loss = cls(reduction=reduction, **options)
    got = xp.run(
        lambda t, p, w: loss(t, p, sample_weight=w),
        _to(xp, y_true),
        _to(xp, y_pred),
        _to(xp, weights),
    )
    assert tuple(got.shape) == np.shape(expected)
    assert_close(xp.numpy(got), expected, rtol=1e-10, atol=1e-12)


def test_python_number_weight_and_no_weight() -> None:
    y_true, y_pred = np.zeros((2, 2)), np.array([[1.0, 1.0], [3.0, 1.0]])  # losses [1, 5]
    assert float(L.MeanSquaredError()(y_true, y_pred)) == 3.0
    assert float(L.MeanSquaredError()(y_true, y_pred, sample_weight=0.5)) == 1.5
    assert float(L.MeanSquaredError(reduction="sum")(y_true, y_pred, sample_weight=2)) == 12.0


def test_keras3_rank_rule() -> None:
    # [B] weights against [B, T] losses: tf_keras weights rows; Keras 3 multiplies the last
    # axis (here T == B == 2)
    y_true, y_pred = np.zeros((2, 2, 1)), np.array([[[1.0], [2.0]], [[3.0], [4.0]]])
    weights = np.array([1.0, 0.0])
    tf_keras = L.MeanSquaredError(reduction="sum")(y_true, y_pred, sample_weight=weights)
    keras3 = L.MeanSquaredError(reduction="sum", sample_weight_rank="keras3")(
        y_true, y_pred, sample_weight=weights
    )
    assert float(tf_keras) == 1.0 + 4.0  # row 0 kept
    assert float(keras3) == 1.0 + 9.0  # column 0 kept
    # [B, 1] losses (MSE of [B, 1, 1]) against [B] weights: Keras 3 expands the weights, and
    # `none` keeps the [B, 1] shape
    none = L.MeanSquaredError(reduction="none", sample_weight_rank="keras3")
    assert none(np.zeros((2, 1, 1)), np.ones((2, 1, 1)), sample_weight=[1.0, 2.0]).shape == (2, 1)


# ----------------------------------------------------------------------------- masks


def test_mask_excludes_entries(xp: Backend) -> None:
    y_true = np.zeros((2, 3, 1))
    y_pred = np.array([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]])  # losses = y_pred**2
    mask = np.array([[True, True, False], [False, True, False]])
    weights = np.array([1.0, 2.0])
    run = lambda reduction, w: xp.run(  # noqa: E731
        lambda t, p, m, *ws: L.MeanSquaredError(reduction=reduction)(
            t, p, sample_weight=ws[0] if ws else None, mask=m
        ),
        _to(xp, y_true),
        _to(xp, y_pred),
        xp.asarray(mask, "bool"),
        *([_to(xp, w)] if w is not None else []),
    )
    assert_close(xp.numpy(run("auto", None)), (1 + 4 + 25) / 3)
    assert_close(xp.numpy(run("sum", None)), 1 + 4 + 25)
    assert_close(xp.numpy(run("sum_over_batch_size", weights)), (1 + 4 + 2 * 25) / 3)
    assert_close(xp.numpy(run("weighted_mean", weights)), (1 + 4 + 2 * 25) / (1 + 1 + 2))
    none = xp.numpy(run("none", None))
    assert_close(none, [[1, 4, 0], [0, 25, 0]])


@pytest.mark.parametrize(
    "loss", [L.CategoricalCrossentropy(), L.CategoricalFocalCrossentropy()], ids=["cce", "focal"]
)
def test_categorical_targets_never_broadcast(xp: Backend, loss: L.Loss) -> None:
    # [3, 1] one-hot targets against [3, 3] scores broadcast to a number (6.24 and 1.34
    # before the check); tf_keras and Keras 3 raise, and so must every backend here
    y_true, y_pred = _to(xp, np.ones((3, 1))), _to(xp, np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"received shape \(3, 1\)"):
        xp.run(loss, y_true, y_pred)
    # the rank fix-up still applies: [3] targets against [3, 1] scores are one class each
    # (which both Keras versions warn about)
    with pytest.warns(SyntaxWarning, match="with num_classes > 1"):
        fixed = float(xp.numpy(xp.run(loss, _to(xp, np.ones(3)), _to(xp, np.ones((3, 1))))))
    assert 0.0 <= fixed <= -math.log(1 - EPS) * 1.01  # p = 1, clipped to 1 - 1e-7


def test_all_ignored_is_zero_with_finite_gradient(xp: Backend) -> None:
    loss = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    labels = xp.asarray(np.array([-1, -1, -1]), "int64")
    logits = _to(xp, np.array([[1.0, 2.0], [0.0, 0.0], [5.0, -5.0]]))
    assert float(xp.numpy(xp.run(loss, labels, logits))) == 0.0
    if xp.has_autograd:
        (gradient,) = xp.grad(lambda p: loss(labels, p), logits)
        assert_close(gradient, np.zeros((3, 2)))


def test_ignore_class_masks_the_mean() -> None:
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    labels = np.array([0, 9, 1])  # 9: padding, out of range
    per = -_log_softmax(logits)[[0, 2], [0, 1]]
    loss = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=9)
    assert_close(loss(labels, logits), per.mean())
    assert_close(
        L.sparse_categorical_crossentropy(labels, logits, from_logits=True, ignore_class=9),
        [per[0], 0.0, per[1]],
    )


# ----------------------------------------------------------------------------- numerics

EXTREME = {
    "bce_logits": (np.array([[0.0, 1.0, 0.0, 1.0, 0.5]]), np.array([[-1e4, 1e4, 1e4, -1e4, 0.0]])),
    "cce_logits": (
        np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        np.array([[-1e4, 1e4, 0.0], [-1e4, 1e4, 0.0]]),
    ),
    "categorical_focal": (
        np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        np.array([[-1e4, 1e4, 0.0], [-1e4, 1e4, 0.0]]),
    ),
    "sparse": (np.array([1, 0]), np.array([[-1e4, 1e4, 0.0], [-1e4, 1e4, 0.0]])),
    "bce": (np.array([[0.0, 1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 1.0, 0.0]])),
    "cce": (
        np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),
    ),
    "sparse_probabilities": (np.array([1, 0]), np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])),
    "binary_focal": (np.array([[0.0, 1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 1.0, 0.0]])),
    "kld": (np.array([[0.0, 1.0, 0.0]]), np.array([[0.5, 0.5, 0.0]])),
    "poisson": (np.array([[0.0, 3.0]]), np.array([[0.0, 0.0]])),
    "log_cosh": (np.array([[0.0, 0.0]]), np.array([[1e4, -1e4]])),
}


@pytest.mark.parametrize("name", list(EXTREME))
def test_extreme_inputs_stay_finite(xp: Backend, name: str) -> None:
    dtype = "float32"  # the tight case: float32's range and rounding
    cls, options, _, _, _ = ORACLES[name]
    y_true, y_pred = EXTREME[name]
    t, p = _to(xp, y_true, dtype), _to(xp, y_pred, dtype)
    loss = cls(reduction="sum", **options)
    value = xp.numpy(xp.run(loss, t, p))
    assert np.isfinite(value)
    if name in ("bce_logits", "cce_logits", "sparse"):  # hand arithmetic
        expected = {
            # labels smoothed by 0.2 to 0.1/0.9: softplus(x) - x z is 1000, 1000, 9000, 9000
            # and log 2 (x = 0); the mean of the 5
            "bce_logits": (2e4 + math.log(2.0)) / 5,
            # log-softmax rows [-2e4, 0, -1e4]; labels smoothed by 0.1 (1/30 off, 28/30 on):
            # row 1: (2e4 + 1e4) / 30 = 1000; row 2: 2e4 * 28/30 + 1e4 / 30 = 19000
            "cce_logits": 2e4,
            # the same rows, labels 1 and 0: 0 and 2e4
            "sparse": 2e4,
        }[name]
        assert_close(value, expected, rtol=1e-6)
    if xp.has_autograd:
        (gradient,) = xp.grad(lambda q: loss(t, q), p)
        assert np.isfinite(gradient).all(), gradient


def test_softplus_slope_at_zero(xp: Backend) -> None:
    # d/dx BCE(z, x) = sigmoid(x) - z = 0.5 - z at x = 0 on every backend
    if not xp.has_autograd:
        pytest.skip("no autograd")
    z = _to(xp, np.array([[0.0, 1.0, 0.25]]))
    (gradient,) = xp.grad(
        lambda x: L.BinaryCrossentropy(from_logits=True, reduction="sum")(z, x),
        _to(xp, np.zeros((1, 3))),
    )
    assert_close(gradient, [[0.5 / 3, -0.5 / 3, 0.25 / 3]], rtol=1e-12)


@pytest.mark.parametrize("name", list(ORACLES))
def test_gradients_match_finite_differences(xp: Backend, name: str) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    cls, options, _, kind, oracle = ORACLES[name]
    y_true, y_pred = make_inputs(kind, (3, 4), seed=5)
    weights = np.array([0.5, 1.0, 2.0])
    loss = cls(**options)
    (gradient,) = xp.grad(
        lambda p: loss(_to(xp, y_true), p, sample_weight=_to(xp, weights)), _to(xp, y_pred)
    )
    numeric = central_differences(lambda p: (oracle(y_true, p) * weights).mean(), y_pred)
    assert_close(gradient, numeric, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- contexts


@pytest.mark.parametrize("reduction", ["auto", "sum_over_batch_size", "weighted_mean"])
def test_dividing_reductions_refused_in_a_replica_context(reduction: str) -> None:
    loss = L.CategoricalCrossentropy(reduction=reduction)
    y_true, y_pred = make_inputs("categorical", (4, 3))
    with (
        losskit.distribute.replica_context(2),
        pytest.raises(
            ValueError,
            match=r"Invalid `reduction`: .* divides by the local batch.*Use `Reduction.SUM` or "
            r"`Reduction.NONE`.*compute_average_loss",
        ),
    ):
        loss(y_true, y_pred)


def test_sum_with_compute_average_loss_in_a_replica_context(xp: Backend) -> None:
    # the reference page's pattern: per-example losses, then the global batch mean
    y_true, y_pred = make_inputs("sparse_logits", (4, 3))
    per_example = ORACLES["sparse"][4](y_true, y_pred)
    loss = L.SparseCategoricalCrossentropy(from_logits=True, reduction=Reduction.NONE)
    with losskit.distribute.replica_context(2):
        values = loss(_to(xp, y_true), _to(xp, y_pred))
        got = losskit.compute_average_loss(values, global_batch_size=8)
        total = L.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(
            _to(xp, y_true), _to(xp, y_pred)
        )
    assert_close(xp.numpy(got), per_example.sum() / 8)
    assert_close(xp.numpy(total), per_example.sum())
    with losskit.distribute.cross_replica_context(2):  # runs once for all: a local mean is fine
        assert_close(
            xp.numpy(loss.__class__(from_logits=True)(_to(xp, y_true), _to(xp, y_pred))),
            per_example.mean(),
        )


# ----------------------------------------------------------------------------- laws

finite = st.floats(-10, 10, allow_nan=False, width=64)


@given(
    st.lists(st.tuples(finite, finite, st.floats(0.0, 5.0, width=64)), min_size=1, max_size=8),
    st.floats(0.125, 8.0, width=64),
)
def test_weight_laws(rows: list[tuple[float, float, float]], scale: float) -> None:
    y_true = np.array([[r[0]] for r in rows])
    y_pred = np.array([[r[1]] for r in rows])
    weights = np.array([r[2] for r in rows])
    ones = np.ones(len(rows))
    for reduction in ("sum", "sum_over_batch_size", "weighted_mean", "mean_with_sample_weight"):
        loss = L.Huber(reduction=reduction)
        assert_close(loss(y_true, y_pred, sample_weight=ones), loss(y_true, y_pred), rtol=1e-12)
    plain, scaled = weights, weights * scale
    total = L.Huber(reduction="sum")
    assert_close(
        total(y_true, y_pred, scaled), scale * total(y_true, y_pred, plain), rtol=1e-10, atol=1e-12
    )
    for reduction in ("weighted_mean", "mean_with_sample_weight"):
        mean = L.Huber(reduction=reduction)
        assert_close(
            mean(y_true, y_pred, scaled), mean(y_true, y_pred, plain), rtol=1e-10, atol=1e-12
        )


# ----------------------------------------------------------------------------- tracing


def test_torch_compile_fullgraph() -> None:
    import torch

    loss = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    bce = L.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True)

    def step(labels: Any, logits: Any, weights: Any) -> Any:
        return loss(labels, logits, sample_weight=weights) + bce(torch.sigmoid(logits), logits)

    compiled = torch.compile(step, fullgraph=True)
    labels = torch.tensor([0, 1, 2, 1])
    # a Parameter: TorchDynamo cannot read type(x).__module__ of one, losskit must not ask
    logits = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
    weights = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    got = compiled(labels, logits, weights)
    got.backward()
    assert_close(got.detach(), step(labels, logits.detach(), weights).detach(), rtol=1e-12)
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()


# ----------------------------------------------------------------------------- configs


def assert_round_trip(loss: L.Loss) -> None:
    """get_config -> JSON -> from_config, and serialize -> JSON -> deserialize, both exact."""
    config = json.loads(json.dumps(loss.get_config()))
    assert type(loss).from_config(config) == loss
    for legacy in (False, True):
        again = L.deserialize(json.dumps(L.serialize(loss, use_legacy_format=legacy)))
        assert type(again) is type(loss)
        assert again.get_config() == loss.get_config()


@pytest.mark.parametrize("name", list(ORACLES))
def test_round_trips(name: str) -> None:
    cls, options, function, _, _ = ORACLES[name]
    assert_round_trip(cls(**options))
    assert_round_trip(
        cls(reduction="weighted_mean", name="custom", sample_weight_rank="keras3", **options)
    )
    assert L.deserialize(L.serialize(function)) is function
    assert L.get(L.serialize(function, use_legacy_format=True)) is function


def test_get_names() -> None:
    assert L.get("mse") is L.mean_squared_error
    assert L.get("kullback_leibler_divergence") is L.kl_divergence
    assert L.get("logcosh") is L.log_cosh
    assert L.get("CategoricalCrossentropy") == L.CategoricalCrossentropy()
    assert L.get(L.Huber) == L.Huber()
    assert L.get(None) is None
    assert L.get(L.hinge) is L.hinge


def test_custom_loss_registered_and_serialized() -> None:
    @losskit.register_serializable(package="Tests", name="cubed")
    class Cubed(L.Loss):
        def call(self, y_true: Any, y_pred: Any) -> Any:
            return np.mean((y_pred - y_true) ** 3, axis=-1)

    loss = Cubed(reduction="sum")
    config = L.serialize(loss)
    assert config["registered_name"] == "Tests>cubed"
    again = L.deserialize(json.dumps(config))
    assert float(again(np.zeros((1, 2)), np.array([[1.0, 2.0]]))) == 4.5


# ----------------------------------------------------------------------------- errors


class NoCall(L.Loss):
    pass


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: L.MeanSquaredError(reduction="avg"),
            ValueError,
            r"Invalid `reduction`: expected one of",
        ),
        (
            lambda: L.MeanSquaredError(name=""),
            ValueError,
            r"Invalid `name`: expected a non-empty string or None, received ''",
        ),
        (
            lambda: L.MeanSquaredError(sample_weight_rank="torch"),
            ValueError,
            r"Invalid `sample_weight_rank`: expected one of \('tf_keras', 'keras3'\), "
            r"received 'torch'",
        ),
        (
            lambda: L.BinaryCrossentropy(from_logits=1),
            ValueError,
            r"Invalid `from_logits`: expected True or False, received 1",
        ),
        (
            lambda: L.CategoricalCrossentropy(label_smoothing=1.5),
            ValueError,
            r"Invalid `label_smoothing`: expected a number in \[0, 1\], received 1.5",
        ),
        (
            lambda: L.CategoricalCrossentropy(axis=1.0),
            ValueError,
            r"Invalid `axis`: expected an integer, received 1.0",
        ),
        (
            lambda: L.Huber(delta=-1.0),
            ValueError,
            r"Invalid `delta`: expected a finite number >= 0, received -1.0",
        ),
        (
            lambda: L.BinaryFocalCrossentropy(alpha=2.0),
            ValueError,
            r"Invalid `alpha`: expected a number in \[0, 1\], received 2.0",
        ),
        (
            lambda: L.BinaryFocalCrossentropy(gamma=float("nan")),
            ValueError,
            r"Invalid `gamma`: expected a finite number >= 0, received nan",
        ),
        (
            lambda: L.BinaryFocalCrossentropy(apply_class_balancing="yes"),
            ValueError,
            r"Invalid `apply_class_balancing`: expected True or False, received 'yes'",
        ),
        (
            lambda: L.SparseCategoricalCrossentropy(ignore_class=1.0),
            ValueError,
            r"Invalid `ignore_class`: expected an integer class index or None, received 1.0",
        ),
        (
            lambda: L.mean_squared_error(np.zeros((2, 3)), np.zeros((2, 4))),
            ValueError,
            r"Invalid `y_true`: expected a shape that broadcasts to the shape of `y_pred` "
            r"\(2, 4\), received shape \(2, 3\)",
        ),
        (
            lambda: L.categorical_crossentropy(np.ones((3, 1)), np.full((3, 3), 1 / 3)),
            ValueError,
            r"Invalid `y_true`: expected one-hot \(or soft\) targets of the shape of `y_pred` "
            r"\(3, 3\), received shape \(3, 1\)",
        ),
        (
            lambda: L.CategoricalFocalCrossentropy()(np.ones((3, 1)), np.full((3, 3), 1 / 3)),
            ValueError,
            r"Invalid `y_true`: expected one-hot \(or soft\) targets of the shape of `y_pred` "
            r"\(3, 3\), received shape \(3, 1\)",
        ),
        (
            lambda: L.sparse_categorical_crossentropy(np.zeros((2, 3)), np.zeros((2, 4))),
            ValueError,
            r"Invalid `y_true`: expected integer labels of shape \(2,\)",
        ),
        (
            lambda: L.categorical_crossentropy(np.zeros((2, 3)), np.zeros((2, 3)), axis=2),
            ValueError,
            r"Invalid `axis`: expected an integer in \[-2, 2\), received 2",
        ),
        (
            lambda: L.sparse_categorical_crossentropy(np.zeros(()), np.zeros(())),
            ValueError,
            r"Invalid `y_pred`: expected an array with a class axis \(rank >= 1\)",
        ),
        (
            lambda: L.cosine_similarity(np.zeros(()), np.zeros(())),
            ValueError,
            r"Invalid `y_pred`: expected an array of rank >= 1",
        ),
        (
            lambda: L.categorical_hinge(np.zeros(()), np.zeros(())),
            ValueError,
            r"Invalid `y_pred`: expected an array with a class axis \(rank >= 1\)",
        ),
        (
            lambda: L.binary_crossentropy(np.zeros(()), np.zeros(())),
            ValueError,
            r"Invalid `y_pred`: expected an array with a class axis \(rank >= 1\)",
        ),
        (
            lambda: L.mean_squared_error(np.zeros(2), np.zeros(2, bool)),
            TypeError,
            r"Invalid `y_pred`: expected an array of real floating or integer dtype",
        ),
        (
            lambda: L.mean_squared_error(None, np.zeros(2)),
            TypeError,
            r"Invalid `y_true`: expected an array, a Python number or a list of numbers, "
            r"received None",
        ),
        (
            lambda: L.MeanSquaredError()(
                np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3)
            ),
            ValueError,
            r"Invalid `sample_weight`: expected a shape that broadcasts to the shape of `losses`",
        ),
        (
            lambda: L.MeanSquaredError()(
                np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones((4, 2))
            ),
            ValueError,
            r"Invalid `sample_weight`: with rank 2, one more than `losses` \(1\), the last "
            r"dimension must be 1",
        ),
        (
            lambda: L.MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight="heavy"),
            TypeError,
            r"Invalid `sample_weight`: expected an array, a Python number or a list of "
            r"numbers, received 'heavy'",
        ),
        (
            lambda: L.MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 2)), mask=np.ones(3, bool)),
            ValueError,
            r"Invalid `mask`: expected a shape that broadcasts to the shape of `losses`",
        ),
        (
            lambda: L.MeanSquaredError(reduction="sum", sample_weight_rank="keras3")(
                np.zeros((4, 3, 1)), np.zeros((4, 3, 1)), sample_weight=np.ones(4)
            ),
            ValueError,
            r"Invalid `sample_weight`: expected a shape that broadcasts to the shape of "
            r"`losses` \(4, 3\)",
        ),
        (
            lambda: NoCall()(np.zeros(2), np.zeros(2)),
            NotImplementedError,
            r"NoCall must implement call\(y_true, y_pred\)",
        ),
        (
            lambda: L.get("mean_cubed_error"),
            ValueError,
            r"Could not interpret loss identifier: 'mean_cubed_error'",
        ),
        (lambda: L.get(3), ValueError, r"Could not interpret loss identifier: 3"),
        (lambda: L.get(dict), ValueError, r"Could not interpret loss identifier: <class 'dict'>"),
        (
            lambda: L.serialize(NoCall()),
            ValueError,
            r"Cannot serialize NoCall: it is neither a built-in loss nor registered",
        ),
        (
            lambda: L.serialize(lambda a, b: a),
            ValueError,
            r"Cannot serialize the unregistered function",
        ),
        (
            lambda: L.deserialize({"module": "os", "class_name": "system", "config": {}}),
            ValueError,
            r"Refusing module 'os' for loss 'system'",
        ),
    ],
)
def test_error_messages(make: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


class BoolLoss(L.Loss):
    def call(self, y_true: Any, y_pred: Any) -> Any:
        return y_true == y_pred


COMPLEX = np.zeros((2, 2), complex)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: L.MeanSquaredError()(COMPLEX, np.zeros((2, 2))),
            r"Invalid `y_true`: expected an array of real floating, integer or bool dtype",
        ),
        (
            lambda: L.MeanSquaredError()(np.zeros((2, 2)), np.zeros((2, 2)), sample_weight=COMPLEX),
            r"Invalid `sample_weight`: expected an array of real floating, integer or bool dtype",
        ),
        (
            lambda: L.MeanSquaredError()(np.zeros((2, 2)), np.zeros((2, 2)), mask=COMPLEX[:, 0]),
            r"Invalid `mask`: expected an array of real floating, integer or bool dtype",
        ),
        (
            lambda: BoolLoss()(np.zeros(2), np.zeros(2)),
            r"Invalid `call\(\) result`: expected an array of real floating or integer dtype",
        ),
    ],
)
def test_dtype_error_messages(make: Callable[[], Any], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        make()


def test_mixed_libraries_are_refused() -> None:
    import torch

    with pytest.raises(
        TypeError, match=r"Invalid `y_pred`: expected an array from the same library"
    ):
        L.MeanSquaredError()(torch.zeros(2, 2), __import__("jax").numpy.zeros((2, 2)))


def test_accumulation_steps_refuse_local_means_too() -> None:
    # micro-batches of one step: a mean over one micro-batch is a local mean as well
    y_true, y_pred = make_inputs("categorical", (4, 3))
    with (
        losskit.distribute.replica_context(1, accumulation_steps=4),
        pytest.raises(ValueError, match=r"Invalid `reduction`: 'auto' divides by the local batch"),
    ):
        L.CategoricalCrossentropy()(y_true, y_pred)


@pytest.mark.parametrize("gradients", ["sum", "mean"])
def test_sum_follows_the_engines_gradient_combination(gradients: str) -> None:
    # Loss classes reduce through compute_weighted_loss, so a SUM is scaled exactly as the
    # foundation scales it for an engine that averages the replicas' gradients
    y_true, y_pred = make_inputs("sparse_logits", (4, 3))
    per_example = ORACLES["sparse"][4](y_true, y_pred)
    loss = L.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    with losskit.distribute.replica_context(2, gradients=gradients):
        got = loss(y_true, y_pred)
        expected = losskit.compute_weighted_loss(per_example, reduction="sum")
    assert_close(got, expected, rtol=1e-12)


def test_float16_losses_are_computed_in_float32() -> None:
    """Deviation `low-precision-accumulation`: tf_keras squares in float16 (300**2 = 90000
    overflows to inf, measured: `[inf] inf`); losskit computes in float32 and rounds the
    mean, 45000, once."""
    from losskit import losses

    y_true = np.zeros((1, 2), np.float16)
    y_pred = np.array([[300.0, 0.0]], np.float16)
    per_sample = losses.mean_squared_error(y_true, y_pred)
    assert per_sample.dtype == np.float16
    rounded = float(np.float16(45000.0))  # 44992: the one rounding to float16
    assert per_sample.tolist() == [rounded]
    assert float(losses.MeanSquaredError()(y_true, y_pred)) == rounded
