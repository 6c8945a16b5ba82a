"""Rank code of the FSDP1 tests (``FullyShardedDataParallel``, both ``use_orig_params``):
the plain recipe (``torch_context`` + ``global_denominator``, ``no_sync`` on all but the
last micro-batch) with a token mean and an activity penalty, the naive loop, and what
``losskit.torch.penalty`` says to FSDP1's flat parameters."""

from __future__ import annotations

import contextlib
from typing import Any

from tests.engines import _examples

ORIGINAL = [True, False]
"""``use_orig_params``."""


def network() -> Any:
    """The FSDP example's network with its activity penalty and no kernel penalty."""
    import torch

    import losskit.torch
    from losskit.regularizers import L1

    torch.manual_seed(3)
    layers = [torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1)]
    net = torch.nn.Sequential(*layers).double()
    losskit.torch.regularize(net, activity=L1(0.1), include="0")
    return net


def runs(rank: int, world: int, windows: list[int]) -> dict[str, Any]:
    example = _examples.load("fsdp")
    found: dict[str, Any] = {}
    for steps in windows:
        for original in ORIGINAL:
            data = example["micro_batches"](rank, world)
            found[f"losskit original={original} K={steps}"] = train(data, steps, original)
            found[f"naive original={original} K={steps}"] = train(data, steps, original, naive=True)
    found["refusals"] = refusals(example)
    return found


def _wrapped(net: Any, original: bool) -> Any:
    import torch
    from torch.distributed.fsdp import FullyShardedDataParallel

    return FullyShardedDataParallel(net, use_orig_params=original, device_id=torch.device("cpu"))


def _full_parameters(model: Any, names: list[str]) -> list[Any]:
    from torch.distributed.fsdp import FullyShardedDataParallel

    with FullyShardedDataParallel.summon_full_params(model):
        inner = model.module
        return [
            getattr(inner.get_submodule(name.rpartition(".")[0]), name.rpartition(".")[2])
            .detach()
            .clone()
            .numpy()
            for name in names
        ]


def train(data: list[Any], steps: int, original: bool, *, naive: bool = False) -> list[Any]:
    import torch

    import losskit
    import losskit.torch
    from losskit.distribute import global_denominator, torch_context

    net = network()
    names = [name for name, _ in net.named_parameters()]
    model = _wrapped(net, original)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for start in range(0, len(data), steps):
        window = data[start : start + steps]
        with torch_context(accumulation_steps=steps):
            tokens = global_denominator(*[mask for _, _, mask in window])
            examples = global_denominator(
                *[torch.ones(len(x)) for x, _, _ in window], reduction="sum_over_batch_size"
            )
            for k, (x, y, mask) in enumerate(window):
                last = k == len(window) - 1
                with contextlib.nullcontext() if last else model.no_sync():
                    per_token = (model(x).squeeze(-1) - y) ** 2
                    if naive:  # local means and penalties, divided by K
                        local = torch.sum(per_token * mask) / torch.sum(mask)
                        loss = (local + losskit.torch.penalty(model, weights=False)) / steps
                    else:
                        loss = losskit.compute_average_loss(
                            per_token, mask, global_batch_size=tokens
                        ) + losskit.torch.penalty(model, weights=False, global_batch_size=examples)
                    loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return _full_parameters(model, names)


def refusals(example: dict[str, Any]) -> dict[bool, str]:
    """``losskit.torch.penalty`` of FSDP1-wrapped kernels after a forward (a kernel L2)."""
    import torch

    import losskit.torch

    found = {}
    for original in ORIGINAL:
        model = _wrapped(example["network"](), original)
        model(torch.ones(2, 4, 3, dtype=torch.float64)).sum().backward()
        try:
            losskit.torch.penalty(model)
            found[original] = "accepted"
        except RuntimeError as error:
            found[original] = str(error)
    return found
