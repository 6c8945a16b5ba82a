"""The NumPy path of :mod:`.penalty`: BLAS dot products of short blocks, summed in float64.

Called with NumPy arrays only. NumPy directly rather than through array-api-compat: its
wrappers cost ~20 us per call, more than the kernel for a small array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from losskit._kernels import SMALL

ROW = 1 << 12
"""Elements per dot of the L2 path: BLAS accumulates in a few SIMD lanes, so a dot's error
grows with its length (4K: 8.5e-7 worst case on constant arrays, 64K: 1.4e-5)."""
SLAB = 1 << 16
"""Elements of |x| computed at a time, into a reused buffer that stays in cache."""
DOT = 1 << 15
"""Elements per dot of the L1 path (6e-6 worst case on constant arrays)."""


def penalty(arrays: list[np.ndarray], l1: float | None, l2: float | None, dtype: Any) -> Any:
    """sum of l1 * |x| + l2 * x**2 over ``arrays`` (all of one dtype), as a float."""
    small = [array.reshape(-1) for array in arrays if array.size <= SMALL]
    parts = [array for array in arrays if array.size > SMALL]
    if small:  # one pass over the small arrays instead of a call per array
        parts.append(np.concatenate(small) if len(small) > 1 else small[0])
    total = 0.0
    for array in parts:
        total += _blocked(array.reshape(-1).astype(dtype, copy=False), l1, l2)
    return total


def _blocked(flat: np.ndarray, l1: float | None, l2: float | None) -> float:
    if l1 is None:
        if l2 is None:
            return 0.0
        # [nb, 1, R] @ [nb, R, 1]: one BLAS dot per row (NumPy's vecdot is a slower loop)
        rows = flat.size // ROW
        head = flat[: rows * ROW].reshape(rows, ROW)
        tail = flat[rows * ROW :]
        dots = np.matmul(head[:, None, :], head[:, :, None])
        return l2 * (float(np.sum(dots, dtype=np.float64)) + float(np.dot(tail, tail)))
    # |x| needs a temporary: one slab at a time into a reused buffer, then sum |x| and
    # sum x**2 = sum |x|**2 from it in cache: the data is read from memory once.
    blocks = flat.size // SLAB
    head = flat[: blocks * SLAB].reshape(blocks, SLAB)
    tail = flat[blocks * SLAB :]
    buffer = np.empty(SLAB, flat.dtype)
    ones = np.ones(DOT, flat.dtype)
    absolute = squares = 0.0
    for row in (*head, tail):
        out = buffer[: row.size]
        np.abs(row, out=out)
        for start in range(0, row.size, DOT):
            part = out[start : start + DOT]
            absolute += float(np.dot(part, ones[: part.size]))
            if l2 is not None:
                squares += float(np.dot(part, part))
    return l1 * absolute + (0.0 if l2 is None else l2 * squares)
