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

import array_api_compat
import numpy as np

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit._kernels import penalty as _penalty
from losskit._kernels import segments as _segments

__all__ = ["Backend", "cacheable", "of", "pytree_leaves"]


class Backend:
    """Any array-API library: the standard's functions only, nothing library-specific."""

    name = "array-api"
    static_shapes = False
    """Whether shapes must never depend on values, even readable ones (JAX: a new shape is a
    new compiled program)."""

    def stop_gradient(self, value: Any) -> Any:
        """``value`` held constant for differentiation (libraries without autograd: as is)."""
        return value

    def host_readable(self, value: Any) -> bool:
        """Whether the values of ``value`` can be read without a device sync or a trace;
        callers skip their value checks where they cannot, rather than force a sync."""
        return False

    def host_float(self, value: Any) -> float | None:
        """The value of a 0-d array if :meth:`host_readable`, else None."""
        return float(np.asarray(value)) if self.host_readable(value) else None

    def host_copy(self, value: Any) -> np.ndarray | None:
        """A NumPy copy of ``value``, waiting for the device if it must (for opt-in debug
        checks only); None where the values do not exist yet (under tracing)."""
        return np.asarray(value)

    def device(self, array: Any) -> Any:
        """The array's device; None for a JAX tracer (XLA places new arrays itself)."""
        try:
            return array_api_compat.device(array)
        except Exception:  # a tracer has no device to ask
            return None

    def widest_float(self, xp: ns.Namespace, like: Any) -> Any:
        """float64 where the library and device have it, else float32."""
        return ns.widest_float(xp, like)

    def index_dtype(self, xp: ns.Namespace, like: Any) -> Any:
        """The library's default indexing dtype (int64; int32 under JAX's default x32)."""
        info = xp.__array_namespace_info__()
        return info.default_dtypes(device=self.device(like))["indexing"]

    # -- segment sums (losskit.aggregation); ids equal to ``length`` are discarded --------
    def count_ids(self, xp: ns.Namespace, ids: Any, length: int) -> Any:
        """How often each id in ``[0, length)`` occurs in ``ids``: an integer ``[length]``."""
        return _segments.count_ids(xp, ids, length)

    def count_in_rows(self, xp: ns.Namespace, ids: Any, length: int) -> Any:
        """How often each id in ``[0, length)`` occurs in each row of ``ids``: ``[B, length]``."""
        rows = ids.shape[0]
        offsets = xp.arange(rows, dtype=ids.dtype, device=self.device(ids)) * length
        counts = self.count_ids(xp, ids + offsets[:, None], rows * length)
        return xp.reshape(counts, (rows, length))

    def sequence_counts(
        self, xp: ns.Namespace, segments: Any, mask: Any, stride: int, *, present: bool
    ) -> tuple[Any, Any]:
        """Tokens of each packed sequence ``(row, id)``, ids in ``[0, stride)``: the valid
        ones and, if ``present``, all of them (else None); integer arrays ``[B, stride]``."""
        masked_to_discard = xp.where(mask, segments, stride)  # column `stride`: dropped
        valid = self.count_in_rows(xp, masked_to_discard, stride + 1)[:, :stride]
        return valid, self.count_in_rows(xp, segments, stride) if present else None

    def pick(self, xp: ns.Namespace, values: Any, ids: Any, length: int) -> Any:
        """One value of each id in ``[0, length)`` (0 where it does not occur)."""
        return _segments.pick(xp, values, ids, length)

    def id_bound(self, xp: ns.Namespace, ids: Any) -> Any:
        """The largest id if none is negative, else at least ``2**31 - 1`` (0-d)."""
        return _segments.id_bound(xp, ids)

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

    def linear_cross_entropy(
        self,
        xp: ns.Namespace,
        rows: Any,
        weight: Any,
        bias: Any,
        labels: Any,
        coef: Any,
        **options: Any,
    ) -> Any:
        """The fused linear cross-entropy kernel (:mod:`losskit._kernels`): forward only
        here, with gradients where the library has a kernel of its own."""
        from losskit._kernels import linear_ce_array_api

        return linear_ce_array_api.linear_cross_entropy(
            xp, rows, weight, bias, labels, coef, **options
        )

    def scale_gradients(self, xp: ns.Namespace, grads: Any, factor: Any) -> Any:
        """Every gradient of ``grads`` (a list of arrays) times the 0-d ``factor``, cast to
        each gradient's dtype; new arrays (the standard has no in-place multiply)."""
        return [g * xp.astype(factor, g.dtype) for g in _gradient_list(xp, grads)]


