"""The ``losskit`` command: ``losskit demo`` and ``losskit examples``."""

from __future__ import annotations

import argparse
import importlib
import math
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from losskit._examples import EXAMPLES, REGULARIZER_EXAMPLES, evaluate

_BACKENDS = (
    ("NumPy", "numpy"),
    ("PyTorch", "torch"),
    ("JAX", "jax.numpy"),
)


def _namespaces() -> list[tuple[str, Any]]:
    """(label, array-API namespace or None if the library is not installed)."""
    import array_api_compat

    found: list[tuple[str, Any]] = []
    for label, module in _BACKENDS:
        try:
            library = importlib.import_module(module)
        except ImportError:
            found.append((label, None))
            continue
        found.append((label, array_api_compat.array_namespace(library.asarray([0.0]))))
    return found


def _matches(expected: Any, got: Any) -> bool:
    if isinstance(expected, str) or isinstance(got, str):
        return bool(expected == got)
    want = expected if isinstance(expected, tuple) else (expected,)
    have = got if isinstance(got, tuple) else (got,)
    return len(want) == len(have) and all(
        math.isclose(a, b, rel_tol=2e-6, abs_tol=1e-7) for a, b in zip(want, have, strict=True)
    )


def _show(value: Any) -> str:
    if value is None:
        return "not installed"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:.6g}" for v in value) + "]"
    return f"{value:.8g}"


def run_examples(out: Any = sys.stdout) -> int:
    """Print every reference-page example on each installed backend; 1 on a mismatch."""
    backends = _namespaces()
    header = ["page / example", "TensorFlow 2.21", *(label for label, _ in backends), ""]
    rows = []
    failures = 0
    examples = (*EXAMPLES, *REGULARIZER_EXAMPLES)
    for example in examples:
        results = [None if xp is None else evaluate(example, xp) for _, xp in backends]
        ok = all(r is None or _matches(example.tensorflow, r) for r in results)
        failures += not ok
        rows.append(
            [
                f"{example.page.rsplit('.', 1)[-1]}: {example.name}",
                _show(example.tensorflow),
                *(_show(r) for r in results),
                "ok" if ok else "MISMATCH",
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)), file=out)
    print(
        f"\n{len(examples) - failures} of {len(examples)} examples match TensorFlow "
        "on every installed backend.",
        file=out,
    )
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="losskit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train one regularized model on 1 process and on 4 torch.distributed ranks "
        "(or 8 JAX devices) and compare losskit's normalization with the naive one",
    )
    demo.add_argument("--engine", choices=("torch", "jax"), default="torch")
    demo.add_argument("--png", default="losskit-demo.png", help="where to write the plot")
    commands.add_parser(
        "examples", help="every example of the reference pages on NumPy, PyTorch and JAX"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from losskit._demo import run
        from losskit.testing import ProcessFailure

        try:
            return run(engine=args.engine, png=args.png)
        except (ProcessFailure, RuntimeError, subprocess.TimeoutExpired) as failure:
            print(f"losskit demo failed: {failure}", file=sys.stderr)
            return 1
    if args.command == "examples":
        return run_examples()
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
