"""Functions that run on each rank of a real ``torch.distributed`` (gloo) job.

Module-level, so that ``losskit.testing.run_processes`` can pickle them to spawned ranks.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np

FEATURES, TOKENS = 3, 4
L2 = 0.05


def global_data(total: int, seed: int) -> dict[str, np.ndarray]:
    """The whole step's batch, the same on every rank: tokens with a padding mask."""
    rng = np.random.default_rng(seed)
    mask = (rng.random((total, TOKENS)) < 0.7).astype(np.float64)
    mask[0] = 0.0  # one example is all padding
    return {
        "x": rng.normal(size=(total, TOKENS, FEATURES)),
        "y": rng.normal(size=(total, TOKENS)),
        "mask": mask,
    }


def initial_weights() -> tuple[np.ndarray, np.ndarray]:
    return np.array([[0.5, -0.25, 0.125]]), np.array([0.1])


def _model(torch: Any) -> Any:
    model = torch.nn.Linear(FEATURES, 1, dtype=torch.float64)
    weight, bias = initial_weights()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(weight))
        model.bias.copy_(torch.as_tensor(bias))
    return model


def _shard(data: dict[str, np.ndarray], start: int, stop: int, torch: Any) -> dict[str, Any]:
    return {key: torch.as_tensor(value[start:stop]) for key, value in data.items()}


