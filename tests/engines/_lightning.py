"""Rank code of the Lightning tests: the docs' example, and the naive LightningModule
(local means, Keras's local penalties, Lightning's default distributed sampler)."""

from __future__ import annotations

from typing import Any

from tests.engines import _examples


def runs(rank: int, world: int, windows: list[int]) -> dict[str, Any]:
    return _examples.train_and_naive("lightning", windows, naive)


def naive(example: dict[str, Any], steps: int) -> list[Any]:
    import torch

    import losskit.torch

    class Naive(example["Regression"]):  # type: ignore[misc, valid-type]
        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(example["dataset"](), batch_size=self.batch_size)

        def training_step(self, batch: Any, batch_index: int) -> Any:
            x, y, mask = batch
            per_token = (self.net(x).squeeze(-1) - y) ** 2
            return torch.sum(per_token * mask) / torch.sum(mask) + losskit.torch.penalty(self.net)

    train = example["train"]
    train.__globals__["Regression"] = Naive  # the example's Trainer, fitting the naive module
    try:
        return [p.numpy() for p in train(steps)]
    finally:
        train.__globals__["Regression"] = example["Regression"]
