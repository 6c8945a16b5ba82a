"""``y_true`` and ``y_pred`` as arrays of one namespace, dtype and (compatible) shape."""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit._shapes import keras3_same_rank
from losskit.losses._numerics import index_dtype, normalize_axis

__all__ = ["dense_inputs", "same_shape", "sparse_inputs"]


def _shape(array: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in array.shape)


def dense_inputs(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, Any, Any]:
    """(y_true, y_pred, result dtype): both in ``y_pred``'s accumulation dtype.

    A rank difference of one with a trailing axis of size 1 is fixed as Keras 3 does
    (``[batch]`` against ``[batch, 1]`` expands the rank-1 side, otherwise the size-1 axis is
    squeezed); then ``y_true`` must broadcast to ``y_pred``'s shape.

    Raises:
        TypeError: a bool, complex or non-numeric ``y_pred``, or a non-numeric ``y_true``.
        ValueError: shapes that do not fit.
    """
    pred = ns.as_array(xp, y_pred, name="y_pred")
    result_dtype, dtype = ns.loss_dtypes(xp, pred, name="y_pred")
    pred = ns.astype(xp, pred, dtype)
    true = ns.as_array(xp, y_true, name="y_true", like=pred)
    ns.check_weight_dtype(xp, true, name="y_true")
    true = ns.astype(xp, true, dtype)
    true, pred = keras3_same_rank(xp, true, pred)
    t, p = _shape(true), _shape(pred)
    fits = len(t) <= len(p) and all(a in (1, b) for a, b in zip(t[::-1], p[::-1], strict=False))
    if not fits:
        raise ValueError(
            f"Invalid `y_true`: expected a shape that broadcasts to the shape of `y_pred` {p}, "
            f"received shape {t}. For integer class labels against class scores, use the "
            "sparse categorical crossentropy."
        )
    return true, pred, result_dtype


def same_shape(
    true: Any,
    pred: Any,
    *,
    what: str = "one-hot (or soft) targets",
    hint: str = "For integer class labels, use the sparse categorical crossentropy.",
) -> None:
    """Targets must have exactly ``y_pred``'s shape (after :func:`dense_inputs`'s rank
    fix-up): broadcasting ``[batch, 1]`` one-hot targets over ``[batch, classes]`` scores
    would give a number for a meaningless input, where tf_keras and Keras 3 raise.

    Raises:
        ValueError: the shapes differ.
    """
    t, p = _shape(true), _shape(pred)
    if t != p:
        raise ValueError(
            f"Invalid `y_true`: expected {what} of the shape of `y_pred` {p}, received shape "
            f"{t}. {hint}".rstrip()
        )


def sparse_inputs(xp: ns.Namespace, y_true: Any, y_pred: Any, axis: int) -> tuple[Any, Any, Any]:
    """(labels, scores with the class axis last, result dtype) for sparse crossentropy.

    ``y_true`` holds integer class indices (floats are truncated, as in TensorFlow) with the
    shape of ``y_pred`` without its class axis, or with that axis of size 1.

    Raises:
        TypeError: a bool, complex or non-numeric ``y_pred``; a non-numeric ``y_true``.
        ValueError: an ``axis`` out of range, or shapes that do not fit.
    """
    pred = ns.as_array(xp, y_pred, name="y_pred")
    result_dtype, dtype = ns.loss_dtypes(xp, pred, name="y_pred")
    pred = ns.astype(xp, pred, dtype)
    if pred.ndim == 0:
        raise ValueError(invalid("y_pred", "an array with a class axis (rank >= 1)", y_pred))
    axis = normalize_axis(axis, pred.ndim)
    if axis != pred.ndim - 1:
        pred = xp.moveaxis(pred, axis, -1)
    labels = ns.as_array(xp, y_true, name="y_true", like=pred)
    ns.check_weight_dtype(xp, labels, name="y_true")
    expected = _shape(pred)[:-1]
    if labels.ndim == len(expected) + 1 and labels.shape[axis] == 1:
        labels = xp.squeeze(labels, axis=axis)
    if _shape(labels) != expected:
        raise ValueError(
            f"Invalid `y_true`: expected integer labels of shape {expected} (the shape of "
            f"`y_pred` without its class axis {axis}, or with that axis of size 1), received "
            f"shape {_shape(labels)}."
        )
    wanted = index_dtype(xp, pred)
    if labels.dtype != wanted:
        labels = xp.astype(labels, wanted)
    return labels, pred, result_dtype
