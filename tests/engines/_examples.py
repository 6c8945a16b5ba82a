"""The docs' example scripts (``docs/engines/*_example.py``), loaded as modules."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs" / "engines"


def load(name: str) -> dict[str, Any]:
    """The globals of ``docs/engines/{name}_example.py``, run as a module (not as a script)."""
    return runpy.run_path(str(DOCS / f"{name}_example.py"), run_name=f"{name}_example")


def train_and_naive(
    name: str, windows: list[int], naive: Callable[[dict[str, Any], int], Any]
) -> dict[str, Any]:
    """The example's ``train(K)`` parameters and ``naive(example, K)``'s, for each ``K``."""
    example = load(name)
    found: dict[str, Any] = {}
    for steps in windows:
        found[f"losskit K={steps}"] = [p.numpy() for p in example["train"](steps)]
        found[f"naive K={steps}"] = naive(example, steps)
    return found
