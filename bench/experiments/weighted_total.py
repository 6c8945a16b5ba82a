"""Measure the ``weighted_total`` candidates of ``candidates.py`` on NumPy, PyTorch and JAX.

    .venv/bin/python bench/experiments/weighted_total.py            # every backend
    .venv/bin/python bench/experiments/weighted_total.py --backend torch --rounds 5

Each backend runs in its own subprocess. For every candidate: the median time (interleaved
with the backend's native kernels), the relative error against a float64 reference, the peak
memory above the inputs (RSS high-water mark; tracemalloc for NumPy; XLA's temp buffers for
jitted JAX) and, for PyTorch and JAX, forward+backward of ``total / n`` w.r.t. the losses.
JAX candidates are jitted (compiled before timing). Output: one table per section.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import _backends  # noqa: E402
import _data  # noqa: E402
import _timing  # noqa: E402
import candidates as cands  # noqa: E402
import numpy as np  # noqa: E402
import worker  # noqa: E402

MiB = 1 << 20


def _natives(backend: str, n: int) -> dict[str, Callable[[Any, Any], Any]]:
    """The backend's own kernels for sum(v * w) on same-shape arrays."""
    if backend == "numpy":
        return {
            "native np.dot": lambda v, w: np.dot(v.reshape(-1), w.reshape(-1)),
            "native (v*w).sum()": lambda v, w: (v * w).sum(),
        }
    if backend == "torch":
        import torch

        return {
            "native torch.dot": lambda v, w: torch.dot(v.reshape(-1), w.reshape(-1)),
            "native (v*w).sum()": lambda v, w: (v * w).sum(),
        }
    import jax.numpy as jnp

    return {
        "native jnp.dot": lambda v, w: jnp.dot(v.reshape(-1), w.reshape(-1)),
        "native jnp.sum(v*w)": lambda v, w: jnp.sum(v * w),
    }


def _row_natives(backend: str) -> dict[str, Callable[[Any, Any], Any]]:
    if backend == "numpy":
        return {
            "native w[:,0] @ v, sum": lambda v, w: np.sum(w[:, 0] @ v),
            "native (v*w).sum()": lambda v, w: (v * w).sum(),
        }
    if backend == "torch":
        import torch

        return {
            "native torch.mv(v.T, w), sum": lambda v, w: torch.mv(v.T, w[:, 0]).sum(),
            "native (v*w).sum()": lambda v, w: (v * w).sum(),
        }
    import jax.numpy as jnp

    return {
        "native w[:,0] @ v, sum": lambda v, w: jnp.sum(w[:, 0] @ v),
        "native jnp.sum(v*w)": lambda v, w: jnp.sum(v * w),
    }


Probe = Callable[[], None]


def _section(
    be: _backends.Backend,
    title: str,
    inputs: _data.Inputs,
    candidates: tuple[cands.Candidate, ...],
    natives: dict[str, Callable[[Any, Any], Any]],
    rounds: int,
    grad: bool,
    probes: list[Probe],
) -> dict[str, Any]:
    """Time the candidates now; append their memory probes to ``probes`` for later."""
    xp = be.xp
    v = be.asarray(inputs.losses)
    w = be.asarray(inputs.weights)
    n = inputs.size
    fns: dict[str, Callable[[Any, Any], Any]] = dict(natives)
    for cand in candidates:
        fns[cand.__name__] = functools.partial(cand, xp)
    # A second, separately compiled copy of the current kernel: the spread between the two
    # copies is the noise floor of this section.
    fns["current (control copy)"] = functools.partial(cands.current, xp)
    compiled = {name: be.jit(fn) for name, fn in fns.items()}
    calls = {name: functools.partial(fn, v, w) for name, fn in compiled.items()}
    timings = _timing.measure(calls, rounds=rounds, sync=be.sync)
    rows: dict[str, dict[str, Any]] = {}
    for name, call in calls.items():
        value = be.to_float(be.sync(call()))
        rows[name] = {
            "ms": timings[name].median * 1e3,
            "q1": timings[name].q1 * 1e3,
            "q3": timings[name].q3 * 1e3,
            "rel_err": _timing.relative_error(value, inputs.reference),
        }

        def probe(name: str = name, call: Callable[[], Any] = call) -> None:
            row = rows[name]
            row["rss_MiB"] = _timing.rss_peak_delta(call, be.sync) / MiB
            if be.name == "numpy":
                row["tracemalloc_MiB"] = _timing.tracemalloc_peak(call) / MiB
            if be.name == "jax":
                analysis = compiled[name].lower(v, w).compile().memory_analysis()
                row["xla_temp_MiB"] = analysis.temp_size_in_bytes / MiB

        probes.append(probe)
    if grad and be.name in ("torch", "jax"):
        _grads(be, rows, fns, v, w, n, rounds, probes)
    return {"title": title, "rows": rows}


