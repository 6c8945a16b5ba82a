"""``param_groups``: the same attachment as optimizer parameter groups (decoupled decay)."""

from __future__ import annotations

from typing import Any

from torch import nn

from losskit._checks import non_negative
from losskit._errors import invalid
from losskit.regularizers import L1L2, L2
from losskit.torch._state import state_of

__all__ = ["param_groups"]


def _decay_of(regularizer: Any) -> float:
    """SGD-equivalent decay of an L2 penalty: the gradient of l2 * sum(w**2) is 2 * l2 * w."""
    if isinstance(regularizer, L2):
        return 2.0 * regularizer.l2
    if isinstance(regularizer, L1L2) and regularizer.l1 == 0.0:
        return 2.0 * regularizer.l2
    raise ValueError(
        invalid(
            "weight_decay",
            "a number when a regularizer is not an L2 penalty",
            None,
            hint=f"{regularizer!r} has no decoupled-decay equivalent; pass weight_decay=...",
        )
    )


def param_groups(module: nn.Module, *, weight_decay: float | None = None) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the parameters the attached kernel/bias regularizers
    select decay, every other parameter does not ("no decay on biases and norms").

    The alternative to adding :func:`losskit.torch.losses` to the loss: decoupled weight
    decay in the optimizer (``torch.optim.AdamW(param_groups(model), lr=...)``); then call
    ``losses(model, weights=False)`` so the penalty is not counted twice. Activity
    regularizers have no optimizer form and are not affected.

    Args:
        module: a module regularized with :func:`losskit.torch.regularize`.
        weight_decay: the decay of every regularized parameter. None derives it per
            regularizer as ``2 * l2`` (``L2``, or ``L1L2`` without L1: the decay plain SGD
            would apply for that penalty; AdamW's decoupled decay is a different method,
            so tune it for AdamW rather than converting).

    Returns:
        ``[{"params": [...], "weight_decay": d}, ..., {"params": [...], "weight_decay":
        0.0}]``: one group per decay value, then the rest (empty groups are left out).

    Raises:
        ValueError: ``weight_decay`` is None and a regularizer is not an L2 penalty, or it
            is not a finite number >= 0.

    Example:
        >>> import torch, losskit.torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
        >>> _ = losskit.torch.regularize(model, kernel="l2")
        >>> groups = losskit.torch.param_groups(model)
        >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
        [(1, 0.02), (3, 0.0)]
        >>> optimizer = torch.optim.AdamW(groups, lr=1e-3)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(invalid("module", "a torch.nn.Module", module))
    if weight_decay is not None:
        weight_decay = non_negative("weight_decay", weight_decay)
    decays: dict[float, list[Any]] = {}
    chosen: set[int] = set()
    for owner in module.modules():
        state = state_of(owner)
        if state is None:
            continue
        for leaf, stack in state.weights.items():
            parameter = owner._parameters.get(leaf)
            if not stack or parameter is None or id(parameter) in chosen:
                continue
            decay = float(weight_decay) if weight_decay is not None else _decay_of(stack[-1][1])
            decays.setdefault(decay, []).append(parameter)
            chosen.add(id(parameter))
    rest = [parameter for parameter in module.parameters() if id(parameter) not in chosen]
    groups = [{"params": params, "weight_decay": decay} for decay, params in decays.items()]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups
