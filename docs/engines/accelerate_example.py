"""Exact gradient accumulation with accelerate, on uneven shards and a partial last window.

Run it on 2 CPU processes:  accelerate launch --cpu --num_processes 2 accelerate_example.py
(or torchrun --nproc-per-node 2 accelerate_example.py). Every rank prints the same
parameters: those of one process stepping on each window's whole global batch.
"""

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, TensorDataset

import losskit.engines.accelerate
import losskit.torch
from losskit.regularizers import L1, L2

SIZES = [5, 1, 3, 2, 4, 1, 2, 6, 3, 1]  # examples per batch: uneven, 5 batches per rank


def dataset(seed: int = 0) -> TensorDataset:
    """Token regression: x [n, 4 tokens, 3 features], targets [n, 4], a padding mask."""
    g = torch.Generator().manual_seed(seed)
    n = sum(SIZES)
    mask = (torch.rand(n, 4, generator=g) < 0.7).double()
    return TensorDataset(
        torch.randn(n, 4, 3, generator=g, dtype=torch.float64),
        torch.randn(n, 4, generator=g, dtype=torch.float64),
        mask,
    )


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    net = net.double()
    # Keras's kernel and activity regularizers: L2 on both kernels, L1 on the hidden output
    losskit.torch.regularize(net, kernel=L2(0.05))
    losskit.torch.regularize(net, activity=L1(0.1), include="0")
    return net


def train(accumulation_steps: int = 3, epochs: int = 1) -> list[torch.Tensor]:
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=accumulation_steps)
    net = model()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    starts = [sum(SIZES[:i]) for i in range(len(SIZES))]
    batches = [list(range(a, a + n)) for a, n in zip(starts, SIZES, strict=False)]
    loader = DataLoader(dataset(), batch_sampler=batches)
    net, optimizer, loader = accelerator.prepare(net, optimizer, loader)
    for _ in range(epochs):
        for window in losskit.engines.accelerate.windows(
            accelerator, loader, net, weights=lambda batch: batch[2]
        ):
            for x, y, mask in window:  # all but the last under no_sync
                per_token = (net(x).squeeze(-1) - y) ** 2
                loss = window.average(per_token, mask) + window.penalty(net)
                accelerator.backward(loss)
            optimizer.step()  # once per window, the partial last one included
            optimizer.zero_grad()
    return [p.detach().clone() for p in accelerator.unwrap_model(net).parameters()]


if __name__ == "__main__":
    for parameter in train():
        print(parameter.numpy().round(6))
