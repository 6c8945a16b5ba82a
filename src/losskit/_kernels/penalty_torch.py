"""The PyTorch path of :mod:`.penalty`: few kernels over many tensors, a closed-form backward.

Imported only when the parameters are torch tensors (so torch is already imported).

On the CPU, L2 is a batched dot product of 16K-element blocks of each large tensor with
themselves (``bmm`` of ``[n, 1, 16K]`` by its transpose: short blocks keep the float32
accumulation accurate to ~1e-7; float16/bfloat16 use ``torch.linalg.vector_norm`` over
``[n, 1024]`` rows, which accumulates in float32); the small tensors (biases, norm
scales) are concatenated into one first. ``torch._foreach_norm`` runs one
single-threaded kernel per tensor on the CPU (and is ~1e-3 off on a whole embedding
matrix), but one fused kernel on accelerators, where losskit uses it over 64K-element
views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from losskit._kernels import BLOCK, SMALL

ROW = 1 << 10
"""Elements per row of the CPU norm kernel."""
DOT_BLOCK = 1 << 14
"""Elements per block of the L2 kernel's batched dot products (accurate to ~1e-7)."""
SLAB = 1 << 18
"""L1: |x| of 256K elements (1 MiB of float32) at a time, into a buffer that stays in cache."""


def _layout(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """1-D views of the large tensors, then one 1-D tensor holding all the small ones
    (one ``cat`` costs ~0.25 us a tensor, a kernel launch per tensor ~3 us)."""
    flats: list[torch.Tensor] = []
    small: list[torch.Tensor] = []
    for tensor in tensors:
        if tensor.numel() < SMALL:
            small.append(tensor)
        else:
            flats.append(tensor.reshape(-1))
    if not small:
        return flats
    if torch.compiler.is_compiling():
        flats.append(torch.cat([t.reshape(-1) for t in small]))
    elif len(small) == 1:
        flats.append(small[0].reshape(-1))
    elif all(t.dim() == 1 for t in small):
        flats.append(torch.cat(small))
    else:  # views made in C++, then one cat (Python views cost 2.7 us a tensor)
        flats.append(torch._C._nn.flatten_dense_tensors(small))
    return flats


def _cpu_sums(
    tensors: Sequence[torch.Tensor], l1: float | None, l2: float | None, acc: torch.dtype
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(sum |x|, sum x**2) in float64, None for a term not asked for."""
    flats = _layout(tensors)
    abs_sums: list[torch.Tensor] = []
    norms: list[torch.Tensor] = []  # partial 2-norms (the L2-only path) ...
    square_sums: list[torch.Tensor] = []  # ... or partial sums of x**2 (the L1 path)
    compiling = torch.compiler.is_compiling()
    if l1 is None or compiling:
        for flat in flats:
            if l2 is not None and not compiling and flat.dtype == acc:
                square_sums.append(_block_dots(flat))
            elif l2 is not None:  # low precision: the norm kernel accumulates in float32
                rows = flat.numel() // ROW
                head, tail = flat[: rows * ROW].view(rows, ROW), flat[rows * ROW :]
                norms.append(torch.linalg.vector_norm(head, dim=1, dtype=acc))
                norms.append(torch.linalg.vector_norm(tail, dtype=acc).reshape(1))
            if l1 is not None:  # compiled: inductor fuses |x| into the sum
                abs_sums.append(torch.sum(torch.abs(flat), dtype=acc).reshape(1))
    else:
        # The ord-1 norm kernel is not vectorised (2.3x the ord-2 time): |x| into a buffer
        # instead (the one read of the data), then sum |x| and |x|.|x| from cache.
        buffer = torch.empty(SLAB, dtype=acc, device=flats[0].device)
        same = flats[0].dtype == acc
        for flat in flats:
            for piece in flat.split(SLAB):
                out = buffer[: piece.numel()]
                if same:
                    torch.abs(piece, out=out)
                else:  # float16 / bfloat16: |x| and x**2 in float32
                    out.copy_(piece).abs_()
                abs_sums.append(out.sum().reshape(1))
                if l2 is not None:
                    # a BLAS dot of 256K cached elements: 17% faster than square_ + sum
                    # here, ~1e-6 relative at worst (constant values), added in float64
                    square_sums.append(torch.dot(out, out).reshape(1))
    absolute = torch.cat(abs_sums).to(torch.float64).sum() if abs_sums else None
    squares = None
    if norms:
        wide = torch.cat(norms).to(torch.float64)
        squares = (wide * wide).sum()
    if square_sums:
        partial = torch.cat(square_sums).to(torch.float64).sum()
        squares = partial if squares is None else squares + partial
    return absolute, squares


def _block_dots(flat: torch.Tensor) -> torch.Tensor:
    """Partial sums of ``flat**2``: one batched matrix product of 16K-element blocks with
    themselves (a dot product per block, at the read bandwidth; 1.1x a plain sum here
    against 1.3x for the row norms), and a dot product for the tail."""
    blocks = flat.numel() // DOT_BLOCK
    parts = []
    if blocks:
        view = flat[: blocks * DOT_BLOCK].view(blocks, 1, DOT_BLOCK)
        parts.append(torch.bmm(view, view.transpose(1, 2)).reshape(-1))
    if flat.numel() > blocks * DOT_BLOCK or not parts:  # an empty tensor: a dot of nothing, 0
        tail = flat[blocks * DOT_BLOCK :]
        parts.append(torch.dot(tail, tail).reshape(1))
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _chunks(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Views of at most BLOCK elements: the norm kernels accumulate each in float32."""
    pieces: list[torch.Tensor] = []
    for tensor in tensors:
        flat = tensor.reshape(-1)
        pieces.extend(flat.split(BLOCK) if flat.numel() > BLOCK else (flat,))
    return pieces


def _foreach_sums(
    tensors: Sequence[torch.Tensor], l1: float | None, l2: float | None, acc: torch.dtype
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Accelerators: ``torch._foreach_norm`` over 64K-element views, one fused kernel."""
    del acc  # the foreach norm kernels accumulate low precision in float32 themselves
    pieces = _chunks(tensors)
    if not pieces:
        return None, None
    absolute = squares = None
    if l1 is not None:
        absolute = torch.stack(torch._foreach_norm(pieces, 1)).to(torch.float64).sum()
    if l2 is not None:
        norms = torch.stack(torch._foreach_norm(pieces, 2)).to(torch.float64)
        squares = (norms * norms).sum()
    return absolute, squares


def _forward(
    tensors: Sequence[torch.Tensor], l1: float | None, l2: float | None, dtype: torch.dtype
) -> torch.Tensor:
    low = tensors[0].dtype in (torch.float16, torch.bfloat16)
    acc = torch.float32 if low else tensors[0].dtype
    sums = _cpu_sums if tensors[0].device.type == "cpu" else _foreach_sums
    absolute, squares = sums(tensors, l1, l2, acc)
    total = torch.zeros((), dtype=torch.float64, device=tensors[0].device)
    if squares is not None and l2 is not None:
        total = total + l2 * squares
    if absolute is not None and l1 is not None:
        total = total + l1 * absolute
    return total.to(dtype)


class _Penalty(torch.autograd.Function):
    """l1 * sum|x| + l2 * sum x**2 over many tensors; gradient l1 * sign(x) + 2 * l2 * x."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, l1: float | None, l2: float | None, dtype: torch.dtype, *tensors: torch.Tensor
    ) -> torch.Tensor:
        ctx.l1, ctx.l2 = l1, l2
        ctx.save_for_backward(*tensors)
        return _forward(tensors, l1, l2, dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        tensors = ctx.saved_tensors
        dtype = tensors[0].dtype
        if ctx.l1 is None:
            if ctx.l2 is None:
                return (None, None, None, *(torch.zeros_like(t) for t in tensors))
            scale = ((2.0 * ctx.l2) * grad).to(dtype)  # a 0-d tensor: no host sync
            return (None, None, None, *torch._foreach_mul(tensors, scale))
        # one new buffer per tensor: sign, times l1, plus 2 * l2 * x
        grads = torch._foreach_sign(tensors)
        torch._foreach_mul_(grads, (ctx.l1 * grad).to(dtype))
        if ctx.l2 is not None:
            scale = ((2.0 * ctx.l2) * grad).to(dtype)
            torch._foreach_addcmul_(grads, tensors, [scale] * len(tensors))
        return (None, None, None, *grads)


def penalty(
    tensors: Sequence[torch.Tensor], l1: float | None, l2: float | None, dtype: torch.dtype
) -> torch.Tensor:
    if not tensors[0].dtype.is_floating_point:  # integer parameters: in floating point
        tensors = [t.to(dtype) for t in tensors]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        result: torch.Tensor = _Penalty.apply(l1, l2, dtype, *tensors)
        return result
    return _forward(tensors, l1, l2, dtype)  # no gradient wanted: no autograd node
