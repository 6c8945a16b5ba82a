"""What every engine adapter shares: optimizer-step windows fetched ahead, with the step's
global denominators attached.

An engine adapter describes its engine with an :class:`Engine` (how it combines gradients,
how many micro-batches it accumulates, and what to do around each micro-batch: ``no_sync``,
an accumulation boundary) and hands the user :class:`Window` objects. A window holds the
micro-batches of one optimizer step on this rank (``accumulation_steps`` of them, fewer in
the last window of the loader), the step's example count and loss denominator over every
rank (one all-reduce for both, before the first backward), and computes the exact loss and
penalties inside the matching :func:`losskit.distribute.torch_context`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from losskit._errors import invalid
from losskit.average_loss import compute_average_loss, scale_regularization_loss
from losskit.distribute import DistributionContext, global_denominator, torch_context
from losskit.distribute._denominator import window_denominators
from losskit.reduction import Reduction, ReductionLike
from losskit.torch import penalty as module_penalty

__all__ = ["Engine", "Window", "windows"]

MicroContext = Callable[[int, bool], contextlib.AbstractContextManager[Any]]
"""``(index, last) -> context manager`` entered around each micro-batch of a window."""


def _no_context(index: int, last: bool) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext()


@dataclasses.dataclass(frozen=True)
class Engine:
    """How an engine combines gradients (the fields of :func:`losskit.distribute.torch_context`),
    and what it needs around each micro-batch."""

    gradients: str
    accumulation: str
    accumulation_steps: int
    process_group: Any = None
    device: Any = None
    """Where the denominators are counted (NCCL all-reduces CUDA tensors only)."""
    micro: MicroContext = _no_context
    weight_penalty: Callable[[torch.nn.Module], Any] | None = None
    """The weight penalties of a module, if not ``losskit.torch.penalty(activity=False)``."""

    def context(self, micro_steps: int) -> contextlib.AbstractContextManager[DistributionContext]:
        return torch_context(
            self.process_group,
            gradients=self.gradients,
            accumulation_steps=self.accumulation_steps,
            accumulation=self.accumulation,
            micro_steps=micro_steps,
        )


class Window:
    """One optimizer step's micro-batches on this rank, with the step's global counts.

    Iterate over it to get the micro-batches, each inside what the engine needs around it
    (``no_sync`` on all but the last, the accumulation boundary on the last). Compute the
    loss of each micro-batch with :meth:`average` and :meth:`penalty`: their gradients,
    once the engine has combined them over ranks and micro-batches, are the gradients of
    the single-process loss on the step's global batch (``docs/distributed.md``).

    Attributes:
        batches: this rank's micro-batches (``accumulation_steps`` of them, fewer in the
            loader's last window).
        denominator: the step's loss denominator over every rank and micro-batch (tokens,
            non-zero weights or the weight sum, per ``reduction``; the examples without
            ``weights``): a 0-d tensor.
        examples: the step's example count over every rank and micro-batch (the activity
            penalties' denominator): a 0-d tensor.

    Example:
        >>> import torch, losskit.engines.accelerate
        >>> from accelerate import Accelerator
        >>> accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
        >>> loader = [{"mask": torch.tensor([1.0, 0.0])}, {"mask": torch.ones(3)}]
        >>> (window,) = losskit.engines.accelerate.windows(
        ...     accelerator, loader, weights=lambda batch: batch["mask"]
        ... )
        >>> losses = [torch.tensor([2.0, 7.0]), torch.tensor([1.0, 1.0, 4.0])]
        >>> # (2 * 1) / 4 and (1 + 1 + 4) / 4, times 2: accelerate divides by the 2 steps
        >>> [float(window.average(l, batch["mask"])) for l, batch in zip(losses, window)]
        [1.0, 3.0]
    """

    def __init__(self, batches: list[Any], engine: Engine, denominator: Any, examples: Any):
        self.batches = batches
        self.denominator = denominator
        self.examples = examples
        self._engine = engine

    def __len__(self) -> int:
        return len(self.batches)

    def __repr__(self) -> str:
        return (
            f"Window({len(self.batches)} of {self._engine.accumulation_steps} micro-batches, "
            f"denominator={self.denominator!r}, examples={self.examples!r})"
        )

    def __iter__(self) -> Iterator[Any]:
        last = len(self.batches) - 1
        for index, batch in enumerate(self.batches):
            with self._engine.micro(index, index == last):
                yield batch

    def context(self) -> contextlib.AbstractContextManager[DistributionContext]:
        """The engine's :func:`losskit.distribute.torch_context` for this window, for any
        other losskit call (``compute_weighted_loss(..., reduction="sum")``, ...)."""
        return self._engine.context(len(self.batches))

    def average(self, losses: Any, weights: Any = None) -> Any:
        """``compute_average_loss(losses, weights, global_batch_size=window.denominator)``
        in the engine's context: this micro-batch's share of the step's weighted mean."""
        with self.context():
            return compute_average_loss(losses, weights, global_batch_size=self.denominator)

    def penalty(self, module: torch.nn.Module) -> Any:
        """The layer penalties of ``module`` (:mod:`losskit.torch`) for this micro-batch:
        activity penalties over the step's example count, weight penalties through
        ``scale_regularization_loss``, so that the step adds each once, at full strength."""
        with self.context():
            activity = module_penalty(module, weights=False, global_batch_size=self.examples)
            read = self._engine.weight_penalty
            weights = module_penalty(module, activity=False) if read is None else read(module)
            return activity + scale_regularization_loss(weights)


