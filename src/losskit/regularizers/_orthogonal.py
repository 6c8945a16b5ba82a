"""OrthogonalRegularizer: the mean absolute cosine between the rows (or columns) of a matrix."""

from __future__ import annotations

from typing import Any

import array_api_compat

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.regularizers._base import Regularizer, check_factor, penalty_input

__all__ = ["OrthogonalRegularizer"]

_MODES = ("rows", "columns")
# tf_keras's l2_normalize: x * rsqrt(max(sum(x**2), 1e-12)); a zero row stays zero.
_EPSILON = 1e-12


class OrthogonalRegularizer(Regularizer):
    r"""Penalizes non-orthogonal rows (or columns) of a rank-2 input.

    With :math:`\hat{x}_i` the L2-normalized rows (``mode="rows"``) or columns and
    :math:`n` their number:

    .. math:: \text{factor} \cdot \frac{1}{n(n-1)} \sum_{i \ne j} |\hat{x}_i \cdot \hat{x}_j|

    i.e. ``factor`` times the mean absolute cosine over the :math:`n(n-1)/2` unordered
    pairs (the formula of tf_keras and Keras 3, with the ``abs`` that keras-team/tf-keras#559
    added). A zero row has cosine 0 with every other row. With fewer than two rows there is
    no pair and the penalty is 0 (Keras divides 0 by 0 and returns NaN).

    Args:
        factor: a non-negative finite number (``None`` means 0.01).
        mode: ``"rows"`` or ``"columns"``.

    Raises:
        ValueError: an invalid ``factor`` or ``mode``; at call time, an input that is not
            rank 2.

    Example:
        >>> import numpy as np
        >>> from losskit.regularizers import OrthogonalRegularizer
        >>> A = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
        >>> round(float(OrthogonalRegularizer(1.0)(A)), 10)
        0.4714045208
        >>> round(float(OrthogonalRegularizer(1.0, mode="columns")(A)), 10)
        0.316227766
        >>> float(OrthogonalRegularizer(1.0)(np.eye(3)))
        0.0
    """

    def __init__(self, factor: float | None = 0.01, mode: str = "rows") -> None:
        self.factor = check_factor("factor", factor, 0.01)
        if mode not in _MODES:
            raise ValueError(invalid("mode", "one of 'rows', 'columns'", mode))
        self.mode = mode

    def __call__(self, x: Any) -> Any:
        xp, values, result_dtype = penalty_input(x)
        if values.ndim != 2:
            raise ValueError(
                invalid(
                    "x",
                    "a rank-2 array for OrthogonalRegularizer",
                    x,
                )
            )
        axis = 1 if self.mode == "rows" else 0
        count = values.shape[0] if self.mode == "rows" else values.shape[1]
        if count < 2:
            device = array_api_compat.device(values)
            return xp.zeros((), dtype=result_dtype, device=device)
        squares = xp.sum(values * values, axis=axis, keepdims=True)
        unit = values / xp.sqrt(xp.clip(squares, min=_EPSILON))
        if self.mode == "columns":
            unit = xp.matrix_transpose(unit)
        cosines = unit @ xp.matrix_transpose(unit)
        off_diagonal = 1 - xp.eye(
            count, dtype=cosines.dtype, device=array_api_compat.device(values)
        )
        total = xp.sum(xp.abs(cosines * off_diagonal))
        pairs = count * (count - 1)  # ordered pairs: sum over i != j counts each pair twice
        return ns.finish(xp, self.factor * total / pairs, result_dtype)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}
