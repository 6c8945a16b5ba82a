"""A data-parallel batch sampler that repeats no example: the global batch stays the data.

``torch.utils.data.DistributedSampler`` (Lightning's default, and accelerate's
``even_batches``) pads the ranks' shares to equal sizes by repeating examples, which adds
them to the loss twice. :class:`EvenShards` instead cuts every global batch of
``batch_size * world_size`` examples into the ranks' batches; the last, shorter global batch
is split as evenly as possible (a rank may get an empty batch). Every rank gets the same
number of batches, which the engines' collectives need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils._pytree import tree_map

from losskit._errors import invalid
from losskit._state import check_count

__all__ = ["EvenShards", "empty_safe"]


class EvenShards(torch.utils.data.Sampler[list[int]]):
    """Rank ``rank``'s batches of a dataset of ``size`` examples: its slice of every global
    batch (a permutation of ``seed + epoch`` if ``shuffle``), no example repeated or left out.

    Example:
        >>> from losskit.engines._shards import EvenShards
        >>> [list(EvenShards(11, 2, rank=r, world_size=3)) for r in range(3)]
        [[[0, 1], [6, 7]], [[2, 3], [8, 9]], [[4, 5], [10]]]
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        rank: int,
        world_size: int,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        self.size = check_count(size, "size") if size else 0
        self.batch_size = check_count(batch_size, "batch_size")
        self.world_size = check_count(world_size, "world_size")
        if not 0 <= rank < self.world_size:
            raise ValueError(invalid("rank", f"an integer in [0, {self.world_size})", rank))
        self.rank, self.shuffle, self.seed, self.epoch = rank, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently in each epoch (the engines call it)."""
        self.epoch = epoch

    def __len__(self) -> int:
        step = self.batch_size * self.world_size
        return -(-self.size // step)

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        step = self.batch_size * self.world_size
        for start in range(0, self.size, step):
            chunk = order[start : start + step]
            base, extra = divmod(len(chunk), self.world_size)
            low = self.rank * base + min(self.rank, extra)
            yield chunk[low : low + base + (self.rank < extra)]


def empty_safe(collate: Callable[[list[Any]], Any], dataset: Sequence[Any]) -> Callable[..., Any]:
    """``collate``, and for an empty batch the collated first example cut to 0 rows (the
    right structure, dtypes and trailing shapes; ``default_collate([])`` raises)."""

    def collate_fn(samples: list[Any]) -> Any:
        if samples:
            return collate(samples)
        return tree_map(lambda leaf: leaf[:0], collate([dataset[0]]))

    return collate_fn
