"""PyTorch: why apply_regularization(L2) over GPT-2's parameters misses the read bandwidth.

    .venv/bin/python bench/experiments/reg_torch.py [--section forward,l1,views,backward]
        [--threads 2] [--rounds 9] [--out results/reg_torch.txt]

Sections (sums of squares over GPT-2 small's 148 tensors unless said; values from
``bench/_data.py``; relative errors against float64):

* ``forward``: ``torch._foreach_norm`` over views of 4K ... 1M elements and over whole
  tensors, one row-norm kernel per tensor on a ``[n_blocks, B]`` view, ``torch.bmm`` and
  ``torch.linalg.vecdot`` on the same views, ``torch.dot`` per tensor, float64-accumulating
  norms; read passes (``sum``) as the bandwidth anchor.
* ``l1``: sum |x| and L1 + L2 together: ``_foreach_norm(ord=1)``, row norms with ord 1,
  both norms per group of tensors that fits in the cache (second pass from cache).
* ``views``: the Python cost of building the block views (per tensor and per view).
* ``backward``: ResNet-50 forward+backward: losskit against the hand-written gradient, and
  backward variants (``_foreach_mul`` with a 0-d tensor, with a Python float, per tensor).
"""

from __future__ import annotations

import time
from typing import Any

import _regexp
from _regexp import _data, emit, run_table


def _torch() -> Any:
    import torch

    return torch


# ----------------------------------------------------------------------------- kernels


def foreach_views(ps: list[Any], block: int | None, order: int = 2) -> Any:
    """``_foreach_norm`` over views of ``block`` elements (None: whole tensors)."""
    torch = _torch()
    if block is None:
        pieces = list(ps)
    else:
        pieces = []
        for p in ps:
            flat = p.reshape(-1)
            pieces.extend(flat.split(block) if flat.numel() > block else (flat,))
    norms = torch.stack(torch._foreach_norm(pieces, order)).double()
    return (norms * norms).sum() if order == 2 else norms.sum()


def split_rows(ps: list[Any], block: int) -> tuple[list[Any], list[Any]]:
    """([n_blocks, block] views of the large tensors, every remainder and small tensor)."""
    rows, rest = [], []
    for p in ps:
        flat = p.reshape(-1)
        count = flat.numel()
        blocks = count // block
        if blocks:
            rows.append(flat[: blocks * block].view(blocks, block))
            if count > blocks * block:
                rest.append(flat[blocks * block :])
        else:
            rest.append(flat)
    return rows, rest


def row_norms(ps: list[Any], block: int, order: int = 2) -> Any:
    """One ``linalg.vector_norm(dim=1)`` kernel per large tensor, a foreach for the rest."""
    torch = _torch()
    rows, rest = split_rows(ps, block)
    parts = [torch.linalg.vector_norm(r, order, dim=1) for r in rows]
    if rest:
        parts.append(torch.stack(torch._foreach_norm(rest, order)))
    norms = torch.cat(parts).double()
    return (norms * norms).sum() if order == 2 else norms.sum()


def row_bmm(ps: list[Any], block: int) -> Any:
    """``bmm([nb,1,B], [nb,1,B]^T)`` per large tensor (MKL batched dots)."""
    torch = _torch()
    rows, rest = split_rows(ps, block)
    parts = []
    for r in rows:
        v = r.unsqueeze(1)
        parts.append(torch.bmm(v, v.transpose(1, 2)).reshape(-1))
    if rest:
        parts.append(torch.stack(torch._foreach_norm(rest)).square())
    return torch.cat(parts).double().sum()


def row_vecdot(ps: list[Any], block: int) -> Any:
    torch = _torch()
    rows, rest = split_rows(ps, block)
    parts = [torch.linalg.vecdot(r, r, dim=1) for r in rows]
    if rest:
        parts.append(torch.stack(torch._foreach_norm(rest)).square())
    return torch.cat(parts).double().sum()


def dot_each(ps: list[Any]) -> Any:
    torch = _torch()
    return torch.stack([torch.dot(p.reshape(-1), p.reshape(-1)) for p in ps]).double().sum()


def norm_float64(ps: list[Any]) -> Any:
    torch = _torch()
    return (
        torch.stack([torch.linalg.vector_norm(p, dtype=torch.float64) for p in ps]).square().sum()
    )


