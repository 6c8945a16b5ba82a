"""PyTorch FSDP2 (``fully_shard``): the exact loss, whatever the sharding
(``docs/engines/fsdp.md``).

FSDP2 reduce-scatters each ``fully_shard`` module's gradients divided by the world size (a
mean), unless that module's ``set_gradient_divide_factor(1.0)`` was called (a sum): the
factor belongs to each module, so calling it on the root alone mixes a sum with means.
``set_force_sum_reduction_for_comms(True)`` changes only the collectives, not the result.
:func:`windows` reads the factor of every FSDP module and describes the engine accordingly
(refusing a mix); :func:`sum_gradients` sets it on every module. Accumulation is plain
(``backward`` per micro-batch, gradients add up): all but a window's last micro-batch run
with ``set_requires_gradient_sync(False)``.

Weight penalties of sharded parameters are computed on the local shards by
``losskit.torch.penalty`` (the value is the whole parameter's), so ``window.penalty(model)``
works on root-only and per-layer sharding alike.

Example:
    >>> import torch, losskit.engines.fsdp
    >>> losskit.engines.fsdp.sum_gradients(torch.nn.Linear(2, 2))
    Traceback (most recent call last):
    ...
    ValueError: Invalid `model`: expected a module with fully_shard applied..., received Linear...
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch.distributed.fsdp import FSDPModule

from losskit._errors import invalid
from losskit._state import check_count
from losskit.engines._window import Engine, Window
from losskit.engines._window import windows as _windows
from losskit.reduction import Reduction, ReductionLike

__all__ = ["sum_gradients", "windows"]


def _fsdp_modules(model: torch.nn.Module) -> list[FSDPModule]:
    found: list[FSDPModule] = [m for m in model.modules() if isinstance(m, FSDPModule)]
    if not found:
        raise ValueError(invalid("model", "a module with fully_shard applied (FSDP2)", model))
    return found


def sum_gradients(model: torch.nn.Module) -> torch.nn.Module:
    """Make FSDP2 sum gradients over ranks: ``set_gradient_divide_factor(1.0)`` on every
    ``fully_shard`` module of ``model`` (on the root alone, the others still average).

    Returns:
        ``model``.

    Raises:
        ValueError: ``model`` has no ``fully_shard`` module.
    """
    for module in _fsdp_modules(model):
        module.set_gradient_divide_factor(1.0)
    return model


def _divide_factors(module: FSDPModule) -> set[Any]:
    state = module._get_fsdp_state()
    return {group.gradient_divide_factor for group in state._fsdp_param_groups}


def _gradient_mode(model: torch.nn.Module) -> str:
    """``"mean"`` (FSDP2's default divide factor everywhere) or ``"sum"`` (1.0 everywhere)."""
    modes = {}
    for name, module in model.named_modules():
        if not isinstance(module, FSDPModule):
            continue
        for factor in _divide_factors(module):
            modes[name or "<root>"] = (
                "mean" if factor is None else "sum" if factor == 1.0 else factor
            )
    if not modes:
        raise ValueError(invalid("model", "a module with fully_shard applied (FSDP2)", model))
    found = set(modes.values())
    if found in ({"mean"}, {"sum"}):
        return found.pop()  # type: ignore[no-any-return]
    raise ValueError(
        invalid(
            "model",
            "FSDP2 modules that all average (the default) or all sum "
            "(losskit.engines.fsdp.sum_gradients)",
            f"gradient divide factors {modes}",
            hint="set_gradient_divide_factor applies to the module it is called on only.",
        )
    )


def windows(
    model: torch.nn.Module,
    loader: Iterable[Any],
    *,
    accumulation_steps: int,
    weights: Callable[[Any], Any] | None = None,
    examples: Callable[[Any], Any] | None = None,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
    process_group: Any = None,
) -> Iterator[Window]:
    """The optimizer steps of ``loader`` for an FSDP2 ``model``: ``accumulation_steps``
    micro-batches a window (fewer in the last), gradients reduced on the window's last.

    Call ``loss.backward()`` on every micro-batch and step the optimizer after the window.

    Args:
        model: the root module, ``fully_shard`` applied (to it alone or to its layers too).
        loader: this rank's micro-batches (the same number on every rank).
        accumulation_steps: micro-batches per optimizer step.
        weights: a function of a micro-batch giving its losses' weights or mask; None for
            per-example losses.
        examples: a function giving a micro-batch's example count (default: the first
            dimension of ``weights(batch)``), for the activity penalties.
        reduction: which count of the weights is the denominator.
        process_group: the data-parallel group (None: the default group).

    Returns:
        An iterator of :class:`~losskit.engines.window.Window`.

    Raises:
        ValueError: ``model`` has no ``fully_shard`` module, or its modules mix divide
            factors; ``accumulation_steps`` is not a positive integer; neither ``weights``
            nor ``examples`` is given.
        TypeError: ``weights`` or ``examples`` is not callable.
    """
    gradients = _gradient_mode(model)
    sharded = _fsdp_modules(model)

    def micro(index: int, last: bool) -> contextlib.AbstractContextManager[Any]:
        for module in sharded:  # reduce-scatter on the window's last backward only
            module.set_requires_gradient_sync(last, recurse=False)
        return contextlib.nullcontext()

    engine = Engine(
        gradients=gradients,
        accumulation="sum",
        accumulation_steps=check_count(accumulation_steps, "accumulation_steps"),
        process_group=process_group,
        device=next(model.parameters()).device,
        micro=micro,
    )
    return _windows(loader, engine, weights=weights, examples=examples, reduction=reduction)
