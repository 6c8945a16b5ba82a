"""The operations the array API lacks, with one branch per library: stopping gradients,
counting integer ids (a scatter-add: ``np.bincount``, ``scatter_add_``/``index_add_``,
``jax.ops.segment_sum``; sorted running sums elsewhere), counting each packed row's
sequences, picking each segment's value (a scatter), a one-pass min/max, and the device and
dtype lookups (without array-api-compat's helpers, on which TorchDynamo warns).

This is the only module of ``losskit.aggregation`` that names a framework; it imports one
only when handed one of its arrays. Every function keeps shapes static (the number of bins
is a Python int), so it traces under ``jax.jit`` and ``torch.compile(fullgraph=True)``.
Ids equal to ``length`` are a discard bin: they are not counted and not picked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from losskit import _namespace as ns
from losskit.distribute._denominator import _stop_gradient as stop_gradient

__all__ = [
    "count_ids",
    "device_of",
    "extremes",
    "float_dtype",
    "id_bound",
    "index_dtype",
    "pick",
    "sequence_counts",
    "static_shapes",
    "stop_gradient",
]


def index_dtype(xp: ns.Namespace, like: Any) -> Any:
    """The library's default indexing dtype (int64; int32 under JAX's default x32)."""
    if ns.library(like) == "torch":
        return xp.int64
    info = xp.__array_namespace_info__()
    return info.default_dtypes(device=device_of(like))["indexing"]


def static_shapes(array: Any) -> bool:
    """Whether shapes must never depend on values, even readable ones (JAX: a new shape is
    a new compiled program)."""
    return ns.library(array) in ("jax", "jaxlib")


def float_dtype(xp: ns.Namespace, like: Any) -> Any:
    """The widest floating dtype of the library and device (float64 where it exists)."""
    if ns.library(like) == "torch":  # (array_api_compat's lookups warn under Dynamo)
        return xp.float32 if like.device.type == "mps" else xp.float64
    return ns.widest_float(xp, like)


def device_of(array: Any) -> Any:
    """The array's device; None for a JAX tracer (XLA places new arrays itself)."""
    if ns.library(array) == "torch":
        return array.device
    try:
        import array_api_compat

        return array_api_compat.device(array)
    except Exception:  # a JAX tracer has no device to ask
        return None


def extremes(xp: ns.Namespace, array: Any) -> tuple[Any, Any]:
    """``(min, max)`` of a non-empty array, as 0-d arrays."""
    return xp.min(array), xp.max(array)


def id_bound(xp: ns.Namespace, ids: Any) -> Any:
    """A 0-d integer that is the largest id if no id is negative, and at least
    ``2**31 - 1`` otherwise: ``0 <= ids < stop`` exactly when it is below ``stop``. One
    pass over the ids where the library allows."""
    origin = ns.library(ids)
    if origin == "numpy":
        if ids.dtype.kind == "i":  # negative ids become huge unsigned ones
            return ids.view(np.dtype(f"u{ids.dtype.itemsize}")).max()
        return ids.max()
    if origin == "torch":
        import torch

        low, high = torch.aminmax(ids)
        return torch.where(low < 0, 2**31 - 1, high)
    low, high = extremes(xp, ids)
    return xp.where(low < 0, 2**31 - 1, high)


def sequence_counts(
    xp: ns.Namespace, segments: Any, mask: Any, stride: int, *, present: bool
) -> tuple[Any, Any]:
    """Tokens of each packed sequence ``(row, id)``, ids in ``[0, stride)``: the valid ones
    and, if ``present``, all of them (else None); integer arrays ``[B, stride]``."""
    rows = segments.shape[0]
    if ns.library(segments) == "numpy":
        # One bincount gives both: bin 2 * (row * stride + id) + mask.
        pairs = segments * 2  # in place from here: one temporary instead of three
        pairs += (np.arange(rows, dtype=pairs.dtype) * (2 * stride))[:, None]
        pairs += mask
        counts = np.bincount(pairs.reshape(-1), minlength=2 * rows * stride)
        counts = counts.reshape(rows, stride, 2)
        valid = counts[..., 1]
        return valid, counts[..., 0] + valid if present else None
    masked_to_discard = xp.where(mask, segments, stride)  # column `stride`: dropped
    valid = _count_in_rows(xp, masked_to_discard, stride + 1)[:, :stride]
    return valid, _count_in_rows(xp, segments, stride) if present else None


