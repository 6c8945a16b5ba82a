"""accelerate: the exact loss over a prepared data loader (``docs/engines/accelerate.md``).

``accelerator.accumulate(model)`` decides per micro-batch whether to synchronize, from a
step counter and the loader's end; once a window's micro-batches are fetched ahead (which
the step's denominator needs) it never steps a partial last window, or steps after every
micro-batch of it. :func:`windows` replaces it: it reads ``K`` from the accelerator, fetches
each window ahead, runs all but the last micro-batch under ``accelerator.no_sync(model)``
and sets ``accelerator.sync_gradients`` so that the prepared optimizer and scheduler step
once per window, the partial one included.

Example:
    >>> import torch, losskit.engines.accelerate
    >>> from accelerate import Accelerator
    >>> accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    >>> masks = [torch.tensor([1.0, 0.0]), torch.ones(3), torch.ones(1)]
    >>> loader = [{"mask": mask} for mask in masks]
    >>> for window in losskit.engines.accelerate.windows(
    ...     accelerator, loader, weights=lambda batch: batch["mask"]
    ... ):
    ...     syncs = [accelerator.sync_gradients for batch in window]
    ...     print(len(window), int(window.denominator), int(window.examples), syncs)
    2 4 5 [False, True]
    1 1 1 [True]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import accelerate
import torch

from losskit._errors import invalid
from losskit.engines._window import Engine, Window
from losskit.engines._window import windows as _windows
from losskit.reduction import Reduction, ReductionLike

__all__ = ["windows"]

_SUPPORTED = ("NO", "MULTI_CPU", "MULTI_GPU")
"""Distributed types whose backward and gradient combination this module describes: plain
DDP (accelerate's DeepSpeed, FSDP and others combine differently: untested)."""


def windows(
    accelerator: accelerate.Accelerator,
    loader: Iterable[Any],
    model: torch.nn.Module | None = None,
    *,
    weights: Callable[[Any], Any] | None = None,
    examples: Callable[[Any], Any] | None = None,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Iterator[Window]:
    """The optimizer steps of ``loader``, for ``accelerator.backward`` (it divides by ``K``).

    Each window holds ``K = accelerator.gradient_accumulation_steps`` micro-batches (fewer
    in the last one). Iterating over a window yields its micro-batches, all but the last
    under ``accelerator.no_sync(model)``, with ``accelerator.sync_gradients`` False until
    the last: step the prepared optimizer (and scheduler) after the window.

    Args:
        accelerator: the ``Accelerator`` (DDP on CPUs or GPUs, or one process).
        loader: the prepared data loader (the same number of batches on every process:
            accelerate's ``even_batches=True`` default pads the last batches with repeated
            examples; prefer a dataset whose batches divide evenly).
        model: the prepared model, for ``no_sync`` (None: every micro-batch synchronizes;
            the result is the same).
        weights: a function of a micro-batch giving the weights or mask of its losses
            (``lambda batch: batch["mask"]``); None for per-example losses.
        examples: a function giving a micro-batch's example count (default: the first
            dimension of ``weights(batch)``), for the activity penalties.
        reduction: which count of the weights is the denominator (``global_denominator``).

    Returns:
        An iterator of :class:`~losskit.engines.window.Window`.

    Raises:
        ValueError: the accelerator's distributed type is not plain DDP, or neither
            ``weights`` nor ``examples`` is given.
        TypeError: ``weights`` or ``examples`` is not callable.
    """
    kind = accelerator.distributed_type
    if getattr(kind, "name", str(kind)) not in _SUPPORTED:
        raise ValueError(
            invalid(
                "accelerator",
                f"an Accelerator running DDP or one process (distributed_type in {_SUPPORTED})",
                f"distributed_type={kind}",
                hint="Other accelerate back ends combine gradients differently and are untested.",
            )
        )

    def micro(index: int, last: bool) -> contextlib.AbstractContextManager[Any]:
        return _micro_batch(accelerator, model, last)

    engine = Engine(
        gradients="mean",
        accumulation="mean",  # accelerator.backward divides every loss by K
        accumulation_steps=accelerator.gradient_accumulation_steps,
        device=accelerator.device,
        micro=micro,
    )
    return _windows(loader, engine, weights=weights, examples=examples, reduction=reduction)


@contextlib.contextmanager
def _micro_batch(
    accelerator: accelerate.Accelerator, model: torch.nn.Module | None, last: bool
) -> Iterator[None]:
    accelerator.sync_gradients = last  # the prepared optimizer and scheduler step only if True
    if last or model is None:
        yield
        return
    with accelerator.no_sync(model):
        yield
