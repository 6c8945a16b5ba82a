"""TensorFlow 1's crossentropies from logits: sigmoid, softmax and sparse softmax.

Computed through log-sigmoid and log-softmax (finite, with finite gradients, for logits of
any finite size), in the floating dtype of ``logits`` (float32 for float16/bfloat16). As in
TensorFlow, the softmax crossentropy does not differentiate through ``onehot_labels``.

Example:
    >>> import numpy as np
    >>> from losskit import v1
    >>> logits = np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    >>> round(float(v1.sparse_softmax_cross_entropy(np.array([2, 0, 1]), logits)), 4)
    10.0001
    >>> onehot = np.eye(3)[[2, 0, 1]]
    >>> round(float(v1.softmax_cross_entropy(onehot, logits, weights=np.array([1.2, 0, 0]))), 4)
    12.0001
"""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.losses._numerics import constant, index_dtype, log_softmax, softplus
from losskit.losses._numerics import sparse_crossentropy as _sparse_terms
from losskit.losses._options import check_unit
from losskit.v1._collections import LOSSES
from losskit.v1._inputs import check_present, logits_array, same_shape_labels, shape_of
from losskit.v1._reduction import Reduction, V1ReductionLike
from losskit.v1._weighted import reduce_and_record

__all__ = ["sigmoid_cross_entropy", "softmax_cross_entropy", "sparse_softmax_cross_entropy"]

_DEFAULT = Reduction.SUM_BY_NONZERO_WEIGHTS