def _count_in_rows(xp: ns.Namespace, ids: Any, length: int) -> Any:
    """How often each id in ``[0, length)`` occurs in each row of ``ids``: ``[B, length]``."""
    rows, columns = ids.shape
    if ns.library(ids) == "torch":
        import torch

        # along the rows: no row offsets to add (PyTorch's integer arithmetic is slow)
        out = torch.zeros((rows, length), dtype=torch.int64, device=ids.device)
        ones = torch.ones((), dtype=torch.int64, device=ids.device).expand(rows, columns)
        return out.scatter_add_(1, ids, ones)
    offsets = xp.arange(rows, dtype=ids.dtype, device=device_of(ids)) * length
    counts = count_ids(xp, ids + offsets[:, None], rows * length)
    return xp.reshape(counts, (rows, length))


def count_ids(xp: ns.Namespace, ids: Any, length: int) -> Any:
    """How often each id in ``[0, length)`` occurs in ``ids`` (integers in ``[0, length]``);
    an integer array ``[length]``."""
    flat = xp.reshape(ids, (-1,))
    origin = ns.library(flat)
    if origin == "numpy":
        return np.bincount(flat, minlength=length + 1)[:length]
    if origin == "torch":
        import torch

        # index_add_ into a fixed-size buffer: torch.bincount's output size depends on
        # the values (a graph break under torch.compile), and it is slower on CPU.
        out = torch.zeros(length + 1, dtype=torch.int64, device=flat.device)
        ones = torch.ones((), dtype=torch.int64, device=flat.device).expand(flat.shape[0])
        return out.index_add_(0, flat, ones)[:length]
    if origin in ("jax", "jaxlib"):
        import jax

        ones = xp.ones(flat.shape, dtype=flat.dtype)
        return jax.ops.segment_sum(ones, flat, num_segments=length)  # drops id == length
    return _sorted_sums(xp, flat, None, length)


def pick(xp: ns.Namespace, values: Any, ids: Any, length: int) -> Any:
    """One of the values of each id in ``[0, length)`` (0 where an id does not occur): the
    value of each segment, when all the values of a segment are equal."""
    flat_ids = xp.reshape(ids, (-1,))
    flat = xp.reshape(values, (-1,))
    origin = ns.library(flat)
    if origin == "numpy":
        out = np.zeros(length + 1, dtype=flat.dtype)
        out[flat_ids] = flat
        return out[:length]
    if origin == "torch":
        import torch

        buffer = torch.zeros(length + 1, dtype=flat.dtype, device=flat.device)
        return buffer.index_put_((flat_ids,), flat)[:length]
    if origin in ("jax", "jaxlib"):
        return xp.zeros(length, dtype=flat.dtype).at[flat_ids].set(flat, mode="drop")
    counts = _sorted_sums(xp, flat_ids, None, length)
    sums = _sorted_sums(xp, flat_ids, flat, length)
    return sums // xp.where(counts > 0, counts, 1)


def _sorted_sums(xp: ns.Namespace, ids: Any, values: Any, length: int) -> Any:
    """The array-API fallback of a scatter-add: sort the ids, take running sums (exact: the
    values are integers), and difference them at each id's first and last position."""
    order = xp.argsort(ids)
    ordered = xp.take(ids, order)
    if values is None:
        running = xp.arange(1, ids.shape[0] + 1, dtype=ids.dtype)
    else:
        running = xp.cumulative_sum(xp.take(values, order))
    bounds = xp.arange(length, dtype=ids.dtype)
    start = xp.searchsorted(ordered, bounds, side="left")
    stop = xp.searchsorted(ordered, bounds, side="right")
    padded = xp.concat([xp.zeros(1, dtype=running.dtype), running])
    return xp.take(padded, stop) - xp.take(padded, start)
