"""Hinge losses: hinge, squared hinge, categorical hinge (maximum-margin classifiers).

Example:
    >>> import numpy as np
    >>> from losskit.losses import CategoricalHinge, Hinge, SquaredHinge
    >>> y_true, y_pred = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.3, 0.8], [0.6, -0.4]])
    >>> for cls in (Hinge, SquaredHinge, CategoricalHinge):
    ...     print(f"{cls.__name__:16} {float(cls()(y_true, y_pred)):.6f}")
    Hinge            0.625000
    SquaredHinge     0.562500
    CategoricalHinge 0.450000
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from typing import Any

from losskit import _namespace as ns
from losskit.losses._base import evaluate
from losskit.losses._builtin import BuiltinLoss
from losskit.losses._inputs import dense_inputs

__all__ = [
    "CategoricalHinge",
    "Hinge",
    "SquaredHinge",
    "categorical_hinge",
    "hinge",
    "squared_hinge",
]


def _signed_labels(xp: ns.Namespace, true: Any) -> Any:
    """Labels in {0, 1} become {-1, 1} when *every* label is 0 or 1 (tf_keras's rule), decided
    on the device: a select, not a Python branch on the values."""
    binary = xp.all(xp.logical_or(true == 0, true == 1))
    return xp.where(binary, 2.0 * true - 1.0, true)


def _margins(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    return xp.clip(1.0 - _signed_labels(xp, true) * pred, 0.0, None), dtype


def _hinge(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    margins, dtype = _margins(xp, y_true, y_pred)
    return (xp.mean(margins, axis=-1) if margins.ndim else margins), None, dtype


def _squared_hinge(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    margins, dtype = _margins(xp, y_true, y_pred)
    squares = margins * margins
    return (xp.mean(squares, axis=-1) if squares.ndim else squares), None, dtype


def _categorical_hinge(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    if pred.ndim == 0:
        from losskit._errors import invalid

        raise ValueError(invalid("y_pred", "an array with a class axis (rank >= 1)", y_pred))
    positive = xp.sum(true * pred, axis=-1)
    negative = xp.max((1.0 - true) * pred, axis=-1)
    return xp.clip(negative - positive + 1.0, 0.0, None), None, dtype


def hinge(y_true: Any, y_pred: Any) -> Any:
    r"""Hinge loss over the last axis: :math:`\operatorname{mean}(\max(1 - y \hat y, 0))`.

    ``y_true`` holds -1/1 labels; if every label is 0 or 1 they are mapped to -1/1.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import hinge
        >>> hinge(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]]))
        array([1.1, 1.5])
    """
    return evaluate(_hinge, y_true, y_pred)


def squared_hinge(y_true: Any, y_pred: Any) -> Any:
    r"""Squared hinge loss: :math:`\operatorname{mean}(\max(1 - y \hat y, 0)^2)` (labels as
    in :func:`hinge`).

    Example:
        >>> import numpy as np
        >>> from losskit.losses import squared_hinge
        >>> squared_hinge(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]]))
        array([1.46, 2.26])
    """
    return evaluate(_squared_hinge, y_true, y_pred)


def categorical_hinge(y_true: Any, y_pred: Any) -> Any:
    r"""Categorical hinge: :math:`\max(\max_c (1 - y_c)\hat y_c - \sum_c y_c \hat y_c + 1, 0)`
    for one-hot ``y_true``.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import categorical_hinge
        >>> y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
        >>> categorical_hinge(y_true, y_pred)
        array([1.2, 1.6])
    """
    return evaluate(_categorical_hinge, y_true, y_pred)


@dataclass(kw_only=True, eq=False, repr=False)
class Hinge(BuiltinLoss):
    """:func:`hinge`, weighted and reduced."""

    kernel = _hinge
    name: InitVar[str | None] = "hinge"


@dataclass(kw_only=True, eq=False, repr=False)
class SquaredHinge(BuiltinLoss):
    """:func:`squared_hinge`, weighted and reduced."""

    kernel = _squared_hinge
    name: InitVar[str | None] = "squared_hinge"


@dataclass(kw_only=True, eq=False, repr=False)
class CategoricalHinge(BuiltinLoss):
    """:func:`categorical_hinge`, weighted and reduced."""

    kernel = _categorical_hinge
    name: InitVar[str | None] = "categorical_hinge"
