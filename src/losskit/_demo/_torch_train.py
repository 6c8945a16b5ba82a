"""The demo on PyTorch: one process, and ``torch.distributed`` ranks under DDP."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import numpy as np

from losskit._demo import _task

__all__ = ["train_both", "train_rank", "train_single"]


def _model(torch: Any) -> Any:
    class Tagger(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            start = _task.initial_params()
            for name in _task.PARAM_NAMES:
                self.register_parameter(name, torch.nn.Parameter(torch.as_tensor(start[name])))

        def forward(self, tokens: Any) -> tuple[Any, Any]:
            hidden = torch.tanh(self.embed[tokens] @ self.w1 + self.b1)
            return hidden @ self.w2 + self.b2, hidden

    return Tagger()


def _kernel_penalty(model: Any) -> Any:
    from losskit.regularizers import L2, apply_regularization

    return apply_regularization(L2(_task.KERNEL_L2), [model.w1, model.w2])


def _snapshot(model: Any) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


def train_single(plan: _task.Plan, progress: Any = None) -> tuple[list[float], list[np.ndarray]]:
    """One process, the whole global batch per step: the reference."""
    import torch

    import losskit

    model = _model(torch)
    optimizer = torch.optim.SGD(model.parameters(), lr=_task.LEARNING_RATE)
    losses, params = [], []
    for step in range(plan.steps):
        batch = plan.global_batch(step)
        ce, activity, mask = _terms_from(torch, model(torch.as_tensor(batch.tokens)), batch)
        tokens = torch.sum(mask)
        loss = (
            losskit.compute_average_loss(ce, mask, global_batch_size=tokens)
            + losskit.compute_average_loss(activity, mask, global_batch_size=tokens)
            + _kernel_penalty(model)
        )
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
    from losskit.distribute import global_denominator, torch_context

    torch.set_num_threads(1)
    model = _model(torch)
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=_task.LEARNING_RATE)
    bar = None
    if rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=plan.steps, desc=f"{method}, {world} ranks", file=sys.stderr, leave=False)
    losses, params = [], []
    for step in range(plan.steps):
        micro = plan.shards[step][rank]
        optimizer.zero_grad()
        step_loss = torch.zeros((), dtype=torch.float64)
        with torch_context(gradients="mean", accumulation_steps=plan.accumulation):
            if method == "losskit":
                D = global_denominator(*[torch.as_tensor(mb.mask) for mb in micro])
            for k, mb in enumerate(micro):
                sync = contextlib.nullcontext() if k == len(micro) - 1 else ddp.no_sync()
                with sync:
                    logits_and_hidden = ddp(torch.as_tensor(mb.tokens))
                    ce, activity, mask = _terms_from(torch, logits_and_hidden, mb)
                    if method == "losskit":
                        loss = (
                            losskit.compute_average_loss(ce, mask, global_batch_size=D)
                            + losskit.compute_average_loss(activity, mask, global_batch_size=D)
                            + losskit.scale_regularization_loss(_kernel_penalty(model))
                        )
                    else:  # what training loops usually do: local means, / accumulation
                        local = torch.sum(mask)
                        loss = (
                            torch.sum(ce * mask) / local
                            + torch.sum(activity * mask) / local
                            + _kernel_penalty(model)
                        ) / plan.accumulation
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


def _terms_from(torch: Any, outputs: tuple[Any, Any], shard: Any) -> tuple[Any, Any, Any]:
    logits, hidden = outputs
    logp = torch.log_softmax(logits, dim=-1)
    ce = -torch.gather(logp, -1, torch.as_tensor(shard.labels)[..., None])[..., 0]
    activity = _task.ACTIVITY_L1 * torch.sum(torch.abs(hidden), dim=-1)
    return ce, activity, torch.as_tensor(shard.mask)


def train_both(rank: int, world: int, plan: _task.Plan) -> dict[str, Any]:
    return {method: train_rank(rank, world, plan, method) for method in ("losskit", "naive")}
