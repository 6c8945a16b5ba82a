"""``losses(module)``: Keras's ``layer.losses`` for a regularized ``nn.Module``."""

from __future__ import annotations

import functools
import operator
import sys
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from losskit._activity import divide_by_batch, over_global_batch
from losskit._errors import invalid
from losskit.regularizers import L1, L1L2, L2, apply_regularization
from losskit.regularizers._apply import grouped
from losskit.torch._state import state_of

__all__ = ["losses", "penalty"]


Group = tuple[Any, list[torch.Tensor], list[str]]
"""A regularizer, the trainable parameters it penalizes, and their dotted names."""


def weight_groups(owners: Iterable[tuple[str, nn.Module]]) -> list[Group]:
    """The regularized parameters that ``owners`` (``(name, module)`` pairs) own directly,
    grouped by regularizer, each parameter once.

    Raises:
        RuntimeError: a parameter is an empty DeepSpeed ZeRO-3 partition or a shard of an
            FSDP1 flat parameter, or a regularized name is no longer a parameter (FSDP1
            without ``use_orig_params``, a parametrization): its penalty would be a silent
            0 or the shard's.
    """
    pairs: list[tuple[Any, tuple[torch.Tensor, str]]] = []
    seen: set[int] = set()
    for prefix, owner in owners:
        state = state_of(owner)
        if state is None or not state.weights:
            continue
        for leaf, stack in state.weights.items():
            if not stack:
                continue
            parameter = owner._parameters.get(leaf)
            name = f"{prefix}.{leaf}" if prefix else leaf
            if parameter is None:
                _check_still_absent(owner, leaf, name)
                continue
            # Keras 3's rule: only trainable weights are regularized
            if not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))  # a tied parameter is penalized once
            partitioned = getattr(parameter, "ds_numel", 0)  # DeepSpeed ZeRO-3's real size
            if partitioned and parameter.numel() == 0:
                raise RuntimeError(_partitioned(name, partitioned))
            if getattr(parameter, "_fsdp_flattened", False):  # FSDP1's use_orig_params views
                raise RuntimeError(_flattened(name, parameter))
            pairs.append((stack[-1][1], (parameter, name)))
    return [
        (regularizer, [p for p, _ in items], [n for _, n in items])
        for regularizer, items in grouped(pairs)
    ]


def _partitioned(name: str, numel: int) -> str:
    return (
        f"losskit.torch: parameter {name!r} is a DeepSpeed ZeRO-3 partition, empty outside "
        f"the forward ({numel} elements live on the ranks' partitions), so its penalty cannot "
        "be computed here. Train with `losskit.engines.deepspeed.windows(engine, ...)` and "
        "`window.penalty(model)`: it records the weight penalties during the forward, "
        "where ZeRO-3 gathers the parameters."
    )


_FSDP1 = (
    "FSDP1 (FullyShardedDataParallel) keeps parameters in flat, sharded parameters, so "
    "the whole parameter is not there to penalize. Shard with FSDP2's `fully_shard` "
    "(losskit penalizes its shards exactly: losskit.engines.fsdp), or let the optimizer "
    "decay the weights."
)


def _check_still_absent(owner: nn.Module, leaf: str, name: str) -> None:
    """A regularized name that is not a parameter: fine if it is gone (the penalty then
    has nothing to sum), refused if a tensor stands in its place."""
    current = getattr(owner, leaf, None)
    if isinstance(current, torch.Tensor):
        raise RuntimeError(
            f"losskit.torch: {name!r} is regularized but is no longer a parameter of its "
            f"module (a {type(current).__name__} of shape {tuple(current.shape)} took its "
            "place), so its penalty would silently be 0. " + _FSDP1 + " For "
            "torch.nn.utils.parametrize, regularize the parametrization's original "
            "parameter (`parametrizations.<name>.original`)."
        )


def _flattened(name: str, parameter: torch.Tensor) -> str:
    return (
        f"losskit.torch: parameter {name!r} is this rank's view of an FSDP1 flat parameter "
        f"(shape {tuple(parameter.shape)}, flattened and sharded), so its penalty would be "
        "that of a shard. " + _FSDP1
    )


