"""PyTorch forward+backward of the blockwise weighted sum: why it can cost 2x, and the fix.

    .venv/bin/python bench/experiments/torch_backward.py [--threads 1] [--rounds 9]

``xp.sum(partials)`` has an *expanded* gradient (stride 0). Fed into the backward of the
batched matmul, that operand is not BLAS-compatible and PyTorch's ``bmm`` falls back to one
``mm`` per block (``select`` + ``clone`` per block, visible in the profiler). Reducing the
partials with ``xp.matmul(partials, ones)`` instead gives a contiguous gradient and the
batched MKL path. Prints time and the number of ``aten::select`` calls per step.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import _backends  # noqa: E402
import _data  # noqa: E402
import _timing  # noqa: E402


def blocked(xp: Any, v: Any, w: Any, block: int, reduce: str) -> Any:
    n = v.shape[0]
    nb = n // block
    partials = xp.matmul(
        xp.reshape(v, (nb, 1, block)), xp.matrix_transpose(xp.reshape(w, (nb, 1, block)))
    )
    partials = xp.reshape(partials, (nb,))
    if reduce == "sum":
        return xp.sum(partials)
    if reduce == "matmul-ones":
        return xp.matmul(partials, xp.ones((nb,), dtype=partials.dtype))
    raise ValueError(reduce)


def rows(xp: Any, v: Any, w: Any, reduce: str) -> Any:
    per_column = xp.matmul(xp.reshape(w, (v.shape[0],)), v)
    if reduce == "sum":
        return xp.sum(per_column)
    return xp.matmul(per_column, xp.ones((v.shape[1],), dtype=per_column.dtype))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    _backends.pin_cpus(args.threads)
    be = _backends.get("torch")
    info = be.setup(args.threads)
    import torch

    xp = be.xp
    sections = []
    big = _data.large()
    v, w = be.asarray(big.losses), be.asarray(big.weights)
    n = big.size
    leaf = v.clone().requires_grad_(True)

    def step(loss_fn: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            leaf.grad = None
            loss = loss_fn(leaf) * (1.0 / n)
            loss.backward()
            return loss

        return run

    def by_hand() -> Any:
        with torch.no_grad():
            return torch.dot(v, w) * (1.0 / n), w * (1.0 / n)

    fns: dict[str, Callable[[], Any]] = {
        "hand-written (torch.dot, w / n)": by_hand,
        "autograd torch.dot": step(lambda x: torch.dot(x, w)),
        "autograd xp.sum(l * w)": step(lambda x: xp.sum(x * w)),
    }
    for block in (4096, 16384, 65536):
        for reduce in ("sum", "matmul-ones"):
            fns[f"blocked {block}, partials by {reduce}"] = step(
                lambda x, b=block, r=reduce: blocked(xp, x, w, b, r)
            )
    sections.append((f"[{n}] x [{n}]", fns, big.reference, leaf))

    tok = _data.tokens_row_weights()
    tv, tw = be.asarray(tok.losses), be.asarray(tok.weights)
    tleaf = tv.clone().requires_grad_(True)
    m = tok.size

    def tstep(loss_fn: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            tleaf.grad = None
            loss = loss_fn(tleaf) * (1.0 / m)
            loss.backward()
            return loss

        return run

    def tby_hand() -> Any:
        with torch.no_grad():
            value = torch.mv(tv.T, tw[:, 0]).sum() * (1.0 / m)
            return value, (tw * (1.0 / m)).expand(tv.shape).contiguous()

    tfns: dict[str, Callable[[], Any]] = {
        "hand-written (mv, expanded w / n)": tby_hand,
        "autograd (l * w).sum()": tstep(lambda x: (x * tw).sum()),
        "autograd current losskit (row sums)": tstep(
            lambda x: xp.sum(xp.sum(x, axis=1) * xp.reshape(tw, (x.shape[0],)))
        ),
        "w @ l, partials by sum": tstep(lambda x: rows(xp, x, tw, "sum")),
        "w @ l, partials by matmul-ones": tstep(lambda x: rows(xp, x, tw, "matmul-ones")),
    }
    sections.append((f"{list(tok.losses.shape)} x [B, 1]", tfns, tok.reference, tleaf))

    print(f"torch fwd+bwd  {info}")
    for title, section, reference, grad_leaf in sections:
        timings = _timing.measure(section, rounds=args.rounds)
        print(f"\n### {title}: value and gradient of sum(l * w) / n w.r.t. l")
        print(f"{'variant':40} {'ms':>8} {'q1-q3 ms':>13} {'selects':>8} {'rel err':>8}")
        for name, fn in section.items():
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                result = fn()
            selects = sum(e.count for e in prof.key_averages() if e.key == "aten::select")
            value = result[0] if isinstance(result, tuple) else result
            err = _timing.relative_error(float(value.detach()) * grad_leaf.numel(), reference)
            t = timings[name]
            print(
                f"{name:40} {t.median * 1e3:8.2f} {t.q1 * 1e3:6.2f}-{t.q3 * 1e3:<6.2f} "
                f"{selects:8d} {err:8.1e}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
