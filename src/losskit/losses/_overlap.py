"""Overlap losses for segmentation: Dice and Tversky (Keras 3's formulas).

Both compare soft masks over the axes ``axis`` (every axis by default, one loss for the whole
batch), with the sums :math:`I = \\sum y \\hat y`, :math:`S_y = \\sum y`,
:math:`S_{\\hat y} = \\sum \\hat y` and Keras's :math:`\\epsilon = 10^{-7}` in the denominator.

Example:
    >>> import numpy as np
    >>> from losskit.losses import Dice, Tversky
    >>> y_true = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    >>> y_pred = np.array([[0.0, 1.0, 0.0, 1.0], [0.4, 0.0, 0.0, 0.9]])
    >>> Dice(axis=1, reduction="none")(y_true, y_pred).round(6)  # 1 - 2 I / (S_y + S_p)
    array([0.5     , 0.757576])
    >>> # I = 1.4, sum y (1 - p) = 2.6, sum (1 - y) p = 1.9: 1 - 1.4 / (1.4 + 0.7 * 2.6 + 0.3 * 1.9)
    >>> round(float(Tversky(alpha=0.7, beta=0.3)(y_true, y_pred)), 6)
    0.630607
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.losses._base import evaluate
from losskit.losses._builtin import BuiltinLoss
from losskit.losses._inputs import dense_inputs, same_shape
from losskit.losses._numerics import EPSILON, normalize_axis
from losskit.losses._options import check_non_negative, check_reduce_axis, option

__all__ = ["Dice", "Tversky", "dice", "tversky"]


def _axes(axis: int | list[int] | None, ndim: int) -> tuple[int, ...] | None:
    """``axis`` as distinct non-negative axes of ``ndim`` dimensions (None: every axis)."""
    if axis is None:
        return None
    listed = [axis] if isinstance(axis, int) else axis
    axes = tuple(normalize_axis(a, ndim) for a in listed)
    if len(set(axes)) != len(axes):
        raise ValueError(invalid("axis", f"distinct axes of an array of rank {ndim}", axis))
    return axes


def _sums(
    xp: ns.Namespace, y_true: Any, y_pred: Any, axis: int | list[int] | None
) -> tuple[Any, Any, Any, Any, Any]:
    """(true, pred, axes, intersection, result dtype), the sums over ``axis``."""
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    same_shape(true, pred, what="masks", hint="")  # sum(y_true) must count every pixel once
    axes = _axes(axis, pred.ndim)
    return true, pred, axes, xp.sum(true * pred, axis=axes), dtype


def _dice(
    xp: ns.Namespace, y_true: Any, y_pred: Any, *, axis: int | list[int] | None
) -> tuple[Any, None, Any]:
    true, pred, axes, intersection, dtype = _sums(xp, y_true, y_pred, axis)
    total = xp.sum(true, axis=axes) + xp.sum(pred, axis=axes) + EPSILON
    return 1.0 - 2.0 * intersection / total, None, dtype


def _tversky(
    xp: ns.Namespace,
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float,
    beta: float,
    axis: int | list[int] | None,
) -> tuple[Any, None, Any]:
    true, pred, axes, intersection, dtype = _sums(xp, y_true, y_pred, axis)
    missed = xp.sum(true * (1.0 - pred), axis=axes)  # Keras 3 weights this sum by alpha
    spurious = xp.sum((1.0 - true) * pred, axis=axes)  # and this one by beta
    denominator = intersection + alpha * missed + beta * spurious + EPSILON
    return 1.0 - intersection / denominator, None, dtype


def dice(y_true: Any, y_pred: Any, *, axis: int | list[int] | None = None) -> Any:
    r"""The Dice loss over ``axis``: :math:`1 - 2 I / (S_y + S_{\hat y} + \epsilon)`.

    Args:
        y_true: target masks (0/1 or soft) of ``y_pred``'s shape.
        y_pred: predicted masks (probabilities).
        axis: the axes summed over: None (every axis: one loss for the batch), an integer
            or a list of them (e.g. ``[1, 2]`` for per-image losses of ``[B, H, W]``).

    Returns:
        The losses: ``y_pred``'s shape without the ``axis`` axes, in ``y_pred``'s dtype.

    Raises:
        ValueError: an invalid or repeated ``axis``, or shapes that do not fit.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import dice
        >>> y_true = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
        >>> y_pred = np.array([[0.0, 1.0, 0.0, 1.0], [0.4, 0.0, 0.0, 0.9]])
        >>> round(float(dice(y_true, y_pred)), 6)  # 1 - 2 * 1.4 / (4 + 3.3)
        0.616438
    """
    return evaluate(_dice, y_true, y_pred, axis=check_reduce_axis("axis", axis))


def tversky(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    axis: int | list[int] | None = None,
) -> Any:
    r"""The Tversky loss over ``axis``, Keras 3's formula:

    :math:`1 - I / (I + \alpha \sum y (1 - \hat y) + \beta \sum (1 - y) \hat y + \epsilon)`;
    ``alpha = beta = 0.5`` is the Dice loss. (Keras 3's docstring calls the ``alpha`` term
    the false positives; its code, which losskit follows, weights the missed targets.)

    Raises:
        ValueError: ``alpha`` or ``beta`` not a finite number >= 0, an invalid ``axis``.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import tversky
        >>> y_true, y_pred = np.array([[1.0, 1.0, 0.0]]), np.array([[1.0, 0.0, 1.0]])
        >>> tversky(y_true, y_pred, alpha=0.9, beta=0.1, axis=1).round(6)  # 1 - 1 / 2
        array([0.5])
    """
    return evaluate(
        _tversky,
        y_true,
        y_pred,
        alpha=check_non_negative("alpha", alpha),
        beta=check_non_negative("beta", beta),
        axis=check_reduce_axis("axis", axis),
    )


@dataclass(kw_only=True, eq=False, repr=False)
class Dice(BuiltinLoss):
    """:func:`dice`, weighted and reduced.

    With the default ``axis=None`` the loss is one number for the whole batch, so only a
    scalar ``sample_weight`` applies (per-sample weights would enlarge it: an error).
    """

    kernel = _dice
    name: InitVar[str | None] = "dice"
    axis: int | list[int] | None = option(None, check_reduce_axis)


@dataclass(kw_only=True, eq=False, repr=False)
class Tversky(BuiltinLoss):
    """:func:`tversky`, weighted and reduced."""

    kernel = _tversky
    name: InitVar[str | None] = "tversky"
    alpha: float = option(0.5, check_non_negative)
    beta: float = option(0.5, check_non_negative)
    axis: int | list[int] | None = option(None, check_reduce_axis)
