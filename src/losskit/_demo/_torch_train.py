"""The demo on PyTorch: one process, and ``torch.distributed`` ranks under DDP."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from losskit._demo import _task
from losskit._demo._report import progress

__all__ = ["train_both", "train_rank", "train_single"]


def _model(torch: Any) -> Any:
    """Embedding -> Dense(tanh) -> Dense, with the Keras regularizers attached by losskit:
    a kernel L2 on both dense kernels, an activity L1 on the hidden layer's output."""
    import losskit.torch
    from losskit.regularizers import L1, L2

    nn = torch.nn

    class Tagger(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(_task.VOCAB, _task.EMBED, dtype=torch.float64)
            self.hidden = nn.Sequential(
                nn.Linear(_task.EMBED, _task.HIDDEN, dtype=torch.float64), nn.Tanh()
            )
            self.out = nn.Linear(_task.HIDDEN, _task.CLASSES, dtype=torch.float64)

        def forward(self, tokens: Any) -> Any:
            return self.out(self.hidden(self.embed(tokens)))

    model = Tagger()
    start = {name: torch.as_tensor(value) for name, value in _task.initial_params().items()}
    with torch.no_grad():
        model.embed.weight.copy_(start["embed"])
        model.hidden[0].weight.copy_(start["w1"].T)
        model.hidden[0].bias.copy_(start["b1"])
        model.out.weight.copy_(start["w2"].T)
        model.out.bias.copy_(start["b2"])
    losskit.torch.regularize(model, kernel=L2(_task.KERNEL_L2), include=[nn.Linear])
    losskit.torch.regularize(model, activity=L1(_task.ACTIVITY_L1), include=["hidden"])
    return model


def _token_losses(torch: Any, logits: Any, shard: Any) -> tuple[Any, Any]:
    """Per-token cross entropy and the padding mask."""
    logp = torch.log_softmax(logits, dim=-1)
    ce = -torch.gather(logp, -1, torch.as_tensor(shard.labels)[..., None])[..., 0]
    return ce, torch.as_tensor(shard.mask)


def _snapshot(model: Any) -> np.ndarray:
    """The parameters in the task's order and layout (embed, w1, b1, w2, b2)."""
    parts = [
        model.embed.weight,
        model.hidden[0].weight.T,
        model.hidden[0].bias,
        model.out.weight.T,
        model.out.bias,
    ]
    return np.concatenate([p.detach().numpy().ravel() for p in parts])


def train_single(plan: _task.Plan, progress: Any = None) -> tuple[list[float], list[np.ndarray]]:
    """One process, the whole global batch per step: the reference (Keras's semantics:
    the activity penalty divided by the batch, the kernel penalty as it is)."""
    import torch

    import losskit
    import losskit.torch

    model = _model(torch)
    optimizer = torch.optim.SGD(model.parameters(), lr=_task.LEARNING_RATE)
    losses, params = [], []
    for step in range(plan.steps):
        batch = plan.global_batch(step)
        ce, mask = _token_losses(torch, model(torch.as_tensor(batch.tokens)), batch)
        loss = losskit.compute_average_loss(
            ce, mask, global_batch_size=torch.sum(mask)
        ) + losskit.torch.penalty(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        params.append(_snapshot(model))
        if progress is not None:
            progress.update(1)
    return losses, params


def train_rank(rank: int, world: int, plan: _task.Plan, method: str) -> dict[str, Any]:
    """One rank of the DDP run: ``method`` is ``"losskit"`` or ``"naive"`` normalization."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import losskit
    import losskit.torch
    from losskit.distribute import global_denominator, torch_context

    torch.set_num_threads(1)
    model = _model(torch)
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=_task.LEARNING_RATE)
    bar = progress(plan.steps, f"{method}, {world} ranks", show=rank == 0)
    losses, params = [], []
    for step in range(plan.steps):
        micro = plan.shards[step][rank]
        optimizer.zero_grad()
        step_loss = torch.zeros((), dtype=torch.float64)
        with torch_context(gradients="mean", accumulation_steps=plan.accumulation):
            if method == "losskit":  # the step's tokens and examples: 2 all-reduces
                D = global_denominator(*[torch.as_tensor(mb.mask) for mb in micro])
                N = global_denominator(
                    *[torch.ones(len(mb.tokens), dtype=torch.float64) for mb in micro],
                    reduction="sum_over_batch_size",
                )
            for k, mb in enumerate(micro):
                sync = contextlib.nullcontext() if k == len(micro) - 1 else ddp.no_sync()
                with sync:
                    ce, mask = _token_losses(torch, ddp(torch.as_tensor(mb.tokens)), mb)
                    if method == "losskit":
                        loss = (
                            losskit.compute_average_loss(ce, mask, global_batch_size=D)
                            + losskit.torch.penalty(model, weights=False, global_batch_size=N)
                            + losskit.scale_regularization_loss(
                                losskit.torch.penalty(model, activity=False)
                            )
                        )
                    else:  # what training loops usually do: local means, / accumulation
                        local = torch.sum(ce * mask) / torch.sum(mask)
                        loss = (local + losskit.torch.penalty(model)) / plan.accumulation
                    loss.backward()
                    step_loss = step_loss + loss.detach()
        optimizer.step()
        dist.all_reduce(step_loss)  # the loss the combined gradient belongs to
        losses.append(float(step_loss) / world)
        params.append(_snapshot(model))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {"losses": losses, "params": params} if rank == 0 else {}


def train_both(rank: int, world: int, plan: _task.Plan) -> dict[str, Any]:
    return {method: train_rank(rank, world, plan, method) for method in ("losskit", "naive")}
