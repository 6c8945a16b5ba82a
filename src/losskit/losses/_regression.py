"""Regression losses: squared, absolute, percentage, logarithmic errors, Huber, log-cosh, cosine.

Each loss is a kernel ``(xp, y_true, y_pred, **options) -> (losses, None, result dtype)``,
a function form (per-sample losses) and a class form (weighted and reduced by ``Loss``).
Formulas follow tf_keras 2.21, including where Keras uses its fuzz factor 1e-7.

Example:
    >>> import numpy as np
    >>> from losskit.losses import (CosineSimilarity, Huber, LogCosh, MeanAbsoluteError,
    ...     MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError)
    >>> y_true, y_pred = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.5, 2.0], [2.0, 5.0]])
    >>> for cls in (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    ...             MeanSquaredLogarithmicError, Huber, LogCosh, CosineSimilarity):
    ...     print(f"{cls.__name__:28} {float(cls(reduction='sum')(y_true, y_pred)):.6f}")
    MeanSquaredError             1.125000
    MeanAbsoluteError            1.250000
    MeanAbsolutePercentageError  54.166667
    MeanSquaredLogarithmicError  0.082898
    Huber                        0.562500
    LogCosh                      0.493838
    CosineSimilarity             -1.949486
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass
from typing import Any

from losskit import _namespace as ns
from losskit.losses._base import evaluate
from losskit.losses._builtin import BuiltinLoss
from losskit.losses._inputs import dense_inputs
from losskit.losses._numerics import EPSILON, normalize_axis, softplus
from losskit.losses._options import check_axis, check_non_negative, option

__all__ = [
    "CosineSimilarity",
    "Huber",
    "LogCosh",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "cosine_similarity",
    "huber",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
]


def _last_mean(xp: ns.Namespace, values: Any) -> Any:
    return xp.mean(values, axis=-1) if values.ndim else values


# ----------------------------------------------------------------------------- kernels


def _mse(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    error = pred - true
    return _last_mean(xp, error * error), None, dtype


def _mae(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    return _last_mean(xp, xp.abs(pred - true)), None, dtype


def _mape(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    scale = xp.clip(xp.abs(true), EPSILON, None)
    return 100.0 * _last_mean(xp, xp.abs((true - pred) / scale)), None, dtype


def _msle(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    first = xp.log(xp.clip(pred, EPSILON, None) + 1.0)
    second = xp.log(xp.clip(true, EPSILON, None) + 1.0)
    difference = first - second
    return _last_mean(xp, difference * difference), None, dtype


def _huber(xp: ns.Namespace, y_true: Any, y_pred: Any, *, delta: float) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    error = pred - true
    magnitude = xp.abs(error)
    quadratic = 0.5 * error * error
    linear = delta * magnitude - 0.5 * delta * delta
    return _last_mean(xp, xp.where(magnitude <= delta, quadratic, linear)), None, dtype


def _log_cosh(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    x = pred - true
    # log(cosh(x)) = x + softplus(-2x) - log(2): finite for any finite x
    return _last_mean(xp, x + softplus(xp, -2.0 * x) - math.log(2.0)), None, dtype


def _cosine(xp: ns.Namespace, y_true: Any, y_pred: Any, *, axis: int) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    if pred.ndim == 0:
        from losskit._errors import invalid

        raise ValueError(invalid("y_pred", "an array of rank >= 1", y_pred))
    axis = normalize_axis(axis, pred.ndim)

    def unit(x: Any) -> Any:  # tf.math.l2_normalize: x / sqrt(max(sum(x^2), 1e-12))
        squares = xp.sum(x * x, axis=axis, keepdims=True)
        return x / xp.sqrt(xp.clip(squares, 1e-12, None))

    return -xp.sum(unit(true) * unit(pred), axis=axis), None, dtype


# ----------------------------------------------------------------------------- functions


def mean_squared_error(y_true: Any, y_pred: Any) -> Any:
    r"""Mean squared error over the last axis: :math:`\operatorname{mean}((y - \hat y)^2)`.

    Args:
        y_true: targets, broadcastable to ``y_pred``'s shape ``[batch, d0, ... dN]``.
        y_pred: predictions.

    Returns:
        The per-sample losses, shape ``[batch, d0, ... dN-1]``, in ``y_pred``'s dtype.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import mean_squared_error
        >>> y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]])
        >>> mean_squared_error(y_true, y_pred)
        array([0.5, 0.5])
    """
    return evaluate(_mse, y_true, y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Any:
    r"""Mean absolute error over the last axis: :math:`\operatorname{mean}(|y - \hat y|)`.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import mean_absolute_error
        >>> mean_absolute_error(np.array([[0.0, 1.0]]), np.array([[1.0, 3.0]]))
        array([1.5])
    """
    return evaluate(_mae, y_true, y_pred)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Any:
    r""":math:`100 \cdot \operatorname{mean}(|y - \hat y| / \max(|y|, 10^{-7}))` over the last axis.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import mean_absolute_percentage_error
        >>> mean_absolute_percentage_error(np.array([[2.0, 4.0]]), np.array([[1.0, 5.0]]))
        array([37.5])
    """
    return evaluate(_mape, y_true, y_pred)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Any:
    r"""Mean squared logarithmic error over the last axis:
    :math:`\operatorname{mean}((\log(\max(\hat y, \epsilon) + 1) - \log(\max(y, \epsilon) + 1))^2)`.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import mean_squared_logarithmic_error
        >>> mean_squared_logarithmic_error(np.array([[np.e - 1.0]]), np.array([[0.0]])).round(6)
        array([1.])
    """
    return evaluate(_msle, y_true, y_pred)


def huber(y_true: Any, y_pred: Any, *, delta: float = 1.0) -> Any:
    r"""Huber loss over the last axis, with :math:`x = \hat y - y`:
    :math:`\frac12 x^2` if :math:`|x| \le \delta`, else :math:`\delta |x| - \frac12 \delta^2`.

    Raises:
        ValueError: ``delta`` is not a finite number >= 0.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import huber
        >>> huber(np.array([[0.0, 0.0]]), np.array([[0.5, 3.0]]))
        array([1.3125])
    """
    return evaluate(_huber, y_true, y_pred, delta=check_non_negative("delta", delta))


def log_cosh(y_true: Any, y_pred: Any) -> Any:
    r""":math:`\operatorname{mean}(\log\cosh(\hat y - y))` over the last axis, finite for any
    finite difference (computed as :math:`x + \operatorname{softplus}(-2x) - \log 2`).

    Example:
        >>> import numpy as np
        >>> from losskit.losses import log_cosh
        >>> log_cosh(np.array([[0.0, 0.0]]), np.array([[0.0, 1e4]]))
        array([4999.65342641])
    """
    return evaluate(_log_cosh, y_true, y_pred)


def cosine_similarity(y_true: Any, y_pred: Any, *, axis: int = -1) -> Any:
    r"""The negative cosine similarity along ``axis``:
    :math:`-\sum \frac{y}{\lVert y \rVert} \cdot \frac{\hat y}{\lVert \hat y \rVert}`
    (norms at least :math:`10^{-6}`, so a zero vector gives 0).

    Raises:
        ValueError: ``axis`` is out of range.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import cosine_similarity
        >>> y_true, y_pred = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])
        >>> cosine_similarity(y_true, y_pred)
        array([-0.,  -1.])
    """
    return evaluate(_cosine, y_true, y_pred, axis=check_axis("axis", axis))


# ----------------------------------------------------------------------------- classes


@dataclass(kw_only=True, eq=False, repr=False)
class MeanSquaredError(BuiltinLoss):
    """:func:`mean_squared_error`, weighted and reduced.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import MeanSquaredError
        >>> y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]])
        >>> float(MeanSquaredError()(y_true, y_pred))
        0.5
        >>> float(MeanSquaredError()(y_true, y_pred, sample_weight=[0.7, 0.3]))
        0.25
        >>> MeanSquaredError(reduction="none")(y_true, y_pred)
        array([0.5, 0.5])
    """

    kernel = _mse
    name: InitVar[str | None] = "mean_squared_error"


@dataclass(kw_only=True, eq=False, repr=False)
class MeanAbsoluteError(BuiltinLoss):
    """:func:`mean_absolute_error`, weighted and reduced."""

    kernel = _mae
    name: InitVar[str | None] = "mean_absolute_error"


@dataclass(kw_only=True, eq=False, repr=False)
class MeanAbsolutePercentageError(BuiltinLoss):
    """:func:`mean_absolute_percentage_error`, weighted and reduced."""

    kernel = _mape
    name: InitVar[str | None] = "mean_absolute_percentage_error"


@dataclass(kw_only=True, eq=False, repr=False)
class MeanSquaredLogarithmicError(BuiltinLoss):
    """:func:`mean_squared_logarithmic_error`, weighted and reduced."""

    kernel = _msle
    name: InitVar[str | None] = "mean_squared_logarithmic_error"


@dataclass(kw_only=True, eq=False, repr=False)
class Huber(BuiltinLoss):
    """:func:`huber`, weighted and reduced.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import Huber
        >>> float(Huber(delta=2.0)(np.array([[0.0, 0.0]]), np.array([[0.5, 3.0]])))
        2.0625
    """

    kernel = _huber
    name: InitVar[str | None] = "huber_loss"
    delta: float = option(1.0, check_non_negative)


@dataclass(kw_only=True, eq=False, repr=False)
class LogCosh(BuiltinLoss):
    """:func:`log_cosh`, weighted and reduced."""

    kernel = _log_cosh
    name: InitVar[str | None] = "log_cosh"


@dataclass(kw_only=True, eq=False, repr=False)
class CosineSimilarity(BuiltinLoss):
    """:func:`cosine_similarity`, weighted and reduced."""

    kernel = _cosine
    name: InitVar[str | None] = "cosine_similarity"
    axis: int = option(-1, check_axis)
