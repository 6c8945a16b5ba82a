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


# Blocked dot products: a float32 dot product of 16M elements in one BLAS call is off by
# ~1e-5 relative, ``xp.sum(values * weights)`` is accurate but writes a full-size temporary.
# Dot products of blocks of ~16K elements, added up, are both fast and accurate (~3e-8).
# A block size that divides the size exactly avoids slicing a tail (which makes PyTorch's
# backward and JAX copy the head); 7-smooth sizes in [1024, 16384] divide most real sizes.
_LARGEST_BLOCK = 16384
_BLOCK_SIZES = tuple(
    sorted(
        {
            2**a * 3**b * 5**c * 7**d
            for a in range(15)
            for b in range(10)
            for c in range(7)
            for d in range(6)
            if 1024 <= 2**a * 3**b * 5**c * 7**d <= _LARGEST_BLOCK
        },
        reverse=True,
    )
)
SINGLE_DOT = 1 << 16
"""Up to this many elements one BLAS dot product is accurate (~1e-8) and fastest."""


def _block_plan(count: Any) -> tuple[int, int] | None:
    """(blocks, block) with ``blocks * block == count``; None if there is none (or the size
    is symbolic, as under ``torch.compile`` with dynamic shapes)."""
    if type(count) is not int or count < SINGLE_DOT:
        return None
    for block in _BLOCK_SIZES:
        if count % block == 0:
            return count // block, block
    return None


def _sum_partials(xp: Namespace, partials: Array) -> Array:
    # A product with ones, not xp.sum: PyTorch's backward of a sum of a batched matmul
    # loops over the blocks; this keeps the gradient one contiguous kernel.
    return partials @ xp.ones_like(partials)


def _dot(xp: Namespace, values: Array, weights: Array) -> Array:
    """``sum(values * weights)`` for two arrays of one shape, without a temporary."""
    count = size(values.shape)
    flat_values = values if values.ndim == 1 else xp.reshape(values, (count,))
    flat_weights = weights if weights.ndim == 1 else xp.reshape(weights, (count,))
    plan = _block_plan(count)
    if plan is None:
        if type(count) is int and count <= SINGLE_DOT:
            return flat_values @ flat_weights
        return xp.sum(values * weights)  # no exact block (a prime size): accurate fallback
    blocks, block = plan
    rows = xp.reshape(flat_values, (blocks, 1, block))
    columns = xp.matrix_transpose(xp.reshape(flat_weights, (blocks, 1, block)))
    return _sum_partials(xp, xp.reshape(rows @ columns, (blocks,)))


def _scaled_total(xp: Namespace, values: Array, scale: Array | float) -> Array:
    """``sum(values * scale)`` for a scalar ``scale``, products formed before summing."""
    plan = _block_plan(size(values.shape))
    if plan is None:
        return xp.sum(values * scale)
    blocks, block = plan
    matrix = xp.reshape(values, (blocks, block))
    return _sum_partials(xp, matrix @ (xp.ones_like(matrix[0, :]) * scale))


def _varying_axes(weights_shape: Sequence[int], values_shape: Sequence[int]) -> str | None:
    """'leading' if the weights vary only along leading axes (``[B, 1]`` against ``[B, T]``),
    'trailing' if only along trailing ones (``[1, T]``), else None."""
    if len(weights_shape) != len(values_shape):
        return None
    kept = [w == v for w, v in zip(weights_shape, values_shape, strict=True)]
    ones = [w == 1 for w in weights_shape]
    split = kept.index(False) if False in kept else len(kept)
    if all(ones[split:]):
        return "leading"
    split = ones.index(False) if False in ones else len(ones)
    if all(kept[split:]):
        return "trailing"
    return None


def weighted_total(xp: Namespace, values: Array, weights: Array | float) -> Array:
    """``sum(values * weights)`` for weights that broadcast to ``values.shape``.

    Always the sum of the products, as TensorFlow computes it: factoring a weight out of a
    sum (``sum(values) * w``) changes IEEE results (an intermediate overflow, an empty sum
    times a NaN weight, ``0 * inf``). The kernels avoid full-size temporaries: blocked dot
    products for same-shape weights, a matrix-vector product for per-row (``[B, 1]``) or
    per-column (``[1, T]``) weights.
    """
    if isinstance(weights, float):
        return xp.sum(values) if weights == 1.0 else _scaled_total(xp, values, weights)
    shape = values.shape
    if len(shape) == 1 and weights.shape == shape and type(shape[0]) is int:
        if shape[0] <= SINGLE_DOT:  # the common small case, with no further checks
            return values @ weights
        return _dot(xp, values, weights)
    if weights.ndim == 0:
        return _scaled_total(xp, values, weights)
    count = size(values.shape)
    if type(count) is not int or count == 0:
        return xp.sum(values * weights)
    if tuple(weights.shape) == tuple(values.shape):
        return _dot(xp, values, weights)
    kind = _varying_axes(weights.shape, values.shape)
    varying = size(weights.shape)
    if kind == "leading" and varying <= SINGLE_DOT:  # one dot per column, of length B
        flat = xp.reshape(weights, (varying,))
        return xp.sum(flat @ xp.reshape(values, (varying, count // varying)))
    if kind == "trailing" and varying <= SINGLE_DOT:
        flat = xp.reshape(weights, (varying,))
        return xp.sum(xp.reshape(values, (count // varying, varying)) @ flat)
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
