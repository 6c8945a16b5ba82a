"""Validated inputs of a plan: the micro-batches' masks, sequence and group structure.

Shapes and dtypes are checked always; values (0/1 masks, id ranges, one group per sequence)
only where they can be read without a device sync or a trace (NumPy, CPU arrays outside
``jax.jit``/``torch.compile``): on a GPU or under tracing those checks are skipped.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.aggregation._modes import Mode, spec
from losskit.aggregation._resolve import resolve_with_options

__all__ = ["Inputs", "MicroBatch", "read_inputs", "read_options"]


@dataclasses.dataclass(frozen=True)
class MicroBatch:
    """One micro-batch: ``mask`` (bool ``[B, T]``), and in the packed layout ``segments``
    (``[B, T]``); ``groups`` is ``[B]`` (padded) or ``[B, T]`` (packed); ids in the
    library's indexing dtype."""

    mask: Any
    segments: Any = None
    groups: Any = None
    stride: int = 0  # packed: id bins per row (the largest id + 1 where readable, else T)

    @property
    def packed(self) -> bool:
        return self.segments is not None


@dataclasses.dataclass(frozen=True)
class Inputs:
    xp: ns.Namespace
    mode: Mode
    batches: tuple[MicroBatch, ...]
    dtype: Any  # the floating dtype counts and coefficients are computed in
    num_groups: int
    max_length: float
    count_empty: bool


def read_inputs(
    masks: Sequence[Any],
    *,
    mode: str,
    segment_ids: Sequence[Any] | None,
    group_ids: Sequence[Any] | None,
    num_groups: int | None,
    max_length: float | None,
    count_empty: bool | None,
    sequence_shards: int = 1,
) -> Inputs:
    """Check every argument of :func:`losskit.aggregation.plan` (see there for the rules).
    Under context parallelism (``sequence_shards > 1``) packed segment ids may reach the
    whole row's length, ``T * sequence_shards``, and are counted in that many bins per row
    on every shard (the per-sequence counts are summed over the shards)."""
    chosen = spec(resolve_with_options(mode)[0])
    if not isinstance(masks, (list, tuple)) or not masks:
        raise TypeError(
            invalid("masks", "a non-empty list of [B, T] masks (one per micro-batch)", masks)
        )
    count = len(masks)
    segment_ids = _parallel("segment_ids", segment_ids, count)
    groups_given = _parallel("group_ids", group_ids, count)
    if chosen.uses_groups and groups_given is None:
        raise ValueError(
            invalid("group_ids", f"a list of group ids for mode {chosen.name!r}", None)
        )
    if not chosen.uses_groups:
        groups_given = None  # not used by this mode
    chosen, count_empty, groups, length = read_options(
        mode, num_groups=num_groups, max_length=max_length, count_empty=count_empty
    )
    arrays = [*masks, *(segment_ids or ()), *(groups_given or ())]
    names = _names("masks", count)
    names += _names("segment_ids", count) if segment_ids is not None else []
    names += _names("group_ids", count) if groups_given is not None else []
    xp = ns.namespace(*arrays, names=names)
    batches = []
    for k in range(count):
        mask = _mask(xp, masks[k], f"masks[{k}]")
        segments, stride = None, 0
        if segment_ids is not None:
            segments = _ids(xp, segment_ids[k], f"segment_ids[{k}]", mask, tuple(mask.shape))
            bound = int(mask.shape[1]) * sequence_shards
            what = "row length" if sequence_shards == 1 else "the whole row's length"
            more = (
                " Under context parallelism, enter the engine's context with its sequence "
                "group (ids then reach the whole row's length)."
                if sequence_shards == 1
                else ""
            )
            high = _check_range(xp, segments, f"segment_ids[{k}]", bound, what, more=more)
            # Fewer bins where the ids were read (the same counts, faster); JAX keeps the
            # static bound T so that shapes never depend on values, and the shards of a
            # sequence group all use the whole row's bound (their counts are summed).
            static = _backends.of(xp).static_shapes or sequence_shards > 1
            stride = bound if high is None or static else high + 1
        grouped = None
        if groups_given is not None:
            shape = tuple(mask.shape) if segments is not None else tuple(mask.shape[:1])
            grouped = _ids(xp, groups_given[k], f"group_ids[{k}]", mask, shape)
            _check_range(xp, grouped, f"group_ids[{k}]", groups, "`num_groups`")
        batches.append(MicroBatch(mask, segments, grouped, stride))
    dtype = _backends.of(xp).widest_float(xp, batches[0].mask)
    return Inputs(xp, chosen, tuple(batches), dtype, groups, length, count_empty)


