"""The PyTorch path of :mod:`._fused`: foreach kernels and a closed-form backward.

Imported only when the parameters are torch tensors (so torch is already imported).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from losskit.regularizers._fused import BLOCK


def _chunks(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Views of at most BLOCK elements: the norm kernels accumulate each in float32."""
    pieces: list[torch.Tensor] = []
    for tensor in tensors:
        flat = tensor.reshape(-1)
        pieces.extend(flat.split(BLOCK) if flat.numel() > BLOCK else (flat,))
    return pieces


def _sum_of(pieces: list[torch.Tensor], order: int) -> torch.Tensor:
    norms = torch.stack(torch._foreach_norm(pieces, order)).to(torch.float64)
    return (norms * norms).sum() if order == 2 else norms.sum()


class _Penalty(torch.autograd.Function):
    """l1 * sum|x| + l2 * sum x**2 over many tensors; gradient l1 * sign(x) + 2 * l2 * x."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, l1: float | None, l2: float | None, dtype: torch.dtype, *tensors: torch.Tensor
    ) -> torch.Tensor:
        ctx.l1, ctx.l2 = l1, l2
        ctx.save_for_backward(*tensors)
        pieces = _chunks(tensors)
        total = torch.zeros((), dtype=torch.float64, device=tensors[0].device)
        if l2 is not None and pieces:
            total = total + l2 * _sum_of(pieces, 2)
        if l1 is not None and pieces:
            total = total + l1 * _sum_of(pieces, 1)
        return total.to(dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        tensors = ctx.saved_tensors
        grads: list[torch.Tensor] | None = None
        if ctx.l2 is not None:
            scale = (2.0 * ctx.l2) * grad
            grads = list(torch._foreach_mul(tensors, scale.to(tensors[0].dtype)))
        if ctx.l1 is not None:
            signs = torch._foreach_sign(tensors)
            scale = (ctx.l1 * grad).to(tensors[0].dtype)
            if grads is None:
                grads = list(torch._foreach_mul(signs, scale))
            else:
                torch._foreach_add_(grads, torch._foreach_mul(signs, scale))
        if grads is None:
            grads = [torch.zeros_like(t) for t in tensors]
        return (None, None, None, *grads)


def penalty(
    tensors: Sequence[torch.Tensor], l1: float | None, l2: float | None, dtype: torch.dtype
) -> torch.Tensor:
    result: torch.Tensor = _Penalty.apply(l1, l2, dtype, *tensors)
    return result
