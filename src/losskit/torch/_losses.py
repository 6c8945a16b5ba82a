"""``losses(module)``: Keras's ``layer.losses`` for a regularized ``nn.Module``."""

from __future__ import annotations

import functools
import operator
from typing import Any

import torch
from torch import nn

from losskit import _namespace as ns
from losskit._activity import divide_by_batch, over_global_batch
from losskit._errors import invalid
from losskit.regularizers._apply import group_penalty, grouped
from losskit.torch._state import state_of

__all__ = ["losses", "penalty"]


def _weight_groups(module: nn.Module) -> list[tuple[Any, list[torch.Tensor]]]:
    """(regularizer, trainable parameters) per regularizer, each parameter once."""
    pairs: list[tuple[Any, torch.Tensor]] = []
    seen: set[int] = set()
    for owner in module.modules():
        state = state_of(owner)
        if state is None or not state.weights:
            continue
        for leaf, stack in state.weights.items():
            if not stack:
                continue
            parameter = owner._parameters.get(leaf)
            # Keras 3's rule: only trainable weights are regularized
            if parameter is None or not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))  # a tied parameter is penalized once
            pairs.append((stack[-1][1], parameter))
    return grouped(pairs)


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
        groups = _weight_groups(module)
        if groups:
            device = groups[0][1][0].device.type
            # Keras computes weight penalties with autocast off
            compiling = torch.compiler.is_compiling()
            with torch.autocast(device, enabled=False):
                for regularizer, params in groups:
                    if compiling:  # dynamo cannot read nn.Parameter's class attributes
                        params = [parameter.view_as(parameter) for parameter in params]
                    xp = ns.namespace(params[0])
                    found.append(group_penalty(xp, regularizer, params))
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
