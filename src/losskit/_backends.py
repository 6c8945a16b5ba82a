"""Every difference between array libraries that the array API does not cover, in one place.

The array API standard has no ``stop_gradient``, no way to read a value without a device
sync, no pytrees and no fused kernels. losskit needs each of them in a few places; they are
the methods of a :class:`Backend`, one subclass per library (einops' ``_backends.py``
pattern). :func:`of` returns the backend of an array namespace, created the first time
that library's arrays reach losskit, so a library is imported here only once its arrays
exist (``import losskit`` imports no framework).

The rest of losskit calls ``xp.*`` for arithmetic and ``_backends.of(xp).<method>`` for
these few things, never ``if library == "torch"``. The framework integrations
(:mod:`losskit.torch`, :mod:`losskit.jax`) and the engines (:mod:`losskit.distribute`'s
``torch_context`` and ``jax_context``) import their framework directly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from losskit import _namespace as ns
from losskit._kernels import penalty as _penalty

__all__ = ["Backend", "of", "pytree_leaves"]


class Backend:
    """Any array-API library: the standard's functions only, nothing library-specific."""

    name = "array-api"

    def stop_gradient(self, value: Any) -> Any:
        """``value`` held constant for differentiation (libraries without autograd: as is)."""
        return value

    def host_float(self, value: Any) -> float | None:
        """The value of a 0-d array if it can be read without a device sync or a trace,
        else None (the caller then skips its value check rather than force a sync)."""
        return None

    def fused_penalty(
        self, xp: ns.Namespace, arrays: Sequence[Any], l1: float | None, l2: float | None
    ) -> Any:
        """:math:`l_1 \\sum|a| + l_2 \\sum a^2` over ``arrays``, fused where the library
        has a kernel (:mod:`losskit._kernels.penalty`)."""
        totals = [self._penalty_group(xp, group, l1, l2) for group in _penalty.by_dtype(xp, arrays)]
        total = totals[0]
        for value in totals[1:]:
            total = total + value
        return total

    def _penalty_group(
        self, xp: ns.Namespace, arrays: list[Any], l1: float | None, l2: float | None
    ) -> Any:
        return _penalty.generic_penalty(xp, arrays, l1, l2)

    def sparse_crossentropy(self, scores: Any, labels: Any) -> Any | None:
        """``logsumexp(scores) - scores[label]`` by a fused library kernel, or None."""
        return None

    def value_and_grad(
        self, fn: Callable[[Any], Any], params: Any, leaves: list[Any]
    ) -> tuple[Any, list[Any] | None]:
        """``(fn(params), gradients of its value with respect to leaves)``; None where the
        library has no autograd."""
        return fn(params), None


class NumpyBackend(Backend):
    name = "numpy"

    def host_float(self, value: Any) -> float | None:
        return float(np.asarray(value))

    def _penalty_group(
        self, xp: ns.Namespace, arrays: list[Any], l1: float | None, l2: float | None
    ) -> Any:
        from losskit._kernels import penalty_numpy

        result, dtype = _penalty.result_dtype(xp, arrays[0])
        total = penalty_numpy.penalty(arrays, l1, l2, dtype)
        return np.asarray(total, dtype=np.float64).astype(result)


class StrictBackend(Backend):
    """array-api-strict: host memory only, readable at any time."""

    name = "array_api_strict"

    def host_float(self, value: Any) -> float | None:
        return float(value)


class TorchBackend(Backend):
    name = "torch"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def stop_gradient(self, value: Any) -> Any:
        return value.detach()

    def host_float(self, value: Any) -> float | None:
        torch = self.torch
        if torch.compiler.is_compiling() or value.device.type != "cpu":
            return None
        if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
            return None  # FakeTensor and other tracing subclasses
        return float(value.detach().item())

    def _penalty_group(
        self, xp: ns.Namespace, arrays: list[Any], l1: float | None, l2: float | None
    ) -> Any:
        from losskit._kernels import penalty_torch

        result, _ = _penalty.result_dtype(xp, arrays[0])
        return penalty_torch.penalty(arrays, l1, l2, result)

    def sparse_crossentropy(self, scores: Any, labels: Any) -> Any | None:
        # one fused log-softmax kernel forward and backward: 1.6x the composed form's speed
        classes = scores.shape[-1]
        flat = self.torch.nn.functional.cross_entropy(
            scores.reshape(-1, classes), labels.reshape(-1), reduction="none"
        )
        return flat.reshape(labels.shape)

    def value_and_grad(
        self, fn: Callable[[Any], Any], params: Any, leaves: list[Any]
    ) -> tuple[Any, list[Any] | None]:
        torch = self.torch
        value = fn(params)
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
        filled = [
            torch.zeros_like(t) if g is None else g for t, g in zip(leaves, grads, strict=True)
        ]
        return value.detach(), [g.detach() for g in filled]


class JaxBackend(Backend):
    name = "jax"

    def __init__(self) -> None:
        import jax

        self.jax = jax

    def stop_gradient(self, value: Any) -> Any:
        return self.jax.lax.stop_gradient(value)

    def host_float(self, value: Any) -> float | None:
        if isinstance(value, self.jax.core.Tracer):
            return None
        if any(device.platform != "cpu" for device in value.devices()):
            return None
        return float(np.asarray(value))

    def fused_penalty(
        self, xp: ns.Namespace, arrays: Sequence[Any], l1: float | None, l2: float | None
    ) -> Any:
        from losskit._kernels import penalty_jax

        # checks and groups the dtypes while tracing its jitted kernel (once per signature)
        return penalty_jax.penalty(arrays, l1, l2)

    def value_and_grad(
        self, fn: Callable[[Any], Any], params: Any, leaves: list[Any]
    ) -> tuple[Any, list[Any] | None]:
        value, grads = self.jax.value_and_grad(fn)(params)
        return value, self.jax.tree_util.tree_leaves(grads)


# Keyed by the namespace module's name: TorchDynamo reads a module's ``__name__`` but
# cannot trace a module object as a dict key.
_KINDS: dict[str, type[Backend]] = {
    "array_api_compat.numpy": NumpyBackend,
    "numpy": NumpyBackend,
    "array_api_compat.torch": TorchBackend,
    "jax.numpy": JaxBackend,
    "array_api_strict": StrictBackend,
}
_CREATED: dict[str, Backend] = {}


def of(xp: ns.Namespace) -> Backend:
    """The backend of the array namespace ``xp`` (a generic one for unknown libraries)."""
    name: str = xp.__name__
    found = _CREATED.get(name)
    if found is None:
        found = _CREATED[name] = _KINDS.get(name, Backend)()
    return found


def pytree_leaves(tree: Any) -> list[tuple[tuple[Any, ...], Any]] | None:
    """``(key path, leaf)`` pairs of a registered pytree (flax and equinox modules, ...), or
    None if no pytree library that the user has imported can flatten ``tree``."""
    if "jax" not in sys.modules or isinstance(tree, (str, bytes)):
        return None
    import jax

    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(tuple(path), leaf) for path, leaf in flat]
