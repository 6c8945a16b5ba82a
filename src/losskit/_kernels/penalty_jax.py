"""The JAX path of :mod:`.penalty`: one jitted reduction over every array.

Imported only when the parameters are JAX arrays (so jax is already imported).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from losskit import _namespace as ns
from losskit._kernels import SMALL
from losskit._kernels.penalty import by_dtype, result_dtype


@jax.custom_jvp
def _abs_sum(x: Any) -> Any:
    return jnp.sum(jnp.abs(x))


@_abs_sum.defjvp
def _abs_sum_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (t,) = primals, tangents
    # sign(x): the subgradient 0 at 0, as TensorFlow and PyTorch have it
    # (jax.grad(jnp.abs)(0.0) is 1.0, which would push zero weights negative)
    return _abs_sum(x), jnp.sum(jnp.sign(x) * t)


def _one_dtype(xp: Any, arrays: list[Any], l1: Any, l2: Any, terms: str) -> Any:
    result, dtype = result_dtype(xp, arrays[0])
    wide = [array.astype(dtype) for array in arrays]
    small = [array.ravel() for array in wide if array.size <= SMALL]
    parts = [array for array in wide if array.size > SMALL]
    if small:  # one reduction for all small arrays: less compile time and dispatch
        parts.append(jnp.concatenate(small) if len(small) > 1 else small[0])
    total = jnp.zeros((), dtype=jnp.float32)
    for array in parts:
        # separate reductions: XLA:CPU fuses each into one loop over the data, no temporary
        if "2" in terms:
            total = total + l2 * jnp.sum(array * array)
        if "1" in terms:
            total = total + l1 * _abs_sum(array)
    return total.astype(result)


@functools.partial(jax.jit, static_argnames=("terms",))
def _penalty(arrays: tuple[Any, ...], l1: Any, l2: Any, *, terms: str) -> Any:
    # Traced once per signature (jit's cache), so the dtype checks cost nothing per call;
    # the factors are traced arguments, so a new factor value does not recompile.
    xp = ns.namespace(arrays[0])
    totals = [_one_dtype(xp, group, l1, l2, terms) for group in by_dtype(xp, arrays)]
    return functools.reduce(operator.add, totals)


def penalty(arrays: Sequence[Any], l1: float | None, l2: float | None) -> Any:
    terms = ("1" if l1 is not None else "") + ("2" if l2 is not None else "")
    return _penalty(tuple(arrays), l1 or 0.0, l2 or 0.0, terms=terms)