def _sharded_type() -> Any:
    """``DTensor`` if torch.distributed.tensor is loaded (FSDP2 loads it), else None."""
    module = sys.modules.get("torch.distributed.tensor")
    return None if module is None else getattr(module, "DTensor", None)


def _group_penalty(regularizer: Any, params: list[torch.Tensor], names: list[str]) -> Any:
    """The group's penalty; parameters sharded by FSDP2 (``DTensor``) count on their shards."""
    sharded_type = None if torch.compiler.is_compiling() else _sharded_type()
    if sharded_type is None or not any(isinstance(p, sharded_type) for p in params):
        return apply_regularization(regularizer, params)
    plain = [p for p in params if not isinstance(p, sharded_type)]
    sharded = [(p, n) for p, n in zip(params, names, strict=True) if isinstance(p, sharded_type)]
    total = _sharded_penalty(regularizer, sharded)
    return total if not plain else apply_regularization(regularizer, plain) + total


def _sharded_penalty(regularizer: Any, sharded: list[tuple[Any, str]]) -> Any:
    """The penalty of parameters sharded over a 1-D mesh, computed on the local shards.

    The value is the whole parameters' (the shards' penalties summed over the mesh: one
    all-reduce of a scalar, no gather). The gradient goes to the local shard and is not
    combined by the engine (FSDP2 adds it to the reduce-scattered gradient), so it is
    scaled such that ``scale_regularization_loss`` yields the exact gradient: by the
    replica count when the engine sums gradients (``scale_regularization_loss`` divides
    by it), by 1 when it averages (the division and the engine's scale cancel).
    """
    import torch.distributed as dist
    from torch.distributed.tensor import Shard

    if not isinstance(regularizer, (L1, L2, L1L2)):
        raise ValueError(
            invalid(
                "regularizer",
                "L1, L2 or L1L2 for parameters sharded by FSDP2 (their penalty is the sum of "
                "the shards' penalties)",
                regularizer,
                hint=f"Parameters: {[name for _, name in sharded]}.",
            )
        )
    by_mesh: dict[int, list[Any]] = {}
    for parameter, name in sharded:
        mesh, placements = parameter.device_mesh, parameter.placements
        if mesh.ndim != 1 or not isinstance(placements[0], Shard):
            raise ValueError(
                invalid(
                    name,
                    "a parameter sharded on a 1-D device mesh (FSDP2's fully_shard)",
                    f"a DTensor with placements {tuple(placements)} on a {mesh.ndim}-D mesh",
                )
            )
        by_mesh.setdefault(id(mesh), []).append(parameter)
    terms = []
    for params in by_mesh.values():
        local = apply_regularization(regularizer, [p.to_local() for p in params])
        whole = local.detach().clone()
        dist.all_reduce(whole, op=dist.ReduceOp.SUM, group=params[0].device_mesh.get_group())
        terms.append(whole + _shard_gradient_factor() * (local - local.detach()))
    return functools.reduce(operator.add, terms)


def _shard_gradient_factor() -> int:
    from losskit._state import get_context

    context = get_context()
    if context is None or context.in_cross_replica_context or context.gradients == "mean":
        return 1
    return context.num_replicas


