"""Rank code of the DeepSpeed tests: the docs' example on ZeRO 0, 1, 2 and 3, the documented
loop with local means, and the refusal of an empty ZeRO-3 partition's penalty."""

from __future__ import annotations

import os
from typing import Any

from tests.engines import _examples


def runs(rank: int, world: int, stages: list[int], windows: list[int]) -> dict[str, Any]:
    os.environ["DS_ACCELERATOR"] = "cpu"
    example = _examples.load("deepspeed")
    found: dict[str, Any] = {}
    for stage in stages:
        for steps in windows:
            trained = example["train"](steps, stage)
            found[f"losskit stage={stage} K={steps}"] = [p.numpy() for p in trained]
            if stage < 3:
                found[f"naive stage={stage} K={steps}"] = naive(example, steps, stage)
    found["zero-3 refusal"] = zero3_refusal(example)
    return found


def _engine(example: dict[str, Any], steps: int, stage: int) -> Any:
    import deepspeed
    import torch

    net = example["model"]()
    config = {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": steps,
        "zero_optimization": {"stage": stage, "stage3_param_persistence_threshold": 0},
        "zero_allow_untested_optimizer": True,
        "gradient_clipping": 0.0,
        "steps_per_print": 1_000_000,
    }
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    return deepspeed.initialize(model=net, optimizer=optimizer, config=config)[0]


def naive(example: dict[str, Any], steps: int, stage: int) -> list[Any]:
    """DeepSpeed's documented loop with local means and Keras's local penalties."""
    import torch
    import torch.distributed as dist

    import losskit.torch

    engine = _engine(example, steps, stage)
    for batch in example["batches"]()[dist.get_rank() :: dist.get_world_size()]:
        per_token = (engine(batch["x"]).squeeze(-1) - batch["y"]) ** 2
        local = torch.sum(per_token * batch["mask"]) / torch.sum(batch["mask"])
        engine.backward(local + losskit.torch.penalty(engine.module))
        engine.step()
    return [p.detach().numpy().copy() for p in engine.module.parameters()]


def zero3_refusal(example: dict[str, Any]) -> str:
    """What ``losskit.torch.penalty`` says about ZeRO-3's empty partitions."""
    import losskit.torch

    engine = _engine(example, 1, 3)
    try:
        value = losskit.torch.penalty(engine.module, activity=False)
    except RuntimeError as error:
        return str(error)
    return f"no error: {value!r}"
