"""Test helpers: the `Backend` behind the `xp` fixture, and comparisons that raise.

`xp` (see conftest.py) is a :class:`Backend`: it forwards attribute access to the array namespace
(`xp.float32`, `xp.sum`, ...) and adds what a test needs around it: `xp.asarray(data, dtype)`
from NumPy data, `xp.run(fn, *args, **kwargs)` (under `jax.jit` for JAX), `xp.numpy(result)`
and `xp.grad(fn, *arrays)` where the backend has autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat
import jax
import numpy as np
import pytest

# float64 oracles need float64 on every backend; JAX's default (x64 off) is covered in a fresh
# process by tests/test_tracing.py::test_jax_default_precision_gives_float32_for_integers.
jax.config.update("jax_enable_x64", True)

DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool")


class Backend:
    """An array namespace plus the test-side helpers around it."""

    def __init__(self, name: str, module: Any) -> None:
        self.name = name
        self.module = module
        self.xp = array_api_compat.array_namespace(module.asarray([0.0]))

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.xp, attribute)

    def __repr__(self) -> str:
        return f"Backend({self.name})"

    # -- construction -------------------------------------------------------------
    def dtype(self, name: str) -> Any:
        if name == "bfloat16":
            found = getattr(self.module, "bfloat16", None)
            if found is None or self.name == "numpy":
                pytest.skip(f"{self.name} has no bfloat16")
            return found
        found = getattr(self.xp, name, None)
        if found is None:
            pytest.skip(f"{self.name} has no {name}")
        return found

    def supports(self, name: str) -> bool:
        if name == "bfloat16":
            return self.name in ("torch", "jax")
        if name == "float16":
            return self.name != "array_api_strict"
        return True

    def asarray(self, data: Any, dtype: str | None = None) -> Any:
        host = np.asarray(data)
        if dtype is None:
            dtype = {"f": "float64", "i": "int64", "u": "uint8", "b": "bool"}[host.dtype.kind]
        if dtype == "bfloat16":
            if self.name == "torch":
                import torch

                return torch.asarray(host.astype(np.float32)).to(torch.bfloat16)
            return self.module.asarray(host.astype(np.float32), dtype=self.dtype(dtype))
        return self.xp.asarray(host.astype(dtype), dtype=self.dtype(dtype))

    # -- execution ----------------------------------------------------------------
    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``; for JAX, jitted over the JAX arrays among the arguments."""
        if self.name != "jax":
            return fn(*args, **kwargs)
        items = list(args) + list(kwargs.values())
        traced = [i for i, item in enumerate(items) if isinstance(item, jax.Array)]
        keys = list(kwargs)

        def call(*arrays: Any) -> Any:
            values = list(items)
            for index, array in zip(traced, arrays, strict=True):
                values[index] = array
            positional = values[: len(args)]
            named = dict(zip(keys, values[len(args) :], strict=True))
            return fn(*positional, **named)

        return jax.jit(call)(*[items[i] for i in traced])

    def numpy(self, value: Any) -> np.ndarray:
        """A NumPy copy (float64 for low-precision floats NumPy cannot hold)."""
        if self.name == "torch":
            import torch

            value = value.detach()
            if value.dtype == torch.bfloat16:
                value = value.float()
            return value.numpy()
        if self.name == "jax" and value.dtype == jax.numpy.bfloat16:
            return np.asarray(value.astype(jax.numpy.float32))
        if self.name == "array_api_strict":
            return np.from_dlpack(value).copy()
        return np.asarray(value)

    def dtype_name(self, value: Any) -> str:
        dtype = value.dtype
        for name in DTYPES:
            if self.supports(name) and dtype == self.dtype(name):
                return name
        return str(dtype)

    @property
    def has_autograd(self) -> bool:
        return self.name in ("torch", "jax")

    def grad(self, fn: Callable[..., Any], *arrays: Any) -> tuple[np.ndarray, ...]:
        """Gradients of the scalar ``fn(*arrays)`` with respect to every array, as NumPy."""
        if self.name == "torch":
            import torch

            leaves = [a.detach().clone().requires_grad_(True) for a in arrays]
            out = fn(*leaves)
            grads = torch.autograd.grad(out, leaves, allow_unused=True)
            return tuple(
                np.zeros(a.shape) if g is None else self.numpy(g)
                for a, g in zip(leaves, grads, strict=True)
            )
        if self.name == "jax":
            positions = tuple(range(len(arrays)))
            grads = jax.grad(fn, argnums=positions)(*arrays)
            return tuple(self.numpy(g) for g in grads)
        pytest.skip(f"{self.name} has no autograd")


def assert_close(actual: Any, expected: Any, *, rtol: float = 1e-12, atol: float = 0.0) -> None:
    """``np.testing.assert_allclose`` on NumPy copies, NaN-aware; raises on mismatch."""
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=rtol,
        atol=atol,
        equal_nan=True,
    )


TOLERANCE = {"float16": 1e-3, "bfloat16": 8e-3, "float32": 2e-6, "float64": 1e-12}


def central_differences(fn: Callable[[np.ndarray], Any], x: np.ndarray, step: float = 1e-6) -> Any:
    """The gradient of the scalar ``fn`` at ``x`` by central differences, entry by entry: the
    float64 oracle's side of a gradient test."""
    gradient = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        gradient[index] = (float(fn(up)) - float(fn(down))) / (2 * step)
    return gradient
