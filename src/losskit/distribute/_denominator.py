"""``global_denominator``: the exact denominator of a whole optimizer step, in one all-reduce."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import array_api_compat

from losskit import _backends
from losskit import _namespace as ns
from losskit._collectives import count_once, sum_over_replicas, window_context
from losskit._errors import invalid
from losskit._kernels.sums import size
from losskit._state import DistributionContext
from losskit.reduction import Reduction, ReductionLike
from losskit.typing import ArrayT

__all__ = ["global_denominator"]

_NAME = "micro_batch_weights"


def global_denominator(
    *micro_batch_weights: ArrayT,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> ArrayT:
    r"""The denominator of the whole optimizer step: over every replica and micro-batch.

    Pass the weights (or mask) of each micro-batch this replica runs in the step, all of
    them, before the first backward. Each replica counts its own, and the counts are
    summed over the replicas of the current context with one all-reduce (``torch.distributed``,
    ``jax.lax.psum``, or the ``all_reduce`` given to ``replica_context``). The result stays a
    0-d array on the weights' device (no host sync) and carries no gradient.

    ================================================ ======================================
    ``reduction``                                    denominator :math:`D`
    ================================================ ======================================
    ``SUM_OVER_BATCH_SIZE`` (``AUTO``)               number of elements: :math:`\sum |w|`
    ``SUM_BY_NONZERO_WEIGHTS`` (default)             :math:`\sum \#\{i : w_i \ne 0\}`
    ``WEIGHTED_MEAN``, ``MEAN_WITH_SAMPLE_WEIGHT``   :math:`\sum_i w_i`
    ================================================ ======================================

    Give the weights at the losses' shape (a ``[B, T]`` token mask for ``[B, T]`` token
    losses; ``[B]`` weights for per-example losses). Then, on every micro-batch,
    ``compute_average_loss(losses, weights, global_batch_size=D)`` returns the value whose
    gradient, combined by the engine, is the gradient of the global weighted mean; uneven
    shards and a partial last window (fewer micro-batches than ``accumulation_steps``) are
    exact. The call also tells the context how many micro-steps this window has, for
    :func:`losskit.scale_regularization_loss`.

    Under context parallelism (``torch_context(sequence_group=...)``,
    ``jax_context(..., sequence_axis=...)``) every element is counted once: weights of
    rank 2 or more are token weights whose second axis (T) is split over the sequence
    group, and add up over every rank; weights of rank 0 or 1 (one per sequence, the same
    on every rank of the group) are counted on the group's first shard only. A ``[B, 1]``
    weight would be either, and is refused under a sequence split.

    Args:
        *micro_batch_weights: one array per micro-batch of this step (same library), of a
            real, integer or bool dtype.
        reduction: which count to take (see the table).

    Returns:
        0-d array of the widest floating dtype the library enables (float64; float32 under
        JAX's default), in the weights' namespace and device.

    Raises:
        ValueError: no arrays, more arrays than the context's ``accumulation_steps``, a
            reduction that does not divide (``SUM``, ``NONE``), or under context
            parallelism a weight of shape ``[B, 1, ...]``.
        TypeError: a Python number or a non-numeric dtype.
        RuntimeError: in cross-replica context, or in a multi-replica context that has no
            all-reduce.

    Example:
        >>> import numpy as np, losskit
        >>> masks = [np.array([[1, 1, 0]]), np.array([[1, 0, 0], [1, 1, 1]])]  # 2 micro-batches
        >>> D = losskit.distribute.global_denominator(*masks)
        >>> float(D)
        6.0
        >>> losses = [np.array([[2.0, 4.0, 9.0]]), np.array([[3.0, 9.0, 9.0], [1.0, 1.0, 1.0]])]
        >>> sum(float(losskit.compute_average_loss(l, m, global_batch_size=D))
        ...     for l, m in zip(losses, masks))
        2.0
    """
    _, local, steps, context = _local_denominator(micro_batch_weights, reduction)
    total = sum_over_replicas(context, local, steps=steps, caller="global_denominator")
    # the weights' library, device and widest floating dtype
    return cast(ArrayT, total)


def window_denominators(
    *entries: tuple[Sequence[Any], ReductionLike],
) -> list[Any]:
    """Several :func:`global_denominator` of one window, ``(micro_batch_weights,
    reduction)`` each, from **one** all-reduce of their stacked local counts (the engine
    adapters' tokens and examples). Every entry has one array per micro-batch of the
    window, all of one library."""
    found = [_local_denominator(tuple(weights), reduction) for weights, reduction in entries]
    xp, _, steps, context = found[0]
    if any(other[2] != steps for other in found):
        counts = [other[2] for other in found]
        raise ValueError(invalid("entries", "one array per micro-batch in every entry", counts))
    stacked = xp.stack([local for _, local, _, _ in found])
    total = sum_over_replicas(context, stacked, steps=steps, caller="global_denominator")
    return [total[index] for index in range(len(found))]


def _local_denominator(
    micro_batch_weights: Sequence[Any], reduction: ReductionLike
) -> tuple[ns.Namespace, Any, int, DistributionContext | None]:
    """This replica's count (checked, without gradient), its namespace, the window's
    micro-batches and the context."""
    if not micro_batch_weights:
        raise ValueError(invalid(_NAME, "at least one array (one per micro-batch)", ()))
    member = Reduction.validate(reduction)
    if not member.divides:
        raise ValueError(
            invalid(
                "reduction",
                "a dividing reduction (sum_over_batch_size, sum_by_nonzero_weights, "
                "weighted_mean, mean_with_sample_weight)",
                member.value,
                hint="SUM and NONE have no denominator.",
            )
        )
    for index, weights in enumerate(micro_batch_weights):
        if ns.is_python_number(weights) or isinstance(weights, bool):
            raise TypeError(
                invalid(
                    f"{_NAME}[{index}]",
                    "an array of weights or a mask for one micro-batch",
                    weights,
                    hint="For a count of examples pass the per-example losses (or ones) with "
                    "reduction='sum_over_batch_size'.",
                )
            )
    names = [f"{_NAME}[{index}]" for index in range(len(micro_batch_weights))]
    xp = ns.namespace(*micro_batch_weights, names=names)
    steps = len(micro_batch_weights)
    context = window_context("global_denominator", steps, _NAME)
    arrays = [
        ns.as_array(xp, weights, name=name)
        for weights, name in zip(micro_batch_weights, names, strict=True)
    ]
    for array, name in zip(arrays, names, strict=True):
        if not ns.is_bool(xp, array.dtype):
            ns.check_weight_dtype(xp, array, name=name)
    if context is not None and context.sequence_shards > 1:
        for array, name in zip(arrays, names, strict=True):
            _check_unambiguous(array, name, context.sequence_shards)
    first = arrays[0]
    dtype = ns.widest_float(xp, first)
    local = _local_count(xp, arrays, member, dtype, like=first, context=context)
    # counts and weight sums are data: the denominator is a constant for differentiation
    return xp, _backends.of(xp).stop_gradient(local), steps, context


def _local_count(
    xp: ns.Namespace,
    arrays: list[Any],
    member: Reduction,
    dtype: Any,
    *,
    like: Any,
    context: DistributionContext | None,
) -> Any:
    if member in (Reduction.SUM_OVER_BATCH_SIZE, Reduction.AUTO):
        split = sum(size(array.shape) for array in arrays if array.ndim >= 2)
        whole = sum(size(array.shape) for array in arrays if array.ndim < 2)
        count = _constant(xp, split, dtype, like)
        if whole:  # one per sequence: once per sequence group
            count = count + count_once(xp, _constant(xp, whole, dtype, like), context)
        return count
    if member is Reduction.SUM_BY_NONZERO_WEIGHTS:
        counts = [xp.astype(xp.count_nonzero(array != 0), dtype) for array in arrays]
    else:  # WEIGHTED_MEAN, MEAN_WITH_SAMPLE_WEIGHT: the weight sum
        counts = [xp.sum(xp.astype(array, dtype)) for array in arrays]
    counts = [
        count if array.ndim >= 2 else count_once(xp, count, context)
        for count, array in zip(counts, arrays, strict=True)
    ]
    total = counts[0]
    for count in counts[1:]:
        total = total + count
    return total


def _check_unambiguous(array: Any, name: str, shards: int) -> None:
    """Under a sequence split, ``[B, 1, ...]`` could be one weight per sequence (to count
    once per group) or the token weights of a one-token shard (to count on every rank):
    refused rather than guessed (counting it on every rank would count each sequence
    ``shards`` times)."""
    if array.ndim >= 2 and array.shape[1] == 1:
        raise ValueError(
            invalid(
                name,
                "token weights of the shard's shape [B, T] or one weight per sequence of "
                "shape [B] (under context parallelism)",
                array,
                hint=f"A [B, 1] weight is ambiguous here (the sequence group has {shards} "
                "shards): squeeze per-sequence weights to [B] (counted once per group), or "
                "broadcast them over the shard's tokens (e.g. `w[:, None] * mask`).",
            )
        )


def _constant(xp: ns.Namespace, value: int, dtype: Any, like: Any) -> Any:
    """``value`` as a 0-d array on ``like``'s device (a traced JAX array has none to ask)."""
    try:
        device = array_api_compat.device(like)
    except Exception:  # a tracer: XLA places the constant itself
        return xp.asarray(value, dtype=dtype)
    return xp.asarray(value, dtype=dtype, device=device)
