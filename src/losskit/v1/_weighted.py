"""TensorFlow 1's ``compute_weighted_loss``: the core arithmetic, then the recording hook."""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit import weighted_loss
from losskit.v1._collections import LOSSES, record
from losskit.v1._inputs import check_weights
from losskit.v1._reduction import Reduction, V1ReductionLike, resolve

__all__ = ["compute_weighted_loss", "reduce_and_record"]


def reduce_and_record(
    losses: Any,
    weights: Any,
    loss_collection: str | None,
    reduction: V1ReductionLike,
    result_dtype: Any = None,
) -> Any:
    """Weight and reduce ``losses`` (:func:`losskit.compute_weighted_loss`), cast the result
    to ``result_dtype`` (if given), then record it in ``loss_collection`` of the active
    :func:`losskit.v1.collect_losses` block."""
    check_weights(weights)
    member = resolve(reduction)
    loss = weighted_loss.weighted(losses, weights, reduction=member)
    if result_dtype is not None:
        loss = ns.finish(ns.namespace(loss), loss, result_dtype)
    return record(loss, loss_collection)


def compute_weighted_loss(
    losses: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Any:
    r"""``tf.compat.v1.losses.compute_weighted_loss``: weight, reduce and record.

    The arithmetic is :func:`losskit.compute_weighted_loss`'s (see its table of
    denominators; TF1's ``MEAN`` is ``losskit.Reduction.WEIGHTED_MEAN``); inside a
    :func:`losskit.v1.collect_losses` block the result is then added to
    ``loss_collection``, as TensorFlow 1 adds it to a graph collection.

    Args:
        losses: array of shape ``[batch_size, d1, ... dN]`` (a scalar is allowed).
        weights: a scalar, or an array of the rank of ``losses`` whose every dimension is 1
            or equal to the losses'.
        scope: accepted for TensorFlow 1's signature and ignored (a graph name scope).
        loss_collection: the collection the result is added to; None adds it nowhere.
        reduction: a :class:`losskit.v1.Reduction`, one of its value strings, or a
            :class:`losskit.Reduction` member.

    Returns:
        The weighted loss in the namespace, device and floating dtype of ``losses``: the
        same shape as ``losses`` for ``NONE``, else a scalar.

    Raises:
        ValueError: ``weights`` is None, an invalid ``reduction``, a weights shape that
            breaks the rule above, or a dividing reduction inside a replica context with
            several replicas.
        TypeError: a dtype is not numeric.

    Example:
        >>> import numpy as np
        >>> from losskit import v1
        >>> losses, weights = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 2.0, 0.0])
        >>> float(v1.compute_weighted_loss(losses, weights))  # (1 + 6) / 2 non-zero weights
        3.5
        >>> float(v1.compute_weighted_loss(losses, weights, reduction=v1.Reduction.MEAN))
        2.3333333333333335
        >>> with v1.collect_losses() as collected:
        ...     _ = v1.compute_weighted_loss(losses, weights, reduction="weighted_sum")
        >>> [float(loss) for loss in collected.get(v1.LOSSES)]
        [7.0]
    """
    del scope
    return reduce_and_record(losses, weights, loss_collection, reduction)
