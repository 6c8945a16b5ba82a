"""The PyTorch kernel of :func:`losskit.losses.linear_cross_entropy`: token chunks, one pass.

Imported only when the inputs are torch tensors. The caller (``losses/_linear_ce.py``) has
validated everything and hands over 2-D ``hidden [N, d]``, ``weight [V, d]``, ``bias [V]`` or
None, int64 ``labels [N]`` already made safe to gather (ignored and out-of-range tokens point
at class 0) and the per-token coefficients ``coef [N]`` (0 for ignored tokens, NaN for
out-of-range labels, the token weights elsewhere) in the accumulation dtype.

``reduction="sum"`` computes the gradients with respect to ``hidden``, ``weight``, ``bias``
(and the coefficients) during the forward, chunk by chunk: each chunk's logits buffer
``[C, V]`` becomes, in place, the coefficient-weighted gradient of the logits, which is
multiplied into ``grad_hidden`` and accumulated into ``grad_weight`` before the next chunk
reuses the memory. The backward only scales them by the incoming gradient (in place: no
second copy of a ``[V, d]`` gradient), so a loss that is summed with per-token coefficients
costs one pass over the logits. ``reduction="none"`` cannot know the per-token incoming
gradients during the forward: its backward recomputes the chunks once with them.

float32 and float64 compute in their own dtype. float16 and bfloat16 multiply in their own
dtype (as ``torch.nn.Linear`` does) and upcast each logits chunk to float32 for the softmax,
the losses and the accumulation of ``grad_weight`` and ``grad_bias``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _sweep(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    labels: torch.Tensor,
    coef: torch.Tensor,
    smoothing: float,
    z_loss: float,
    chunk: int,
    want: tuple[bool, bool, bool],
) -> tuple[torch.Tensor, Grads]:
    """Unweighted per-token losses ``[N]`` and, where ``want`` says so, the gradients of
    ``sum(coef * losses)`` with respect to (hidden, weight, bias)."""
    n, classes = hidden.shape[0], weight.shape[0]
    acc = _accumulation_dtype(hidden.dtype)
    device = hidden.device
    losses = torch.empty(n, dtype=acc, device=device)
    grad_h = torch.empty(hidden.shape, dtype=hidden.dtype, device=device) if want[0] else None
    grad_w = torch.empty(weight.shape, dtype=acc, device=device) if want[1] else None
    grad_b = torch.empty(classes, dtype=acc, device=device) if want[2] else None
    if n == 0:
        for grad in (grad_w, grad_b):
            if grad is not None:
                grad.zero_()
    # One logits buffer for every chunk (a fresh one per chunk would cost its page faults
    # each time, and two would be alive while the next chunk's product is computed).
    size = min(chunk, n)
    product = torch.empty((size, classes), dtype=hidden.dtype, device=device)
    wide = product if acc == hidden.dtype else torch.empty_like(product, dtype=acc)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        rows = hidden[start:stop]
        label = labels[start:stop, None]
        logits = product[: stop - start]
        if bias is None:
            torch.mm(rows, weight.t(), out=logits)
        else:
            torch.addmm(bias, rows, weight.t(), out=logits)
        if wide is not product:
            logits = wide[: stop - start].copy_(logits)
        top = logits.amax(dim=1, keepdim=True)
        logits.sub_(top)
        picked = logits.gather(1, label)
        loss = -(1.0 - smoothing) * picked
        if smoothing:
            loss = loss - smoothing * logits.mean(dim=1, keepdim=True)
        total = logits.exp_().sum(dim=1, keepdim=True)  # the buffer now holds exp(z - top)
        shifted_lse = total.log()
        loss = loss + shifted_lse
        if z_loss:
            lse = shifted_lse + top
            loss = loss + z_loss * lse * lse
        losses[start:stop] = loss[:, 0]
        if not any(want):
            continue
        # d(c * loss)/dz = c * (softmax * (1 + 2 z lse) - eps / V - (1 - eps) * onehot(y))
        rate = coef[start:stop, None]
        scale = rate / total if not z_loss else rate * (1.0 + 2.0 * z_loss * lse) / total
        grad = logits.mul_(scale)
        if smoothing:
            grad.sub_(rate * (smoothing / classes))
        grad.scatter_add_(1, label, rate * (smoothing - 1.0))
        if grad_h is not None:
            torch.mm(grad.to(weight.dtype), weight, out=grad_h[start:stop])
        if grad_w is not None:  # the first chunk writes, the others accumulate
            rows_wide = rows.to(acc)
            if start == 0:
                torch.mm(grad.t(), rows_wide, out=grad_w)
            else:
                grad_w.addmm_(grad.t(), rows_wide)
        if grad_b is not None:
            if start == 0:
                torch.sum(grad, dim=0, out=grad_b)
            else:
                grad_b.add_(grad.sum(dim=0))
    return losses, (grad_h, grad_w, grad_b)


class _Sum(torch.autograd.Function):
    """``sum(coef * losses)`` with its gradients computed during the forward."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        labels: torch.Tensor,
        coef: torch.Tensor,
        smoothing: float,
        z_loss: float,
        chunk: int,
    ) -> torch.Tensor:
        needs = ctx.needs_input_grad
        want = (needs[0], needs[1], needs[2] and bias is not None)
        losses, grads = _sweep(hidden, weight, bias, labels, coef, smoothing, z_loss, chunk, want)
        ctx.grads = grads
        ctx.dtypes = (hidden.dtype, weight.dtype)
        ctx.save_for_backward(losses if needs[4] else None)
        return torch.dot(coef, losses)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if ctx.grads is None:
            raise RuntimeError(
                "linear_cross_entropy's backward ran a second time: its gradients are computed "
                "in the forward and scaled in place, once (retain_graph=True cannot reuse "
                "them). Compute the loss again for a second backward."
            )
        grad_h, grad_w, grad_b = ctx.grads
        ctx.grads = None  # free them with the graph, and refuse a second backward
        hidden_dtype, weight_dtype = ctx.dtypes
        (losses,) = ctx.saved_tensors
        return (
            _scaled(grad_h, grad_out, hidden_dtype),
            _scaled(grad_w, grad_out, weight_dtype),
            _scaled(grad_b, grad_out, weight_dtype),
            None,
            None if losses is None else losses * grad_out,
            None,
            None,
            None,
        )


