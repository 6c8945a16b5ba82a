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


def _leading_block(
    weights_shape: Sequence[int], values_shape: Sequence[int]
) -> tuple[int, int] | None:
    """If the weights vary only along leading axes, the values as a ``(rows, columns)`` matrix.

    ``[B, 1]`` weights against ``[B, T]`` values give ``(B, T)``: the weighted sum is then a
    weighted sum of row sums. Returns None otherwise.
    """
    if len(weights_shape) != len(values_shape):
        return None
    lead = len(weights_shape)
    while lead > 0 and weights_shape[lead - 1] == 1:
        lead -= 1
    if lead == len(weights_shape) or tuple(weights_shape[:lead]) != tuple(values_shape[:lead]):
        return None
    return math.prod(weights_shape[:lead]), math.prod(values_shape[lead:])


def weighted_total(xp: Namespace, values: Array, weights: Array) -> Array:
    """``sum(values * weights)`` for weights that broadcast to ``values.shape``.

    Scalar weights and weights that vary only along leading axes (per-example or
    per-sequence weights) avoid materialising the full product.
    """
    if weights.ndim == 0:
        return xp.sum(values) * weights
    block = _leading_block(weights.shape, values.shape)
    if block is not None and values.ndim > 1:
        rows, columns = block
        per_row = xp.sum(xp.reshape(values, (rows, columns)), axis=1)
        return xp.sum(per_row * xp.reshape(weights, (rows,)))
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
