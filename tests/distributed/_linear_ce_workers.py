"""The rank function of the fused linear cross-entropy DDP test (test_linear_ce_ddp.py).

Module-level, so that ``losskit.testing.run_processes`` can pickle it to spawned ranks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from losskit.losses import linear_cross_entropy

IN, HIDDEN, CLASSES = 5, 6, 11
IGNORE = -100
OPTIONS = {"label_smoothing": 0.1, "z_loss": 1e-3}
# micro-batch sizes per rank: uneven over ranks and micro-batches
SIZES = ((9, 4), (3, 7))


def micro_batch(rank: int, step: int) -> dict[str, np.ndarray]:
    """Rank ``rank``'s micro-batch ``step``: inputs and labels with some ignored tokens."""
    rng = np.random.default_rng(100 * rank + step)
    n = SIZES[rank][step]
    labels = rng.integers(0, CLASSES, size=(1, n))
    labels[rng.random((1, n)) < 0.3] = IGNORE
    return {"x": rng.normal(size=(1, n, IN)), "labels": labels}


class LanguageModel(torch.nn.Module):
    """A projection to the hidden states and the LM head, its loss computed fused."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(IN, HIDDEN, dtype=torch.float64)
        self.head = torch.nn.Linear(HIDDEN, CLASSES, dtype=torch.float64)

    def forward(self, x: Any, labels: Any, token_weights: Any) -> Any:
        hidden = torch.tanh(self.proj(x))  # [1, T, HIDDEN]
        return linear_cross_entropy(
            hidden,
            self.head.weight,
            labels,
            bias=self.head.bias,
            token_weights=token_weights,
            chunk_size=3,
            **OPTIONS,
        )


def plan_weights(labels: list[Any]) -> list[Any]:
    """The aggregation plan's token-mean coefficients (``Plan.weights(k)``), built in DDP's
    context (``torch_context()``: the engine's mean over ranks is undone in the weights)."""
    import losskit.distribute
    from losskit.aggregation import plan

    masks = [y != IGNORE for y in labels]  # [B, T] labels: one row per sequence
    with losskit.distribute.torch_context(accumulation_steps=len(labels)):
        built = plan(masks, mode="token-mean")
        return [built.weights(k) for k in range(len(labels))]


def exact_token_mean_weights_by_hand(labels: list[Any], engine_scale: float) -> list[Any]:
    """Per-token coefficients of the exact global token mean, counted by hand: ``1 /
    (valid tokens over every rank and micro-batch)`` for each valid token, times the
    engine's scale (DDP averages the ranks' gradients, so ``world``), 0 for ignored tokens
    (the kernel ignores them anyway). The count is one all-reduce over the whole window.
    """
    import torch.distributed as dist

    local = sum(int((y != IGNORE).sum()) for y in labels)
    count = torch.tensor([float(local)], dtype=torch.float64)
    dist.all_reduce(count)
    return [(y != IGNORE).to(torch.float64) * (engine_scale / count) for y in labels]


def local_mean_weights(labels: list[Any]) -> list[Any]:
    """The naive normalization: each micro-batch's own mean (what a fused kernel's
    ``reduction="mean"`` computes), averaged over the micro-batches."""
    steps = len(labels)
    return [(y != IGNORE).to(torch.float64) / (y != IGNORE).sum() / steps for y in labels]


def step_gradients(rank: int, world: int) -> dict[str, dict[str, np.ndarray]]:
    """The parameters' gradients after one DDP step (two micro-batches, the first under
    ``no_sync``), with the plan's weights, the exact weights counted by hand, and the
    naive local means."""
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    batches = [micro_batch(rank, step) for step in range(len(SIZES[rank]))]
    inputs = [torch.tensor(b["x"]) for b in batches]
    labels = [torch.tensor(b["labels"]) for b in batches]
    results = {}
    for method in ("plan", "exact", "local"):
        model = LanguageModel()
        ddp = DistributedDataParallel(model)
        if method == "plan":
            weights = plan_weights(labels)
        elif method == "exact":
            weights = exact_token_mean_weights_by_hand(labels, engine_scale=world)
        else:
            weights = local_mean_weights(labels)
        for step, (x, y, w) in enumerate(zip(inputs, labels, weights, strict=True)):
            if step < len(inputs) - 1:
                with ddp.no_sync():  # accumulate locally; the last micro-batch all-reduces
                    ddp(x, y, w).backward()
            else:
                ddp(x, y, w).backward()
        results[method] = {
            name: p.grad.detach().numpy().copy() for name, p in model.named_parameters()
        }
    return results
