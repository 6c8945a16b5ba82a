"""``compute_weighted_loss``: TensorFlow 1's weighted loss, for every reduction."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from losskit import _namespace as ns
from losskit._kernels.sums import broadcast_factor, divide_no_nan, size, weighted_total
from losskit._shapes import check_same_rank_weights
from losskit._state import step_split
from losskit.reduction import Reduction, ReductionLike, resolve

__all__ = ["compute_weighted_loss", "weighted"]

_NOT_GIVEN: object = object()


def compute_weighted_loss(
    losses: Any,
    weights: Any = 1.0,
    *,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
    loss_collection: object = _NOT_GIVEN,
) -> Any:
    r"""Computes the weighted loss (``tf.compat.v1.losses.compute_weighted_loss``).

    With :math:`\ell` the losses and :math:`w` the weights broadcast to the losses' shape,
    the weighted sum :math:`S = \sum_i w_i \ell_i` is divided by

    ==================================== ===================================================
    ``reduction``                        denominator
    ==================================== ===================================================
    ``NONE``                             none: returns :math:`w \odot \ell`
    ``SUM``                              1
    ``SUM_OVER_BATCH_SIZE`` (``AUTO``)   number of elements of ``losses``
    ``WEIGHTED_MEAN``                    :math:`\sum_i w_i` (broadcast weights)
    ``SUM_BY_NONZERO_WEIGHTS`` (default) :math:`\#\{i : w_i \ne 0\}` (broadcast weights; NaN counts)
    ``MEAN_WITH_SAMPLE_WEIGHT``          sum of ``weights`` as given, not broadcast (Keras 3)
    ==================================== ===================================================

    A zero denominator gives 0 (and a zero gradient). Gradients flow into both ``losses``
    and ``weights``; stop them on ``weights`` yourself if the weights depend on parameters
    that the loss should not train.

    Args:
        losses: array of shape ``[batch_size, d1, ... dN]`` (a scalar is allowed), of a real
            floating or integer dtype, from any array-API library.
        weights: a scalar, or an array of the same rank as ``losses`` whose every dimension
            is 1 or equal to the losses' (per-example weights have shape ``[batch, 1, ...]``).
        reduction: a :class:`losskit.Reduction` or any key it accepts.
        loss_collection: deprecated. Recording into TensorFlow 1's loss collections is
            :func:`losskit.v1.compute_weighted_loss`'s; for one release, inside an active
            (deprecated) ``losskit.collect_losses()`` block, this function still records
            its result into ``loss_collection`` (``"losses"`` by default, nowhere for
            None), with a ``DeprecationWarning``. Outside a block it records nothing.

    Returns:
        The weighted loss in the namespace, device and floating dtype of ``losses``: the
        same shape as ``losses`` for ``NONE``, else a scalar. Integer losses give a floating
        result (float32 for 8- and 16-bit, float64 for wider integers where available);
        float16 and bfloat16 are accumulated in float32.

    Raises:
        ValueError: invalid ``reduction``, a weights shape that breaks the rule above, or a
            dividing reduction inside a replica context with several replicas.
        TypeError: ``weights`` is None, or a dtype is not numeric.

    Example:
        >>> import numpy as np
        >>> from losskit import Reduction, compute_weighted_loss
        >>> losses, weights = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 2.0, 0.0])
        >>> float(compute_weighted_loss(losses, weights))  # (1 + 6) / 2 non-zero weights
        3.5
        >>> float(compute_weighted_loss(losses, weights, reduction=Reduction.WEIGHTED_MEAN))
        2.3333333333333335
        >>> compute_weighted_loss(losses, weights, reduction="none")
        array([1., 0., 6., 0.])
    """
    loss = weighted(losses, weights, reduction=reduction)
    given = loss_collection is not _NOT_GIVEN
    collection = loss_collection if given else "losses"
    if not (LEGACY_RECORDER and LEGACY_RECORDER[0](loss, collection)) and given:
        _warn_loss_collection(loss_collection)
    return loss


LEGACY_RECORDER: list[Callable[[Any, Any], bool]] = []
"""Filled by :mod:`losskit.v1` when it is imported: keeps the deprecated recording of this
function into an active ``collect_losses()`` block (with a warning) for one release. The
arithmetic itself (:func:`weighted`) reads no collection."""


def weighted(losses: Any, weights: Any = 1.0, *, reduction: ReductionLike) -> Any:
    """:func:`compute_weighted_loss`'s arithmetic: no recording (the loss classes and
    :mod:`losskit.v1` call this)."""
    xp = ns.namespace(losses, weights, names=("losses", "weights"))
    replicas, steps, scale = step_split()
    member = resolve(reduction, num_replicas=replicas, accumulation_steps=steps)
    values = ns.as_array(xp, losses, name="losses")
    result_dtype, dtype = ns.loss_dtypes(xp, values, name="losses")
    values = ns.astype(xp, values, dtype)
    if ns.is_python_number(weights):
        loss = _scalar_weighted(xp, values, float(weights), member)
    else:
        weight = ns.as_array(xp, weights, name="weights", like=values)
        ns.check_weight_dtype(xp, weight, name="weights")
        check_same_rank_weights(values.shape, weight.shape, values="losses", weights="weights")
        loss = _array_weighted(xp, values, ns.astype(xp, weight, dtype), member)
    if scale != 1 and member is Reduction.SUM:
        loss = loss * scale  # undo the engine's mean over replicas or micro-steps
    return ns.finish(xp, loss, result_dtype)


def _warn_loss_collection(loss_collection: object) -> None:
    recorded = (
        "" if loss_collection is None else f" (the loss is not recorded in {loss_collection!r})"
    )
    warnings.warn(
        "`loss_collection` of `losskit.compute_weighted_loss` is deprecated and ignored: the "
        f"function computes only{recorded}. To record into TensorFlow 1 loss collections, "
        "call `losskit.v1.compute_weighted_loss(..., loss_collection=...)` inside "
        "`losskit.v1.collect_losses()`.",
        DeprecationWarning,
        stacklevel=3,
    )


def _scalar_weighted(xp: ns.Namespace, values: Any, weight: float, member: Reduction) -> Any:
    """A Python-number weight: every denominator is a Python number (no device work)."""
    if member is Reduction.NONE:
        return values * weight
    weighted = weighted_total(xp, values, weight)
    count = size(values.shape)
    denominator = {
        Reduction.SUM: 1,
        Reduction.SUM_OVER_BATCH_SIZE: count,
        # A scalar weights every element: both weighted means divide by weight * count (Keras 3
        # divides by the bare scalar, turning its mean into a sum; see docs/deviations.md).
        Reduction.MEAN_WITH_SAMPLE_WEIGHT: weight * count,
        Reduction.WEIGHTED_MEAN: weight * count,
        Reduction.SUM_BY_NONZERO_WEIGHTS: count if weight != 0 else 0,  # NaN counts, as in TF
    }[member]
    return weighted if denominator == 1 else divide_no_nan(xp, weighted, denominator)


def _array_weighted(xp: ns.Namespace, values: Any, weight: Any, member: Reduction) -> Any:
    if member is Reduction.NONE:
        return values * weight
    weighted = weighted_total(xp, values, weight)
    if member is Reduction.SUM:
        return weighted
    if member is Reduction.SUM_OVER_BATCH_SIZE:
        return divide_no_nan(xp, weighted, size(values.shape))
    repeats = broadcast_factor(values.shape, weight.shape)
    if member is Reduction.MEAN_WITH_SAMPLE_WEIGHT:
        # Keras 3: the weights as given, not broadcast, except that a scalar weights every
        # element (as with a Python-number weight)
        return divide_no_nan(xp, weighted, xp.sum(weight) * (repeats if weight.ndim == 0 else 1))
    if member is Reduction.WEIGHTED_MEAN:
        return divide_no_nan(xp, weighted, xp.sum(weight) * repeats)
    # counting a bool array is several times faster than counting floats (NumPy, PyTorch)
    nonzero = xp.astype(xp.count_nonzero(weight != 0), weight.dtype)
    return divide_no_nan(xp, weighted, nonzero * repeats)  # SUM_BY_NONZERO_WEIGHTS
