"""The recommended ``weighted_total`` for ``src/losskit/_sums.py`` (array-API calls only).

Not imported by losskit: the benchmark experiments measure it next to the current kernel,
and ``check()`` compares both on every backend, array-api-strict included, so the proposal
is known to use nothing outside the standard.

    .venv/bin/python bench/experiments/recommended.py     # the equivalence check
    .venv/bin/python bench/experiments/recommended.py --torch-compile   # + torch.compile
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

Array = Any
Namespace = Any

# A dot product of n elements is computed as n / block partial dot products (one batched
# matmul) and one dot of the partials with ones. Blocks of 1K-64K elements run at the speed
# of a single BLAS dot (measured); splitting keeps the error of the float32 result near 3e-8
# where one 16M-element sdot is off by 4e-6 (MKL, 2 threads) to 2e-5 (OpenBLAS, or MKL on
# one thread).
BLOCK = 16384
MIN_BLOCK = 1024
# Below this many elements a single 1-D dot is used: as accurate at this size, and the
# fewest calls (the per-call overhead dominates small arrays).
MIN_BLOCKED_SIZE = 1 << 16


def _smooth_blocks() -> tuple[int, ...]:
    """The 7-smooth numbers (2^a 3^b 5^c 7^d) in [MIN_BLOCK, BLOCK], largest first."""
    found = {
        2**a * 3**b * 5**c * 7**d
        for a in range(15)
        for b in range(10)
        for c in range(7)
        for d in range(6)
    }
    return tuple(sorted((n for n in found if MIN_BLOCK <= n <= BLOCK), reverse=True))


_BLOCKS = _smooth_blocks()  # 16384, 16200, 16128, 16000, ... (258 numbers)


def block_plan(size: int) -> tuple[int, int] | None:
    """(number of blocks, block size) with ``blocks * block == size``, or None.

    The block divides ``size`` exactly: no tail, so no slicing (a slice costs a copy under
    ``jax.jit`` and a full-size zero-filled gradient buffer per slice under PyTorch
    autograd). It is the largest 7-smooth divisor in ``[MIN_BLOCK, BLOCK]``: ``BLOCK``
    itself for any size with 14 factors of two (one modulo), at most 258 modulo operations
    otherwise; no cache, so nothing for ``torch.compile`` to warn about. Symbolic sizes
    (``torch.compile`` with dynamic shapes) get None: the compiler fuses the fallback.
    """
    if type(size) is not int or size < MIN_BLOCKED_SIZE:
        return None
    for block in _BLOCKS:
        if size % block == 0:
            return size // block, block
    return None


def _varying_axes(weights_shape: Sequence[int], values_shape: Sequence[int]) -> str | None:
    """'leading' if the weights vary only along leading axes ([B, 1]), 'trailing' if only
    along trailing axes ([1, T]), None otherwise (same shape, scalar or mixed)."""
    if len(weights_shape) != len(values_shape) or tuple(weights_shape) == tuple(values_shape):
        return None
    kept = [w == v for w, v in zip(weights_shape, values_shape, strict=True)]
    ones = [w == 1 for w in weights_shape]
    k = kept.index(False) if False in kept else len(kept)
    if all(kept[:k]) and all(ones[k:]):
        return "leading"
    k = next((i for i, one in enumerate(ones) if not one), len(ones))
    if all(ones[:k]) and all(kept[k:]):
        return "trailing"
    return None


def dot(xp: Namespace, values: Array, weights: Array) -> Array:
    """``sum(values * weights)`` for two arrays of the same shape, without a temporary.

    Uses the array object's ``@`` (``__matmul__``, part of the standard): it skips the
    compatibility layer's wrapper, which costs more than the kernel for small arrays.
    """
    size = math.prod(values.shape)
    flat_values = values if values.ndim == 1 else xp.reshape(values, (size,))
    flat_weights = weights if weights.ndim == 1 else xp.reshape(weights, (size,))
    plan = block_plan(size)
    if plan is None:
        if size < MIN_BLOCKED_SIZE:
            # One BLAS dot: fast, and accurate at this size (error ~1e-8 for 64K elements).
            return flat_values @ flat_weights
        # A large size with no divisor in [MIN_BLOCK, BLOCK] (a prime, say): blocks would
        # need a sliced tail, which JAX copies and PyTorch's backward zero-fills at full size.
        # Keep the accurate elementwise kernel (one temporary; fused away under jax.jit).
        return xp.sum(values * weights)
    blocks, block = plan
    # [blocks, 1, block] @ [blocks, block, 1] -> [blocks, 1, 1]: one batched matmul. The
    # right operand is the *transpose* of a [blocks, 1, block] view (not a reshape to
    # [blocks, block, 1]): PyTorch hands those strides to MKL's batched gemm, while the
    # reshape takes a naive kernel (5x slower). NumPy and XLA run both at the same speed.
    partials = xp.reshape(flat_values, (blocks, 1, block)) @ xp.matrix_transpose(
        xp.reshape(flat_weights, (blocks, 1, block))
    )
    partials = xp.reshape(partials, (blocks,))
    # Sum the partials as a dot with ones, not with xp.sum: the gradient of xp.sum is an
    # expanded (stride-0) array, which makes PyTorch's bmm backward fall back to one mm per
    # block (2x slower forward+backward); the dot's gradient is contiguous.
    return partials @ xp.ones_like(partials)


def scaled_total(xp: Namespace, values: Array, scale: Array | float) -> Array:
    """``sum(values * scale)`` for a scalar ``scale`` (Python float or 0-d array).

    The product is formed element by element (never ``sum(values) * scale``: TensorFlow's
    IEEE results, e.g. ``0 * inf`` or an intermediate overflow, depend on it), as a
    matrix-vector product ``values[blocks, block] @ full(block, scale)`` with no temporary.
    """
    size = math.prod(values.shape)
    plan = block_plan(size)
    if plan is None:
        return xp.sum(values * scale)
    blocks, block = plan
    matrix = xp.reshape(values, (blocks, block))
    vector = xp.ones_like(matrix[0, :]) * scale
    partials = matrix @ vector
    return partials @ xp.ones_like(partials)


def weighted_total(xp: Namespace, values: Array, weights: Array | float) -> Array:
    """``sum(values * weights)`` for weights that broadcast to ``values.shape``.

    Always a sum of the element products, as TensorFlow computes it (no weight factored
    out of a sum), but without materialising the product:

    * a Python float 1.0: ``xp.sum(values)``; other scalars: ``scaled_total``;
    * same shape: blockwise dot products (``dot``);
    * weights varying along leading axes only (``[B, 1]`` per-sequence weights): one
      vector-matrix product ``w[B] @ values[B, T]`` and an accurate sum of the T partials;
    * weights varying along trailing axes only (``[1, T]``): ``values[B, T] @ w[T]``;
    * anything else (weights broadcast along inner axes only) and empty arrays:
      ``xp.sum(values * weights)``.
    """
    if isinstance(weights, float):
        return xp.sum(values) if weights == 1.0 else scaled_total(xp, values, weights)
    if weights.ndim == 0:
        return scaled_total(xp, values, weights)
    size = math.prod(values.shape)
    if type(size) is not int or size == 0:  # symbolic (dynamic) shapes, empty arrays
        return xp.sum(values * weights)
    if tuple(weights.shape) == tuple(values.shape):
        return dot(xp, values, weights)
    kind = _varying_axes(weights.shape, values.shape)
    if kind == "leading":
        # sum_b sum_t w_b * v_bt = sum_t (w @ V)_t: one vector-matrix product (gemv, products
        # formed element by element), then an accurate xp.sum of the T partials.
        rows = math.prod(weights.shape)
        matrix = xp.reshape(values, (rows, size // rows))
        return xp.sum(xp.reshape(weights, (rows,)) @ matrix)
    if kind == "trailing":
        columns = math.prod(weights.shape)
        matrix = xp.reshape(values, (size // columns, columns))
        return xp.sum(matrix @ xp.reshape(weights, (columns,)))
    return xp.sum(values * weights)


# ----------------------------------------------------------------------------- check


def check() -> None:
    """Compare with the float64 value on NumPy, PyTorch, JAX and array-api-strict."""
    import array_api_compat
    import array_api_strict
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    shapes = [
        ((7,), (7,)),
        ((70000,), (70000,)),  # 70000 = 7 * 10000: blocks of 10000
        ((1 << 17,), (1 << 17,)),
        ((65537,), (65537,)),  # prime: no block plan, the fallback
        ((4, 5), (4, 1)),
        ((4, 5), (1, 5)),
        ((3, 4, 5), (3, 1, 1)),
        ((3, 4, 5), (3, 4, 1)),
        ((3, 4, 5), (1, 1, 5)),
        ((3, 4, 5), (3, 1, 5)),  # mixed: fallback
        ((256, 512), (256, 512)),
        ((8, 3), ()),
        ((1 << 17,), ()),  # 0-d weight array: scaled_total
        ((0, 5), (0, 1)),  # empty
    ]

    def backends() -> list[tuple[str, Any]]:
        return [
            ("numpy", lambda a: a.copy()),
            ("torch", lambda a: torch.from_numpy(a.copy())),
            ("jax", jnp.asarray),
            ("array_api_strict", array_api_strict.asarray),
        ]

    for values_shape, weights_shape in shapes:
        v = rng.exponential(size=values_shape).astype(np.float32)
        w = rng.uniform(0, 2, size=weights_shape).astype(np.float32)
        exact = float(np.sum(v.astype(np.float64) * w.astype(np.float64)))
        for name, convert in backends():
            a, b = convert(v), convert(w)
            xp = array_api_compat.array_namespace(a)
            got = float(np.asarray(weighted_total(xp, a, b)))
            assert abs(got - exact) <= 1e-6 * abs(exact), (name, values_shape, weights_shape)
            if name == "jax":
                jitted = jax.jit(lambda x, y, xp=xp: weighted_total(xp, x, y))
                assert abs(float(jitted(a, b)) - exact) <= 1e-6 * abs(exact)
            if name == "torch":
                leaf = a.clone().requires_grad_(True)
                weighted_total(xp, leaf, b).backward()
                expected = np.broadcast_to(w, values_shape)
                assert np.allclose(leaf.grad.numpy(), expected), (values_shape, weights_shape)
    for scale in (1.0, 2.5):
        v = rng.exponential(size=(1 << 17,)).astype(np.float32)
        exact = float(np.sum(v.astype(np.float64) * scale))
        for _, convert in backends():
            a = convert(v)
            xp = array_api_compat.array_namespace(a)
            got = float(np.asarray(weighted_total(xp, a, scale)))
            assert abs(got - exact) <= 1e-6 * abs(exact), scale
    print(f"weighted_total agrees with float64 on {len(shapes) + 2} shape pairs x 4 backends")
    _check_ieee(backends())


def _check_ieee(backends: list[tuple[str, Any]]) -> None:
    """NaN/inf results equal those of ``xp.sum(values * weights)`` (TensorFlow's order of
    operations): 0 * inf, NaN * 0, an overflowing product, inf - inf, for every path."""
    import warnings

    import array_api_compat
    import jax
    import numpy as np

    cases = []
    for n in (32, 1 << 17):  # the one-dot path and the blockwise path
        for index, value, weight in (
            (5, np.inf, 0.0),
            (7, np.nan, 0.0),
            (9, 0.0, np.inf),
            (3, 3e38, 10.0),
            (1, np.inf, 1.0),
        ):
            v, w = np.ones(n, np.float32), np.ones(n, np.float32)
            v[index], w[index] = value, weight
            if value == np.inf and weight == 1.0:
                v[n - 3] = -np.inf  # inf + (-inf): NaN
            cases.append((v, w))
        v = np.ones(n, np.float32)
        v[4] = np.inf
        cases.append((v, 0.0))  # scalar weight 0 * inf
    for shape, wshape in (((512, 512), (512, 1)), ((512, 512), (1, 512)), ((8, 16), (8, 1))):
        for value, weight in ((np.inf, 0.0), (np.nan, 0.0), (0.0, np.inf), (3e38, 10.0)):
            v = np.ones(shape, np.float32)
            w = np.full(wshape, 0.5, np.float32)
            v[3, 5] = value
            w[(3, 0) if wshape[1] == 1 else (0, 5)] = weight
            cases.append((v, w))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for v, w in cases:
            for name, convert in backends:
                a = convert(v)
                b = w if isinstance(w, float) else convert(w)
                xp = array_api_compat.array_namespace(a)
                expected = float(np.asarray(xp.sum(a * b)))
                results = [float(np.asarray(weighted_total(xp, a, b)))]
                if name == "jax":
                    jitted = jax.jit(functools.partial(weighted_total, xp))
                    results.append(float(jitted(a, b)))
                for got in results:
                    same = (
                        (np.isnan(got) and np.isnan(expected))
                        or got == expected
                        or (np.isfinite(got) and abs(got - expected) <= 1e-6 * abs(expected))
                    )
                    assert same, (name, v.shape, np.shape(w), got, expected)
    print(f"... and the same NaN/inf results as xp.sum(values * weights) in {len(cases)} cases")


def check_torch_compile() -> None:
    """The proposal traces under ``torch.compile(fullgraph=True)``, values and gradients."""
    import array_api_compat
    import torch

    xp = array_api_compat.array_namespace(torch.zeros(1))
    compiled = torch.compile(functools.partial(weighted_total, xp), fullgraph=True)
    for values_shape, weights_shape in (
        ((1 << 17,), (1 << 17,)),
        ((64, 512), (64, 1)),
        ((32,), (32,)),
        ((1 << 17,), ()),
    ):
        v = torch.rand(values_shape)
        w = torch.rand(weights_shape)
        leaf = v.clone().requires_grad_(True)
        total = compiled(leaf, w)
        total.backward()
        exact = float((v.double() * w.double()).sum())
        assert abs(float(total.detach()) - exact) <= 1e-6 * exact, (values_shape, weights_shape)
        assert torch.allclose(leaf.grad, torch.broadcast_to(w, values_shape))
    print("... and traces under torch.compile(fullgraph=True) with correct gradients")


if __name__ == "__main__":
    import sys

    check()
    if "--torch-compile" in sys.argv:
        check_torch_compile()
