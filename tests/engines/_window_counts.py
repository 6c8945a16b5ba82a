"""Rank code of the window-count test: each rank's windows and how many all-reduces each
one issued, on 2 gloo processes."""

from __future__ import annotations

from typing import Any

import numpy as np


def batches(rank: int) -> list[dict[str, Any]]:
    """Uneven micro-batches: rank 0 has 5 of 1-3 examples, rank 1 has 5 of 2-4."""
    import torch

    rng = np.random.default_rng(10 + rank)
    out = []
    for n in rng.integers(1 + rank, 4 + rank, size=5).tolist():
        mask = (rng.random((n, 3)) < 0.6).astype(np.float64)
        out.append({"x": torch.ones(n, 3, dtype=torch.float64), "mask": torch.as_tensor(mask)})
    return out


def counts(rank: int, world: int) -> list[tuple[float, float, int]]:
    """(denominator, examples, all-reduces) of each window of 2 (and the last, of 1)."""
    from losskit.engines._window import Engine, windows
    from tests.distributed._torch_workers import counting_all_reduces

    engine = Engine(gradients="mean", accumulation="sum", accumulation_steps=2)
    found = []
    iterator = iter(windows(batches(rank), engine, weights=lambda b: b["mask"]))
    while True:
        window, calls = counting_all_reduces(next, iterator, None)
        if window is None:
            return found
        found.append((float(window.denominator), float(window.examples), calls))
