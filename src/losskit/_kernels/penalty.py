"""L1/L2 penalties of many arrays at once: accurate, and at memory-bandwidth speed.

The penalty of a group of arrays is :math:`l_1 \\sum|a| + l_2 \\sum a^2` over the arrays (a
term whose factor is None is skipped). :mod:`losskit._backends` picks the kernel for the
arrays' library:

* PyTorch (:mod:`.penalty_torch`): batched dot products of 16K-element blocks on the CPU,
  ``torch._foreach_norm`` on accelerators, a closed-form backward with ``torch._foreach_*``.
* JAX (:mod:`.penalty_jax`): one jitted reduction over all the arrays (XLA fuses the square
  into the sum; no temporaries).
* NumPy (:mod:`.penalty_numpy`): BLAS dot products of 4K-element rows.
* any other array-API library: :func:`blocked` here, a short dot product per block.

Partial sums are added in float64. A single long float32 dot product (BLAS ``sdot``) or norm
kernel loses up to ~1e-3 relative on a 38M-element embedding; short blocks keep the error
near 1e-7 (1e-6 on constant-valued arrays). Arrays of at most 64K elements are concatenated
first, so a model's many biases cost one kernel, not one each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import array_api_compat

from losskit import _namespace as ns
from losskit._kernels import BLOCK, SMALL

__all__ = ["by_dtype", "generic_penalty", "result_dtype"]

_SLAB = 16  # blocks per |x| temporary: 1M elements


def by_dtype(xp: ns.Namespace, arrays: Sequence[Any]) -> list[list[Any]]:
    """The arrays grouped by dtype (one kernel call each), after rejecting bool and complex
    parameters (one ``.dtype`` check per distinct dtype)."""
    first = {array.dtype: array for array in arrays}
    for array in first.values():
        ns.loss_dtypes(xp, array, name="weights")
    if len(first) == 1:
        return [list(arrays)]
    grouped: dict[Any, list[Any]] = {}
    for array in arrays:
        grouped.setdefault(array.dtype, []).append(array)
    return list(grouped.values())


def result_dtype(xp: ns.Namespace, array: Any) -> tuple[Any, Any]:
    """(result dtype, accumulation dtype) of a group's penalty: float16/bfloat16 groups give
    float32 (tf_keras sums low-precision penalties in float32 too)."""
    result, dtype = ns.loss_dtypes(xp, array, name="weights")
    if ns.is_low_precision(xp, result):
        result = xp.float32
    return result, dtype


def generic_penalty(xp: ns.Namespace, arrays: list[Any], l1: float | None, l2: float | None) -> Any:
    """One dtype group's penalty with array-API calls only (any library)."""
    result, dtype = result_dtype(xp, arrays[0])
    small = [xp.reshape(array, (-1,)) for array in arrays if math.prod(array.shape) <= SMALL]
    parts = [array for array in arrays if math.prod(array.shape) > SMALL]
    if small:
        parts.append(xp.concat(small) if len(small) > 1 else small[0])
    total = None
    for array in parts:
        value = blocked(xp, ns.astype(xp, array, dtype), l1, l2)
        total = value if total is None else total + value
    return ns.finish(xp, total, result)


def blocked(xp: ns.Namespace, array: Any, l1: float | None, l2: float | None) -> Any:
    """One array's penalty from blocks of BLOCK elements, partial sums in the widest float."""
    flat = xp.reshape(array, (-1,))
    count = flat.shape[0]
    blocks = count // BLOCK
    head = xp.reshape(flat[: blocks * BLOCK], (blocks, BLOCK))
    tail = flat[blocks * BLOCK :]
    wide = ns.widest_float(xp, array)
    penalty = None
    if l2 is not None:
        squares = xp.sum(xp.astype(xp.vecdot(head, head), wide)) + xp.astype(
            xp.sum(tail * tail), wide
        )
        penalty = l2 * squares
    if l1 is not None:
        # |x| needs a temporary: take it a slab of blocks at a time so it stays in cache
        absolute = xp.astype(xp.sum(xp.abs(tail)), wide)
        for start in range(0, blocks, _SLAB):
            slab = xp.abs(head[start : min(start + _SLAB, blocks), ...])
            absolute = absolute + xp.astype(xp.sum(slab), wide)
        penalty = l1 * absolute if penalty is None else penalty + l1 * absolute
    if penalty is None:
        return xp.zeros((), dtype=array.dtype, device=array_api_compat.device(array))
    return xp.astype(penalty, array.dtype)
