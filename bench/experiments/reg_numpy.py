"""NumPy: block kernels for sum x^2 and sum |x| over GPT-2's parameters.

    .venv/bin/python bench/experiments/reg_numpy.py [--section l2,l1] [--rounds 9]
        [--out results/reg_numpy.txt]

* ``l2``: ``np.vecdot`` on ``[n_blocks, B]`` views (what losskit's generic path calls,
  through array-api-compat), ``np.einsum('ij,ij->i')``, ``np.dot`` per block (a Python
  loop), ``matmul`` of ``[nb,1,B] @ [nb,B,1]``, ``np.add.reduce(x*x)`` per slab, one
  ``np.dot`` per array (BLAS ``sdot``: fast, inaccurate); block sizes 16K / 64K / 256K.
* ``l1``: losskit's ``|x|`` slabs, ``np.abs`` into a reused buffer then ``np.add.reduce``
  or a BLAS dot with ones, ``vecdot(x, sign(x))``; L1 + L2 in one pass as
  ``vecdot(x, x + (l1/l2) * sign(x))`` on cache-sized slabs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import _regexp
import numpy as np
from _regexp import _data, emit, run_table

L1, L2 = 0.01, 0.01


def blocks_of(a: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    flat = a.reshape(-1)
    nb = flat.size // block
    return flat[: nb * block].reshape(nb, block), flat[nb * block :]


def per_array(ps: list[np.ndarray], block: int, head_fn: Callable[[np.ndarray], Any]) -> float:
    total = 0.0
    for p in ps:
        head, tail = blocks_of(p, block)
        if head.shape[0]:
            total += float(np.sum(head_fn(head), dtype=np.float64))
        if tail.size:
            total += float(np.dot(tail, tail))
    return total


def dot_blocks(ps: list[np.ndarray], block: int) -> float:
    total = 0.0
    for p in ps:
        head, tail = blocks_of(p, block)
        for row in head:
            total += float(np.dot(row, row))
        if tail.size:
            total += float(np.dot(tail, tail))
    return total


def slab_sum_squares(ps: list[np.ndarray], slab: int) -> float:
    buf = np.empty(slab, np.float32)
    total = 0.0
    for p in ps:
        flat = p.reshape(-1)
        for start in range(0, flat.size, slab):
            part = flat[start : start + slab]
            out = buf[: part.size]
            np.multiply(part, part, out=out)
            total += float(np.add.reduce(out))
    return total


def l1_abs_reduce(ps: list[np.ndarray], slab: int, use_dot: bool) -> float:
    buf = np.empty(slab, np.float32)
    ones = np.ones(slab, np.float32)
    total = 0.0
    for p in ps:
        flat = p.reshape(-1)
        for start in range(0, flat.size, slab):
            part = flat[start : start + slab]
            out = buf[: part.size]
            np.abs(part, out=out)
            if use_dot:  # blocks of <= slab elements: sdot error stays ~1e-7
                total += float(np.dot(out, ones[: part.size]))
            else:
                total += float(np.add.reduce(out))
    return total


def l1_sign_vecdot(ps: list[np.ndarray], slab: int, block: int) -> float:
    """sum |x| = sum x * sign(x): sign into a cache-sized buffer, then row dots."""
    buf = np.empty(slab, np.float32)
    total = 0.0
    for p in ps:
        flat = p.reshape(-1)
        for start in range(0, flat.size, slab):
            part = flat[start : start + slab]
            out = buf[: part.size]
            np.sign(part, out=out)
            total += _rows_dot(part, out, block)
    return total


def l1l2_one_pass(ps: list[np.ndarray], slab: int, block: int) -> float:
    """l1 sum|x| + l2 sum x^2 = l2 * sum x * (x + (l1/l2) sign x), one read of x."""
    buf = np.empty(slab, np.float32)
    ratio = np.float32(L1 / L2)
    total = 0.0
    for p in ps:
        flat = p.reshape(-1)
        for start in range(0, flat.size, slab):
            part = flat[start : start + slab]
            out = buf[: part.size]
            np.sign(part, out=out)
            out *= ratio
            out += part
            total += _rows_dot(part, out, block)
    return L2 * total


def _rows_dot(a: np.ndarray, b: np.ndarray, block: int) -> float:
    nb = a.size // block
    value = 0.0
    if nb:
        value += float(
            np.sum(
                np.vecdot(a[: nb * block].reshape(nb, block), b[: nb * block].reshape(nb, block)),
                dtype=np.float64,
            )
        )
    if a.size > nb * block:
        value += float(np.dot(a[nb * block :], b[nb * block :]))
    return value


def section_l2(be: Any, rounds: int) -> str:
    from losskit.regularizers import L2 as LossL2
    from losskit.regularizers import apply_regularization

    params = _data.params("gpt2")
    ps = [be.asarray(a) for a in params.arrays]
    flat = be.asarray(params.flat)
    reg = LossL2(1.0)
    fns: dict[str, Callable[[], Any]] = {
        "losskit (src: xp.vecdot 64K via array-api-compat)": lambda: apply_regularization(reg, ps),
        "read: np.add.reduce(flat)": lambda: np.add.reduce(flat),
        "np.dot per array (sdot)": lambda: sum(float(np.dot(p.ravel(), p.ravel())) for p in ps),
    }
    for block in (1 << 14, 1 << 16, 1 << 18):
        k = f"{block >> 10}K"
        fns[f"np.vecdot rows {k}"] = lambda b=block: per_array(ps, b, lambda h: np.vecdot(h, h))
    fns["np.einsum('ij,ij->i') rows 64K"] = lambda: per_array(
        ps, 1 << 16, lambda h: np.einsum("ij,ij->i", h, h)
    )
    fns["matmul [nb,1,B]@[nb,B,1] 64K"] = lambda: per_array(
        ps, 1 << 16, lambda h: np.matmul(h[:, None, :], h[:, :, None])
    )
    fns["np.dot per 64K block (Python loop)"] = lambda: dot_blocks(ps, 1 << 16)
    fns["np.multiply + np.add.reduce per 1M slab"] = lambda: slab_sum_squares(ps, 1 << 20)
    return run_table(
        "NumPy: sum of squares over GPT-2 (148 arrays, 124.4M float32)",
        fns,
        rounds=rounds,
        sync=be.sync,
        value=float,
        reference=params.sum_squares,
        control="read: np.add.reduce(flat)",
        nbytes=params.nbytes,
    )


def section_l1(be: Any, rounds: int) -> str:
    from losskit.regularizers import L1 as LossL1
    from losskit.regularizers import L1L2 as LossL1L2
    from losskit.regularizers import L2 as LossL2
    from losskit.regularizers import apply_regularization

    params = _data.params("gpt2")
    ps = [be.asarray(a) for a in params.arrays]
    fns: dict[str, Callable[[], Any]] = {
        "losskit L2 (src)": lambda: apply_regularization(LossL2(L2), ps),
        "losskit L1 (src: |x| per 1M slab, xp.sum)": lambda: apply_regularization(LossL1(L1), ps),
        "losskit L1L2 (src)": lambda: apply_regularization(LossL1L2(L1, L2), ps),
        "L1: np.abs into buffer + np.add.reduce, 256K slabs": lambda: (
            L1 * l1_abs_reduce(ps, 1 << 18, False)
        ),
        "L1: np.abs into buffer + dot(ones), 64K slabs": lambda: (
            L1 * l1_abs_reduce(ps, 1 << 16, True)
        ),
        "L1: np.abs into buffer + dot(ones), 256K slabs": lambda: (
            L1 * l1_abs_reduce(ps, 1 << 18, True)
        ),
        "L1: vecdot(x, sign x), 256K slabs, 64K rows": lambda: (
            L1 * l1_sign_vecdot(ps, 1 << 18, 1 << 16)
        ),
        "L1L2: one pass vecdot(x, x + r sign x), 256K slabs": lambda: l1l2_one_pass(
            ps, 1 << 18, 1 << 16
        ),
        "L1L2: one pass, 1M slabs": lambda: l1l2_one_pass(ps, 1 << 20, 1 << 16),
    }
    reference = {
        "L2": L2 * params.sum_squares,
        "L1": L1 * params.sum_abs,
        "L1L2": L1 * params.sum_abs + L2 * params.sum_squares,
    }

    def error(name: str) -> str:
        kind = "L1L2" if "L1L2" in name else "L1" if "L1" in name else "L2"
        got = float(fns[name]())
        return f"{abs(got - reference[kind]) / reference[kind]:.1e}"

    return run_table(
        "NumPy: L1 and L1L2 over GPT-2 (factors 0.01)",
        fns,
        rounds=rounds,
        sync=be.sync,
        control="losskit L2 (src)",
        nbytes=params.nbytes,
        extra={"rel. err": error},
    )


def section_accuracy(be: Any, rounds: int) -> str:
    """Worst relative error over 4M-element constant-valued arrays (sums of x^2 and |x|)."""
    worst: dict[str, float] = {}
    for value in (300.0, 0.1, 0.0123, 0.7, 1e-3, 3.3, 0.02):
        x = np.full(1 << 22, value, np.float32)
        v = float(np.float32(value))
        squares, absolute = v * v * x.size, abs(v) * x.size
        for block in (1 << 10, 1 << 12, 1 << 16):
            head = x.reshape(-1, block)
            got = float(np.sum(np.matmul(head[:, None, :], head[:, :, None]), dtype=np.float64))
            name = f"x^2: matmul rows {block >> 10}K"
            worst[name] = max(worst.get(name, 0.0), abs(got - squares) / squares)
            ones = np.ones(block, np.float32)
            got = sum(float(np.dot(np.abs(row), ones)) for row in head)
            name = f"|x|: dot(|x|, ones) per {block >> 10}K"
            worst[name] = max(worst.get(name, 0.0), abs(got - absolute) / absolute)
        got = float(np.dot(x, x))
        name = "x^2: np.dot whole array"
        worst[name] = max(worst.get(name, 0.0), abs(got - squares) / squares)
        got = float(np.add.reduce(np.abs(x)))
        name = "|x|: np.add.reduce (pairwise)"
        worst[name] = max(worst.get(name, 0.0), abs(got - absolute) / absolute)
    rows = [[name, f"{error:.1e}"] for name, error in sorted(worst.items())]
    return (
        "## worst relative error over constant arrays (4M elements; 300, 0.1, 0.0123, 0.7, "
        "1e-3, 3.3, 0.02)\n\n" + _regexp.table(["kernel", "worst rel. err"], rows) + "\n"
    )


SECTIONS = {"l2": section_l2, "l1": section_l1, "accuracy": section_accuracy}


def main() -> int:
    p = _regexp.parser(__doc__)
    p.add_argument("--section", default=",".join(SECTIONS))
    p.add_argument("--out")
    args = p.parse_args()
    be, info = _regexp.setup("numpy", args.threads)
    emit(f"# reg_numpy.py  threads={args.threads}  {info}  {time.ctime()}\n", args.out)
    for name in args.section.split(","):
        started = time.perf_counter()
        emit(SECTIONS[name](be, args.rounds), args.out)
        emit(f"[{name}: {time.perf_counter() - started:.0f} s]\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
