"""The oracle of the engine tests: one process, float64, plain SGD on each step's global batch.

The loss is written out by hand with plain torch (no losskit): the masked token mean over
the whole step, ``l2 * sum(w**2)`` for the named kernels, and ``l1 * sum|h| / examples`` for
the named module's output ``h`` (Keras's activity penalty over the step's examples).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

Predict = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, torch.Tensor]]
"""``(model, micro-batch) -> (per-token losses [n, T], mask [n, T])``."""


def sgd_reference(
    model: torch.nn.Module,
    steps: Sequence[Sequence[Any]],
    *,
    predict: Predict,
    lr: float,
    kernels: Sequence[str],
    l2: float,
    activity: str,
    l1: float,
) -> list[np.ndarray]:
    """The parameters after one SGD step per entry of ``steps`` (the step's micro-batches,
    from every rank), starting from a copy of ``model``."""
    model = copy.deepcopy(model).double()
    named = dict(model.named_parameters())
    outputs: list[torch.Tensor] = []
    model.get_submodule(activity).register_forward_hook(lambda m, a, out: outputs.append(out))
    for batches in steps:
        outputs.clear()
        model.zero_grad()
        sums, tokens = [], []
        for batch in batches:
            per_token, mask = predict(model, batch)
            sums.append(torch.sum(per_token * mask))
            tokens.append(torch.sum(mask))
        examples = sum(out.shape[0] for out in outputs)
        loss = torch.stack(sums).sum() / torch.stack(tokens).sum()
        loss = loss + l2 * sum(torch.sum(named[name] ** 2) for name in kernels)
        loss = loss + l1 * sum(torch.sum(torch.abs(out)) for out in outputs) / examples
        loss.backward()
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.grad is not None:
                    parameter -= lr * parameter.grad
    return [p.detach().numpy().copy() for p in model.parameters()]


KERNELS, L2, ACTIVITY, L1, LR = ["0.weight", "2.weight"], 0.05, "0", 0.1, 0.1
"""The penalties and learning rate of the examples' 3-layer token regression."""


def regression_predict(net: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared errors per token of an ``(x, y, mask)`` or ``{"x", "y", "mask"}`` batch."""
    x, y, mask = (batch["x"], batch["y"], batch["mask"]) if isinstance(batch, dict) else batch
    return (net(x.double()).squeeze(-1) - y) ** 2, mask


def regression_reference(model: torch.nn.Module, steps: Sequence[Sequence[Any]]) -> list[Any]:
    """:func:`sgd_reference` for the examples' token regression."""
    return sgd_reference(
        model,
        steps,
        predict=regression_predict,
        lr=LR,
        kernels=KERNELS,
        l2=L2,
        activity=ACTIVITY,
        l1=L1,
    )


def check(
    results: Sequence[dict[str, Any]],
    key: str,
    want: Any,
    *,
    tolerance: float = 1e-9,
    naive_off: float = 1e-4,
) -> None:
    """Every rank's ``key`` parameters equal ``want``; the naive ones (if any) are off."""
    for rank in results:
        assert max_difference(rank[key], want) < tolerance, key
        naive = key.replace("losskit", "naive")
        if naive in rank:
            assert max_difference(rank[naive], want) > naive_off, naive


def max_difference(got: Sequence[Any], want: Sequence[np.ndarray]) -> float:
    pairs = zip(got, want, strict=True)
    return max(float(np.max(np.abs(np.asarray(g, dtype=np.float64) - w))) for g, w in pairs)


def round_robin_steps(batches: Sequence[Any], world: int, window: int) -> list[list[Any]]:
    """The steps when rank ``r`` gets batches ``r, r + world, ...`` (accelerate's sharding
    of a batch sampler, and the adapters' tests) and each rank accumulates ``window``."""
    per_step = world * window
    return [list(batches[start : start + per_step]) for start in range(0, len(batches), per_step)]
