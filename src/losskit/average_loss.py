"""``compute_average_loss`` and ``scale_regularization_loss``: the per-replica loss terms."""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np

from losskit import _backends
from losskit import _namespace as ns
from losskit._checks import NON_NEGATIVE
from losskit._errors import invalid
from losskit._inputs import checked
from losskit._kernels.sums import divide_no_nan, weighted_total
from losskit._state import get_context, require_replica_context
from losskit.typing import ArrayLike, ArrayT

__all__ = ["compute_average_loss", "scale_regularization_loss"]

_GBS = "global_batch_size"
_SCALAR_HINT = "Sum or index it down to a single value first."


def _check_value(number: float, value: Any) -> None:
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(invalid(_GBS, NON_NEGATIVE, value))


def global_batch_size_of(xp: ns.Namespace, value: Any, like: Any, dtype: Any) -> Any:
    """A validated denominator: a Python number, or a 0-d array of ``dtype``.

    Integers are TensorFlow's contract; losskit also accepts a float or a 0-d floating array
    (a summed weight, a token count). Python and NumPy values become Python numbers. An
    array of the losses' library stays an array (no host sync); its value is checked only
    where it can be read without a sync or a trace (CPU, outside ``jit``/``compile``).
    """
    if type(value) is int and value >= 0:
        return value
    expected = "an integer or a float, or a 0-d array of integer or floating dtype"
    if value is None or isinstance(value, (bool, str, bytes)):
        raise TypeError(invalid(_GBS, expected, value))
    if ns.is_host_value(value):
        host = np.asarray(value)
        if host.ndim != 0:
            raise ValueError(invalid(_GBS, "a scalar", value, hint=_SCALAR_HINT))
        if host.dtype.kind not in "iuf":
            raise TypeError(invalid(_GBS, expected, value))
        number = host.item()
        _check_value(float(number), value)
        return number
    ns.namespace(like, value, names=("per_example_loss", _GBS))  # one library for both
    array = ns.as_array(xp, value, name=_GBS, like=like)
    if array.ndim != 0:
        raise ValueError(invalid(_GBS, "a scalar", value, hint=_SCALAR_HINT))
    if not (ns.is_integral(xp, array.dtype) or ns.is_real_floating(xp, array.dtype)):
        raise TypeError(invalid(_GBS, expected, value))
    readable = _backends.of(xp).host_float(array)
    if readable is not None:
        _check_value(readable, value)
    return ns.astype(xp, array, dtype)


@overload
def compute_average_loss(
    per_example_loss: ArrayT,
    sample_weight: ArrayLike | None = None,
    global_batch_size: ArrayLike | None = None,
) -> ArrayT: ...


@overload
def compute_average_loss(
    per_example_loss: float | list[Any] | tuple[Any, ...],
    sample_weight: ArrayLike | None = None,
    global_batch_size: ArrayLike | None = None,
) -> Any: ...