_COUNT_BLOCK = 1 << 15
"""Tokens per block of :meth:`NumpyBackend.sequence_counts` (256 KiB of int64 bins)."""


class NumpyBackend(Backend):
    name = "numpy"

    def host_readable(self, value: Any) -> bool:
        return True

    def count_ids(self, xp: ns.Namespace, ids: Any, length: int) -> Any:
        return np.bincount(np.reshape(ids, (-1,)), minlength=length + 1)[:length]

    def sequence_counts(
        self, xp: ns.Namespace, segments: Any, mask: Any, stride: int, *, present: bool
    ) -> tuple[Any, Any]:
        # by blocks of rows: the bins of a block stay in the cache, and their temporary is
        # reused by the allocator instead of faulting in fresh pages for the whole batch
        rows, length = segments.shape
        block = max(1, _COUNT_BLOCK // max(length, 1))
        valid = np.empty((rows, stride), dtype=np.intp)
        total = np.empty((rows, stride), dtype=np.intp) if present else None
        offsets = np.arange(min(block, rows), dtype=segments.dtype)[:, None] * stride
        for start in range(0, rows, block):
            ids, kept = segments[start : start + block], mask[start : start + block]
            n = ids.shape[0]
            if total is None:  # bin row * stride + id + 1, masked tokens in bin 0
                bins = ids + (offsets[:n] + 1)
                np.multiply(bins, kept, out=bins)
                counts = np.bincount(bins.reshape(-1), minlength=n * stride + 1)
                valid[start : start + n] = counts[1:].reshape(n, stride)
                continue
            pairs = ids * 2  # bin 2 * (row * stride + id) + mask: both counts at once
            pairs += 2 * offsets[:n]
            pairs += kept
            both = np.bincount(pairs.reshape(-1), minlength=2 * n * stride).reshape(n, stride, 2)
            valid[start : start + n] = both[..., 1]
            total[start : start + n] = both[..., 0] + both[..., 1]
        return valid, total

    def pick(self, xp: ns.Namespace, values: Any, ids: Any, length: int) -> Any:
        out = np.zeros(length + 1, dtype=values.dtype)
        out[np.reshape(ids, (-1,))] = np.reshape(values, (-1,))
        return out[:length]

    def id_bound(self, xp: ns.Namespace, ids: Any) -> Any:
        if ids.dtype.kind == "i":  # negative ids become huge unsigned ones: one pass
            return ids.view(np.dtype(f"u{ids.dtype.itemsize}")).max()
        return ids.max()

    def _penalty_group(
        self, xp: ns.Namespace, arrays: list[Any], l1: float | None, l2: float | None
    ) -> Any:
        from losskit._kernels import penalty_numpy

        result, dtype = _penalty.result_dtype(xp, arrays[0])
        total = penalty_numpy.penalty(arrays, l1, l2, dtype)
        return np.asarray(total, dtype=np.float64).astype(result)

    def scale_gradients(self, xp: ns.Namespace, grads: Any, factor: Any) -> Any:
        found = _gradient_list(xp, grads)
        for g in found:  # in place, as torch's _foreach_mul_
            np.multiply(g, factor, out=g, casting="same_kind")
        return found


class StrictBackend(Backend):
    """array-api-strict: host memory only, readable at any time."""

    name = "array_api_strict"

    def host_readable(self, value: Any) -> bool:
        return True

    def host_float(self, value: Any) -> float | None:
        return float(value)


class TorchBackend(Backend):
    name = "torch"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def stop_gradient(self, value: Any) -> Any:
        return value.detach()

    def host_readable(self, value: Any) -> bool:
        torch = self.torch
        if torch.compiler.is_compiling() or value.device.type != "cpu":
            return False
        # FakeTensor and other tracing subclasses cannot be read
        return type(value) is torch.Tensor or isinstance(value, torch.nn.Parameter)

    def host_float(self, value: Any) -> float | None:
        return float(value.detach().item()) if self.host_readable(value) else None

    def host_copy(self, value: Any) -> np.ndarray | None:
        torch = self.torch
        if torch.compiler.is_compiling() or not (
            type(value) is torch.Tensor or isinstance(value, torch.nn.Parameter)
        ):
            return None
        return np.asarray(value.detach().cpu().numpy())

    def device(self, array: Any) -> Any:
        return array.device  # (array_api_compat's lookups warn under TorchDynamo)

    def widest_float(self, xp: ns.Namespace, like: Any) -> Any:
        return xp.float32 if like.device.type == "mps" else xp.float64

    def index_dtype(self, xp: ns.Namespace, like: Any) -> Any:
        return xp.int64

    def count_ids(self, xp: ns.Namespace, ids: Any, length: int) -> Any:
        # index_add_ into a fixed-size buffer: torch.bincount's output size depends on the
        # values (a graph break under torch.compile), and it is slower on the CPU
        torch, flat = self.torch, ids.reshape(-1)
        out = torch.zeros(length + 1, dtype=torch.int64, device=flat.device)
        ones = torch.ones((), dtype=torch.int64, device=flat.device).expand(flat.shape[0])
        return out.index_add_(0, flat, ones)[:length]

    def count_in_rows(self, xp: ns.Namespace, ids: Any, length: int) -> Any:
        # along the rows: no row offsets to add (PyTorch's integer arithmetic is slow)
        torch, (rows, columns) = self.torch, ids.shape
        out = torch.zeros((rows, length), dtype=torch.int64, device=ids.device)
        ones = torch.ones((), dtype=torch.int64, device=ids.device).expand(rows, columns)
        return out.scatter_add_(1, ids, ones)

    def sequence_counts(
        self, xp: ns.Namespace, segments: Any, mask: Any, stride: int, *, present: bool
    ) -> tuple[Any, Any]:
        # the mask itself is what each token adds to its sequence's valid count: no
        # `where` pass over the ids (they are all in [0, stride), masked or not)
        torch, rows = self.torch, segments.shape[0]
        valid = torch.zeros((rows, stride), dtype=torch.int64, device=segments.device)
        valid.scatter_add_(1, segments, mask.to(torch.int64))
        return valid, self.count_in_rows(xp, segments, stride) if present else None

    def pick(self, xp: ns.Namespace, values: Any, ids: Any, length: int) -> Any:
        flat = values.reshape(-1)
        buffer = self.torch.zeros(length + 1, dtype=flat.dtype, device=flat.device)
        return buffer.index_put_((ids.reshape(-1),), flat)[:length]

    def id_bound(self, xp: ns.Namespace, ids: Any) -> Any:
        low, high = self.torch.aminmax(ids)
        return self.torch.where(low < 0, 2**31 - 1, high)

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

    def scale_gradients(self, xp: ns.Namespace, grads: Any, factor: Any) -> Any:
        # one fused in-place multiply per (device, dtype) group; a parameter stands for its
        # .grad (None: skipped), any other tensor is taken as a gradient itself
        torch = self.torch
        found: list[Any] = []
        for item in _iterable(grads):
            if not isinstance(item, torch.Tensor):
                raise TypeError(invalid("grads", "parameters or gradient tensors", item))
            if item.is_leaf and item.requires_grad:
                if item.grad is not None:
                    found.append(item.grad)
            else:
                found.append(item)
        groups: dict[tuple[Any, Any], list[Any]] = {}
        for grad in found:
            groups.setdefault((grad.device, grad.dtype), []).append(grad)
        with torch.no_grad():
            for (device, dtype), tensors in groups.items():
                torch._foreach_mul_(tensors, factor.to(device=device, dtype=dtype))
        return found

    def linear_cross_entropy(
        self,
        xp: ns.Namespace,
        rows: Any,
        weight: Any,
        bias: Any,
        labels: Any,
        coef: Any,
        **options: Any,
    ) -> Any:
        from losskit._kernels import linear_ce_torch

        labels = labels.to(self.torch.int64)
        return linear_ce_torch.linear_cross_entropy(rows, weight, bias, labels, coef, **options)


class JaxBackend(Backend):
    name = "jax"
    static_shapes = True

    def __init__(self) -> None:
        import jax

        self.jax = jax

    def stop_gradient(self, value: Any) -> Any:
        return self.jax.lax.stop_gradient(value)

    def host_readable(self, value: Any) -> bool:
        if isinstance(value, self.jax.core.Tracer):
            return False
        return all(device.platform == "cpu" for device in value.devices())

    def host_copy(self, value: Any) -> np.ndarray | None:
        return None if isinstance(value, self.jax.core.Tracer) else np.asarray(value)

    def count_ids(self, xp: ns.Namespace, ids: Any, length: int) -> Any:
        flat = xp.reshape(ids, (-1,))
        ones = xp.ones(flat.shape, dtype=flat.dtype)
        return self.jax.ops.segment_sum(ones, flat, num_segments=length)  # drops id == length

    def pick(self, xp: ns.Namespace, values: Any, ids: Any, length: int) -> Any:
        flat_ids, flat = xp.reshape(ids, (-1,)), xp.reshape(values, (-1,))
        return xp.zeros(length, dtype=flat.dtype).at[flat_ids].set(flat, mode="drop")

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

    def scale_gradients(self, xp: ns.Namespace, grads: Any, factor: Any) -> Any:
        # a pure function of the pytree: JAX arrays are immutable
        return self.jax.tree_util.tree_map(lambda g: g * factor.astype(g.dtype), grads)

    def linear_cross_entropy(
        self,
        xp: ns.Namespace,
        rows: Any,
        weight: Any,
        bias: Any,
        labels: Any,
        coef: Any,
        **options: Any,
    ) -> Any:
        from losskit._kernels import linear_ce_jax

        return linear_ce_jax.linear_cross_entropy(rows, weight, bias, labels, coef, **options)


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


def cacheable(value: Any) -> bool:
    """Whether what validating ``value`` establishes may be cached by its type, dtype and
    shape: a NumPy array, or a plain PyTorch tensor outside ``torch.compile`` (whose
    signature can be read without tracing). Never imports a library."""
    kind = type(value)
    if kind is np.ndarray:
        return True
    torch = sys.modules.get("torch")
    return torch is not None and kind is torch.Tensor and not torch.compiler.is_compiling()


def pytree_leaves(tree: Any) -> list[tuple[tuple[Any, ...], Any]] | None:
    """``(key path, leaf)`` pairs of a registered pytree (flax and equinox modules, ...), or
    None if no pytree library that the user has imported can flatten ``tree``."""
    if "jax" not in sys.modules or isinstance(tree, (str, bytes)):
        return None
    import jax

    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(tuple(path), leaf) for path, leaf in flat]


def _iterable(grads: Any) -> list[Any]:
    if hasattr(grads, "shape") or isinstance(grads, (str, bytes)):
        raise TypeError(
            invalid(
                "grads",
                "a list (or iterable) of gradients or parameters, not one array",
                grads,
                hint="Wrap a single gradient in a list.",
            )
        )
    try:
        return list(grads)
    except TypeError:
        raise TypeError(
            invalid("grads", "a list (or iterable) of gradients or parameters", grads)
        ) from None


def _gradient_list(xp: ns.Namespace, grads: Any) -> list[Any]:
    found = _iterable(grads)
    for index, grad in enumerate(found):
        library = None if not hasattr(grad, "dtype") else ns.namespace(grad)
        if ns.is_python_number(grad) or library is not xp:
            raise TypeError(invalid(f"grads[{index}]", f"an array of {xp.__name__}", grad))
    return found
