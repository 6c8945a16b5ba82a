"""losskit.torch under DistributedDataParallel: two real gloo processes on 127.0.0.1.

Each rank regularizes the same model (kernel L2, activity L1 on the hidden layer), wraps it
in DDP, runs its own half of the batch and backpropagates ``mse + penalty(ddp_model)``. The
oracle is hand-written autograd without losskit: each rank's loss written out, its
gradients averaged over the ranks (DDP's all-reduce mean).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from tests._helpers import assert_close

WORLD = 2
TIMEOUT = 120
L2_FACTOR, L1_FACTOR = 0.05, 0.02


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def _batch(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + rank)
    size = 3 + rank  # unequal local batches: each activity penalty divides by its own
    x = torch.randn(size, 3, generator=generator, dtype=torch.float64)
    return x, torch.randn(size, 1, generator=generator, dtype=torch.float64)


def _worker(rank: int, port: int, folder: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import losskit.torch as lt
    from losskit.regularizers import L1, L2

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        model = _model()
        lt.regularize(model, kernel=L2(L2_FACTOR))
        lt.regularize(model, activity=L1(L1_FACTOR), include=["1"])
        wrapped = DistributedDataParallel(model)
        x, y = _batch(rank)
        prediction = wrapped(x)
        found = [loss.detach() for loss in lt.losses(wrapped)]
        loss = ((prediction - y) ** 2).mean() + lt.penalty(wrapped)
        loss.backward()
        torch.save(
            {"losses": found, "grads": [p.grad for p in model.parameters()]},
            Path(folder) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _hand_written(rank: int) -> tuple[list[float], list[torch.Tensor]]:
    """Rank ``rank``'s losses and gradients, written out with plain autograd."""
    model = _model()
    x, y = _batch(rank)
    hidden = model[1](model[0](x))
    prediction = model[2](hidden)
    activity = L1_FACTOR * hidden.abs().sum() / x.shape[0]
    kernels = L2_FACTOR * (model[0].weight.pow(2).sum() + model[2].weight.pow(2).sum())
    loss = ((prediction - y) ** 2).mean() + activity + kernels
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return [float(activity.detach()), float(kernels.detach())], list(grads)


@pytest.mark.slow
def test_two_process_gloo(tmp_path: Path) -> None:
    context = mp.start_processes(
        _worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + TIMEOUT
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail("the DDP workers did not finish in time")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]
    expected = [_hand_written(rank) for rank in range(WORLD)]
    for rank in range(WORLD):
        got = [float(loss) for loss in results[rank]["losses"]]
        assert_close(got, expected[rank][0], rtol=1e-12)
    averaged = [sum(grads) / WORLD for grads in zip(*(e[1] for e in expected), strict=True)]
    for rank in range(WORLD):
        for got, want in zip(results[rank]["grads"], averaged, strict=True):
            assert_close(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-14)
