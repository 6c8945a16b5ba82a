"""The generalized crossentropy (Zhang and Sabuncu, 2018), Keras 3's
``CategoricalGeneralizedCrossEntropy``: :math:`(1 - p_y^q) / q` for integer labels :math:`y`.

As :math:`q \\to 0` it tends to the crossentropy :math:`-\\log p_y`; at :math:`q = 1` it is
the mean absolute error of the one-hot target, which makes it robust to noisy labels.

Example:
    >>> import numpy as np
    >>> from losskit.losses import CategoricalGeneralizedCrossEntropy
    >>> y_pred = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]])
    >>> loss = CategoricalGeneralizedCrossEntropy(q=0.5, reduction="none")
    >>> loss(np.array([0, 1, 0, 1]), y_pred).round(6)  # (1 - sqrt(p)) / 0.5
    array([0.32668 , 0.211146, 0.450807, 0.450807])
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from typing import Any

from losskit import _namespace as ns
from losskit.losses._base import evaluate
from losskit.losses._builtin import BuiltinLoss
from losskit.losses._inputs import sparse_inputs
from losskit.losses._numerics import take_class
from losskit.losses._options import check_open_unit, option

__all__ = ["CategoricalGeneralizedCrossEntropy", "categorical_generalized_cross_entropy"]


def _generalized(xp: ns.Namespace, y_true: Any, y_pred: Any, *, q: float) -> tuple[Any, None, Any]:
    labels, probabilities, dtype = sparse_inputs(xp, y_true, y_pred, -1)
    p = take_class(xp, probabilities, labels)
    # p ** q has an infinite slope at p = 0: there the value is 0 and the gradient 0
    zero = p == 0
    powered = xp.where(zero, xp.zeros_like(p), xp.pow(xp.where(zero, xp.ones_like(p), p), q))
    return (1.0 - powered) / q, None, dtype


def categorical_generalized_cross_entropy(y_true: Any, y_pred: Any, *, q: float = 0.5) -> Any:
    r"""The generalized crossentropy :math:`(1 - p_y^q) / q` of integer labels :math:`y`.

    Args:
        y_true: integer class labels, ``y_pred``'s shape without its last axis (or with that
            axis of size 1). Floats are truncated, as in Keras.
        y_pred: class probabilities, classes on the last axis.
        q: the noise parameter in (0, 1) (Keras 3's function takes it positionally, without
            a default; here it is keyword-only, with the class's default).

    Returns:
        The per-sample losses, in ``y_pred``'s dtype.

    Raises:
        ValueError: ``q`` outside (0, 1), or labels of the wrong shape.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import categorical_generalized_cross_entropy
        >>> y_pred = np.array([[0.25, 0.75], [1.0, 0.0]])
        >>> categorical_generalized_cross_entropy(np.array([0, 1]), y_pred, q=0.5)
        array([1., 2.])
    """
    return evaluate(_generalized, y_true, y_pred, q=check_open_unit("q", q))


@dataclass(kw_only=True, eq=False, repr=False)
class CategoricalGeneralizedCrossEntropy(BuiltinLoss):
    """:func:`categorical_generalized_cross_entropy`, weighted and reduced."""

    kernel = _generalized
    name: InitVar[str | None] = "categorical_generalized_cross_entropy"
    q: float = option(0.5, check_open_unit)