def compute_average_loss(
    per_example_loss: ArrayLike,
    sample_weight: ArrayLike | None = None,
    global_batch_size: ArrayLike | None = None,
) -> Any:
    r"""Scales per-example losses with sample weights and divides by the global batch size.

    .. math:: \text{loss} = \frac{\sum_i w_i \ell_i}{G}, \qquad
       G = \text{global\_batch\_size} \text{ or } \text{shape}(\ell)[0] \cdot R

    where :math:`R` is the number of replicas of the current
    :func:`losskit.distribute.replica_context` (1 outside one). Summing the result over the
    :math:`R` replicas (what a summing engine does to their gradients) gives the mean over
    the global batch. If :math:`G = 0` the result is 0. Under context parallelism the
    ranks of a sequence group hold parts of the same examples (their losses are partial
    sums), so :math:`R` counts the data replicas only: each example once.

    ``sample_weight`` may have one axis more (a trailing 1, squeezed) or one axis fewer (a
    trailing axis is added, so ``[B]`` weights scale the rows of ``[B, d]`` losses) than the
    losses; it then broadcasts to the losses' shape. Weights do not change :math:`G`: zero
    weights still count in the batch. For a weighted mean pass the summed weights (or a
    token count), as a float or a 0-d array, as ``global_batch_size``.

    Args:
        per_example_loss: per-example losses, rank >= 1, real floating or integer dtype.
        sample_weight: optional weights for each example (see above).
        global_batch_size: optional denominator: a non-negative integer (TensorFlow) or,
            as a losskit extension, a float or a 0-d array (e.g. ``sum(weights)`` over all
            replicas). Defaults to ``per_example_loss.shape[0] * num_replicas``.

    Returns:
        Scalar loss in the namespace, device and floating dtype of ``per_example_loss``
        (integers give float32 or float64; float16/bfloat16 are accumulated in float32).

    Raises:
        ValueError: rank-0 losses, incompatible weights, or a ``global_batch_size`` that is
            not a scalar, negative, NaN or infinite.
        TypeError: a ``global_batch_size`` of bool, string or non-numeric dtype, or losses
            of bool/complex dtype.
        RuntimeError: called in cross-replica context without ``global_batch_size``.

    Example:
        >>> import numpy as np
        >>> from losskit import compute_average_loss
        >>> from losskit.distribute import replica_context
        >>> losses = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> float(compute_average_loss(losses, sample_weight=np.array([1.0, 2.0])))
        8.5
        >>> with replica_context(2):  # this replica holds 2 of a global batch of 4
        ...     float(compute_average_loss(losses[:, 0]))
        1.0
        >>> float(compute_average_loss(losses[:, 0], global_batch_size=8))
        0.5
    """
    plan, values, weights = checked(per_example_loss, sample_weight)
    if (  # a small validated NumPy call outside contexts: one dot, no dispatch
        plan.single_dot
        and type(global_batch_size) is int
        and global_batch_size > 0
        and get_context() is None
    ):
        return np.asarray((values @ weights) / global_batch_size)
    xp = plan.xp
    context = require_replica_context(
        "compute_average_loss",
        bypass="pass `global_batch_size` explicitly",
        allowed=global_batch_size is not None,
    )
    scale = 1 if context is None else context.loss_scale
    if global_batch_size is None:
        # the ranks of a sequence group (context parallelism) hold parts of the same
        # examples: each example is counted once
        split = 1 if context is None else context.data_replicas * context.micro_steps
        denominator: Any = plan.batch * split / scale if scale != 1 else plan.batch * split
    else:
        denominator = global_batch_size_of(xp, global_batch_size, values, plan.dtype)
        if scale != 1:
            denominator = denominator / scale
    if values.dtype != plan.dtype:
        values = xp.astype(values, plan.dtype)
    if weights is None:
        total = xp.sum(values)
    elif plan.weight_shape is None:  # a Python number
        total = weighted_total(xp, values, float(weights))
    else:
        weights = ns.astype(xp, weights, plan.dtype)
        if weights.shape != plan.weight_shape:  # the rank fix-up: add or drop a trailing 1
            weights = xp.reshape(weights, plan.weight_shape)
        total = weighted_total(xp, values, weights)
    return ns.finish(xp, divide_no_nan(xp, total, denominator), plan.result_dtype)


@overload
def scale_regularization_loss(regularization_loss: ArrayT) -> ArrayT: ...


@overload
def scale_regularization_loss(regularization_loss: float | list[Any] | tuple[Any, ...]) -> Any: ...


def scale_regularization_loss(regularization_loss: ArrayLike) -> Any:
    r"""Sums a regularization loss and divides it by the number of replicas.

    .. math:: \text{loss} = \frac{1}{R} \sum_i r_i

    On a summing engine with :math:`R` replicas each replica adds this to its loss, so the
    penalty's gradient is counted once in total.

    Args:
        regularization_loss: a scalar, an array, or a list of scalar arrays (stacked), of a
            real floating or integer dtype.

    Returns:
        Scalar in the namespace, device and floating dtype of the input (integers give
        float32 or float64; float16/bfloat16 are accumulated in float32).

    Raises:
        RuntimeError: called in cross-replica context.
        TypeError: ``None``, a string, or a bool/complex dtype.

    Example:
        >>> import numpy as np
        >>> from losskit import scale_regularization_loss
        >>> from losskit.distribute import replica_context
        >>> weights = np.ones((5, 5))
        >>> l2_loss = np.sum(weights**2) / 2  # tf.nn.l2_loss
        >>> with replica_context(2):
        ...     float(scale_regularization_loss(l2_loss))
        6.25
    """
    xp = ns.namespace(regularization_loss, names=("regularization_loss",))
    context = require_replica_context("scale_regularization_loss")
    values = ns.as_array(xp, regularization_loss, name="regularization_loss")
    result_dtype, dtype = ns.loss_dtypes(xp, values, name="regularization_loss")
    total = xp.sum(ns.astype(xp, values, dtype))
    if context is not None:
        copies = context.num_replicas * context.micro_steps  # the penalty is added this often
        scale = context.loss_scale
        if scale == 1:
            total = total / copies
        elif scale != copies:
            total = total * scale / copies
    return ns.finish(xp, total, result_dtype)
