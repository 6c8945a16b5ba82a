"""Rank code of the accelerate tests: the docs' example, and the documented accumulate loop."""

from __future__ import annotations

from typing import Any

from tests.engines import _examples


def runs(rank: int, world: int, windows: list[int]) -> dict[str, Any]:
    return _examples.train_and_naive("accelerate", windows, naive)


def naive(example: dict[str, Any], steps: int) -> list[Any]:
    """accelerate's documented loop with local means and Keras's local penalties."""
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    import losskit.torch

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=steps)
    net = example["model"]()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    sizes = example["SIZES"]
    batches = [list(range(sum(sizes[:i]), sum(sizes[: i + 1]))) for i in range(len(sizes))]
    loader = DataLoader(example["dataset"](), batch_sampler=batches)
    net, optimizer, loader = accelerator.prepare(net, optimizer, loader)
    for x, y, mask in loader:
        with accelerator.accumulate(net):
            per_token = (net(x).squeeze(-1) - y) ** 2
            loss = torch.sum(per_token * mask) / torch.sum(mask) + losskit.torch.penalty(net)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
    return [p.detach().numpy().copy() for p in accelerator.unwrap_model(net).parameters()]