def step_gradients(rank: int, world: int, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each case: the gradients after one optimizer step, losskit's and the naive ones.

    A case: ``sizes[r][k]`` examples for rank r's micro-batch k (a partial window has fewer
    than ``steps`` micro-batches), ``engine``: ``"ddp"`` (DDP averages) or ``"sum"`` (the
    gradients are all-reduced with SUM by hand), ``accumulation``: ``"sum"`` (``backward``
    per micro-batch) or ``"mean"`` (the loss is divided by ``steps`` before ``backward``, as
    accelerate and DeepSpeed do).
    """
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import losskit
    from losskit.distribute import global_denominator, torch_context

    out = []
    for case in cases:
        sizes, steps = case["sizes"], case["steps"]
        offsets = np.cumsum([0] + [n for row in sizes for n in row])
        data = global_data(int(offsets[-1]), case["seed"])
        mine = [
            _shard(
                data,
                int(offsets[rank * len(sizes[0]) + k]),
                int(offsets[rank * len(sizes[0]) + k + 1]),
                torch,
            )
            for k in range(len(sizes[rank]))
        ]
        result = {}
        for method in ("losskit", "naive"):
            model = _model(torch)
            ddp = case["engine"] == "ddp"
            net = DistributedDataParallel(model) if ddp else model
            divide = steps if case["accumulation"] == "mean" else 1
            gradients = "mean" if ddp else "sum"
            with torch_context(
                gradients=gradients, accumulation_steps=steps, accumulation=case["accumulation"]
            ):
                if method == "losskit":
                    D = global_denominator(*[mb["mask"] for mb in mine])
                for k, mb in enumerate(mine):
                    last = k == len(mine) - 1
                    sync = contextlib.nullcontext() if (last or not ddp) else net.no_sync()
                    with sync:
                        pred = net(mb["x"]).squeeze(-1)
                        per_token = (pred - mb["y"]) ** 2
                        penalty = L2 * torch.sum(model.weight**2)
                        if method == "losskit":
                            loss = losskit.compute_average_loss(
                                per_token, mb["mask"], global_batch_size=D
                            ) + losskit.scale_regularization_loss(penalty)
                        else:  # the usual code: a local mean, the penalty, / micro-steps
                            local = torch.sum(per_token * mb["mask"]) / torch.clamp(
                                torch.sum(mb["mask"]), min=1.0
                            )
                            loss = (local + penalty) / len(mine)
                        (loss / divide).backward()
            if not ddp:
                for p in model.parameters():
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            result[method] = [p.grad.numpy().copy() for p in model.parameters()]
        out.append(result)
    return out


def counting_all_reduces(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """``fn(*args, **kwargs)`` and how many times it called ``torch.distributed.all_reduce``."""
    import torch.distributed as dist

    calls = []
    original = dist.all_reduce

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    dist.all_reduce = counting
    try:
        return fn(*args, **kwargs), len(calls)
    finally:
        dist.all_reduce = original


def count_all_reduces(rank: int, world: int) -> int:
    """How many collectives ``global_denominator`` issues for a 3-micro-batch window."""
    import torch

    from losskit.distribute import global_denominator, torch_context

    with torch_context(accumulation_steps=3):
        D, calls = counting_all_reduces(
            global_denominator, torch.ones(rank + 1), torch.ones(2), torch.zeros(1)
        )
    expected = sum(r + 1 + 2 for r in range(world))
    if float(D) != expected:
        raise AssertionError(f"D = {float(D)}, expected {expected}")
    return calls


def raise_on_rank_one(rank: int, world: int) -> int:
    import torch
    import torch.distributed as dist

    if rank == 1:
        raise ValueError("rank one is broken")
    dist.all_reduce(torch.ones(1))
    return rank


def hang_on_rank_one(rank: int, world: int) -> int:
    import torch
    import torch.distributed as dist

    if rank == 1:
        time.sleep(600)
    dist.all_reduce(torch.ones(1))
    return rank


def hang_everywhere(rank: int, world: int) -> int:
    time.sleep(600)
    return rank


def subgroup_denominator(rank: int, world: int) -> tuple[int, int, float]:
    """``torch_context(process_group)`` counts and all-reduces over that group only."""
    import torch
    import torch.distributed as dist

    from losskit.distribute import global_denominator, torch_context

    group = dist.new_group([0, 1])  # every rank takes part in creating it
    if rank > 1:
        try:
            torch_context(group)
        except ValueError as error:
            if "Invalid `process_group`: expected a group this process belongs to" in str(error):
                return (-1, -1, 0.0)
            raise
        raise AssertionError("torch_context accepted a group without this rank")
    with torch_context(group) as context:
        D = global_denominator(torch.ones(rank + 2))  # 2 + 3 over the group, not 2 + 3 + 4
        return (context.num_replicas, context.replica_id, float(D))


ACTIVITY_L1, KERNEL_L2 = 0.1, 0.05


def activity_data(total: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(total, 3)), "y": rng.normal(size=(total, 2))}


def activity_start() -> tuple[np.ndarray, np.ndarray]:
    return np.array([[0.5, -0.25, 0.125], [-0.3, 0.2, 0.4]]), np.array([0.1, -0.2])


def activity_gradients(rank: int, world: int, cases: list[dict[str, Any]]) -> list[list[Any]]:
    """A Linear layer with a kernel L2 and an activity L1 regularizer (losskit.torch) under
    DDP with accumulation: the step's gradients, for each case."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    import losskit
    import losskit.torch
    from losskit.distribute import global_denominator, torch_context
    from losskit.regularizers import L1, L2

    out = []
    for case in cases:
        sizes, steps = case["sizes"], case["steps"]
        offsets = np.cumsum([0] + [n for row in sizes for n in row])
        data = activity_data(int(offsets[-1]), case["seed"])
        present = len(sizes[0])
        layer = torch.nn.Linear(3, 2, dtype=torch.float64)
        weight, bias = activity_start()
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(weight))
            layer.bias.copy_(torch.as_tensor(bias))
        losskit.torch.regularize(layer, kernel=L2(KERNEL_L2), activity=L1(ACTIVITY_L1))
        ddp = DistributedDataParallel(layer)
        mine = []
        for k in range(present):
            a, b = int(offsets[rank * present + k]), int(offsets[rank * present + k + 1])
            mine.append({key: torch.as_tensor(value[a:b]) for key, value in data.items()})
        with torch_context(accumulation_steps=steps):
            N = global_denominator(
                *[torch.ones(len(mb["x"]), dtype=torch.float64) for mb in mine],
                reduction="sum_over_batch_size",
            )
            for k, mb in enumerate(mine):
                sync = contextlib.nullcontext() if k == present - 1 else ddp.no_sync()
                with sync:
                    per_example = torch.sum((ddp(mb["x"]) - mb["y"]) ** 2, dim=1)
                    loss = (
                        losskit.compute_average_loss(per_example, global_batch_size=N)
                        + losskit.torch.penalty(layer, weights=False, global_batch_size=N)
                        + losskit.scale_regularization_loss(
                            losskit.torch.penalty(layer, activity=False)
                        )
                    )
                    loss.backward()
        out.append([layer.weight.grad.numpy().copy(), layer.bias.grad.numpy().copy()])
    return out


LAUNCH_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def launch_environment(rank: int, world: int) -> dict[str, str | None]:
    """torchrun's variables as this rank sees them (DeepSpeed and Lightning read them)."""
    import os

    return {name: os.environ.get(name) for name in LAUNCH_VARIABLES}
