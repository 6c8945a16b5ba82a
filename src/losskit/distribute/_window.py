"""One optimizer step's window: how many micro-batches it has, and the one all-reduce of
its counts (shared by ``global_denominator`` and ``losskit.aggregation.plan``)."""

from __future__ import annotations

from typing import Any

from losskit._errors import invalid
from losskit._state import DistributionContext, require_replica_context

__all__ = ["reduce_over_replicas", "sum_over_replicas", "window_context"]


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
