"""Where the time of a 32-element ``compute_average_loss`` goes, and what a plan cache saves.

    .venv/bin/python bench/experiments/small_overhead.py [--backend numpy|torch|jax]

For each backend (own process): the native expression, losskit today, the array-API calls a
fast path would make (``xp.sum(l*w)``, ``xp.vecdot``, ``xp.matmul``), losskit's validation
helpers one by one, and ``cached_average_loss`` - a prototype that validates a call
signature once (by calling losskit itself) and then runs only the arithmetic.
"""

from __future__ import annotations

import argparse
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
import numpy as np  # noqa: E402
import recommended  # noqa: E402

# ----------------------------------------------------------------------------- the prototype
from losskit.average_loss import compute_average_loss as _full_compute_average_loss  # noqa: E402

_PLANS: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def _signature(losses: Any, weights: Any, global_batch_size: Any) -> tuple[Any, ...] | None:
    """Everything the validation of ``compute_average_loss`` depends on, or None (no cache).

    Types, dtypes and shapes of both arrays, and the *type* of a Python-number batch size
    (its value is checked inline: finite and >= 0). Arrays of other kinds (NumPy input to a
    torch call, lists, 0-d framework arrays as batch size) take the full path every time.
    """
    if type(global_batch_size) not in (int, float):
        return None
    kind = type(losses)
    if type(weights) is not kind:
        return None
    # dtype and shape objects are hashable for NumPy, PyTorch and JAX
    return (
        kind,
        losses.dtype,
        tuple(losses.shape),
        weights.dtype,
        tuple(weights.shape),
        type(global_batch_size),
    )


def cached_average_loss(losses: Any, weights: Any, global_batch_size: int | float) -> Any:
    """``compute_average_loss(losses, weights, global_batch_size)`` with a plan cache.

    The first call with a signature runs losskit itself (every check, every error message)
    and records the namespace; later calls compute ``weighted_total / global_batch_size``
    directly. A sketch: a real version would also key on the replica context and devices.
    """
    key = _signature(losses, weights, global_batch_size)
    plan = None if key is None else _PLANS.get(key)
    if plan is None or not (0 <= global_batch_size < float("inf")):
        result = _full_compute_average_loss(losses, weights, global_batch_size)
        if key is not None:
            import array_api_compat

            xp = array_api_compat.array_namespace(losses)
            _PLANS[key] = (xp, type(result))
        return result
    xp, result_type = plan
    total = recommended.weighted_total(xp, losses, weights)
    if global_batch_size == 0:
        return xp.zeros_like(total)
    value = total / global_batch_size
    return value if type(value) is result_type else np.asarray(value)


# ----------------------------------------------------------------------------- measurement


def _natives(name: str) -> dict[str, Callable[[Any, Any], Any]]:
    if name == "numpy":
        return {
            "native: np.dot(l, w) / n": lambda a, b: np.dot(a, b) / 32,
            "native: (l * w).sum() / n": lambda a, b: (a * b).sum() / 32,
        }
    if name == "torch":
        import torch

        return {
            "native: torch.dot(l, w) / n": lambda a, b: torch.dot(a, b) / 32,
            "native: (l * w).sum() / n": lambda a, b: (a * b).sum() / 32,
        }
    import jax.numpy as jnp

    return {
        "native: jnp.dot(l, w) / n": lambda a, b: jnp.dot(a, b) / 32,
        "native: jnp.sum(l * w) / n": lambda a, b: jnp.sum(a * b) / 32,
    }


def run_backend(name: str, rounds: int) -> dict[str, Any]:
    import losskit
    from losskit import _namespace as ns

    be = _backends.get(name)
    info = be.setup(os.cpu_count() or 1)
    data = _data.small()
    a, b = be.asarray(data.losses), be.asarray(data.weights)
    xp = be.xp
    n = data.size
    fns: dict[str, Callable[[], Any]] = {
        k: (lambda f=f: f(a, b)) for k, f in _natives(name).items()
    }
    fns.update(
        {
            "losskit.compute_average_loss": lambda: losskit.compute_average_loss(
                a, b, global_batch_size=n
            ),
            "prototype cached_average_loss": lambda: cached_average_loss(a, b, n),
            "xp.sum(l * w) / n": lambda: xp.sum(a * b) / n,
            "xp.vecdot(l, w) / n": lambda: xp.vecdot(a, b) / n,
            "xp.matmul(l, w) / n": lambda: xp.matmul(a, b) / n,
            "  ns.namespace(l, w, n)": lambda: ns.namespace(a, b, n, names=("l", "w", "n")),
            "  ns.as_array(xp, l)": lambda: ns.as_array(xp, a, name="l"),
            "  ns.loss_dtypes(xp, l)": lambda: ns.loss_dtypes(xp, a, name="l"),
            "  ns.check_weight_dtype(xp, w)": lambda: ns.check_weight_dtype(xp, b, name="w"),
            "  xp.isdtype(dtype, 'real floating')": lambda: xp.isdtype(a.dtype, "real floating"),
            "  signature key (prototype)": lambda: _signature(a, b, n),
        }
    )
    timings = _timing.measure(fns, rounds=rounds, sync=be.sync, min_sample=2e-3)
    values = {}
    for key in ("losskit.compute_average_loss", "prototype cached_average_loss"):
        values[key] = be.to_float(fns[key]())
    return {
        "backend": name,
        "info": info,
        "us": {k: t.median * 1e6 for k, t in timings.items()},
        "q": {k: (t.q1 * 1e6, t.q3 * 1e6) for k, t in timings.items()},
        "values": values,
        "reference": data.reference / n,
    }


def print_report(result: dict[str, Any]) -> None:
    print(f"\n## {result['backend']} (32 elements, eager)  {json.dumps(result['info'])}")
    for key, us in result["us"].items():
        q1, q3 = result["q"][key]
        print(f"{key:40} {us:8.2f} us   (q1-q3 {q1:.2f}-{q3:.2f})")
    for key, value in result["values"].items():
        err = _timing.relative_error(value, result["reference"])
        print(f"{key:40} value {value:.9g}  rel err {err:.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("numpy", "torch", "jax"))
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.backend:
        result = run_backend(args.backend, args.rounds)
        print(json.dumps(result) if args.json else "", end="")
        if not args.json:
            print_report(result)
        return 0
    for name in ("numpy", "torch", "jax"):
        out = subprocess.run(
            [sys.executable, __file__, "--backend", name, "--rounds", str(args.rounds), "--json"],
            check=True,
            capture_output=True,
            text=True,
        )
        print_report(json.loads(out.stdout.strip().splitlines()[-1]))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
