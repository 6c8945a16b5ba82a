"""JAX: caching, eager dispatch, compile time and L1 kernels of the fused penalty.

    .venv/bin/python bench/experiments/reg_jax.py [--section cache,dispatch,compile,l1]
        [--rounds 9] [--out results/reg_jax.txt]

* ``cache``: does ``_fused_jax._penalty`` (one ``jax.jit`` over a tuple of arrays, factors
  and dtype static) retrace per call? Counts compilations (``jax.monitoring``) for repeated
  calls with new lists, a dict, a changed order, and a changed factor.
* ``dispatch``: eager ``apply_regularization`` against calling a jitted kernel directly, for
  GPT-2 (148 arrays) and 1000 arrays of shape [4]; the per-argument floor of a jitted call.
* ``compile``: trace+compile time and call time over N tiny arrays (N = 100, 300, 1000) of
  losskit's kernel (a chain of per-array reductions) and of candidates: one stacked sum, a
  concatenation of the small arrays (``ravel`` + ``concatenate``) reduced once.
* ``l1``: GPT-2 L1 / L1L2 kernels: losskit's ``x * sign(x)`` and ``x * x`` reductions (two
  passes), ``abs``, and one reduction ``sum(x * (l2 * x + l1 * sign(x)))``; gradient check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import _regexp
import numpy as np
from _regexp import _data, emit, run_table

L1, L2 = 0.01, 0.01


def _jax() -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    return jax, jnp


class CompileCounter:
    """Counts XLA compilations through ``jax.monitoring`` duration events."""

    def __init__(self) -> None:
        jax, _ = _jax()
        self.count = 0

        def listener(event: str, duration: float, **kwargs: Any) -> None:
            if event == "/jax/core/compile/backend_compile_duration":
                self.count += 1

        jax.monitoring.register_event_duration_secs_listener(listener)


def section_cache(be: Any, rounds: int) -> str:
    jax, jnp = _jax()
    from losskit.regularizers import L2 as LossL2
    from losskit.regularizers import _fused_jax, apply_regularization

    counter = CompileCounter()
    params = _data.params("resnet50")
    arrays = [be.asarray(a) for a in params.arrays]
    lines = []

    def probe(label: str, fn: Callable[[], Any]) -> None:
        before = counter.count
        started = time.perf_counter()
        be.sync(fn())
        lines.append(
            f"{label:66s} compilations +{counter.count - before}  "
            f"{(time.perf_counter() - started) * 1e3:8.1f} ms  "
            f"cache size {_fused_jax._penalty._cache_size()}"
        )

    reg = LossL2(L2)
    probe("first call, list of 161 ResNet-50 arrays", lambda: apply_regularization(reg, arrays))
    probe("same call again", lambda: apply_regularization(reg, arrays))
    probe("a new list of the same arrays", lambda: apply_regularization(reg, list(arrays)))
    probe("a tuple", lambda: apply_regularization(reg, tuple(arrays)))
    probe(
        "a dict of the arrays (same order)",
        lambda: apply_regularization(reg, {str(i): a for i, a in enumerate(arrays)}),
    )
    stepped = [be.sync(a + 1) for a in arrays]  # (compiles the eager adds here, not below)
    probe(
        "new arrays, same shapes (after an optimizer step)",
        lambda: apply_regularization(reg, stepped),
    )
    probe("reversed order (other avals order)", lambda: apply_regularization(reg, arrays[::-1]))
    probe("L2(0.02): another static factor", lambda: apply_regularization(LossL2(0.02), arrays))
    probe("L2(0.03)", lambda: apply_regularization(LossL2(0.03), arrays))
    jitted = jax.jit(lambda ps: apply_regularization(reg, ps))
    probe("inside the user's jax.jit: first call", lambda: jitted(tuple(arrays)))
    probe("inside the user's jax.jit: again", lambda: jitted(tuple(arrays)))
    del jnp
    return "## Does the jitted kernel retrace? (ResNet-50 parameters)\n\n" + "\n".join(lines) + "\n"


def section_dispatch(be: Any, rounds: int) -> str:
    jax, jnp = _jax()
    from losskit.regularizers import L2 as LossL2
    from losskit.regularizers import _fused_jax, apply_regularization

    reg = LossL2(L2)
    out = []
    for name in ("gpt2", "tiny1000"):
        params = _data.params(name)
        arrays = [be.asarray(a) for a in params.arrays]
        as_tuple = tuple(arrays)
        kernel = jax.jit(lambda ps: L2 * sum(jnp.sum(p * p) for p in ps))
        floor = jax.jit(lambda ps: ps[0].sum())
        fns = {
            "losskit eager apply_regularization": lambda a=arrays: apply_regularization(reg, a),
            "losskit _fused_jax.penalty (no Python checks)": lambda a=arrays: _fused_jax.penalty(
                a, None, L2, jnp.float32
            ),
            "jitted sum(jnp.sum(p*p)) called directly": lambda t=as_tuple, k=kernel: k(t),
            "floor: jitted ps[0].sum() over the same tuple": lambda t=as_tuple, f=floor: f(t),
        }
        out.append(
            run_table(
                f"eager call overhead: {name} ({len(arrays)} arrays)",
                fns,
                rounds=rounds,
                sync=be.sync,
                min_sample=2e-3,
            )
        )
    return "\n".join(out)


def _kernels() -> dict[str, Callable[..., Any]]:
    jax, jnp = _jax()

    def chain(ps: tuple[Any, ...]) -> Any:  # losskit's _penalty body
        total = jnp.zeros((), jnp.float32)
        for p in ps:
            total = total + L2 * jnp.sum(p * p)
        return total

    def stacked(ps: tuple[Any, ...]) -> Any:
        return L2 * jnp.sum(jnp.stack([jnp.sum(p * p) for p in ps]))

    def concat_small(ps: tuple[Any, ...], limit: int = 1 << 16) -> Any:
        small = [p.ravel() for p in ps if p.size <= limit]
        large = [p for p in ps if p.size > limit]
        total = jnp.zeros((), jnp.float32)
        if small:
            flat = jnp.concatenate(small)
            total = total + jnp.sum(flat * flat)
        for p in large:
            total = total + jnp.sum(p * p)
        return L2 * total

    del jax
    return {"chain (src)": chain, "stack of sums": stacked, "concat small arrays": concat_small}


def section_compile(be: Any, rounds: int) -> str:
    jax, jnp = _jax()
    rows = []
    rng = np.random.default_rng(0)
    for count in (100, 300, 1000):
        arrays = tuple(jnp.asarray(rng.standard_normal(4).astype(np.float32)) for _ in range(count))
        for name, fn in _kernels().items():
            compiled = jax.jit(fn)
            started = time.perf_counter()
            compiled(arrays).block_until_ready()
            first = time.perf_counter() - started
            timing = _regexp._timing.measure(
                {"call": lambda c=compiled, a=arrays: c(a)},
                rounds=rounds,
                sync=be.sync,
                min_sample=2e-3,
            )["call"]
            rows.append(
                [
                    count,
                    name,
                    f"{first:.2f} s",
                    _regexp.fmt_time(timing.median),
                    f"{timing.median / count * 1e6:.2f} us",
                ]
            )
    # GPT-2: the concatenation must not copy the large arrays, nor slow them down
    params = _data.params("gpt2")
    gpt2 = tuple(be.asarray(a) for a in params.arrays)
    fns = {}
    for name, fn in _kernels().items():
        compiled = jax.jit(fn)
        temp = compiled.lower(gpt2).compile().memory_analysis().temp_size_in_bytes
        fns[f"{name}  [XLA temp {temp / 2**20:.1f} MiB]"] = lambda c=compiled: c(gpt2)
    text = (
        "## compile time and call time over N arrays of shape [4] (jax.jit)\n\n"
        + _regexp.table(["N", "kernel", "trace+compile", "call", "call per array"], rows)
        + "\n\n"
    )
    return text + run_table(
        "the same kernels over GPT-2",
        fns,
        rounds=rounds,
        sync=be.sync,
        value=be.to_float,
        reference=L2 * params.sum_squares,
        nbytes=params.nbytes,
    )


def section_l1(be: Any, rounds: int) -> str:
    jax, jnp = _jax()
    params = _data.params("gpt2")
    gpt2 = tuple(be.asarray(a) for a in params.arrays)

    def l2(ps: tuple[Any, ...]) -> Any:
        return sum(L2 * jnp.sum(p * p) for p in ps)

    def src_l1l2(ps: tuple[Any, ...]) -> Any:  # _fused_jax: two reductions per array
        return sum(L2 * jnp.sum(p * p) + L1 * jnp.sum(p * jnp.sign(p)) for p in ps)

    def abs_l1l2(ps: tuple[Any, ...]) -> Any:
        return sum(L2 * jnp.sum(p * p) + L1 * jnp.sum(jnp.abs(p)) for p in ps)

    def one_reduction(ps: tuple[Any, ...]) -> Any:
        return sum(jnp.sum(p * (L2 * p + L1 * jnp.sign(p))) for p in ps)

    def src_l1(ps: tuple[Any, ...]) -> Any:
        return sum(L1 * jnp.sum(p * jnp.sign(p)) for p in ps)

    def abs_l1(ps: tuple[Any, ...]) -> Any:
        return sum(L1 * jnp.sum(jnp.abs(p)) for p in ps)

    kernels = {
        "L2: sum(p*p)": l2,
        "L1: sum(p*sign(p)) (src)": src_l1,
        "L1: sum(abs(p))": abs_l1,
        "L1L2: two reductions, p*sign(p) (src)": src_l1l2,
        "L1L2: two reductions, abs(p)": abs_l1l2,
        "L1L2: one reduction sum(p*(l2*p + l1*sign(p)))": one_reduction,
    }
    fns = {}
    for name, fn in kernels.items():
        fns[name] = lambda k=jax.jit(fn): k(gpt2)  # noqa: B008 - one jit per kernel
    reference = {
        "L2": L2 * params.sum_squares,
        "L1": L1 * params.sum_abs,
        "L1L2": L1 * params.sum_abs + L2 * params.sum_squares,
    }

    def error(name: str) -> str:
        got = be.to_float(be.sync(fns[name]()))
        ref = reference[name.split(":")[0]]
        return f"{abs(got - ref) / ref:.1e}"

    text = run_table(
        "JAX (jit): L1 and L1L2 kernels over GPT-2",
        fns,
        rounds=rounds,
        sync=be.sync,
        nbytes=params.nbytes,
        extra={"rel. err": error},
    )
    # gradients: 2*l2*p + l1*sign(p), with sign(0) = 0 (LayerNorm biases are exactly 0)
    small = tuple(be.asarray(a) for a in _data.params("resnet50").arrays)
    checks = []
    for name in ("L1L2: two reductions, p*sign(p) (src)", "L1L2: two reductions, abs(p)"):
        checks.append((name, kernels[name]))
    checks.append(("L1L2: one reduction", one_reduction))
    lines = []
    for name, fn in checks:
        grads = jax.jit(jax.grad(fn))(small)
        worst = scale = 0.0
        for p, g in zip(small, grads, strict=True):
            host = np.asarray(p, np.float64)
            expected = 2 * L2 * host + L1 * np.sign(host)
            worst = max(worst, float(np.max(np.abs(np.asarray(g, np.float64) - expected))))
            scale = max(scale, float(np.max(np.abs(expected))))
        lines.append(
            f"{name:45s} max |grad - closed form| / max |closed form| = {worst / scale:.1e}"
        )
    return (
        text + "\ngradients (ResNet-50 arrays, zero BatchNorm biases):\n" + "\n".join(lines) + "\n"
    )


SECTIONS = {
    "cache": section_cache,
    "dispatch": section_dispatch,
    "compile": section_compile,
    "l1": section_l1,
}


def main() -> int:
    p = _regexp.parser(__doc__)
    p.add_argument("--section", default=",".join(SECTIONS))
    p.add_argument("--out")
    args = p.parse_args()
    be, info = _regexp.setup("jax", args.threads)
    emit(f"# reg_jax.py  threads={args.threads}  {info}  {time.ctime()}\n", args.out)
    for name in args.section.split(","):
        started = time.perf_counter()
        emit(SECTIONS[name](be, args.rounds), args.out)
        emit(f"[{name}: {time.perf_counter() - started:.0f} s]\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