def sigmoid_cross_entropy(
    multi_class_labels: Any,
    logits: Any,
    weights: Any = 1.0,
    label_smoothing: float = 0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.sigmoid_cross_entropy``: per element,
    :math:`\log(1 + e^{z}) - z\,y` for logits :math:`z` and labels :math:`y` (TensorFlow's
    ``sigmoid_cross_entropy_with_logits``), labels smoothed towards 1/2 by
    ``label_smoothing``: :math:`y (1 - s) + s / 2`.

    Args:
        multi_class_labels: targets in ``[0, 1]``, of the shape of ``logits``.
        logits: real floating logits.
        weights: a scalar, or an array of the rank of ``logits`` whose every dimension is 1
            or equal to the logits'.
        label_smoothing: a number in ``[0, 1]``.
        scope: ignored (TensorFlow's graph name scope).
        loss_collection: the :func:`losskit.v1.collect_losses` collection to record in.
        reduction: a :class:`losskit.v1.Reduction` or one of its value strings.

    Returns:
        The loss in the dtype of ``logits``: their shape for ``NONE``, else a scalar.

    Raises:
        ValueError: a None input or ``weights``, shapes that differ, weights that do not
            fit, an invalid ``reduction`` or ``label_smoothing``.
        TypeError: non-floating ``logits``, non-numeric labels.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import sigmoid_cross_entropy
        >>> logits = np.array([[100.0, -100.0, -100.0]])
        >>> round(float(sigmoid_cross_entropy(np.array([[1, 0, 1]]), logits)), 4)  # 100 / 3
        33.3333
        >>> round(float(sigmoid_cross_entropy(np.array([[1, 0, 1]]), logits,
        ...                                   label_smoothing=0.1)), 4)  # (100 + 5) / 3
        35.0
    """
    del scope
    smoothing = check_unit("label_smoothing", label_smoothing)
    check_present(multi_class_labels=multi_class_labels, logits=logits)
    names = ("logits", "multi_class_labels", "weights")
    xp = ns.namespace(logits, multi_class_labels, weights, names=names)
    scores, dtype = logits_array(xp, logits)
    labels = same_shape_labels(xp, multi_class_labels, scores, "multi_class_labels")
    if smoothing > 0:
        labels = labels * (1.0 - smoothing) + 0.5 * smoothing
    losses = softplus(xp, scores) - scores * labels
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def softmax_cross_entropy(
    onehot_labels: Any,
    logits: Any,
    weights: Any = 1.0,
    label_smoothing: float = 0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.softmax_cross_entropy``: :math:`-\sum_c y_c \log
    \mathrm{softmax}(z)_c` over the last axis, labels smoothed towards :math:`1/C` by
    ``label_smoothing``: :math:`y (1 - s) + s / C`.

    The losses have the shape of ``logits`` without its last axis (``[batch]`` for
    ``[batch, classes]`` logits), and ``weights`` must fit that shape: a scalar or
    ``[batch]`` weights, not ``[batch, 1]``.

    Args:
        onehot_labels: one-hot (or soft) targets, of the shape of ``logits``; not
            differentiated.
        logits: real floating logits with at least one axis.
        weights, label_smoothing, scope, loss_collection, reduction: as
            :func:`sigmoid_cross_entropy`.

    Raises:
        ValueError: as :func:`sigmoid_cross_entropy`, or 0-d ``logits``.
        TypeError: as :func:`sigmoid_cross_entropy`.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import softmax_cross_entropy
        >>> labels = np.array([[0, 1, 0], [0, 0, 1]])
        >>> logits = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(softmax_cross_entropy(labels, logits, weights=np.array([0.3, 0.7]),
        ...                                   label_smoothing=0.2)), 5)
        0.57618
    """
    del scope
    smoothing = check_unit("label_smoothing", label_smoothing)
    check_present(onehot_labels=onehot_labels, logits=logits)
    xp = ns.namespace(logits, onehot_labels, weights, names=("logits", "onehot_labels", "weights"))
    scores, dtype = logits_array(xp, logits, classes=True)
    labels = same_shape_labels(xp, onehot_labels, scores, "onehot_labels")
    if smoothing > 0:
        labels = labels * (1.0 - smoothing) + smoothing / scores.shape[-1]
    losses = -xp.sum(constant(xp, labels) * log_softmax(xp, scores, -1), axis=-1)
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def sparse_softmax_cross_entropy(
    labels: Any,
    logits: Any,
    weights: Any = 1.0,
    scope: str | None = None,
    loss_collection: str | None = LOSSES,
    reduction: V1ReductionLike = _DEFAULT,
) -> Any:
    r"""``tf.compat.v1.losses.sparse_softmax_cross_entropy``: :math:`-\log
    \mathrm{softmax}(z)_y` for integer class labels :math:`y` and logits :math:`z` whose last
    axis holds the classes.

    As in TensorFlow, a trailing axis of size 1 is squeezed from ``labels`` of the rank of
    ``logits`` (``[batch, 1]`` labels) and from ``logits`` two ranks above the labels; then
    ``weights`` one rank above the labels lose their trailing axis of size 1 (``[batch, 1]``
    weights are per example).

    Args:
        labels: integer class indices in ``[0, classes)``, of the shape of ``logits``
            without its last axis. NumPy labels outside the range raise; on other libraries
            (whose values are not read: that would be a device sync) their loss is NaN, as
            on TensorFlow's GPU kernel, or the library raises (PyTorch).
        logits: real floating logits ``[d0, ..., classes]``.
        weights: a scalar, or an array of the labels' rank (or one more, with a trailing 1)
            whose every dimension is 1 or equal to the labels'.
        scope, loss_collection, reduction: as :func:`sigmoid_cross_entropy`.

    Returns:
        The loss in the dtype of ``logits``: the labels' shape for ``NONE``, else a scalar.

    Raises:
        ValueError: a None input or ``weights``, shapes that do not fit, NumPy labels out
            of range, an invalid ``reduction``.
        TypeError: non-integer ``labels``, non-floating ``logits``.

    Example:
        >>> import numpy as np
        >>> from losskit.v1 import Reduction, sparse_softmax_cross_entropy
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0]])
        >>> sparse_softmax_cross_entropy(np.array([[0], [0]]), logits,
        ...                              reduction=Reduction.NONE).round(4)
        array([0.1269, 2.1269])
    """
    del scope
    check_present(labels=labels, logits=logits)
    xp = ns.namespace(logits, labels, weights, names=("logits", "labels", "weights"))
    scores, dtype = logits_array(xp, logits, classes=True)
    classes = ns.as_array(xp, labels, name="labels", like=scores)
    if not ns.is_integral(xp, classes.dtype):
        raise TypeError(invalid("labels", "an array of integer class indices", labels))
    classes, scores = _squeeze_labels(xp, classes, scores)
    if weights is not None and not ns.is_python_number(weights):
        weights = ns.as_array(xp, weights, name="weights", like=scores)
        weights = _squeeze_weights(xp, weights, classes)
    count = scores.shape[-1]
    _check_label_values(xp, classes, count)
    losses = _sparse_terms(xp, scores, xp.astype(classes, index_dtype(xp, scores)))
    # a label outside [0, classes) that reached here (not NumPy) gets a NaN loss, as on
    # TensorFlow's GPU kernel, instead of another class's loss (JAX wraps negative indices)
    valid = (classes >= 0) & (classes < count)
    losses = xp.where(valid, losses, xp.full_like(losses, float("nan")))
    return reduce_and_record(losses, weights, loss_collection, reduction, dtype)


def _squeeze_labels(xp: ns.Namespace, labels: Any, logits: Any) -> tuple[Any, Any]:
    """TensorFlow's ``remove_squeezable_dimensions(expected_rank_diff=1)``, then its check
    that the labels are the logits' shape without the class axis."""
    if logits.ndim == labels.ndim and labels.ndim > 0 and labels.shape[-1] == 1:
        labels = xp.squeeze(labels, axis=-1)
    elif logits.ndim == labels.ndim + 2 and logits.shape[-1] == 1:
        logits = xp.squeeze(logits, axis=-1)
    if shape_of(labels) != shape_of(logits)[:-1]:
        raise ValueError(
            f"Invalid `labels`: expected the shape of `logits` {shape_of(logits)} without its "
            f"class axis (or with it of size 1), received shape {shape_of(labels)}."
        )
    return labels, logits


def _squeeze_weights(xp: ns.Namespace, weights: Any, labels: Any) -> Any:
    if weights.ndim != labels.ndim + 1:
        return weights
    if weights.shape[-1] != 1:
        raise ValueError(
            f"Invalid `weights`: with rank {weights.ndim}, one more than `labels` "
            f"({labels.ndim}), the last dimension must be 1 to be squeezed; received shape "
            f"{shape_of(weights)} for labels of shape {shape_of(labels)}."
        )
    return xp.squeeze(weights, axis=-1)


def _check_label_values(xp: ns.Namespace, labels: Any, classes: int) -> None:
    """Host (NumPy) labels are checked for free; reading any other array would sync."""
    if not ns.is_numpy_namespace(xp) or labels.size == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= classes:
        raise ValueError(
            f"Invalid `labels`: expected class indices in [0, {classes}), received a label "
            f"{low if low < 0 else high}."
        )
