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

from typing import Any, NamedTuple

import torch
from torch.autograd.function import once_differentiable

Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


class Options(NamedTuple):
    smoothing: float
    z_loss: float
    chunk: int
    per_token: bool


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _sweep(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    labels: torch.Tensor,
    coef: torch.Tensor,
    o: Options,
    want: tuple[bool, bool, bool],
) -> tuple[torch.Tensor, Grads]:
    """Unweighted per-token losses ``[N]`` and, where ``want`` says so, the gradients of
    ``sum(coef * losses)`` with respect to (hidden, weight, bias)."""
    smoothing, z_loss, chunk = o.smoothing, o.z_loss, o.chunk
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


NO_GRADS = (False, False, False)


class _LinearCrossEntropy(torch.autograd.Function):
    """``sum(coef * losses)``, its gradients computed during the forward (``per_token``
    False), or ``coef * losses`` per token, the backward recomputing the chunks with the
    incoming per-token gradients folded into the coefficients (``per_token`` True)."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        labels: torch.Tensor,
        coef: torch.Tensor,
        o: Options,
    ) -> torch.Tensor:
        ctx.options = o
        ctx.dtypes = (hidden.dtype, weight.dtype)
        if o.per_token:
            losses, _ = _sweep(hidden, weight, bias, labels, coef, o, NO_GRADS)
            ctx.save_for_backward(hidden, weight, bias, labels, coef, losses)
            return coef * losses
        losses, ctx.grads = _sweep(hidden, weight, bias, labels, coef, o, _wanted(ctx, bias))
        ctx.save_for_backward(losses if ctx.needs_input_grad[4] else None)
        return torch.dot(coef, losses)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        hidden_dtype, weight_dtype = ctx.dtypes
        if ctx.options.per_token:
            hidden, weight, bias, labels, coef, losses = ctx.saved_tensors
            rates = coef * grad_out
            _, grads = _sweep(hidden, weight, bias, labels, rates, ctx.options, _wanted(ctx, bias))
            scale = None
        else:
            if ctx.grads is None:
                raise RuntimeError(
                    "linear_cross_entropy's backward ran a second time: its gradients are "
                    "computed in the forward and scaled in place, once (retain_graph=True "
                    "cannot reuse them). Compute the loss again for a second backward."
                )
            grads, ctx.grads = ctx.grads, None  # freed with the graph; no second backward
            (losses,) = ctx.saved_tensors
            scale = grad_out
        grad_h, grad_w, grad_b = grads
        return (
            _scaled(grad_h, scale, hidden_dtype),
            _scaled(grad_w, scale, weight_dtype),
            _scaled(grad_b, scale, weight_dtype),
            None,
            None if losses is None or not ctx.needs_input_grad[4] else losses * grad_out,
            None,
        )


def _wanted(ctx: Any, bias: torch.Tensor | None) -> tuple[bool, bool, bool]:
    needs = ctx.needs_input_grad
    return (needs[0], needs[1], needs[2] and bias is not None)


def _scaled(grad: torch.Tensor | None, scale: torch.Tensor | None, dtype: torch.dtype) -> Any:
    """``grad * scale`` (``scale`` None: 1) in ``dtype``, in place where the dtypes allow."""
    if grad is None:
        return None
    if scale is None:
        return grad.to(dtype)
    if grad.dtype == dtype:
        return grad.mul_(scale.to(dtype))
    return (grad * scale).to(dtype)


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
    o = Options(smoothing, z_loss, chunk, per_token)
    inputs = (hidden, weight, bias, coef)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
        return _LinearCrossEntropy.apply(hidden, weight, bias, labels, coef, o)  # type: ignore[no-any-return]
    losses, _ = _sweep(hidden, weight, bias, labels, coef, o, NO_GRADS)
    return coef * losses if per_token else torch.dot(coef, losses)
