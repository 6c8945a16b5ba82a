"""L1, L2 and L1L2: factors times sums over every element."""

from __future__ import annotations

from typing import Any

import array_api_compat

from losskit import _namespace as ns
from losskit.regularizers._base import Regularizer, check_factor, penalty_input

__all__ = ["L1", "L1L2", "L2", "l1_l2"]


def _absolute_sum(xp: ns.Namespace, values: Any) -> Any:
    """sum |x| with the subgradient 0 at 0 on every backend.

    ``x * sign(x)`` is ``|x|`` with gradient ``sign(x)``; JAX's own ``abs`` has gradient 1 at
    0, which would push zero weights (fresh biases) negative.
    """
    return xp.sum(values * xp.sign(values))


class L1(Regularizer):
    r"""L1 penalty: :math:`\lambda_1 \sum_i |x_i|`.

    Args:
        l1: the factor, a non-negative finite number (``None`` means 0.01).
        l: tf_keras's legacy name for ``l1``, accepted for old configs.

    Raises:
        ValueError: a negative, NaN, infinite or non-numeric factor.

    Example:
        >>> import numpy as np
        >>> from losskit.regularizers import L1
        >>> float(L1(0.3)(np.array([[1.0, -2.0], [0.5, 0.0]])))
        1.05
    """

    def __init__(self, l1: float | None = 0.01, *, l: float | None = None) -> None:  # noqa: E741
        self.l1 = check_factor("l1", l1 if l is None else l, 0.01)  # tf_keras: `l` wins

    def __call__(self, x: Any) -> Any:
        xp, values, result_dtype = penalty_input(x)
        return ns.finish(xp, self.l1 * _absolute_sum(xp, values), result_dtype)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    r"""L2 penalty: :math:`\lambda_2 \sum_i x_i^2` (no ½, unlike ``tf.nn.l2_loss``).

    Args:
        l2: the factor, a non-negative finite number (``None`` means 0.01).
        l: tf_keras's legacy name for ``l2``, accepted for old configs.

    Raises:
        ValueError: a negative, NaN, infinite or non-numeric factor.

    Example:
        >>> import numpy as np
        >>> from losskit.regularizers import L2
        >>> regularizer = L2(2.0)
        >>> float(regularizer(np.ones((5, 5))))
        50.0
    """

    def __init__(self, l2: float | None = 0.01, *, l: float | None = None) -> None:  # noqa: E741
        self.l2 = check_factor("l2", l2 if l is None else l, 0.01)  # tf_keras: `l` wins

    def __call__(self, x: Any) -> Any:
        xp, values, result_dtype = penalty_input(x)
        return ns.finish(xp, self.l2 * xp.sum(values * values), result_dtype)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    r"""L1 plus L2 penalty: :math:`\lambda_1 \sum_i |x_i| + \lambda_2 \sum_i x_i^2`.

    A zero factor skips its term entirely (so ``L1L2(0, 0)`` is 0 even for infinite
    inputs, as in Keras).

    Args:
        l1: the L1 factor (``None`` means 0.0).
        l2: the L2 factor (``None`` means 0.0).

    Raises:
        ValueError: a negative, NaN, infinite or non-numeric factor.

    Example:
        >>> import numpy as np
        >>> from losskit.regularizers import L1L2
        >>> float(L1L2(l1=0.01, l2=0.01)(np.ones((5, 5)) * 2.0))
        1.5
    """

    def __init__(self, l1: float | None = 0.0, l2: float | None = 0.0) -> None:
        self.l1 = check_factor("l1", l1, 0.0)
        self.l2 = check_factor("l2", l2, 0.0)

    def __call__(self, x: Any) -> Any:
        xp, values, result_dtype = penalty_input(x)
        penalty = None
        if self.l1:
            penalty = self.l1 * _absolute_sum(xp, values)
        if self.l2:
            squares = self.l2 * xp.sum(values * values)
            penalty = squares if penalty is None else penalty + squares
        if penalty is None:
            device = array_api_compat.device(values)
            return xp.zeros((), dtype=result_dtype, device=device)
        return ns.finish(xp, penalty, result_dtype)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


def l1_l2(l1: float | None = 0.01, l2: float | None = 0.01) -> L1L2:
    """An :class:`L1L2` with both factors defaulting to 0.01 (tf_keras's ``l1_l2``).

    Keras 3 makes ``l1_l2`` an alias of the class, whose defaults are 0.0, contradicting its
    own docstring; losskit follows tf_keras and the docstring.

    Example:
        >>> from losskit.regularizers import l1_l2
        >>> l1_l2()
        L1L2(l1=0.01, l2=0.01)
    """
    return L1L2(l1=l1, l2=l2)
