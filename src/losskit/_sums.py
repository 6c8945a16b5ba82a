"""The reductions every public function is built from: sums, weighted sums, safe division.

Each helper takes the namespace and arrays already in their accumulation dtype, uses only
array-API calls, and never reads an array value in Python, so everything here traces under
``jax.jit`` and ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from losskit._namespace import Array, Namespace


def size(shape: Sequence[int]) -> int:
    return math.prod(shape)


def broadcast_factor(values_shape: Sequence[int], weights_shape: Sequence[int]) -> int:
    """How many times each weight is repeated when broadcast to ``values_shape``.

    Requires ``weights_shape`` to broadcast *to* ``values_shape`` (never beyond it).
    """
    offset = len(values_shape) - len(weights_shape)
    factor = math.prod(values_shape[:offset])
    for v, w in zip(values_shape[offset:], weights_shape, strict=True):
        if w == 1:
            factor *= v
    return factor


def weighted_total(xp: Namespace, values: Array, weights: Array | float) -> Array:
    """``sum(values * weights)`` for weights that broadcast to ``values.shape``.

    Always the sum of the products, as TensorFlow computes it: factoring a weight out of
    the sum (``sum(values) * w``) changes IEEE results (an intermediate overflow, an empty
    sum times a NaN weight, ``0 * inf``).
    """
    if isinstance(weights, float) and weights == 1.0:
        return xp.sum(values)
    return xp.sum(values * weights)


def divide_no_nan(xp: Namespace, numerator: Array, denominator: Any) -> Array:
    """``numerator / denominator``, and 0 where the denominator is 0 (TensorFlow's ``div_no_nan``).

    A Python-number denominator is decided in Python (it comes from static shapes). For an
    array denominator both branches stay finite, so the gradient is 0 (not NaN) where the
    denominator is 0.
    """
    if isinstance(denominator, (int, float)):
        if denominator != 0:
            return numerator / denominator
        # A constant-false select: the value 0 even for a NaN numerator, still connected to
        # the autograd graph (zero gradient) so that `backward()` works as in TensorFlow.
        never = xp.zeros_like(numerator, dtype=xp.bool)
        return xp.where(never, numerator, xp.zeros_like(numerator))
    is_zero = denominator == 0
    safe = xp.where(is_zero, xp.ones_like(denominator), denominator)
    return xp.where(is_zero, xp.zeros_like(numerator), numerator / safe)
