"""``losskit demo``: train the same regularized model on one process and on several ranks,
with losskit's normalization and with the usual local means, and compare the parameters."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from losskit._demo import _task

TOLERANCE = 1e-9  # float64 parameters: losskit's run must match one process this closely
WORLD = 4


def _torch_runs(plan: _task.Plan) -> dict[str, dict[str, list[Any]]]:
    from tqdm import tqdm

    from losskit._demo import _torch_train
    from losskit.testing import run_processes

    with tqdm(total=plan.steps, desc="single process", file=sys.stderr, leave=False) as bar:
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
    single = np.asarray(runs["single"]["params"])
    drift = {
        m: np.max(np.abs(np.asarray(runs[m]["params"]) - single), axis=1)
        for m in ("losskit", "naive")
    }
    lines = [
        f"{'step':>4}  {'loss (1 process)':>16}  {'loss (losskit)':>14}  {'loss (naive)':>12}  "
        f"{'max |dparam| losskit':>20}  {'max |dparam| naive':>18}"
    ]
    for step, reference in enumerate(runs["single"]["losses"]):
        lines.append(
            f"{step + 1:>4}  {reference:>16.10f}  {runs['losskit']['losses'][step]:>14.10f}  "
            f"{runs['naive']['losses'][step]:>12.6f}  {drift['losskit'][step]:>20.2e}  "
            f"{drift['naive'][step]:>18.2e}"
        )
    return lines, float(np.max(drift["losskit"]))


def _plot(runs: dict[str, dict[str, list[Any]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    single = np.asarray(runs["single"]["params"])
    steps = np.arange(1, len(runs["single"]["losses"]) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in (("single", "k-"), ("losskit", "C0--"), ("naive", "C3:")):
        left.plot(steps, runs[name]["losses"], style, label=name, linewidth=2)
    left.set(xlabel="optimizer step", ylabel="training loss", title="loss")
    left.legend()
    for name, colour in (("losskit", "C0"), ("naive", "C3")):
        drift = np.max(np.abs(np.asarray(runs[name]["params"]) - single), axis=1)
        right.semilogy(steps, np.maximum(drift, 1e-17), color=colour, marker="o", label=name)
    right.set(xlabel="optimizer step", ylabel="max |param - single-process param|", title="drift")
    right.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(engine: str = "torch", png: str = "losskit-demo.png", out: Any = sys.stdout) -> int:
    """Run the demo; 0 if losskit's distributed run matches one process, else 1."""
    start = time.monotonic()
    missing = [
        name for name in (engine, "tqdm", "matplotlib") if importlib.util.find_spec(name) is None
    ]
    if missing:
        print(
            f"losskit demo needs {', '.join(missing)}: pip install 'losskit[demo]' "
            "(or run `make demo`, which installs everything).",
            file=out,
        )
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
    naive = float(
        np.max(np.abs(np.asarray(runs["naive"]["params"]) - np.asarray(runs["single"]["params"])))
    )
    print(
        f"\nlargest parameter difference from one process: losskit {worst:.2e}, naive {naive:.2e}"
        f"\nplot: {path.resolve()}   ({time.monotonic() - start:.0f} s)",
        file=out,
    )
    if not worst <= TOLERANCE:
        print(f"FAIL: losskit drifted from the single-process run (> {TOLERANCE:g})", file=out)
        return 1
    print(f"OK: losskit's run matches the single-process run within {TOLERANCE:g}.", file=out)
    return 0