def read_options(
    mode: str, *, num_groups: int | None, max_length: float | None, count_empty: bool | None
) -> tuple[Mode, bool, int, float]:
    """``(mode, count_empty, num_groups, max_length)`` checked, the alias's rule filled in
    (``num_groups`` 0 and ``max_length`` 1 where the mode has none): the options of a plan,
    checked without any array (a deferred window or a meter is opened before its data)."""
    canonical, options = resolve_with_options(mode)
    chosen = spec(canonical)
    if count_empty is None:
        count_empty = bool(options.get("count_empty", False))
    if not isinstance(count_empty, bool):
        raise TypeError(invalid("count_empty", "True, False or None", count_empty))
    groups = 0
    if chosen.uses_groups:
        if num_groups is None:
            raise ValueError(
                invalid(
                    "num_groups",
                    f"the number of groups (the same on every replica) for mode {chosen.name!r}",
                    None,
                )
            )
        groups = _positive_int("num_groups", num_groups)
    length = _max_length(max_length, required=chosen.needs_max_length)
    return chosen, count_empty, groups, length


def _names(argument: str, count: int) -> list[str]:
    return [f"{argument}[{k}]" for k in range(count)]


def _parallel(name: str, value: Sequence[Any] | None, count: int) -> Sequence[Any] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != count:
        size = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else value
        raise ValueError(
            invalid(name, f"a list of {count} arrays (one per entry of `masks`)", size)
        )
    return value


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(invalid(name, "a positive integer", value))
    return int(value)


def _max_length(value: Any, *, required: bool) -> float:
    if value is None:
        if required:
            raise ValueError(
                invalid(
                    "max_length",
                    "a positive number (the constant L of seq-mean-token-sum-norm)",
                    None,
                )
            )
        return 1.0
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        raise ValueError(invalid("max_length", "a positive, finite int or float", value))
    return float(value)


def _mask(xp: ns.Namespace, value: Any, name: str) -> Any:
    """The mask as bool ``[B, T]``; 0/1 numbers are checked where readable."""
    mask = ns.as_array(xp, value, name=name)
    if mask.ndim != 2:
        raise ValueError(invalid(name, "a [B, T] mask (one row per sequence or packed row)", mask))
    if ns.is_bool(xp, mask.dtype):
        return mask
    ns.check_weight_dtype(xp, mask, name=name)  # real floating or integer
    if _backends.of(xp).host_readable(mask) and _read(xp.any((mask != 0) & (mask != 1))):
        low, high = _read(xp.min(mask)), _read(xp.max(mask))
        hint = f"It holds values from {low} to {high}."
        raise ValueError(invalid(name, "a bool mask or 0/1 numbers", value, hint=hint))
    return mask != 0


def _ids(xp: ns.Namespace, value: Any, name: str, mask: Any, shape: tuple[int, ...]) -> Any:
    ids = ns.as_array(xp, value, name=name, like=mask)
    if tuple(ids.shape) != shape:
        raise ValueError(invalid(name, f"an array of shape {shape} (to match the mask)", ids))
    if not ns.is_integral(xp, ids.dtype):
        raise TypeError(invalid(name, "an array of integer dtype", ids))
    return ns.astype(xp, ids, _backends.of(xp).index_dtype(xp, ids))


def _check_range(
    xp: ns.Namespace, ids: Any, name: str, stop: int, what: str, *, more: str = ""
) -> int | None:
    """``0 <= ids < stop``, where the values are readable; returns the largest id then."""
    if math.prod(ids.shape) == 0 or not _backends.of(xp).host_readable(ids):
        return None
    bound = _read(_backends.of(xp).id_bound(xp, ids))
    if bound is None:  # concrete ids inside a trace
        return None
    if bound >= stop:
        low, high = _read(xp.min(ids)), _read(xp.max(ids))
        hint = f"It holds values from {low:.0f} to {high:.0f}.{more}"
        raise ValueError(invalid(name, f"integers in [0, {stop}) ({what})", ids, hint=hint))
    return int(bound)


def _read(value: Any) -> float | None:
    """A 0-d result's value, or None where it cannot be read (e.g. computed in a trace)."""
    return _backends.of(ns.namespace(value)).host_float(value)
