"""Exact gradient accumulation with DeepSpeed (ZeRO 0-3), on uneven shards and a short last window.

Run it on 2 CPU processes (DeepSpeed computes in float32 here):
    DS_ACCELERATOR=cpu torchrun --nproc-per-node 2 deepspeed_example.py
Every rank prints the same parameters: those of one process stepping on each window's
whole global batch.
"""

import deepspeed
import torch
import torch.distributed as dist

import losskit.engines.deepspeed
import losskit.torch
from losskit.regularizers import L1, L2

SIZES = [5, 1, 3, 2, 4, 1, 2, 6, 3, 1]  # examples per micro-batch, round robin over 2 ranks


def batches(seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Token regression: x [n, 4 tokens, 3 features], targets [n, 4] and a padding mask."""
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "x": torch.randn(n, 4, 3, generator=g),
            "y": torch.randn(n, 4, generator=g),
            "mask": (torch.rand(n, 4, generator=g) < 0.7).float(),
        }
        for n in SIZES
    ]


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    losskit.torch.regularize(net, kernel=L2(0.05))  # L2 on both kernels
    losskit.torch.regularize(net, activity=L1(0.1), include="0")  # L1 on the hidden output
    return net


def train(accumulation_steps: int = 3, stage: int = 3) -> list[torch.Tensor]:
    deepspeed.init_distributed("gloo")  # a no-op if torch.distributed is initialized
    net = model()
    config = {
        "train_micro_batch_size_per_gpu": 1,  # bookkeeping only: micro-batches vary in size
        "gradient_accumulation_steps": accumulation_steps,
        "zero_optimization": {"stage": stage, "stage3_param_persistence_threshold": 0},
        "zero_allow_untested_optimizer": True,
        "gradient_clipping": 0.0,  # DeepSpeed 0.19 clips the gradient norm at 1 by default
        "steps_per_print": 1_000_000,
    }
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    engine, _, _, _ = deepspeed.initialize(model=net, optimizer=optimizer, config=config)
    mine = batches()[dist.get_rank() :: dist.get_world_size()]
    for window in losskit.engines.deepspeed.windows(
        engine, mine, weights=lambda batch: batch["mask"]
    ):
        for batch in window:  # the last micro-batch of a window is the boundary
            per_token = (engine(batch["x"]).squeeze(-1) - batch["y"]) ** 2
            loss = window.average(per_token, batch["mask"]) + window.penalty(engine.module)
            engine.backward(loss)
            engine.step()  # steps on the window's last micro-batch, the short window too
    with deepspeed.zero.GatheredParameters(list(engine.module.parameters())):
        return [p.detach().clone() for p in engine.module.parameters()]


if __name__ == "__main__":
    for parameter in train():
        print(parameter.numpy().round(5))
