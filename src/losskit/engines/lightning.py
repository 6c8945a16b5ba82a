"""Lightning: the exact loss in ``training_step`` (``docs/engines/lightning.md``).

Lightning runs ``training_step`` on one micro-batch at a time, divides its loss by
``accumulate_grad_batches`` and averages over ranks (DDP); its default distributed sampler
pads the ranks' shares by repeating examples. :func:`windows` builds the training loader:
each rank's batches cut from the global batches without repetition
(:class:`~losskit.engines._shards.EvenShards`), grouped into the Trainer's accumulation
windows fetched ahead, each batch delivered as ``(batch, window)`` so that
``training_step`` can return ``window.average(...) + window.penalty(self)``.

Example:
    >>> import torch, lightning, losskit.engines.lightning
    >>> trainer = lightning.Trainer(accelerator="cpu", devices=1, accumulate_grad_batches=2,
    ...     logger=False, enable_progress_bar=False, enable_model_summary=False)
    >>> data = torch.utils.data.TensorDataset(torch.ones(5, 3), torch.tensor([1.0, 1, 0, 1, 1]))
    >>> loader = losskit.engines.lightning.windows(trainer, data, batch_size=2,
    ...     weights=lambda batch: batch[1])
    >>> [(len(x), len(window), int(window.denominator)) for (x, mask), window in loader]
    [(2, 2, 3), (2, 2, 3), (1, 1, 1)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning
import torch
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy

from losskit._errors import invalid
from losskit.engines._shards import EvenShards, empty_safe
from losskit.engines._window import Engine, Window
from losskit.engines._window import windows as _windows
from losskit.reduction import Reduction, ReductionLike

__all__ = ["EvenShards", "WindowLoader", "windows"]


class WindowLoader:
    """The training loader :func:`windows` returns: ``(batch, window)`` per micro-batch.

    Attributes:
        sampler: the :class:`EvenShards` batch sampler (Lightning calls its ``set_epoch``).
        loader: the underlying ``DataLoader``.
    """

    def __init__(
        self,
        loader: torch.utils.data.DataLoader[Any],
        sampler: EvenShards,
        engine: Engine,
        window_options: dict[str, Any],
    ) -> None:
        self.loader, self.sampler = loader, sampler
        self._engine, self._options = engine, window_options

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Any, Window]]:
        for window in _windows(self.loader, self._engine, **self._options):
            for batch in window.batches:
                yield batch, window


def windows(
    trainer: lightning.Trainer,
    dataset: Sequence[Any],
    *,
    batch_size: int,
    weights: Callable[[Any], Any] | None = None,
    examples: Callable[[Any], Any] | None = None,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
    shuffle: bool = False,
    seed: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    **loader_options: Any,
) -> WindowLoader:
    """The training loader of ``dataset`` for ``trainer``: return it from
    ``train_dataloader``; ``training_step`` receives ``(batch, window)``.

    Every rank gets ``batch_size`` examples of each global batch (the last global batch is
    split as evenly as possible), no example repeated; every ``accumulate_grad_batches``
    batches form a window (fewer in the epoch's last), whose denominators are counted over
    every rank before its first batch runs.

    Args:
        trainer: the ``Trainer`` (``self.trainer`` in ``train_dataloader``): DDP or one
            device; its ``accumulate_grad_batches`` is the window size.
        dataset: a map-style dataset.
        batch_size: examples per rank and micro-batch.
        weights: a function of a (collated) batch giving its losses' weights or mask; None
            for per-example losses.
        examples: a function giving a batch's example count (default: the first dimension
            of ``weights(batch)``), for the activity penalties.
        reduction: which count of the weights is the denominator.
        shuffle: shuffle the examples (a permutation of ``seed + epoch``).
        seed: the shuffling seed, the same on every rank.
        collate_fn: the ``DataLoader``'s collate function (default: ``default_collate``).
        **loader_options: other ``DataLoader`` options (``num_workers``, ...).

    Returns:
        A :class:`WindowLoader`.

    Raises:
        ValueError: the strategy is not DDP or a single device; ``batch_size`` is not a
            positive integer; neither ``weights`` nor ``examples`` is given.
        TypeError: ``weights`` or ``examples`` is not callable.
    """
    strategy = trainer.strategy
    if (
        not isinstance(strategy, (DDPStrategy, SingleDeviceStrategy))
        or strategy.handles_gradient_accumulation
    ):
        raise ValueError(
            invalid(
                "trainer",
                "a Trainer with the DDP or a single-device strategy",
                f"strategy {type(strategy).__name__}",
                hint="Other strategies combine gradients differently and are untested.",
            )
        )
    sampler = EvenShards(
        len(dataset),
        batch_size,
        rank=trainer.global_rank,
        world_size=trainer.world_size,
        shuffle=shuffle,
        seed=seed,
    )
    collate = empty_safe(collate_fn or torch.utils.data.default_collate, dataset)
    loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=sampler,
        collate_fn=collate,
        **loader_options,
    )
    engine = Engine(
        gradients="mean",
        accumulation="mean",  # Lightning divides every loss by accumulate_grad_batches
        accumulation_steps=trainer.accumulate_grad_batches,
        device=strategy.root_device,
    )
    options: dict[str, Any] = {"weights": weights, "examples": examples, "reduction": reduction}
    _windows([], engine, **options)  # validates now, not at the first batch
    return WindowLoader(loader, sampler, engine, options)
