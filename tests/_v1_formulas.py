"""float64 NumPy oracles of TensorFlow 1's losses: its documented formulas and reductions.

Written from the docstrings of ``tf.compat.v1.losses`` (losses_impl.py), independently of
losskit's code; shared by tests/test_v1_losses.py and the conformance suite (for the side of
a deviation that losskit computes differently from TensorFlow).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

REDUCTIONS = (
    "none",
    "weighted_sum",
    "weighted_sum_over_batch_size",
    "weighted_mean",
    "weighted_sum_by_nonzero_weights",
)


def logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True)))[..., 0]


def terms(name: str, labels: np.ndarray, preds: np.ndarray, **options: Any) -> np.ndarray:
    """Per-element float64 losses of TF1's formulas (the docstrings of losses_impl.py)."""
    labels, preds = labels.astype(np.float64), preds.astype(np.float64)
    error = preds - labels if labels.shape == preds.shape else None
    if name == "absolute_difference":
        return np.abs(error)
    if name == "mean_squared_error":
        return error**2
    if name == "huber_loss":
        delta = options.get("delta", 1.0)
        size = np.abs(error)
        return np.where(size <= delta, 0.5 * error**2, 0.5 * delta**2 + delta * (size - delta))
    if name == "log_loss":
        eps = options.get("epsilon", 1e-7)
        return -labels * np.log(preds + eps) - (1 - labels) * np.log(1 - preds + eps)
    if name == "hinge_loss":
        return np.maximum(0.0, 1 - (2 * labels - 1) * preds)
    if name == "cosine_distance":
        return 1 - (preds * labels).sum(axis=options["axis"], keepdims=True)
    if name == "sigmoid_cross_entropy":
        s = options.get("label_smoothing", 0)
        z, y = preds, labels * (1 - s) + 0.5 * s
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    if name == "softmax_cross_entropy":
        s = options.get("label_smoothing", 0)
        y = labels * (1 - s) + s / labels.shape[-1]
        return -(y * (preds - logsumexp(preds)[..., None])).sum(axis=-1)
    if name == "sparse_softmax_cross_entropy":
        chosen = np.take_along_axis(preds, labels.astype(np.int64)[..., None], axis=-1)[..., 0]
        return logsumexp(preds) - chosen
    raise AssertionError(name)


def reduce(values: np.ndarray, weights: Any, reduction: str) -> np.ndarray:
    """TF1's reductions of ``values * weights`` in float64 (div_no_nan: 0 for 0 / 0)."""
    w = np.broadcast_to(np.asarray(weights, np.float64), values.shape)
    total = (values * w).sum()
    denominator = {
        "none": None,
        "weighted_sum": 1.0,
        "weighted_sum_over_batch_size": float(values.size),
        "weighted_mean": w.sum(),
        "weighted_sum_by_nonzero_weights": float(np.count_nonzero(w)),
    }[str(reduction)]
    if denominator is None:
        return values * w
    return np.asarray(0.0 if denominator == 0 else total / denominator)


def pairwise_by_pairs(labels: np.ndarray, preds: np.ndarray, weights: np.ndarray) -> float:
    """The documented definition, pair by pair: per example, the mean over pairs i < j of
    ((p_i - y_i) - (p_j - y_j))^2, times the example's weight (per-example weights)."""
    total = 0.0
    for b in range(labels.shape[0]):
        d = (preds[b] - labels[b]).astype(np.float64).ravel()
        pairs = list(itertools.combinations(range(d.size), 2))
        if pairs and weights[b] != 0:
            total += weights[b] * sum((d[i] - d[j]) ** 2 for i, j in pairs) / len(pairs)
    return total


def pairwise(labels: np.ndarray, preds: np.ndarray, weights: Any) -> float:
    """``mean_pairwise_squared_error`` as TensorFlow computes it in graph mode: per example
    b, ``n_b`` counts the non-zero broadcast weights, the sums run over all its elements, and
    each example's loss is multiplied by the weights as given (broadcasting may repeat it)."""
    d = (preds.astype(np.float64) - labels.astype(np.float64)).reshape(labels.shape[0], -1)
    w = np.asarray(weights, np.float64)
    n = np.count_nonzero(np.broadcast_to(w, labels.shape).reshape(labels.shape[0], -1), axis=1)
    n = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(n > 1, 2 * (d**2).sum(axis=1) / (n - 1), 0.0)
        second = np.where(n > 1, 2 * d.sum(axis=1) ** 2 / (n * (n - 1)), 0.0)
    per_example = (first - second).reshape((labels.shape[0],) + (1,) * (labels.ndim - 1))
    return float((per_example * w).sum())
