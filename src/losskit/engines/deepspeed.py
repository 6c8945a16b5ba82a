"""DeepSpeed: the exact loss for a ``DeepSpeedEngine``, ZeRO stages 0 to 3
(``docs/engines/deepspeed.md``).

``engine.backward`` divides every loss by ``gradient_accumulation_steps`` and the engine
averages over ranks; it steps when its micro-step counter reaches the boundary, so a short
last window is never stepped unless the boundary is set by hand. :func:`windows` sets it on
every micro-batch (False, then True on the window's last), so every window is one step.

Under ZeRO-3 a parameter is an empty partition outside its module's forward: the weight
penalties are recorded during the forward instead (by hooks on the modules that own
regularized parameters, on a copy of each gathered parameter, whose gradient flows back
through ZeRO's own reduction); ``window.penalty(model)`` adds them.

Example:
    >>> import losskit.engines.deepspeed
    >>> losskit.engines.deepspeed.windows(object(), [])
    Traceback (most recent call last):
    ...
    TypeError: Invalid `engine`: expected a deepspeed.DeepSpeedEngine (from ...), received <...
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import deepspeed
import torch

from losskit._errors import invalid
from losskit.engines._window import Engine, Window
from losskit.engines._window import windows as _windows
from losskit.reduction import Reduction, ReductionLike
from losskit.regularizers import apply_regularization
from losskit.torch._losses import weight_groups

__all__ = ["windows"]

_RECORDER = "_losskit_weight_penalties"


def windows(
    engine: deepspeed.DeepSpeedEngine,
    loader: Iterable[Any],
    *,
    weights: Callable[[Any], Any] | None = None,
    examples: Callable[[Any], Any] | None = None,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Iterator[Window]:
    """The optimizer steps of ``loader`` for ``engine``: ``engine.gradient_accumulation_steps()``
    micro-batches a window, fewer in the last, each window one optimizer step.

    Call ``engine.backward(loss)`` and ``engine.step()`` on every micro-batch, as DeepSpeed
    documents: the engine reduces and steps on the window's last.

    Args:
        engine: the engine ``deepspeed.initialize`` returned (fp32: DeepSpeed refuses
            float64 gradients).
        loader: this rank's micro-batches (the same number on every rank).
        weights: a function of a micro-batch giving its losses' weights or mask; None for
            per-example losses.
        examples: a function giving a micro-batch's example count (default: the first
            dimension of ``weights(batch)``), for the activity penalties.
        reduction: which count of the weights is the denominator.

    Returns:
        An iterator of :class:`~losskit.engines.window.Window`.

    Raises:
        TypeError: ``engine`` is not a ``DeepSpeedEngine``; ``weights`` or ``examples`` is
            not callable.
        ValueError: neither ``weights`` nor ``examples`` is given.
    """
    if not isinstance(engine, deepspeed.DeepSpeedEngine):
        raise TypeError(
            invalid("engine", "a deepspeed.DeepSpeedEngine (from deepspeed.initialize)", engine)
        )

    def micro(index: int, last: bool) -> contextlib.AbstractContextManager[Any]:
        engine.set_gradient_accumulation_boundary(last)  # a short window steps too
        return contextlib.nullcontext()

    read = None
    if engine.zero_optimization_stage() == 3:
        read = _recorder(engine.module).total
    described = Engine(
        gradients="mean",
        accumulation="mean",  # engine.backward divides every loss by K
        accumulation_steps=engine.gradient_accumulation_steps(),
        device=engine.device,
        micro=micro,
        weight_penalty=read,
    )
    return _windows(loader, described, weights=weights, examples=examples, reduction=reduction)


class _Recorder:
    """The weight penalties of the last forward, recorded where ZeRO-3 has the parameters."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.records: list[Any] = []
        self.seen: set[int] = set()  # the parameters penalized in this forward
        model.register_forward_pre_hook(self._clear, prepend=True)
        for name, owner in model.named_modules():
            # prepended: before ZeRO's release hook, which empties the parameters again
            owner.register_forward_hook(self._recorder(name), prepend=True)

    def _clear(self, module: torch.nn.Module, args: Any) -> None:
        self.records = []
        self.seen = set()

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(owner: torch.nn.Module, args: Any, output: Any) -> None:
            for regularizer, params, _ in weight_groups([(name, owner)]):
                # once per parameter and forward, as losskit.torch.penalty: a module run
                # twice, or a weight tied to another module's (an embedding and its LM head)
                fresh = [p for p in params if id(p) not in self.seen]
                if not fresh:
                    continue
                self.seen.update(id(p) for p in fresh)
                # copies: the originals are emptied after the forward, before the backward
                self.records.append(apply_regularization(regularizer, [p.clone() for p in fresh]))

        return record

    def total(self, model: torch.nn.Module) -> Any:
        if not self.records:
            return torch.zeros((), device=next(model.parameters()).device)
        return functools.reduce(operator.add, self.records)


def _recorder(model: torch.nn.Module) -> _Recorder:
    """One recorder per model, whatever the number of ``windows`` calls."""
    found: _Recorder | None = model.__dict__.get(_RECORDER)
    if found is None:
        found = model.__dict__[_RECORDER] = _Recorder(model)
    return found