def grouped_l1l2(ps: list[Any], block: int, group_bytes: int) -> Any:
    """L1 and L2 row norms per group of views small enough to stay in the cache."""
    torch = _torch()
    rows, rest = split_rows(ps, block)
    groups: list[Any] = []
    per_group = max(1, group_bytes // (block * 4))
    for r in rows:
        groups.extend(r.split(per_group))
    ones, twos = [], []
    for g in groups:
        twos.append(torch.linalg.vector_norm(g, 2, dim=1))
        ones.append(torch.linalg.vector_norm(g, 1, dim=1))
    if rest:
        twos.append(torch.stack(torch._foreach_norm(rest, 2)))
        ones.append(torch.stack(torch._foreach_norm(rest, 1)))
    two = torch.cat(twos).double()
    return 0.01 * torch.cat(ones).double().sum() + 0.01 * (two * two).sum()


# ----------------------------------------------------------------------------- sections


def section_forward(be: Any, rounds: int) -> str:
    torch = _torch()
    from losskit.regularizers import L2, apply_regularization

    params = _data.params("gpt2")
    ps = [be.asarray(a) for a in params.arrays]
    flat = be.asarray(params.flat)
    reg = L2(1.0)
    fns = {
        "losskit apply_regularization (src)": lambda: apply_regularization(reg, ps),
        "read: flat.sum()": lambda: flat.sum(),
        "read: torch.sum per tensor": lambda: torch.stack([p.sum() for p in ps]).sum(),
        "_foreach_norm whole tensors": lambda: foreach_views(ps, None),
    }
    for block in (1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20):
        fns[f"_foreach_norm views {block >> 10}K"] = lambda b=block: foreach_views(ps, b)
    for block in (1 << 14, 1 << 16, 1 << 18):
        fns[f"vector_norm(dim=1) rows {block >> 10}K"] = lambda b=block: row_norms(ps, b)
    fns["bmm rows 64K"] = lambda: row_bmm(ps, 1 << 16)
    fns["linalg.vecdot rows 64K"] = lambda: row_vecdot(ps, 1 << 16)
    fns["torch.dot per tensor"] = lambda: dot_each(ps)
    fns["vector_norm(dtype=float64) per tensor"] = lambda: norm_float64(ps)
    text = run_table(
        "GPT-2 sum of squares (148 tensors, 124.4M float32)",
        fns,
        rounds=rounds,
        sync=be.sync,
        value=be.to_float,
        reference=params.sum_squares,
        control="read: flat.sum()",
        nbytes=params.nbytes,
    )
    views = {}
    for block in (1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20):
        views[block] = sum(-(-p.numel() // block) for p in ps)
    note = ", ".join(f"{b >> 10}K: {n}" for b, n in views.items())
    return text + f"\nviews per call: {note}\n"


def section_l1(be: Any, rounds: int) -> str:
    from losskit.regularizers import L1, L1L2, L2, apply_regularization

    params = _data.params("gpt2")
    ps = [be.asarray(a) for a in params.arrays]
    flat = be.asarray(params.flat)
    l1l2 = L1L2(0.01, 0.01)
    fns = {
        "losskit L2(0.01) (src)": lambda: apply_regularization(L2(0.01), ps),
        "losskit L1(0.01) (src)": lambda: apply_regularization(L1(0.01), ps),
        "losskit L1L2(0.01, 0.01) (src)": lambda: apply_regularization(l1l2, ps),
        "read: flat.sum()": lambda: flat.sum(),
        "|x|: _foreach_norm(ord=1) views 64K": lambda: 0.01 * foreach_views(ps, 1 << 16, 1),
        "|x|: vector_norm(ord=1, dim=1) rows 64K": lambda: 0.01 * row_norms(ps, 1 << 16, 1),
        "x^2: vector_norm(dim=1) rows 64K": lambda: 0.01 * row_norms(ps, 1 << 16, 2),
        "L1L2: rows ord 2 then ord 1 (two passes)": lambda: (
            0.01 * row_norms(ps, 1 << 16, 1) + 0.01 * row_norms(ps, 1 << 16, 2)
        ),
    }
    for group in (1 << 20, 1 << 22, 1 << 24):
        fns[f"L1L2: both per {group >> 20} MiB group"] = lambda g=group: grouped_l1l2(
            ps, 1 << 16, g
        )
    reference = {
        "L2": 0.01 * params.sum_squares,
        "L1": 0.01 * params.sum_abs,
        "L1L2": 0.01 * (params.sum_abs + params.sum_squares),
    }

    def error(name: str) -> str:
        kind = "L1L2" if "L1L2" in name else "L1" if ("L1" in name or "|x|" in name) else "L2"
        if name.startswith("read"):
            return ""
        got = be.to_float(be.sync(fns[name]()))
        return f"{abs(got - reference[kind]) / reference[kind]:.1e}"

    return run_table(
        "GPT-2 L1 and L1L2 (factors 0.01)",
        fns,
        rounds=rounds,
        sync=be.sync,
        control="losskit L2(0.01) (src)",
        nbytes=params.nbytes,
        extra={"rel. err": error},
    )


def section_views(be: Any, rounds: int) -> str:
    """Python cost of the views per call (no kernel runs)."""
    torch = _torch()
    from losskit.regularizers import _fused_torch

    params = _data.params("gpt2")
    ps = [be.asarray(a) for a in params.arrays]
    tiny = [be.asarray(a) for a in _data.params("tiny1000").arrays]
    fns = {
        "gpt2: _chunks (reshape + split 64K), 1941 views": lambda: _fused_torch._chunks(ps),
        "gpt2: split_rows 64K (2-D view per tensor)": lambda: split_rows(ps, 1 << 16),
        "tiny x1000: _chunks": lambda: _fused_torch._chunks(tiny),
        "tiny x1000: [p.reshape(-1) for p]": lambda: [p.reshape(-1) for p in tiny],
        "tiny x1000: [p.view(-1) for p]": lambda: [p.view(-1) for p in tiny],
        "tiny x1000: torch.cat([p.view(-1)])": lambda: torch.cat([p.view(-1) for p in tiny]),
        "tiny x1000: _foreach_norm(ps)": lambda: torch._foreach_norm(tiny),
        "tiny x1000: torch.stack(_foreach_norm(ps))": lambda: torch.stack(
            torch._foreach_norm(tiny)
        ),
        "tiny x1000: torch.stack(_foreach_norm(ps)) (ps views)": lambda: torch.stack(
            torch._foreach_norm(_fused_torch._chunks(tiny))
        ),
        "tiny x1000: cat + dot": lambda: (lambda c: torch.dot(c, c))(
            torch.cat([p.view(-1) for p in tiny])
        ),
        "tiny x1000: _Penalty.apply (autograd.Function)": lambda: _fused_torch.penalty(
            tiny, None, 0.01, torch.float32
        ),
    }
    timings = _regexp._timing.measure(fns, rounds=rounds, min_sample=2e-3)
    rows = []
    for name, timing in timings.items():
        count = 1000 if name.startswith("tiny") else 148
        rows.append(
            [name, _regexp.fmt_time(timing.median), f"{timing.median / count * 1e6:.2f} us"]
        )
    return (
        f"## Python cost of building views and the per-tensor kernels ({rounds} rounds)\n\n"
        + _regexp.table(["what", "median", "per tensor"], rows)
        + "\n"
    )


def section_backward(be: Any, rounds: int) -> str:
    torch = _torch()
    from losskit.regularizers import L2, apply_regularization

    params = _data.params("resnet50")
    leaves = [be.asarray(a).requires_grad_(True) for a in params.arrays]
    l2 = 0.01
    reg = L2(l2)

    def reset() -> None:
        for leaf in leaves:
            leaf.grad = None

    def step(loss_fn: Any) -> Any:
        def run() -> Any:
            reset()
            loss = loss_fn()
            loss.backward()
            return loss

        return run

    class Rows(torch.autograd.Function):
        """Row-norm forward (one kernel per large tensor), _foreach_mul backward."""

        @staticmethod
        def forward(ctx: Any, scalar: Any, *tensors: Any) -> Any:
            ctx.save_for_backward(*tensors)
            ctx.scalar = scalar
            return row_norms(list(tensors), 1 << 16).float() * l2

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            tensors = ctx.saved_tensors
            if ctx.scalar == "tensor":
                grads = torch._foreach_mul(tensors, (2.0 * l2 * grad).to(tensors[0].dtype))
            elif ctx.scalar == "float":
                grads = torch._foreach_mul(tensors, 2.0 * l2 * float(grad))
            else:
                scale = (2.0 * l2 * grad).to(tensors[0].dtype)
                grads = [t * scale for t in tensors]
            return (None, *grads)

    def by_hand() -> Any:
        reset()
        with torch.no_grad():
            value = l2 * torch.stack(torch._foreach_norm(leaves)).square().sum()
            grads = torch._foreach_mul(leaves, 2.0 * l2)
        for leaf, grad in zip(leaves, grads, strict=True):
            leaf.grad = grad
        return value

    def forward_only_losskit() -> Any:
        with torch.no_grad():
            return apply_regularization(reg, leaves)

    fns = {
        "hand-written (_foreach_norm + _foreach_mul(float))": by_hand,
        "losskit fwd+bwd (src)": step(lambda: apply_regularization(reg, leaves)),
        "rows fwd, _foreach_mul(0-d tensor) bwd": step(lambda: Rows.apply("tensor", *leaves)),
        "rows fwd, _foreach_mul(python float) bwd": step(lambda: Rows.apply("float", *leaves)),
        "rows fwd, [t * scale] bwd": step(lambda: Rows.apply("list", *leaves)),
        "autograd naive l2*sum((p*p).sum())": step(lambda: l2 * sum((p * p).sum() for p in leaves)),
        "forward only: losskit (no_grad)": forward_only_losskit,
        "forward only: _foreach_norm whole tensors": lambda: (
            torch.stack(torch._foreach_norm(leaves)).square().sum()
        ),
        "forward only: rows 64K": lambda: row_norms(leaves, 1 << 16),
        "backward only: _foreach_mul(float)": lambda: torch._foreach_mul(leaves, 2.0 * l2),
        "backward only: _foreach_mul(0-d tensor)": lambda: torch._foreach_mul(
            leaves, torch.tensor(2.0 * l2)
        ),
    }
    text = run_table(
        "ResNet-50 forward+backward (161 tensors, 25.6M float32)",
        fns,
        rounds=rounds,
        sync=be.sync,
        control="hand-written (_foreach_norm + _foreach_mul(float))",
    )
    # gradient check of the row-norm variants against the closed form 2 * l2 * p
    checks = []
    for scalar in ("tensor", "float", "list"):
        reset()
        Rows.apply(scalar, *leaves).backward()
        worst = max(
            float((leaf.grad.double() - 2 * l2 * leaf.double()).abs().max()) for leaf in leaves
        )
        scale = max(float((2 * l2 * leaf.double()).abs().max()) for leaf in leaves)
        checks.append(
            f"rows fwd, {scalar} bwd: max |grad - 2*l2*p| / max|2*l2*p| = {worst / scale:.1e}"
        )
    return text + "\n" + "\n".join(checks) + "\n"


CONSTANTS = (300.0, 0.1, 0.0123, 0.7, 1e-3, 3.3, 0.02)


def section_accuracy(be: Any, rounds: int) -> str:
    """Worst relative error of sum x^2 over 4M-element constant-valued tensors."""
    torch = _torch()
    import numpy as np

    def kernels(x: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_foreach_norm views 64K (src)": lambda: foreach_views([x], 1 << 16),
            "torch.dot (MKL sdot, whole tensor)": lambda: torch.dot(x, x).double(),
            "(r*r).sum(1) rows 64K (cascade sum, temporary)": lambda: (
                (x.view(-1, 1 << 16) * x.view(-1, 1 << 16)).sum(1).double().sum()
            ),
        }
        for block in (1 << 10, 1 << 12, 1 << 16):
            out[f"vector_norm(dim=1) rows {block >> 10}K"] = lambda b=block: row_norms([x], b)
            out[f"bmm rows {block >> 10}K"] = lambda b=block: row_bmm([x], b)
        return out

    worst: dict[str, float] = {}
    for value in CONSTANTS:
        x = torch.full((1 << 22,), value, dtype=torch.float32)
        exact = float(np.float32(value)) ** 2 * x.numel()
        for name, fn in kernels(x).items():
            error = abs(float(fn()) - exact) / exact
            worst[name] = max(worst.get(name, 0.0), error)
    rows = [[name, f"{error:.1e}"] for name, error in worst.items()]
    values = ", ".join(map(str, CONSTANTS))
    return (
        f"## worst relative error of sum x^2 over constant tensors (4M elements; {values})\n\n"
        + _regexp.table(["kernel", "worst rel. err"], rows)
        + "\n"
    )


SECTIONS = {
    "accuracy": section_accuracy,
    "forward": section_forward,
    "l1": section_l1,
    "views": section_views,
    "backward": section_backward,
}


def main() -> int:
    p = _regexp.parser(__doc__)
    p.add_argument("--section", default=",".join(SECTIONS))  # accuracy is quick
    p.add_argument("--out")
    args = p.parse_args()
    be, info = _regexp.setup("torch", args.threads)
    emit(f"# reg_torch.py  threads={args.threads}  {info}  {time.ctime()}\n", args.out)
    for name in args.section.split(","):
        started = time.perf_counter()
        emit(SECTIONS[name](be, args.rounds), args.out)
        emit(f"[{name}: {time.perf_counter() - started:.0f} s]\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
