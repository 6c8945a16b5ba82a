"""Rank code of the FSDP2 tests: the docs' example on root-only and per-layer sharding,
averaged and summed gradients, and the naive loop."""

from __future__ import annotations

from typing import Any

from tests.engines import _examples

LAYOUTS = [(False, False), (True, False), (True, True), (False, True)]
"""(per_layer, summed)."""


def runs(rank: int, world: int, windows: list[int]) -> dict[str, Any]:
    example = _examples.load("fsdp")
    found: dict[str, Any] = {}
    for steps in windows:
        for per_layer, summed in LAYOUTS:
            trained = example["train"](steps, per_layer, summed)
            found[f"losskit per_layer={per_layer} summed={summed} K={steps}"] = [
                p.numpy() for p in trained
            ]
        found[f"naive per_layer=True summed=False K={steps}"] = naive(example, rank, world, steps)
        found[f"losskit force-sum K={steps}"] = force_sum(example, rank, world, steps)
    found["root-only divide factor"] = mixed_factors(example)
    found["sharded refusals"] = sharded_refusals()
    return found


def sharded_refusals() -> list[str]:
    """What ``losskit.torch.penalty`` says to sharded penalties it cannot compute per shard:
    a regularizer that is not a sum over elements, and a 2-D mesh (HSDP)."""
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import losskit.torch
    from losskit.regularizers import OrthogonalRegularizer

    found = []
    orthogonal = torch.nn.Linear(4, 4)
    losskit.torch.regularize(orthogonal, kernel=OrthogonalRegularizer(0.1))
    hybrid = torch.nn.Linear(4, 4)
    losskit.torch.regularize(hybrid, kernel="l2")
    mesh = init_device_mesh("cpu", (1, dist.get_world_size()), mesh_dim_names=("copies", "shards"))
    for layer, options in ((orthogonal, {}), (hybrid, {"mesh": mesh})):
        fully_shard(layer, **options)
        try:
            losskit.torch.penalty(layer)
        except ValueError as error:
            found.append(str(error))
    return found


def force_sum(example: dict[str, Any], rank: int, world: int, steps: int) -> list[Any]:
    """The example's loop with ``set_force_sum_reduction_for_comms(True)`` on every
    ``fully_shard`` module: sum collectives, but FSDP2 still averages the gradients, so the
    adapter's default (``"mean"``) stays exact."""
    import torch
    from torch.distributed.fsdp import fully_shard

    import losskit.engines.fsdp

    net = example["network"]()
    for module in (net[0], net[2], net):
        fully_shard(module)
        module.set_force_sum_reduction_for_comms(True)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    data = example["micro_batches"](rank, world)
    for window in losskit.engines.fsdp.windows(
        net, data, accumulation_steps=steps, weights=lambda batch: batch[2]
    ):
        for x, y, mask in window:
            per_token = (net(x).squeeze(-1) - y) ** 2
            (window.average(per_token, mask) + window.penalty(net)).backward()
        optimizer.step()
        optimizer.zero_grad()
    return [p.full_tensor().detach().numpy() for p in net.parameters()]


def mixed_factors(example: dict[str, Any]) -> str:
    """``set_gradient_divide_factor(1.0)`` on the root alone: the layers still average."""
    from torch.distributed.fsdp import fully_shard

    import losskit.engines.fsdp

    net = example["network"]()
    fully_shard(net[0])
    fully_shard(net)
    net.set_gradient_divide_factor(1.0)
    try:
        losskit.engines.fsdp.windows(net, [], accumulation_steps=2, weights=len)
    except ValueError as error:
        return str(error)
    return "accepted"


def naive(example: dict[str, Any], rank: int, world: int, steps: int) -> list[Any]:
    """Per-layer FSDP2 with local means, Keras's local penalties and ``/ K``, per the docs of
    gradient accumulation (the penalty needs losskit's sharded path to run at all)."""
    import torch
    from torch.distributed.fsdp import fully_shard

    import losskit.torch

    net = example["network"]()
    fully_shard(net[0])
    fully_shard(net[2])
    fully_shard(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    data = example["micro_batches"](rank, world)
    for start in range(0, len(data), steps):
        for x, y, mask in data[start : start + steps]:
            per_token = (net(x).squeeze(-1) - y) ** 2
            local = torch.sum(per_token * mask) / torch.sum(mask) + losskit.torch.penalty(net)
            (local / steps).backward()
        optimizer.step()
        optimizer.zero_grad()
    return [p.full_tensor().detach().numpy() for p in net.parameters()]
