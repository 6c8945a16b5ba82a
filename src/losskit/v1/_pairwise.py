"""TensorFlow 1's ``mean_pairwise_squared_error``: squared differences of pairs of elements
within each example, weighted and summed over the batch."""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit import weighted_loss
from losskit._errors import invalid
from losskit._kernels.sums import divide_no_nan, size
from losskit._shapes import check_same_rank_weights
from losskit.reduction import Reduction
from losskit.v1._collections import LOSSES, record
from losskit.v1._inputs import check_weights, dense_pair

__all__ = ["mean_pairwise_squared_error"]


def mean_pairwise_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
) -> Any:
    r"""``tf.compat.v1.losses.mean_pairwise_squared_error``.

    For each example :math:`b` (axis 0) with differences :math:`d = p - y` over its
    :math:`n_b` present elements (those whose broadcast weight is non-zero), the mean over
    pairs :math:`i < j` of :math:`(d_i - d_j)^2`, computed as TensorFlow does:

    .. math::
        \ell_b = \frac{2 \sum_i d_i^2}{n_b - 1} - \frac{2 (\sum_i d_i)^2}{n_b (n_b - 1)}

    (0 for :math:`n_b \le 1`). The loss is :math:`\sum_b w_b \ell_b`: a weighted *sum* over
    the batch, with no ``reduction`` argument (TensorFlow 1 has none). Each :math:`\ell_b`
    is multiplied by the weights as given: weights of the labels' full shape repeat it once
    per element, as in TensorFlow.

    For a scalar weight, TensorFlow 2 in eager mode counts every element of the batch in
    :math:`n_b` (its graph mode and array weights count the example's); losskit always
    counts the example's (``docs/deviations.md``, ``v1-pairwise-scalar-weight``).

    Args:
        labels: the targets ``[batch, d0, ...]``, of the shape of ``predictions``.
        predictions: the predictions, with at least one axis.
        weights: a scalar, or an array of the labels' rank whose every dimension is 1 or
            equal to the labels' (``[batch, 1, ...]``: per example).
        scope: ignored (TensorFlow's graph name scope).
        loss_collection: the :func:`losskit.v1.collect_losses` collection to record in.

    Returns:
        A scalar in the floating dtype of ``predictions``.

    Raises:
        ValueError: a None input or ``weights``, 0-d inputs, shapes that differ, weights
            that do not fit.
        TypeError: a non-numeric input.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import mean_pairwise_squared_error
        >>> labels = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]])
        >>> predictions = np.array([[1.0, 2.0, 4.0], [4.0, 5.0, 6.0]])
        >>> # each example: pairs (0, 1), (0, 2), (1, 2) differ by 0, 1, 1: mean 2/3
        >>> round(float(mean_pairwise_squared_error(labels, predictions)), 6)
        1.333333
    """
    del scope
    xp, true, pred, dtype = dense_pair(labels, predictions, weights)
    if pred.ndim == 0:
        raise ValueError(invalid("predictions", "an array with a batch axis (rank >= 1)", pred))
    check_weights(weights)
    if not ns.is_python_number(weights):
        weights = ns.astype(xp, ns.as_array(xp, weights, name="weights", like=pred), pred.dtype)
        check_same_rank_weights(pred.shape, weights.shape, values="labels", weights="weights")
    diffs = pred - true
    present = _present_per_example(xp, diffs, weights)
    squares = _per_example(xp, diffs * diffs)
    total = _per_example(xp, diffs)
    if isinstance(present, int):
        pairs_minus, pairs = max(present - 1, 0), max(present * (present - 1), 0)
    else:
        pairs_minus = xp.clip(present - 1, 0, None)
        pairs = xp.clip(present * (present - 1), 0, None)
    terms = 2.0 * divide_no_nan(xp, squares, pairs_minus)
    terms = terms - 2.0 * divide_no_nan(xp, total * total, pairs)
    loss = weighted_loss.weighted(terms * weights, 1.0, reduction=Reduction.SUM)
    if not isinstance(present, int):  # TensorFlow: 0 unless some element is present
        loss = xp.where(xp.sum(present) > 0, loss, xp.zeros_like(loss))
    return record(ns.finish(xp, loss, dtype), loss_collection)


def _per_example(xp: ns.Namespace, values: Any) -> Any:
    """Sums over every axis but the batch axis, kept with size 1 (``[batch, 1, ...]``)."""
    if values.ndim == 1:
        return values
    return xp.sum(values, axis=tuple(range(1, values.ndim)), keepdims=True)


def _present_per_example(xp: ns.Namespace, diffs: Any, weights: Any) -> Any:
    """How many elements of each example have a non-zero (broadcast) weight; NaN counts."""
    if isinstance(weights, (int, float)):
        return size(diffs.shape[1:]) if weights != 0 else 0
    present = xp.astype(weights != 0, diffs.dtype)
    return _per_example(xp, xp.broadcast_to(present, diffs.shape))
