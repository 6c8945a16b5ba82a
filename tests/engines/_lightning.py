"""Rank code of the Lightning tests: the docs' example, and the naive LightningModule
(local means, Keras's local penalties, Lightning's default distributed sampler)."""

from __future__ import annotations

from typing import Any

from tests.engines import _examples


def runs(rank: int, world: int, windows: list[int]) -> dict[str, Any]:
    example = _examples.load("lightning")
    found: dict[str, Any] = {}
    for steps in windows:
        found[f"losskit K={steps}"] = [p.numpy() for p in example["train"](steps)]
        found[f"naive K={steps}"] = naive(example, steps)
    return found


def naive(example: dict[str, Any], steps: int) -> list[Any]:
    import lightning
    import torch

    import losskit.torch

    class Naive(example["Regression"]):  # type: ignore[misc, valid-type]
        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(example["dataset"](), batch_size=self.batch_size)

        def training_step(self, batch: Any, batch_index: int) -> Any:
            x, y, mask = batch
            per_token = (self.net(x).squeeze(-1) - y) ** 2
            return torch.sum(per_token * mask) / torch.sum(mask) + losskit.torch.penalty(self.net)

    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        precision="64-true",
        accumulate_grad_batches=steps,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module = Naive()
    trainer.fit(module)
    return [p.detach().numpy().copy() for p in module.net.parameters()]