def losses(
    module: nn.Module,
    *,
    weights: bool = True,
    activity: bool = True,
    global_batch_size: Any = None,
) -> list[Any]:
    """The regularization losses of ``module`` and its submodules, as Keras's
    ``layer.losses``: activity penalties of the last outermost forward, then weight
    penalties computed now from the current parameter values.

    Weight penalties come one per regularizer (a fused call over all the parameters that
    share it; Keras lists one per weight: the sum is the same), computed with autocast off
    (float32 parameters give float32 penalties, as in Keras's mixed precision). Parameters
    with ``requires_grad=False`` are not regularized (Keras 3's rule; tf_keras also
    regularizes non-trainable weights). Activity penalties keep the output's dtype.

    These are the local values. Under data parallelism or gradient accumulation, inside a
    :mod:`losskit.distribute` context (``docs/distributed.md``): pass the weight penalties
    through :func:`losskit.scale_regularization_loss` (as in TensorFlow), and give
    ``global_batch_size`` (the step's example count over every replica and micro-batch,
    e.g. ``global_denominator(*examples, reduction="sum_over_batch_size")``) so that each
    activity penalty is divided by it instead of the local batch and scaled for the
    engine, like :func:`losskit.compute_average_loss`: exact on uneven shards.

    Parameters sharded by FSDP2 (``fully_shard``: ``DTensor`` on a 1-D mesh; L1, L2 and
    L1L2 only) are penalized on their local shards: the value is the whole parameter's
    (one scalar all-reduce, no gather) and the gradient, through
    ``scale_regularization_loss``, is exact. DeepSpeed ZeRO-3 partitions are refused (see
    ``losskit.engines.deepspeed``), and so are FSDP1's flat parameters (the whole
    parameter is not there; use FSDP2).

    Args:
        module: a module regularized with :func:`losskit.torch.regularize` (or wrapping one).
        weights: include the weight penalties (False when the optimizer decays instead).
        activity: include the activity penalties.
        global_batch_size: divide the activity penalties by this (a number or a 0-d
            tensor) instead of each output's own batch size (see above).

    Returns:
        A list of 0-d tensors (empty if nothing is attached).

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
        ValueError: a sharded parameter on a mesh of more than one dimension, or with a
            regularizer other than L1, L2, L1L2.
        RuntimeError: a parameter is an empty DeepSpeed ZeRO-3 partition, or FSDP1's
            (``FullyShardedDataParallel``) flattened parameters hold the regularized
            weights.

    Example:
        >>> import torch, losskit.torch
        >>> from losskit.regularizers import L2
        >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
        >>> _ = torch.nn.init.ones_(model[0].weight)
        >>> _ = losskit.torch.regularize(model, kernel=L2(0.5), bias=None)
        >>> losskit.torch.losses(model)  # 0.5 * 4
        [tensor(2., grad_fn=<...>)]
    """
    if not isinstance(module, nn.Module):
        raise TypeError(invalid("module", "a torch.nn.Module", module))
    found: list[Any] = []
    if activity:
        records = []
        for owner in module.modules():
            state = state_of(owner)
            if state is not None and state.records:
                records.extend(state.records)
        if global_batch_size is None or not records:
            found.extend(divide_by_batch(value, batch) for value, batch in records)
        else:
            found.extend(over_global_batch(records, global_batch_size))
    if weights:
        groups = weight_groups(module.named_modules())
        if groups:
            device = groups[0][1][0].device.type
            # Keras computes weight penalties with autocast off
            compiling = torch.compiler.is_compiling()
            with torch.autocast(device, enabled=False):
                for regularizer, params, names in groups:
                    if compiling:  # dynamo cannot read nn.Parameter's class attributes
                        params = [parameter.view_as(parameter) for parameter in params]
                    found.append(_group_penalty(regularizer, params, names))
    return found


def penalty(
    module: nn.Module,
    *,
    weights: bool = True,
    activity: bool = True,
    global_batch_size: Any = None,
) -> Any:
    """The sum of :func:`losses` (a 0-d tensor; zero if nothing is attached).

    Example:
        >>> import torch, losskit.torch
        >>> layer = torch.nn.Linear(3, 1)
        >>> _ = torch.nn.init.constant_(layer.weight, 2.0)
        >>> _ = losskit.torch.regularize(layer, kernel="l1")
        >>> round(float(losskit.torch.penalty(layer).detach()), 6)  # 0.01 * 3 * 2
        0.06
    """
    found = losses(module, weights=weights, activity=activity, global_batch_size=global_batch_size)
    if not found:
        first = next(module.parameters(), None)
        return torch.zeros((), device=None if first is None else first.device)
    return functools.reduce(operator.add, found)
