"""The JAX path of :mod:`._fused`: one jitted reduction over every array.

Imported only when the parameters are JAX arrays (so jax is already imported).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp


@functools.partial(jax.jit, static_argnames=("l1", "l2", "dtype"))
def _penalty(arrays: tuple[Any, ...], l1: float | None, l2: float | None, dtype: Any) -> Any:
    total = jnp.zeros((), dtype=jnp.float32)
    for array in arrays:
        # XLA fuses the square (or abs) into a tree reduction: no temporary, ~1e-8 error
        values = array.astype(jnp.promote_types(array.dtype, jnp.float32))
        if l2 is not None:
            total = total + l2 * jnp.sum(values * values)
        if l1 is not None:
            # x * sign(x) == |x| with the gradient sign(x): 0 at 0, as TensorFlow and PyTorch
            # (jax.grad(jnp.abs)(0.0) is 1.0, which would push zero weights negative)
            total = total + l1 * jnp.sum(values * jnp.sign(values))
    return total.astype(dtype)


def penalty(arrays: Sequence[Any], l1: float | None, l2: float | None, dtype: Any) -> Any:
    return _penalty(tuple(arrays), l1=l1, l2=l2, dtype=jnp.dtype(dtype))
