"""Exact gradient accumulation with PyTorch FSDP2 (fully_shard), sharded kernel penalties included.

Run it on 2 CPU processes:  torchrun --nproc-per-node 2 fsdp_example.py
Every rank prints the same (gathered) parameters: those of one process stepping on each
window's whole global batch, whether FSDP2 averages (its default) or sums the gradients.
"""

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard

import losskit.engines.fsdp
import losskit.torch
from losskit.regularizers import L1, L2

SIZES = [4, 2, 1, 5, 3, 3, 6, 1, 2, 2]  # examples per micro-batch, round robin over the ranks


def micro_batches(rank: int, world: int, seed: int = 1) -> list[tuple[torch.Tensor, ...]]:
    """This rank's share of a token regression: (x [n, 4, 3], targets [n, 4], mask [n, 4])."""
    g = torch.Generator().manual_seed(seed)
    every = []
    for n in SIZES:
        x, y = torch.randn(n, 4, 3, generator=g), torch.randn(n, 4, generator=g)
        every.append((x.double(), y.double(), (torch.rand(n, 4, generator=g) > 0.25).double()))
    return every[rank::world]


def network() -> torch.nn.Module:
    torch.manual_seed(3)
    layers = [torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)]
    net = torch.nn.Sequential(*layers).double()
    losskit.torch.regularize(net, kernel=L2(0.05))  # L2 on both kernels, sharded or not
    losskit.torch.regularize(net, activity=L1(0.1), include="0")  # L1 on the hidden output
    return net


def train(accumulation_steps: int = 3, per_layer: bool = True, summed: bool = False) -> list:
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    net = network()
    if per_layer:
        fully_shard(net[0])
        fully_shard(net[2])
    fully_shard(net)
    if summed:  # FSDP2 sums gradients only with a divide factor of 1 on every module
        losskit.engines.fsdp.sum_gradients(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    data = micro_batches(dist.get_rank(), dist.get_world_size())
    for window in losskit.engines.fsdp.windows(
        net, data, accumulation_steps=accumulation_steps, weights=lambda batch: batch[2]
    ):
        for x, y, mask in window:  # gradients are reduce-scattered on the last one
            per_token = (net(x).squeeze(-1) - y) ** 2
            loss = window.average(per_token, mask) + window.penalty(net)
            loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return [p.full_tensor().detach() for p in net.parameters()]


if __name__ == "__main__":
    for parameter in train():
        print(parameter.numpy().round(6))
