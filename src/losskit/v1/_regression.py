"""TensorFlow 1's element-wise losses: absolute difference, squared error, Huber, log loss,
hinge and cosine distance.

Each computes one loss per element of ``labels``/``predictions`` (cosine distance: one per
vector along ``axis``, that axis kept with size 1) and hands it to
:func:`losskit.v1.compute_weighted_loss`'s arithmetic: ``weights`` is a scalar or has the
rank of the losses with every dimension 1 or equal. The arguments are TensorFlow 1's, in
its order, so calls port unchanged; ``scope`` is accepted and ignored.

Example:
    >>> import numpy as np
    >>> from losskit import v1
    >>> labels, predictions = np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0])
    >>> float(v1.mean_squared_error(labels, predictions, weights=np.array([0.0, 1.0, 0.25])))
    1.0
    >>> float(v1.absolute_difference(labels, predictions, reduction="weighted_sum"))
    3.0
    >>> v1.huber_loss(labels, predictions, reduction=v1.Reduction.NONE)
    array([0. , 0.5, 1.5])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from losskit._errors import invalid
from losskit.losses._numerics import normalize_axis
from losskit.losses._options import check_non_negative
from losskit.v1._collections import LOSSES
from losskit.v1._inputs import dense_pair, magnitude
from losskit.v1._reduction import Reduction, V1ReductionLike
from losskit.v1._weighted import reduce_and_record

__all__ = [
    "absolute_difference",
    "cosine_distance",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_squared_error",
]

_DEFAULT = Reduction.SUM_BY_NONZERO_WEIGHTS


def absolute_difference(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.absolute_difference``: :math:`|p - y|` per element, weighted
    and reduced.

    Args:
        labels: the targets, of the shape of ``predictions``.
        predictions: the predictions, of a real floating or integer dtype.
        weights: a scalar, or an array of the rank of ``labels`` whose every dimension is 1
            or equal to the labels'.
        scope: ignored (TensorFlow's graph name scope).
        loss_collection: the :func:`losskit.v1.collect_losses` collection to record in.
        reduction: a :class:`losskit.v1.Reduction` or one of its value strings.

    Returns:
        The loss in the floating dtype of ``predictions``: the shape of ``labels`` for
        ``NONE``, else a scalar.

    Raises:
        ValueError: a None input or ``weights``, shapes that differ, weights that do not
            fit, or an invalid ``reduction``.
        TypeError: a non-numeric input.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import absolute_difference
        >>> float(absolute_difference(np.array([1.0, 9.0]), np.array([4.0, 8.0])))
        2.0
    """
    del scope
    xp, true, pred, dtype = dense_pair(labels, predictions, weights)
    losses = magnitude(xp, pred - true)
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def mean_squared_error(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.mean_squared_error``: :math:`(p - y)^2` per element, weighted
    and reduced (by default the mean over the non-zero weights).

    Arguments, result and errors as :func:`absolute_difference`.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import Reduction, mean_squared_error
        >>> labels, predictions = np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0])
        >>> weights = np.array([0.0, 1.0, 0.25])
        >>> float(mean_squared_error(labels, predictions, weights))  # (1 + 1) / 2
        1.0
        >>> float(mean_squared_error(labels, predictions, weights,
        ...                          reduction=Reduction.SUM_OVER_BATCH_SIZE))  # (1 + 1) / 3
        0.6666666666666666
    """
    del scope
    _, true, pred, dtype = dense_pair(labels, predictions, weights)
    error = pred - true
    return reduce_and_record(error * error, weights, loss_collection, reduction, dtype)


def huber_loss(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    delta: float = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.huber_loss``: per element of :math:`x = p - y`,
    :math:`\frac12 x^2` if :math:`|x| \le \delta`, else
    :math:`\frac12 \delta^2 + \delta (|x| - \delta)`.

    Computed as TensorFlow does (:math:`q = \min(|x|, \delta)`,
    :math:`\frac12 q^2 + \delta (|x| - q)`), so the gradient at :math:`|x| = \delta` is
    :math:`\delta\,\mathrm{sign}(x)` on every backend.

    Args:
        delta: the point where the loss turns linear, a finite number >= 0.
        labels, predictions, weights, scope, loss_collection, reduction: as
            :func:`absolute_difference`.

    Raises:
        ValueError: as :func:`absolute_difference`, or a negative or non-finite ``delta``.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import huber_loss
        >>> float(huber_loss(np.array([0.0, 0.0]), np.array([0.5, 3.0]), delta=2.0))
        2.0625
    """
    del scope
    delta = check_non_negative("delta", delta)
    xp, true, pred, dtype = dense_pair(labels, predictions, weights)
    size = magnitude(xp, pred - true)
    quadratic = xp.clip(size, None, delta)
    losses = 0.5 * quadratic * quadratic + delta * (size - quadratic)
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def log_loss(
    labels: Any,
    predictions: Any,
    weights: Any = 1.0,
    epsilon: float = 1e-7,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.log_loss``: per element,
    :math:`-y \log(p + \epsilon) - (1 - y) \log(1 - p + \epsilon)`.

    Args:
        epsilon: added inside both logarithms, a finite number >= 0.
        labels, predictions, weights, scope, loss_collection, reduction: as
            :func:`absolute_difference` (``predictions`` are probabilities).

    Raises:
        ValueError: as :func:`absolute_difference`, or a negative or non-finite ``epsilon``.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import log_loss
        >>> round(float(log_loss(np.array([1.0, 0.0]), np.array([0.9, 0.2]))), 6)
        0.164252
    """
    del scope
    epsilon = check_non_negative("epsilon", epsilon)
    xp, true, pred, dtype = dense_pair(labels, predictions, weights)
    losses = -true * xp.log(pred + epsilon) - (1.0 - true) * xp.log(1.0 - pred + epsilon)
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def hinge_loss(
    labels: Any,
    logits: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.hinge_loss``: :math:`\max(0, 1 - (2y - 1) z)` per element, for
    labels :math:`y \in \{0, 1\}` (mapped to :math:`\pm 1`) and logits :math:`z`.

    Arguments, result and errors as :func:`absolute_difference`, with ``logits`` in place of
    ``predictions``. Labels other than 0 and 1 are used as given, as in TensorFlow.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import hinge_loss
        >>> labels, logits = np.array([0.0, 0.0, 1.0, 1.0]), np.array([-0.7, -1.4, 1.4, 0.6])
        >>> round(float(hinge_loss(labels, logits)), 6)  # (0.3 + 0 + 0 + 0.4) / 4
        0.175
    """
    del scope
    xp, true, score, dtype = dense_pair(labels, logits, weights, names=("labels", "logits"))
    margin = 1.0 - (2.0 * true - 1.0) * score
    losses = xp.where(margin > 0, margin, xp.zeros_like(margin))  # gradient 0 at 0, as TF
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def cosine_distance(
    labels: Any,
    predictions: Any,
    axis: int | Sequence[int] | None = None,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
    dim: int | Sequence[int] | None = None,
) -> Any:
    r"""``tf.compat.v1.losses.cosine_distance``: :math:`1 - \sum_{\text{axis}} p\,y` for
    unit-normalized ``labels`` and ``predictions`` (they are not normalized here).

    The losses keep ``axis`` with size 1, so ``weights`` and the ``NONE`` result have the
    inputs' rank: per-vector weights of ``[batch, 3]`` vectors have shape ``[batch, 1]``.

    Args:
        axis: the axis (or axes) of the vectors; required (``dim`` is TensorFlow 1's old
            name for it).
        dim: the deprecated name of ``axis``; give one of them.
        labels, predictions, weights, scope, loss_collection, reduction: as
            :func:`absolute_difference`.

    Raises:
        ValueError: as :func:`absolute_difference`; no ``axis`` (or both ``axis`` and
            ``dim``); an axis out of range or repeated.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import Reduction, cosine_distance
        >>> labels = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> predictions = np.array([[1.0, 0.0], [1.0, 0.0]])
        >>> cosine_distance(labels, predictions, axis=1, reduction=Reduction.NONE)
        array([[0.],
               [1.]])
    """
    del scope
    axes = _cosine_axes(axis, dim)
    xp, true, pred, dtype = dense_pair(labels, predictions, weights)
    if pred.ndim == 0:
        raise ValueError(invalid("predictions", "an array with an axis (rank >= 1)", predictions))
    normalized = tuple(sorted({normalize_axis(a, pred.ndim) for a in axes}))
    if len(normalized) != len(axes):
        raise ValueError(invalid("axis", "distinct axes", axis))
    losses = 1.0 - xp.sum(pred * true, axis=normalized, keepdims=True)
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def _cosine_axes(axis: object, dim: object) -> tuple[int, ...]:
    if dim is not None:
        if axis is not None:
            raise ValueError("Invalid `axis`: give `axis` or its old name `dim`, not both.")
        axis = dim
    if axis is None:
        raise ValueError("Invalid `axis`: expected an axis (or axes) of the inputs, received None.")
    items = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    if not items or any(isinstance(a, bool) or not isinstance(a, int) for a in items):
        raise ValueError(invalid("axis", "an integer or a sequence of integers", axis))
    return items
