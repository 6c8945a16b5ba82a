"""Candidate implementations of ``weighted_total(xp, values, weights)``, array-API calls only.

Every candidate takes an array-API namespace ``xp`` (from ``array_api_compat``) and two arrays
of the same shape (or, for the ``rows_*`` candidates, ``[B, T]`` values with ``[B, 1]``
weights) and returns the 0-d float sum of ``values * weights``. Block sizes are chosen to
divide the size exactly where possible (see ``block_size``); the others handle a tail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Candidate = Callable[[Any, Any, Any], Any]


# ----------------------------------------------------------------------------- references


def mul_sum(xp: Any, v: Any, w: Any) -> Any:
    """Current losskit: ``xp.sum(v * w)`` (one full-size temporary)."""
    return xp.sum(v * w)


def vecdot_flat(xp: Any, v: Any, w: Any) -> Any:
    """``xp.vecdot`` of the flattened arrays (one BLAS-style dot, if the backend has one)."""
    return xp.vecdot(xp.reshape(v, (-1,)), xp.reshape(w, (-1,)))


def matmul_flat(xp: Any, v: Any, w: Any) -> Any:
    """``xp.matmul`` of two 1-D arrays: the inner product (``torch.dot``, ``np.dot``)."""
    return xp.matmul(xp.reshape(v, (-1,)), xp.reshape(w, (-1,)))


# ----------------------------------------------------------------------------- blockwise


def block_size(n: int, target: int) -> tuple[int, int]:
    """(block, number of full blocks): always ``target``; a size it does not divide gets a
    sliced tail of ``n % target`` elements. (``_sums`` searches a divisor instead.)"""
    return target, n // target


def _blocked(
    xp: Any, v: Any, w: Any, target: int, kernel: Callable[[Any, Any, Any, int, int], Any]
) -> Any:
    v = xp.reshape(v, (-1,))
    w = xp.reshape(w, (-1,))
    n = v.shape[0]
    if n < 4 * target:
        return xp.sum(v * w)
    bs, nb = block_size(n, target)
    head = nb * bs
    if head == n:
        return xp.sum(kernel(xp, v, w, nb, bs))
    partial = xp.sum(kernel(xp, v[:head], w[:head], nb, bs))
    return partial + xp.sum(v[head:] * w[head:])


def _matmul_t_kernel(xp: Any, v: Any, w: Any, nb: int, bs: int) -> Any:
    # [nb, 1, bs] @ transpose([nb, 1, bs]) = [nb, 1, 1]. The transposed view of a row (not a
    # reshape to [nb, bs, 1]) has BLAS-compatible strides in PyTorch: 4-5 ms instead of 25.
    return xp.matmul(xp.reshape(v, (nb, 1, bs)), xp.matrix_transpose(xp.reshape(w, (nb, 1, bs))))


def _matmul_col_kernel(xp: Any, v: Any, w: Any, nb: int, bs: int) -> Any:
    return xp.matmul(xp.reshape(v, (nb, 1, bs)), xp.reshape(w, (nb, bs, 1)))


def _vecdot_kernel(xp: Any, v: Any, w: Any, nb: int, bs: int) -> Any:
    return xp.vecdot(xp.reshape(v, (nb, bs)), xp.reshape(w, (nb, bs)))


def blocked_matmul_t(target: int) -> Candidate:
    def run(xp: Any, v: Any, w: Any) -> Any:
        return _blocked(xp, v, w, target, _matmul_t_kernel)

    run.__name__ = f"blocked_matmul_t({target})"
    return run


def blocked_matmul_col(target: int) -> Candidate:
    def run(xp: Any, v: Any, w: Any) -> Any:
        return _blocked(xp, v, w, target, _matmul_col_kernel)

    run.__name__ = f"blocked_matmul_col({target})"
    return run


def blocked_vecdot(target: int) -> Candidate:
    def run(xp: Any, v: Any, w: Any) -> Any:
        return _blocked(xp, v, w, target, _vecdot_kernel)

    run.__name__ = f"blocked_vecdot({target})"
    return run


def chunked_mul_sum(chunks: int) -> Candidate:
    """``sum(v*w)`` over ``chunks`` slices (``xp.unstack``): cache-sized temporaries."""

    def run(xp: Any, v: Any, w: Any) -> Any:
        n = math.prod(v.shape)
        if n % chunks:
            return xp.sum(v * w)
        vs = xp.unstack(xp.reshape(v, (chunks, n // chunks)))
        ws = xp.unstack(xp.reshape(w, (chunks, n // chunks)))
        return xp.sum(xp.stack([xp.sum(a * b) for a, b in zip(vs, ws, strict=True)]))

    run.__name__ = f"chunked_mul_sum({chunks})"
    return run


# ----------------------------------------------------------------------------- [B, T] x [B, 1]


def rows_sum_then_dot(xp: Any, v: Any, w: Any) -> Any:
    """Current losskit for ``[B, 1]`` weights: row sums, then ``sum(row_sums * w)``."""
    rows = v.shape[0]
    per_row = xp.sum(v, axis=1)
    return xp.sum(per_row * xp.reshape(w, (rows,)))


def rows_matvec_left(xp: Any, v: Any, w: Any) -> Any:
    """``w[B] @ v[B, T]`` (one gemv, T outputs), then ``xp.sum`` of the T partials."""
    return xp.sum(xp.matmul(xp.reshape(w, (v.shape[0],)), v))


def rows_matvec_left_t(xp: Any, v: Any, w: Any) -> Any:
    """``transpose(w)[1, B] @ v[B, T]`` as a 2-D matmul, then ``xp.sum``."""
    return xp.sum(xp.matmul(xp.matrix_transpose(w), v))


def rows_sum_then_matmul(xp: Any, v: Any, w: Any) -> Any:
    """Row sums (``xp.sum(axis=1)``), then a 1-D ``xp.matmul`` with the weights."""
    return xp.matmul(xp.sum(v, axis=1), xp.reshape(w, (v.shape[0],)))


def rows_matvec_right(xp: Any, v: Any, w: Any) -> Any:
    """``v[B, T] @ ones[T]`` (row sums by gemv), then a 1-D ``xp.matmul`` with the weights."""
    ones = xp.ones((v.shape[1],), dtype=v.dtype)
    return xp.matmul(xp.matmul(v, ones), xp.reshape(w, (v.shape[0],)))


def current(xp: Any, v: Any, w: Any) -> Any:
    """``losskit._sums.weighted_total`` as it is in src/ (the adopted kernel)."""
    from losskit._sums import weighted_total

    return weighted_total(xp, v, w)


FLAT: tuple[Candidate, ...] = (
    current,
    vecdot_flat,
    matmul_flat,
    blocked_matmul_col(16384),
    blocked_vecdot(16384),
    blocked_matmul_t(256),
    blocked_matmul_t(1024),
    blocked_matmul_t(4096),
    blocked_matmul_t(16384),
    blocked_matmul_t(65536),
    chunked_mul_sum(16),
)

TAIL: tuple[Candidate, ...] = (
    current,
    matmul_flat,
    blocked_matmul_t(16384),  # head blocks + a sliced tail
)

ROWS: tuple[Candidate, ...] = (
    current,  # row sums, then sum(row_sums * w)
    rows_sum_then_matmul,
    rows_matvec_left,
    rows_matvec_left_t,
    rows_matvec_right,
)

MASK: tuple[Candidate, ...] = (
    current,
    matmul_flat,
    blocked_vecdot(16384),
    blocked_matmul_t(4096),
    blocked_matmul_t(16384),
)

SMALL: tuple[Candidate, ...] = (current, vecdot_flat, matmul_flat)