def _scaled(grad: torch.Tensor | None, scale: torch.Tensor, dtype: torch.dtype) -> Any:
    """``grad * scale`` in ``dtype``, in place where the dtypes allow it."""
    if grad is None:
        return None
    if grad.dtype == dtype:
        return grad.mul_(scale.to(dtype))
    return (grad * scale).to(dtype)


class _PerToken(torch.autograd.Function):
    """``coef * losses`` per token; the backward recomputes the chunks with the incoming
    per-token gradients folded into the coefficients."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        labels: torch.Tensor,
        coef: torch.Tensor,
        smoothing: float,
        z_loss: float,
        chunk: int,
    ) -> torch.Tensor:
        no_grads = (False, False, False)
        losses, _ = _sweep(hidden, weight, bias, labels, coef, smoothing, z_loss, chunk, no_grads)
        ctx.save_for_backward(hidden, weight, bias, labels, coef, losses)
        ctx.options = (smoothing, z_loss, chunk)
        return coef * losses

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        hidden, weight, bias, labels, coef, losses = ctx.saved_tensors
        needs = ctx.needs_input_grad
        want = (needs[0], needs[1], needs[2] and bias is not None)
        smoothing, z_loss, chunk = ctx.options
        _, (grad_h, grad_w, grad_b) = _sweep(
            hidden, weight, bias, labels, coef * grad_out, smoothing, z_loss, chunk, want
        )
        return (
            grad_h,
            None if grad_w is None else grad_w.to(weight.dtype),
            None if grad_b is None else grad_b.to(weight.dtype),
            None,
            losses * grad_out if needs[4] else None,
            None,
            None,
            None,
        )


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    labels: torch.Tensor,
    coef: torch.Tensor,
    *,
    smoothing: float,
    z_loss: float,
    per_token: bool,
    chunk: int,
) -> torch.Tensor:
    """``sum(coef * losses)`` (0-d) or ``coef * losses`` ``[N]``, in the accumulation dtype."""
    function = _PerToken if per_token else _Sum
    inputs = (hidden, weight, bias, coef)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
        return function.apply(hidden, weight, bias, labels, coef, smoothing, z_loss, chunk)  # type: ignore[no-any-return]
    losses, _ = _sweep(
        hidden, weight, bias, labels, coef, smoothing, z_loss, chunk, (False, False, False)
    )
    return coef * losses if per_token else torch.dot(coef, losses)
