"""``losskit demo``: train the same model on one process and on several ranks, with
losskit's normalization and with the usual local ones, and compare the parameters.

The default scenario (``tagger``, below) trains a regularized token tagger; ``rl``
(``_rl.py``) trains a tiny policy in every aggregation mode of ``losskit.aggregation``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from losskit._demo import _task
from losskit._demo._report import (
    WORLD,
    drift,
    figure,
    missing,
    plot_drift,
    progress,
    verdict,
)
from losskit._errors import invalid

__all__ = ["SCENARIOS", "run"]


def _torch_runs(plan: _task.Plan) -> dict[str, dict[str, list[Any]]]:
    from losskit._demo import _torch_train
    from losskit.testing import run_processes

    with progress(plan.steps, "single process") as bar:
        losses, params = _torch_train.train_single(plan, bar)
    runs: dict[str, dict[str, list[Any]]] = {"single": {"losses": losses, "params": params}}
    ranks = run_processes(_torch_train.train_both, WORLD, args=(plan,), timeout=100)
    runs.update(ranks[0])
    return runs


def _jax_runs() -> dict[str, dict[str, list[Any]]]:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    completed = subprocess.run(
        [sys.executable, "-m", "losskit._demo._jax_train"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        timeout=110,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the JAX run failed (exit code {completed.returncode})")
    runs: dict[str, dict[str, list[Any]]] = json.loads(completed.stdout)
    return runs


def _table(runs: dict[str, dict[str, list[Any]]], replicas: str) -> tuple[list[str], float]:
    drifts = {m: drift(runs[m]["params"], runs["single"]["params"]) for m in ("losskit", "naive")}
    lines = [
        f"{'step':>4}  {'loss (1 process)':>16}  {'loss (losskit)':>14}  {'loss (naive)':>12}  "
        f"{'max |dparam| losskit':>20}  {'max |dparam| naive':>18}"
    ]
    for step, reference in enumerate(runs["single"]["losses"]):
        lines.append(
            f"{step + 1:>4}  {reference:>16.10f}  {runs['losskit']['losses'][step]:>14.10f}  "
            f"{runs['naive']['losses'][step]:>12.6f}  {drifts['losskit'][step]:>20.2e}  "
            f"{drifts['naive'][step]:>18.2e}"
        )
    return lines, float(np.max(drifts["losskit"]))


def _plot(runs: dict[str, dict[str, list[Any]]], path: Path, title: str) -> None:
    with figure(path, title, 1, 2, (11, 4)) as axes:
        left, right = axes[0]
        steps = np.arange(1, len(runs["single"]["losses"]) + 1)
        for name, style in (("single", "k-"), ("losskit", "C0--"), ("naive", "C3:")):
            left.plot(steps, runs[name]["losses"], style, label=name, linewidth=2)
        left.set(xlabel="optimizer step", ylabel="training loss", title="loss")
        left.legend()
        for name, colour in (("losskit", "C0"), ("naive", "C3")):
            values = drift(runs[name]["params"], runs["single"]["params"])
            plot_drift(right, values, name, color=colour, marker="o")
        right.set(title="drift")
        right.legend()


SCENARIOS = ("tagger", "rl")


def run(
    engine: str = "torch",
    png: str | None = None,
    out: Any = sys.stdout,
    scenario: str = "tagger",
) -> int:
    """Run a scenario: ``"tagger"`` (a regularized token tagger; ``engine`` ``"torch"`` or
    ``"jax"``) or ``"rl"`` (every aggregation mode on a tiny RL policy, torch only); 0 if
    losskit's distributed run matches one process, else 1 (2: a requirement is missing)."""
    if scenario not in SCENARIOS:
        raise ValueError(invalid("scenario", f"one of {SCENARIOS}", scenario))
    if scenario == "rl":
        from losskit._demo import _rl

        return _rl.run(png or "losskit-demo-rl.png", out)
    return _tagger(engine, png or "losskit-demo.png", out)


def _tagger(engine: str, png: str, out: Any) -> int:
    start = time.monotonic()
    if missing((engine, "tqdm", "matplotlib"), out):
        return 2
    if engine == "torch":
        plan = _task.make_plan(WORLD)
        where = f"{WORLD} torch.distributed gloo processes (DDP averages gradients)"
        runs = _torch_runs(plan)
    else:
        plan = _task.make_plan(8)
        where = "8 JAX CPU devices under shard_map (pmean of gradients)"
        runs = _jax_runs()
    print(
        f"losskit demo: token tagger, kernel L2 {_task.KERNEL_L2:g} + activity L1 "
        f"{_task.ACTIVITY_L1:g}, {plan.steps} SGD steps of {plan.accumulation} accumulated "
        f"micro-batches (the last step: {plan.accumulation - 1}), uneven shards "
        f"(token counts per replica and step: "
        f"{[int(sum(mb.mask.sum() for mb in rank)) for rank in plan.shards[0]]} in step 1), "
        f"on {where}, against one process on the whole batch.\n",
        file=out,
    )
    lines, worst = _table(runs, where)
    print("\n".join(lines), file=out)
    path = Path(png)
    _plot(runs, path, f"losskit demo ({engine}): one process vs {where}")
    naive = float(np.max(drift(runs["naive"]["params"], runs["single"]["params"])))
    print(
        f"\nlargest parameter difference from one process: losskit {worst:.2e}, naive {naive:.2e}"
        f"\nplot: {path.resolve()}   ({time.monotonic() - start:.0f} s)",
        file=out,
    )
    return verdict(worst, out, what="the single-process run")
