"""Exact gradient accumulation with Lightning (DDP), on uneven shards and a partial last window.

Run it on 2 CPU processes:  python lightning_example.py  (Lightning starts the second one)
or torchrun --nproc-per-node 2 lightning_example.py. Every rank prints the same parameters:
those of one process stepping on each window's whole global batch.
"""

import lightning
import torch
from torch.utils.data import TensorDataset

import losskit.engines.lightning
import losskit.torch
from losskit.regularizers import L1, L2


def dataset(n: int = 25, seed: int = 2) -> TensorDataset:
    """Token regression: x [n, 4 tokens, 3 features], targets [n, 4], a padding mask."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 3, generator=g, dtype=torch.float64)
    y = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return TensorDataset(x, y, (torch.rand(n, 4, generator=g) < 0.6).double())


class Regression(lightning.LightningModule):
    def __init__(self, batch_size: int = 3) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)
        )
        losskit.torch.regularize(self.net, kernel=L2(0.05))  # L2 on both kernels
        losskit.torch.regularize(self.net, activity=L1(0.1), include="0")  # on the hidden output
        self.batch_size = batch_size

    def train_dataloader(self) -> losskit.engines.lightning.WindowLoader:
        # each rank's slice of every global batch, no example repeated, windows fetched ahead
        return losskit.engines.lightning.windows(
            self.trainer, dataset(), batch_size=self.batch_size, weights=lambda b: b[2]
        )

    def training_step(self, item, batch_index):
        (x, y, mask), window = item
        per_token = (self.net(x).squeeze(-1) - y) ** 2
        return window.average(per_token, mask) + window.penalty(self.net)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def train(accumulation_steps: int = 3, devices: int = 2) -> list[torch.Tensor]:
    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        precision="64-true",
        accumulate_grad_batches=accumulation_steps,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    module = Regression()
    trainer.fit(module)
    return [p.detach().clone() for p in module.net.parameters()]


if __name__ == "__main__":
    for parameter in train():
        print(parameter.numpy().round(6))