def _checked_function(name: str, value: Any) -> Callable[[Any], Any] | None:
    if value is not None and not callable(value):
        raise TypeError(invalid(name, "a function of a micro-batch, or None", value))
    return value  # type: ignore[no-any-return]


def window_of(
    batches: list[Any],
    engine: Engine,
    *,
    weights: Callable[[Any], Any] | None,
    examples: Callable[[Any], Any] | None,
    reduction: ReductionLike,
    denominator: Any = None,
) -> Window:
    """A window of ``batches`` with its global counts (one all-reduce for both, in the
    engine's context so that it also records how many micro-batches the window has)."""
    with engine.context(len(batches)):
        counts = [_rows(engine, batch, weights, examples) for batch in batches]
        if denominator is not None or weights is None:
            total = global_denominator(*counts, reduction="sum_over_batch_size")
            return Window(batches, engine, total if denominator is None else denominator, total)
        masks = [_on(engine, weights(batch)) for batch in batches]
        total, denominator = window_denominators(
            (counts, "sum_over_batch_size"), (masks, reduction)
        )
    return Window(batches, engine, denominator, total)


def _rows(
    engine: Engine,
    batch: Any,
    weights: Callable[[Any], Any] | None,
    examples: Callable[[Any], Any] | None,
) -> Any:
    """Ones, one per example of ``batch``: what ``global_denominator`` counts."""
    count = examples(batch) if examples is not None else weights(batch).shape[0]  # type: ignore[misc]
    return torch.ones(int(count), dtype=torch.float64, device=engine.device)


def _on(engine: Engine, value: Any) -> Any:
    if engine.device is None or not isinstance(value, torch.Tensor):
        return value
    return value.to(engine.device)


def windows(
    loader: Iterable[Any],
    engine: Engine,
    *,
    weights: Callable[[Any], Any] | None = None,
    examples: Callable[[Any], Any] | None = None,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> Iterator[Window]:
    """The windows of ``loader``: ``engine.accumulation_steps`` micro-batches at a time,
    fetched before any of them runs, and the rest in a last, shorter window.

    Every rank must see the same number of micro-batches (the all-reduces and the
    engine's gradient synchronization pair them up).
    """
    _checked_function("weights", weights)
    _checked_function("examples", examples)
    if weights is None and examples is None:
        raise ValueError(
            invalid(
                "weights, examples",
                "a function giving a micro-batch's weights or mask (or, for per-example "
                "losses without weights, its example count)",
                None,
            )
        )
    Reduction.validate(reduction)
    return _fetch(iter(loader), engine, weights, examples, reduction)


def _fetch(
    iterator: Iterator[Any],
    engine: Engine,
    weights: Callable[[Any], Any] | None,
    examples: Callable[[Any], Any] | None,
    reduction: ReductionLike,
) -> Iterator[Window]:
    while True:
        batches = list(itertools.islice(iterator, engine.accumulation_steps))
        if not batches:
            return
        yield window_of(batches, engine, weights=weights, examples=examples, reduction=reduction)
