"""The inputs of TensorFlow 1's loss functions: present, of one namespace, dtype and shape.

TensorFlow 1 casts labels and predictions to float32 and requires their static shapes to
be compatible (equal, for known shapes). losskit computes in the floating dtype of the
predictions (or logits) instead, so float64 stays float64 (docs/deviations.md
``v1-float32-inputs``), and requires equal shapes.
"""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid

__all__ = [
    "check_present",
    "check_weights",
    "dense_pair",
    "logits_array",
    "magnitude",
    "same_shape_labels",
    "shape_of",
]


def shape_of(array: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in array.shape)


def check_present(**arguments: Any) -> None:
    """TensorFlow 1 raises a ``ValueError`` for a None ``labels``/``predictions``/``logits``.

    Raises:
        ValueError: one of ``arguments`` is None.
    """
    for name, value in arguments.items():
        if value is None:
            raise ValueError(invalid(name, "an array", value))


def check_weights(weights: Any) -> None:
    """TensorFlow 1 raises a ``ValueError`` converting ``weights=None`` to a tensor.

    Raises:
        ValueError: ``weights`` is None.
    """
    if weights is None:
        raise ValueError(invalid("weights", "a scalar or an array (1.0 for no weighting)", None))


def _same_shape(labels: Any, other: Any, names: tuple[str, str]) -> None:
    if labels.shape != other.shape:
        raise ValueError(
            f"Invalid `{names[1]}`: expected the shape of `{names[0]}` {shape_of(labels)}, "
            f"received shape {shape_of(other)}."
        )


def dense_pair(
    labels: Any,
    predictions: Any,
    weights: Any,
    *,
    names: tuple[str, str] = ("labels", "predictions"),
) -> tuple[ns.Namespace, Any, Any, Any]:
    """``(xp, labels, predictions, result dtype)`` with both arrays in the accumulation dtype
    of ``predictions`` (float32 for float16/bfloat16; the ``truediv`` table for integers).
    The namespace is that of the framework arrays among the inputs and ``weights``.

    Raises:
        ValueError: None inputs, or shapes that differ.
        TypeError: a bool, complex or non-numeric ``predictions``; a complex or non-numeric
            ``labels``; arrays of two libraries.
    """
    check_present(**dict(zip(names, (labels, predictions), strict=True)))
    xp = ns.namespace(predictions, labels, weights, names=(*names[::-1], "weights"))
    pred = ns.as_array(xp, predictions, name=names[1])
    result_dtype, dtype = ns.loss_dtypes(xp, pred, name=names[1])
    true = ns.as_array(xp, labels, name=names[0], like=pred)
    ns.check_weight_dtype(xp, true, name=names[0])
    _same_shape(true, pred, names)
    return xp, ns.astype(xp, true, dtype), ns.astype(xp, pred, dtype), result_dtype


def logits_array(xp: ns.Namespace, logits: Any, *, classes: bool = False) -> tuple[Any, Any]:
    """``(logits in their accumulation dtype, result dtype)``: a real floating array, as
    TensorFlow's crossentropy kernels require; with ``classes``, of rank >= 1.

    Raises:
        TypeError: integer, bool, complex or non-numeric ``logits``.
        ValueError: 0-d ``logits`` where ``classes`` are required.
    """
    array = ns.as_array(xp, logits, name="logits")
    if not ns.is_real_floating(xp, array.dtype):
        raise TypeError(invalid("logits", "an array of real floating dtype", logits))
    if classes and array.ndim == 0:
        raise ValueError(invalid("logits", "an array with a class axis (rank >= 1)", logits))
    result_dtype, dtype = ns.loss_dtypes(xp, array, name="logits")
    return ns.astype(xp, array, dtype), result_dtype


def same_shape_labels(xp: ns.Namespace, labels: Any, logits: Any, name: str) -> Any:
    """Dense ``labels`` (one-hot or multi-class) as an array of ``logits``' shape and dtype.

    Raises:
        TypeError: complex or non-numeric labels.
        ValueError: a shape other than ``logits``'.
    """
    array = ns.as_array(xp, labels, name=name, like=logits)
    ns.check_weight_dtype(xp, array, name=name)
    _same_shape(array, logits, (name, "logits"))
    return ns.astype(xp, array, logits.dtype)


def magnitude(xp: ns.Namespace, x: Any) -> Any:
    """``|x|`` with TensorFlow's gradient ``sign(x)``, which is 0 at 0 on every backend.

    ``xp.abs`` has slope 1 at 0 on JAX; ``x * sign(x)`` has the derivative ``sign(x)``
    everywhere (``sign``'s own derivative is 0).
    """
    return x * xp.sign(x)
