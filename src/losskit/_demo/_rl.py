"""``losskit demo --scenario rl``: a tiny policy trained with per-token RL losses on 4 gloo
ranks, for every aggregation mode, with losskit's plan, with each micro-batch aggregated
alone, and with the published framework formulas of the audit corpus; each run's parameter
drift from the single-process objective."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from losskit._demo import _rl_task
from losskit._demo._report import TOLERANCE, drift, figure, missing, plot_drift, progress, verdict

__all__ = ["Row", "rows", "run", "table"]

Runs = dict[str, dict[str, list[np.ndarray]]]


@dataclasses.dataclass(frozen=True)
class Row:
    """One run's drift from the single-process reference of its mode, per step."""

    mode: str
    name: str
    drift: np.ndarray

    @property
    def worst(self) -> float:
        return float(np.max(self.drift)) if np.all(np.isfinite(self.drift)) else math.nan

    @property
    def losskit(self) -> bool:
        return self.name == "losskit plan"

    @property
    def verdict(self) -> str:
        if self.worst <= TOLERANCE:
            return "exact"
        if self.losskit:
            return "DRIFTS"
        return "off" if math.isfinite(self.worst) else "diverged"


def _runs(task: _rl_task.Task) -> tuple[dict[str, list[np.ndarray]], Runs]:
    from losskit._demo import _rl_train
    from losskit.aggregation import MODES
    from losskit.testing import run_processes

    references = {}
    with progress(len(MODES), "single process") as bar:
        for mode in MODES:
            references[mode] = _rl_train.train_reference(task, mode)
            bar.update(1)
    ranks = run_processes(_rl_train.train_rank, task.world, args=(task,), timeout=110)
    return references, ranks[0]


def rows(references: dict[str, list[np.ndarray]], runs: Runs) -> list[Row]:
    return [
        Row(mode, name, drift(params, references[mode]))
        for mode, by_name in runs.items()
        for name, params in by_name.items()
    ]


def table(found: list[Row]) -> list[str]:
    """One line per run: mode, aggregation, largest drift over the steps, verdict."""
    lines = [f"{'mode':<24}  {'aggregation':<32}  {'max |param - 1 process|':>23}  verdict"]
    for i, row in enumerate(found):
        if i and row.mode != found[i - 1].mode:
            lines.append("")
        lines.append(f"{row.mode:<24}  {row.name:<32}  {row.worst:>23.2e}  {row.verdict}")
    return lines


_COLOURS = ("C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9")  # not C0 (losskit), C7 (gray)


def _plot(found: list[Row], path: Path, title: str) -> None:
    modes = list(dict.fromkeys(row.mode for row in found))
    with figure(path, title, 2, (len(modes) + 1) // 2, (20, 8)) as axes:
        panels = dict(zip(modes, axes.ravel(), strict=False))
        formulas = dict.fromkeys(modes, 0)
        for row in found:
            style: dict[str, Any] = {"marker": "o", "markersize": 3}
            if row.losskit:
                style.update(color="C0", linewidth=2.5)
            elif row.name.startswith("local"):
                style.update(color="0.5", linestyle="--")
            else:
                j = formulas[row.mode]
                formulas[row.mode] += 1
                style.update(
                    color=_COLOURS[j % len(_COLOURS)],
                    linestyle="-" if j < len(_COLOURS) else "-.",
                    linewidth=1,
                )
            plot_drift(panels[row.mode], row.drift, row.name, **style)
        spare = list(axes.ravel()[len(modes) :])
        for ax in spare:
            ax.axis("off")
        for mode, ax in panels.items():
            ax.axhline(TOLERANCE, color="k", linestyle=":", linewidth=1, label="tolerance")
            ax.set_ylim(1e-18, 1e3)
            ax.set_title(mode)
            handles, labels = ax.get_legend_handles_labels()
            if len(labels) > 6 and spare:  # too many for the gap between the curves
                spare.pop(0).legend(handles, labels, title=mode, loc="center", fontsize=8)
            else:
                ax.legend(fontsize=6, loc="center right")


def _describe(task: _rl_task.Task) -> str:
    first = task.steps[0]
    tokens = [int(sum(s.packed.mask.sum() for s in rank)) for rank in first.shards]
    masked = sum(int(np.sum(step.whole.mask.sum(axis=1) == 0)) for step in task.steps)
    completions = sum(step.whole.mask.shape[0] for step in task.steps)
    return (
        f"losskit demo --scenario rl: a policy (embedding + linear head, float64) trained with "
        f"per-token GRPO losses (-advantage * log p), {len(task.steps)} SGD steps of "
        f"{task.accumulation} accumulated micro-batches (the last step: "
        f"{task.accumulation - 1}), on {task.world} torch.distributed gloo ranks under DDP.\n"
        f"Each step: {_rl_task.GROUPS} prompts x {_rl_task.GROUP_SIZE} completions of 1-"
        f"{_rl_task.MAX_LENGTH} tokens ({masked} of {completions} completions fully masked), "
        f"packed into rows of {_rl_task.ROW} with segment ids, groups spread over ranks and "
        f"micro-batches; valid tokens per rank in step 1: {tokens}.\n"
        "Each run is compared with one process training on the whole step with the mode's "
        "coefficients from a float64 NumPy oracle.\n"
        "  losskit plan:         losskit.aggregation.plan over the rank's window, Plan.loss\n"
        "  local: aggregate / K: each micro-batch aggregated alone, divided by K\n"
        "  <name>:               the published formula of losskit.testing.published_bugs() "
        "that claims the mode,\n"
        "                        run per rank and micro-batch (sources: docs/audit.md)\n"
    )


def _notes(found: list[Row]) -> list[str]:
    from losskit._demo._rl_train import NOT_RUN
    from losskit.testing import published_bugs

    bugs = {bug.name: bug for bug in published_bugs()}
    notes = [
        f"{row.name} is exact on these data: {bugs[row.name].what}"
        for row in found
        if row.name in bugs and row.verdict == "exact"
    ]
    notes += [f"not run: {name}: {why}" for name, why in NOT_RUN.items()]
    return notes


def run(png: str = "losskit-demo-rl.png", out: TextIO = sys.stdout) -> int:
    """Run the RL scenario; 0 if losskit's run matches one process in every mode, else 1."""
    start = time.monotonic()
    if missing(("torch", "tqdm", "matplotlib"), out):
        return 2
    task = _rl_task.make_task()
    print(_describe(task), file=out)
    references, runs = _runs(task)
    found = rows(references, runs)
    print("\n".join(table(found)), file=out)
    print("\n".join(["", *_notes(found)]), file=out)
    path = Path(png)
    _plot(found, path, f"losskit demo --scenario rl: drift from one process, {task.world} ranks")
    losskit = [row.worst for row in found if row.losskit]
    worst = math.nan if any(math.isnan(w) for w in losskit) else max(losskit)
    print(
        f"\nlargest parameter difference from one process: losskit {worst:.2e}"
        f"\nplot: {path.resolve()}   ({time.monotonic() - start:.0f} s)",
        file=out,
    )
    return verdict(worst, out, what="the single-process objective in every mode")
