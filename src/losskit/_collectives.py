"""One optimizer step's window: how many micro-batches it has, and the one all-reduce of
its counts (shared by ``global_denominator`` and ``losskit.aggregation.plan``).

Under context parallelism (a context with ``sequence_shards > 1``) each sequence is split
over the ranks of its sequence group: counts of tokens add up over every rank, counts of
sequences are taken once per group (on its first shard), and a sequence's own token
count is summed over its group with at most one more all-reduce per window."""

from __future__ import annotations

import numbers
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit._state import DistributionContext, require_replica_context

__all__ = [
    "count_once",
    "reduce_over_replicas",
    "sequence_shards",
    "sum_over_replicas",
    "sum_over_sequence",
    "window_context",
]


def window_context(caller: str, steps: int, name: str) -> DistributionContext | None:
    """The replica context of a window of ``steps`` micro-batches (None outside every
    context): at most the context's ``accumulation_steps``; a ``RuntimeError`` in
    cross-replica context."""
    context = require_replica_context(caller)
    if context is not None and steps > context.accumulation_steps:
        raise ValueError(
            invalid(
                name,
                f"at most accumulation_steps={context.accumulation_steps} arrays",
                f"{steps} arrays",
                hint="Pass the micro-batches of one optimizer step.",
            )
        )
    return context


def sum_over_replicas(
    context: DistributionContext | None, local: Any, *, steps: int, caller: str
) -> Any:
    """Record the window's ``steps`` micro-batches (for ``scale_regularization_loss``) and
    sum ``local`` (an array, or None for nothing to sum) over the replicas: one all-reduce,
    none for one replica."""
    if context is None:
        return local
    context.window.micro_steps = steps
    return reduce_over_replicas(context, local, caller=caller)


def reduce_over_replicas(context: DistributionContext | None, local: Any, *, caller: str) -> Any:
    """Sum ``local`` (an array, or None for nothing to sum) over the replicas of
    ``context``: one all-reduce, none for one replica or outside every context."""
    if context is None or local is None or context.num_replicas == 1:
        return local
    if context.all_reduce is None:
        raise RuntimeError(
            f"{caller}: the context ({context.engine}, {context.num_replicas} replicas) has no "
            "all-reduce. Pass `all_reduce=` to `replica_context` (losskit.testing.run_replicas "
            "does), or use `torch_context`/`jax_context`."
        )
    return context.all_reduce(local)


def sum_over_sequence(context: DistributionContext | None, local: Any, *, caller: str) -> Any:
    """Sum ``local`` over this replica's sequence group: one all-reduce, none without a
    sequence split."""
    if context is None or context.sequence_shards == 1:
        return local
    if context.sequence_all_reduce is None:
        raise RuntimeError(
            f"{caller}: the context ({context.engine}, sequences split over "
            f"{context.sequence_shards} replicas) has no sequence all-reduce. Pass "
            "`sequence_all_reduce=` to `replica_context`, or use "
            "`torch_context(sequence_group=...)`/`jax_context(sequence_axis=...)`."
        )
    return context.sequence_all_reduce(local)


def sequence_shards(context: DistributionContext | None) -> int:
    """The ranks each sequence is split over in ``context`` (1: no split, or no context)."""
    return 1 if context is None else context.sequence_shards


def count_once(xp: ns.Namespace, value: Any, context: DistributionContext | None) -> Any:
    """``value`` on the first shard of each sequence group, 0 on the others: a count of
    sequences (the same on every shard of the group) then adds up to one per group."""
    if context is None or context.sequence_shards == 1:
        return value
    shard = context.sequence_shard
    if isinstance(shard, numbers.Integral):
        return value if int(shard) == 0 else value * 0
    return xp.where(shard == 0, value, xp.zeros_like(value))  # a traced index (JAX)
