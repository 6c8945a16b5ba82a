r"""The Circle loss (Sun et al., 2020), Keras 3's ``Circle``: metric learning on L2-normalized
embeddings with integer labels.

For each query :math:`i` and reference :math:`j` (the batch itself by default), with the
cosine distance :math:`d_{ij} = \max(1 - \langle e_i, r_j\rangle, 0)`, margin :math:`m`
and scale :math:`\gamma`, the loss is :math:`\operatorname{softplus}(P_i + N_i)` with

.. math::

    P_i = \operatorname{LSE}_{j \in pos(i)}
          \bigl(-\gamma\,[m + d_{ij}]_+\,(m - d_{ij})\bigr),

    N_i = \operatorname{LSE}_{j \in neg(i)}
          \bigl(\gamma\,[1 + m - d_{ij}]_+\,(1 - m - d_{ij})\bigr).

Positives share the query's label (itself excluded with ``remove_diagonal``), negatives do
not; a query without positives (or negatives) has loss 0. As in Keras 3, the class form
averages over the queries whose loss is positive (they are masked like ``ignore_class``
entries).

Example:
    >>> import numpy as np
    >>> from losskit.losses import Circle
    >>> embeddings = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]])
    >>> labels = np.array([0, 0, 1, 1])
    >>> Circle(gamma=2.0, reduction="none")(labels, embeddings).round(6)
    array([0.857745, 1.009679, 1.009679, 0.857745])
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.losses._base import evaluate
from losskit.losses._builtin import BuiltinLoss
from losskit.losses._numerics import constant, index_dtype, softplus
from losskit.losses._options import check_bool, check_finite, check_non_negative, option

__all__ = ["Circle", "circle"]


def _labels(xp: ns.Namespace, value: Any, like: Any, name: str, count: int) -> Any:
    labels = ns.as_array(xp, value, name=name, like=like)
    ns.check_weight_dtype(xp, labels, name=name)
    if labels.ndim == 2 and labels.shape[-1] == 1:
        labels = xp.squeeze(labels, axis=-1)
    if labels.ndim != 1 or labels.shape[0] != count:
        raise ValueError(
            invalid(name, f"integer labels of shape ({count},) (or ({count}, 1))", labels)
        )
    return ns.astype(xp, labels, index_dtype(xp, like))


def _embeddings(xp: ns.Namespace, value: Any, name: str, like: Any = None) -> tuple[Any, Any]:
    array = ns.as_array(xp, value, name=name, like=like)
    result_dtype, dtype = ns.loss_dtypes(xp, array, name=name)
    if array.ndim != 2:
        raise ValueError(invalid(name, "embeddings of shape (batch_size, dimensions)", array))
    return ns.astype(xp, array, dtype), result_dtype


def _log_sum_exp(xp: ns.Namespace, values: Any, mask: Any) -> Any:
    """``log(sum(exp(values)))`` over the entries of ``mask`` along axis 1; ``-inf`` for a row
    without any. Masked-out entries are replaced before ``exp`` so that their gradient is 0."""
    lowest = xp.finfo(values.dtype).min
    top = constant(xp, xp.max(xp.where(mask, values, lowest), axis=1, keepdims=True))
    kept = xp.where(mask, values, top)
    total = xp.sum(xp.where(mask, xp.exp(kept - top), xp.zeros_like(kept)), axis=1)
    present = xp.any(mask, axis=1)
    safe = xp.where(present, total, xp.ones_like(total))
    return xp.where(present, xp.log(safe) + top[:, 0], xp.full_like(total, -math.inf))


def _circle(
    xp: ns.Namespace,
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float,
    margin: float,
    remove_diagonal: bool,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
) -> tuple[Any, Any, Any]:
    queries, dtype = _embeddings(xp, y_pred, "y_pred")
    references = queries
    if ref_embeddings is not None:
        references, _ = _embeddings(xp, ref_embeddings, "ref_embeddings", like=queries)
        references = ns.astype(xp, references, queries.dtype)
    labels = _labels(xp, y_true, queries, "y_true", queries.shape[0])
    reference_labels = labels
    if ref_labels is not None:
        reference_labels = _labels(xp, ref_labels, queries, "ref_labels", references.shape[0])
    elif ref_embeddings is not None:
        raise ValueError(invalid("ref_labels", "labels for `ref_embeddings`", ref_labels))
    cosine = xp.matmul(queries, xp.permute_dims(references, (1, 0)))
    distance = xp.clip(1.0 - cosine, 0.0, None)
    positive = xp.expand_dims(labels, axis=1) == xp.expand_dims(reference_labels, axis=0)
    negative = xp.logical_not(positive)
    if remove_diagonal:  # the indices, on the labels' device, without `arange(device=)`
        rows = xp.cumulative_sum(xp.ones_like(labels))
        columns = xp.cumulative_sum(xp.ones_like(reference_labels))
        diagonal = xp.expand_dims(rows, axis=1) == xp.expand_dims(columns, axis=0)
        positive = xp.logical_and(positive, xp.logical_not(diagonal))
    zero = xp.zeros_like(distance)
    positive_weight = xp.where(positive, xp.clip(margin + distance, 0.0, None), zero)
    negative_weight = xp.where(negative, xp.clip(1.0 + margin - distance, 0.0, None), zero)
    pull = -gamma * positive_weight * (margin - distance)
    push = gamma * negative_weight * (1.0 - margin - distance)
    losses = softplus(xp, _log_sum_exp(xp, pull, positive) + _log_sum_exp(xp, push, negative))
    return losses, losses > 0, dtype


def circle(
    y_true: Any,
    y_pred: Any,
    *,
    ref_labels: Any = None,
    ref_embeddings: Any = None,
    remove_diagonal: bool = True,
    gamma: float = 80.0,
    margin: float = 0.4,
) -> Any:
    """The Circle loss of each query embedding (see the module docstring for the formula).

    Args:
        y_true: integer labels of shape ``(batch_size,)``.
        y_pred: L2-normalized embeddings of shape ``(batch_size, dimensions)`` (e.g. the
            output of a unit-normalization layer; losskit does not normalize them).
        ref_labels: labels of the reference embeddings; defaults to ``y_true``.
        ref_embeddings: L2-normalized reference embeddings; defaults to ``y_pred``.
        remove_diagonal: whether query ``i`` is not its own positive (reference ``i``).
        gamma: the scale, a finite number >= 0.
        margin: the relaxation margin, a finite number.

    Returns:
        The per-query losses, shape ``(batch_size,)``, in ``y_pred``'s dtype.

    Raises:
        ValueError: shapes that do not fit, or an invalid option.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import circle
        >>> embeddings = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> circle(np.array([0, 0, 1]), embeddings, gamma=2.0).round(6)
        array([0.451845, 0.776344, 0.      ])
    """
    return evaluate(
        _circle,
        y_true,
        y_pred,
        gamma=check_non_negative("gamma", gamma),
        margin=check_finite("margin", margin),
        remove_diagonal=check_bool("remove_diagonal", remove_diagonal),
        ref_labels=ref_labels,
        ref_embeddings=ref_embeddings,
    )


@dataclass(kw_only=True, eq=False, repr=False)
class Circle(BuiltinLoss):
    """:func:`circle` of each query against the batch, weighted and reduced.

    ``SUM_OVER_BATCH_SIZE`` averages over the queries with a positive loss only (Keras 3
    masks the others).
    """

    kernel = _circle
    name: InitVar[str | None] = "circle"
    gamma: float = option(80.0, check_non_negative)
    margin: float = option(0.4, check_finite)
    remove_diagonal: bool = option(True, check_bool)