def _grads(
    be: _backends.Backend,
    rows: dict[str, dict[str, Any]],
    fns: dict[str, Callable[[Any, Any], Any]],
    v: Any,
    w: Any,
    n: int,
    rounds: int,
    probes: list[Probe],
) -> None:
    """Forward + backward of ``total / n`` w.r.t. the losses, and a hand-written gradient."""
    scale = 1.0 / n
    calls: dict[str, Callable[[], Any]] = {}
    reset: Callable[[], Any] | None = None
    value_fn = next(iter(fns.values()))  # the first native kernel
    if be.name == "torch":
        import torch

        leaf = v.clone().requires_grad_(True)

        def reset() -> None:
            leaf.grad = None

        def autograd(fn: Callable[[Any, Any], Any]) -> Callable[[], Any]:
            def step() -> Any:
                leaf.grad = None
                loss = fn(leaf, w) * scale
                loss.backward()
                return loss

            return step

        for name, fn in fns.items():
            calls[name] = autograd(fn)

        def by_hand() -> Any:
            with torch.no_grad():
                grad = w * scale
                if grad.shape != v.shape:
                    grad = grad.expand(v.shape).contiguous()
                return value_fn(v, w) * scale, grad

        calls["hand-written gradient"] = by_hand
    else:
        import jax

        # The weights are an argument, not a closure: XLA would constant-fold them.
        for name, fn in fns.items():
            step = jax.jit(jax.value_and_grad(lambda x, y, fn=fn: fn(x, y) * scale))
            calls[name] = functools.partial(step, v, w)
        hand = jax.jit(
            lambda x, y: (value_fn(x, y) * scale, jax.numpy.broadcast_to(y * scale, x.shape))
        )
        calls["hand-written gradient"] = functools.partial(hand, v, w)
    timings = _timing.measure(calls, rounds=rounds, sync=be.sync)
    for name, call in calls.items():
        row = rows.setdefault(name, {})
        row["grad_ms"] = timings[name].median * 1e3
        row["grad_q"] = f"{timings[name].q1 * 1e3:.3g}-{timings[name].q3 * 1e3:.3g}"

        def probe(row: dict[str, Any] = row, call: Callable[[], Any] = call) -> None:
            row["grad_rss_MiB"] = _timing.rss_peak_delta(call, be.sync, reset=reset) / MiB

        probes.append(probe)


PRIME = 16778227  # the first prime above 2**24 + 1000


def run_backend(
    name: str, rounds: int, threads: int, sections_wanted: list[str] | None = None
) -> dict[str, Any]:
    _backends.pin_cpus(threads)
    be = _backends.get(name)
    info = be.setup(threads)
    sections = []
    probes: list[Probe] = []
    only = set(sections_wanted or ("flat", "tail", "rows", "mask", "small"))
    if "flat" in only:
        big = _data.large()
        sections.append(
            _section(
                be,
                f"[{big.size}] x [{big.size}]",
                big,
                cands.FLAT,
                _natives(name, big.size),
                rounds,
                grad=True,
                probes=probes,
            )
        )
    if "tail" in only:
        # A prime size: no block divides it, so blockwise kernels need a sliced tail.
        odd = _data.large(PRIME)
        sections.append(
            _section(
                be,
                f"[{odd.size}] x [{odd.size}] (prime size)",
                odd,
                cands.TAIL,
                _natives(name, odd.size),
                rounds,
                grad=True,
                probes=probes,
            )
        )
    if "rows" in only:
        rows = _data.tokens_row_weights()
        sections.append(
            _section(
                be,
                f"{list(rows.losses.shape)} x [B, 1]",
                rows,
                cands.ROWS,
                _row_natives(name),
                rounds,
                grad=True,
                probes=probes,
            )
        )
    if "mask" in only:
        mask = _data.tokens_mask()
        sections.append(
            _section(
                be,
                f"{list(mask.losses.shape)} x mask",
                mask,
                cands.MASK,
                _natives(name, mask.size),
                rounds,
                grad=False,
                probes=probes,
            )
        )
    if "small" in only:
        small = _data.small()
        sections.append(
            _section(
                be,
                f"[{small.size}] x [{small.size}]",
                small,
                cands.SMALL,
                _natives(name, small.size),
                max(rounds, 20),
                grad=False,
                probes=probes,
            )
        )
    # Memory pass, after every timing: glibc then maps every block >= 1 MiB fresh, so each
    # temporary shows in the RSS high-water mark (see worker._mmap_large_allocations).
    info["memory_pass_mmap_threshold_fixed"] = worker._mmap_large_allocations()
    for probe in probes:
        probe()
    return {"backend": name, "info": info, "sections": sections}


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def print_report(result: dict[str, Any]) -> None:
    print(f"\n## {result['backend']}  {json.dumps(result['info'])}")
    for section in result["sections"]:
        print(f"\n### {section['title']}")
        head = (
            f"{'candidate':34} {'ms':>8} {'q1-q3 ms':>13} {'rel err':>9} {'peak MiB':>9} "
            f"{'other MiB':>10} {'fwd+bwd ms':>11} {'q1-q3 ms':>11} {'bwd MiB':>8}"
        )
        print(head)
        for name, row in section["rows"].items():
            other = row.get("tracemalloc_MiB", row.get("xla_temp_MiB"))
            quart = "" if "q1" not in row else f"{row['q1']:.3g}-{row['q3']:.3g}"
            print(
                f"{name:34} {_fmt(row.get('ms'), '8.4f'):>8} {quart:>13} "
                f"{_fmt(row.get('rel_err'), '9.1e'):>9} {_fmt(row.get('rss_MiB'), '9.1f'):>9} "
                f"{_fmt(other, '10.1f'):>10} {_fmt(row.get('grad_ms'), '11.2f'):>11} "
                f"{row.get('grad_q', ''):>11} "
                f"{_fmt(row.get('grad_rss_MiB'), '8.1f'):>8}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("numpy", "torch", "jax"))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sections", help="comma-separated: flat,tail,rows,mask,small")
    parser.add_argument("--json", action="store_true", help="(worker) print JSON only")
    args = parser.parse_args()
    if args.backend:
        wanted = args.sections.split(",") if args.sections else None
        result = run_backend(args.backend, args.rounds, args.threads, wanted)
        if args.json:
            print(json.dumps(result))
        else:
            print_report(result)
        return 0
    for name in ("numpy", "torch", "jax"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--backend",
                name,
                "--rounds",
                str(args.rounds),
                "--threads",
                str(args.threads),
                "--json",
                *(["--sections", args.sections] if args.sections else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        print_report(json.loads(out.stdout.strip().splitlines()[-1]))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
