"""What every ``losskit demo`` scenario shares: the requirements check, progress bars,
parameter drift, the plots and the verdict that sets the exit code."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

TOLERANCE = 1e-9  # float64 parameters: losskit's run must match one process this closely
WORLD = 4  # torch.distributed gloo ranks
DRIFT_FLOOR = 1e-17  # drawn in place of an exact 0 on a log scale

__all__ = [
    "DRIFT_FLOOR",
    "TOLERANCE",
    "WORLD",
    "drift",
    "figure",
    "missing",
    "plot_drift",
    "progress",
    "verdict",
]


def missing(modules: Sequence[str], out: TextIO) -> bool:
    """Print how to install what is missing of ``modules`` and return True, if anything is."""
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    if absent:
        print(
            f"losskit demo needs {', '.join(absent)}: pip install 'losskit[demo]' "
            "(or run `make demo`, which installs everything).",
            file=out,
        )
    return bool(absent)


def progress(total: int, desc: str, *, show: bool = True) -> Any:
    """A tqdm bar on stderr that disappears when done, or None (``show=False``: the ranks
    other than 0)."""
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False)


def drift(params: Any, reference: Any) -> np.ndarray:
    """``max |param - reference param|`` at each step, from ``[steps, parameters]`` lists
    (NaN where a run diverged)."""
    return np.asarray(
        np.max(np.abs(np.asarray(params, dtype=np.float64) - np.asarray(reference)), axis=1)
    )


@contextlib.contextmanager
def figure(
    path: Path, title: str, rows: int, columns: int, size: tuple[float, float]
) -> Iterator[Any]:
    """A grid of matplotlib axes (no display needed) saved to ``path`` on exit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    try:
        yield axes
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def plot_drift(axes: Any, values: np.ndarray, label: str, **style: Any) -> None:
    """One run's per-step drift on a log scale (exact zeros drawn at ``DRIFT_FLOOR``)."""
    steps = np.arange(1, len(values) + 1)
    axes.semilogy(steps, np.maximum(values, DRIFT_FLOOR), label=label, **style)
    axes.set(xlabel="optimizer step", ylabel="max |param - single-process param|")


def verdict(worst: float, out: TextIO, *, what: str) -> int:
    """Print OK or FAIL for losskit's largest drift ``worst``; the exit code (NaN fails)."""
    if not worst <= TOLERANCE:
        print(f"FAIL: losskit drifted from {what} (> {TOLERANCE:g})", file=out)
        return 1
    print(f"OK: losskit's run matches {what} within {TOLERANCE:g}.", file=out)
    return 0
