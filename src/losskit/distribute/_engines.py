"""The real engines: ``torch.distributed`` and JAX's mapped axes.

Each context manager reads the replica count and index from its engine, and provides the
engine's all-reduce (a sum over replicas) for :func:`losskit.distribute.global_denominator`.
The framework is imported when a context is entered, never when losskit is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from losskit._errors import describe, invalid
from losskit._state import DistributionContext, engine_fields, enter

__all__ = ["jax_context", "torch_context"]


def torch_context(
    process_group: Any = None,
    *,
    sequence_group: Any = None,
    gradients: str = "mean",
    accumulation_steps: int = 1,
    accumulation: str = "sum",
    micro_steps: int | None = None,
) -> contextlib.AbstractContextManager[DistributionContext]:
    """Run the enclosed code as this process's replica of a ``torch.distributed`` job.

    The replica count and index are the world size and rank of ``process_group`` (the
    default group if None). ``DistributedDataParallel`` and FSDP average gradients
    (``gradients="mean"``, the default); FSDP2 sums them (``gradients="sum"``) only with
    ``set_gradient_divide_factor(1.0)`` on every ``fully_shard`` module
    (``losskit.engines.fsdp.sum_gradients``; ``set_force_sum_reduction_for_comms(True)``
    still averages). If
    ``torch.distributed`` is not initialized the code runs as one replica, so the same
    script works on one process.

    Inside, :func:`losskit.compute_average_loss`, :func:`losskit.scale_regularization_loss`
    and :func:`losskit.compute_weighted_loss` (``SUM``) return the value whose gradient,
    after the engine's combination over ranks and ``accumulation_steps`` micro-steps, is
    the gradient of the single-process loss on the global batch (``docs/distributed.md``).

    With context parallelism, ``process_group`` is still the group over which the engine
    combines gradients (DDP or FSDP over a flattened data x context mesh: every such
    rank), and ``sequence_group`` the subgroup over which each sequence is split along T
    (row b of micro-batch k is the same sequence on every rank of it; in packed rows the
    segment ids agree). Then every token and every sequence is counted once, and a
    sequence's valid tokens are summed over its group (``docs/parallelism.md``).
    Tensor-parallel ranks that hold replicas of the same tokens belong in neither group
    unless the engine combines their gradients too.

    Args:
        process_group: the ``ProcessGroup`` whose gradients the engine combines (data x
            context ranks; the default group if None).
        sequence_group: context parallelism: the ``ProcessGroup`` over which each
            sequence is split, a subgroup of ``process_group``; None: no split.
        gradients: ``"mean"`` (DDP, FSDP default) or ``"sum"``.
        accumulation_steps: micro-batches per optimizer step.
        accumulation: ``"sum"`` (``loss.backward()`` per micro-batch, plain PyTorch) or
            ``"mean"`` (the engine divides by ``accumulation_steps``: DeepSpeed,
            ``accelerator.backward``).
        micro_steps: micro-batches this step really has, if fewer than
            ``accumulation_steps`` (a partial last window) and not counted by a
            ``global_denominator`` call inside this context.

    Raises:
        ValueError: a mode is not ``"sum"``/``"mean"``, ``accumulation_steps`` is not a
            positive integer, ``micro_steps`` exceeds it, this process is not in
            ``process_group`` or ``sequence_group``, or ``sequence_group`` is not inside
            ``process_group``.
        RuntimeError: a group is given but ``torch.distributed`` is not initialized.

    Example:
        >>> import torch, losskit
        >>> with losskit.distribute.torch_context() as context:  # one process, no init
        ...     context.num_replicas, context.gradients
        (1, 'mean')
    """
    import torch.distributed as dist

    fields = engine_fields(gradients, accumulation_steps, accumulation, micro_steps)
    if dist.is_available() and dist.is_initialized():
        size = dist.get_world_size(process_group)
        rank = dist.get_rank(process_group)
        if rank < 0:
            raise ValueError(
                invalid(
                    "process_group",
                    "a group this process belongs to",
                    process_group,
                    hint="Enter the context only on the group's ranks.",
                )
            )
        split = _torch_sequence_split(dist, process_group, sequence_group, size)
    elif process_group is not None or sequence_group is not None:
        name = "process_group" if process_group is not None else "sequence_group"
        group = process_group if process_group is not None else sequence_group
        raise RuntimeError(
            f"torch_context({name}={describe(group)}): torch.distributed is "
            "not initialized. Call `torch.distributed.init_process_group` first, or pass no "
            "group to run as one process."
        )
    else:
        size, rank, split = 1, 0, {}
    context = DistributionContext(
        size,
        rank,
        engine="torch",
        all_reduce=_torch_all_reduce(process_group) if size > 1 else None,
        **fields,
        **split,
    )
    return enter(context)


def _torch_sequence_split(
    dist: Any, process_group: Any, sequence_group: Any, size: int
) -> dict[str, Any]:
    """The context fields of ``sequence_group``: its size, this rank's index in it and
    its all-reduce, after checking that it lies inside ``process_group``."""
    if sequence_group is None:
        return {}
    shards, shard = dist.get_world_size(sequence_group), dist.get_rank(sequence_group)
    if shard < 0:
        raise ValueError(
            invalid(
                "sequence_group",
                "a group this process belongs to",
                sequence_group,
                hint="Enter the context only on the group's ranks.",
            )
        )
    members = dist.get_process_group_ranks(sequence_group)
    combined = dist.get_process_group_ranks(
        dist.group.WORLD if process_group is None else process_group
    )
    if not set(members) <= set(combined) or size % shards:
        raise ValueError(
            invalid(
                "sequence_group",
                "a subgroup of process_group (the ranks whose gradients the engine combines)",
                f"ranks {members}, while process_group has ranks {combined}",
                hint="With context parallelism the engine combines the gradients of every "
                "data x context rank: pass that flattened group as process_group (counts "
                "summed over the data ranks alone miss the other shards' tokens).",
            )
        )
    return {
        "sequence_shards": shards,
        "sequence_shard": shard,
        "sequence_all_reduce": _torch_all_reduce(sequence_group) if shards > 1 else None,
    }


def _torch_all_reduce(group: Any) -> Callable[[Any], Any]:
    def all_reduce(value: Any) -> Any:
        import torch.distributed as dist

        total = value.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        return total

    return all_reduce


def jax_context(
    axis_name: Any,
    *,
    sequence_axis: Any = None,
    gradients: str,
    accumulation_steps: int = 1,
    accumulation: str = "sum",
    micro_steps: int | None = None,
) -> contextlib.AbstractContextManager[DistributionContext]:
    """Run the enclosed code as one replica of JAX's mapped axis ``axis_name``.

    Enter it inside the function that ``jax.shard_map`` (or ``pmap``) maps over
    ``axis_name``: the replica count is the axis size and the all-reduce is
    ``jax.lax.psum``. JAX leaves the combination of gradients to you: say whether you
    ``psum`` them (``gradients="sum"``) or ``pmean`` them (``gradients="mean"``). Code that
    ``jit``-compiles a loss over global arrays needs no context: it sees the whole batch.

    With context parallelism, ``axis_name`` names every axis the gradients are combined
    over and ``sequence_axis`` the one (or ones) among them that splits each sequence
    along T: ``jax_context(("data", "seq"), sequence_axis="seq", gradients="mean")``
    (``docs/parallelism.md``).

    Args:
        axis_name: the mapped axis (or tuple of axes) the data is split over.
        sequence_axis: context parallelism: the axis (or tuple of axes) of ``axis_name``
            over which each sequence is split; None: no split.
        gradients: ``"sum"`` if you ``psum`` the gradients, ``"mean"`` if you ``pmean`` them.
        accumulation_steps: micro-batches per optimizer step.
        accumulation: ``"sum"`` if the micro-steps' gradients are added, ``"mean"`` if
            averaged (e.g. ``optax.MultiSteps``).
        micro_steps: micro-batches this step really has, if fewer than
            ``accumulation_steps`` (a partial last window) and not counted by a
            ``global_denominator`` call inside this context.

    Raises:
        ValueError: a mode is not ``"sum"``/``"mean"``, ``accumulation_steps`` is not a
            positive integer, or ``sequence_axis`` is not among ``axis_name``.
        RuntimeError: ``axis_name`` is not bound where the context is entered.

    Example:
        >>> import jax, losskit
        >>> def replica(x):
        ...     with losskit.distribute.jax_context("i", gradients="sum") as context:
        ...         return x * context.num_replicas
        >>> jax.vmap(replica, axis_name="i")(jax.numpy.ones(3)).tolist()
        [3.0, 3.0, 3.0]
    """
    import jax

    fields = engine_fields(gradients, accumulation_steps, accumulation, micro_steps)
    try:
        size = int(jax.lax.psum(1, axis_name))
        index = jax.lax.axis_index(axis_name)
    except NameError:
        raise RuntimeError(
            f"jax_context({axis_name!r}): the axis {axis_name!r} is not bound here. Enter "
            "the context inside the function that `jax.shard_map` (or `pmap`/`vmap`) maps "
            f"over {axis_name!r}."
        ) from None

    def all_reduce(value: Any) -> Any:
        return jax.lax.psum(value, axis_name)

    context = DistributionContext(
        size,
        index,
        engine="jax",
        all_reduce=all_reduce,
        **fields,
        **_jax_sequence_split(jax, axis_name, sequence_axis),
    )
    return enter(context)


def _jax_sequence_split(jax: Any, axis_name: Any, sequence_axis: Any) -> dict[str, Any]:
    """The context fields of ``sequence_axis``, after checking it is among ``axis_name``."""
    if sequence_axis is None:
        return {}
    names = axis_name if isinstance(axis_name, (tuple, list)) else (axis_name,)
    wanted = sequence_axis if isinstance(sequence_axis, (tuple, list)) else (sequence_axis,)
    if not wanted or not set(wanted) <= set(names):
        raise ValueError(
            invalid(
                "sequence_axis",
                f"an axis of axis_name {tuple(names)!r} (the axes the gradients are combined over)",
                sequence_axis,
                hint="Name the data and the sequence axes in axis_name, e.g. "
                'jax_context(("data", "seq"), sequence_axis="seq", ...).',
            )
        )
    axes = tuple(wanted) if len(wanted) > 1 else wanted[0]

    def sequence_all_reduce(value: Any) -> Any:
        return jax.lax.psum(value, axes)

    return {
        "sequence_shards": int(jax.lax.psum(1, axes)),
        "sequence_shard": jax.lax.axis_index(axes),
        "sequence_all_reduce": sequence_all_reduce,
    }
