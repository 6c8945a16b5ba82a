"""The RL scenario on PyTorch: a tiny policy, its per-token losses, and the ways of
aggregating them that the demo compares.

* ``LosskitPlan``: ``losskit.aggregation.plan`` over the rank's window (one all-reduce of
  counts), ``Plan.loss`` per micro-batch.
* ``Local``: ``losskit.aggregation.aggregate`` on each micro-batch alone (no engine
  context: local counts), divided by the accumulation steps, as a plain loop does.
* ``Published``: a published framework formula from the audit corpus
  (``losskit.testing.published_bugs()``), run on each rank as its framework runs it: on the
  rank's micro-batch and window (as torch tensors), with the real all-reduce for its
  counts, and backpropagates the formula's value.

The single-process reference trains on the whole step with the coefficients of the float64
NumPy oracle (``_rl_task.reference_weights``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, ClassVar

import numpy as np

from losskit._demo import _rl_task
from losskit._demo._report import progress
from losskit._demo._rl_task import Batch, Task
from losskit.aggregation import MODES
from losskit.testing import MicroStep, PublishedBug, Window, published_bugs

__all__ = [
    "NOT_RUN",
    "Local",
    "LosskitPlan",
    "Published",
    "aggregations",
    "train_rank",
    "train_reference",
]

_BOUND = {  # corpus entries whose formula is bound to their own layout's numbers
    "trl-dapo-generation-batch": "its generation batch spans windows whose tokens are "
    "constants of the corpus layout; here every window is generated on its own",
    "trl-dapo-average-window": "likewise (a generation batch of several windows)",
}


def _why_not_run(bug: PublishedBug) -> str | None:
    if bug.name in _BOUND:
        return _BOUND[bug.name]
    if bug.coefficient != 1.0:
        return (
            "an auxiliary term, audited against its coefficient; this scenario trains the main loss"
        )
    if bug.layout.sequence_shards > 1 or bug.layout.replicas > 1:
        return "its bug needs context-parallel or copied ranks; this scenario is data parallel"
    return None


NOT_RUN = {bug.name: why for bug in published_bugs() if (why := _why_not_run(bug)) is not None}


def policy(torch: Any) -> Any:
    """An embedding of the previous token and a linear head over the vocabulary, float64,
    with the same initial weights in every run."""
    rng = np.random.default_rng(1)
    model = torch.nn.Sequential(
        torch.nn.Embedding(_rl_task.VOCAB, _rl_task.EMBED, dtype=torch.float64),
        torch.nn.Linear(_rl_task.EMBED, _rl_task.VOCAB, dtype=torch.float64),
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.as_tensor(rng.normal(0.0, 0.5, size=tuple(parameter.shape))))
    return model


def snapshot(model: Any) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


def token_losses(torch: Any, model: Any, batch: Batch) -> Any:
    """REINFORCE / GRPO per-token loss: ``-advantage * log pi(token | previous token)``."""
    logp = torch.log_softmax(model(torch.as_tensor(batch.context)), dim=-1)
    chosen = torch.gather(logp, -1, torch.as_tensor(batch.target)[..., None])[..., 0]
    return -torch.as_tensor(batch.advantage) * chosen


# ----------------------------------------------------------------------------- aggregations


@dataclasses.dataclass(frozen=True)
class _OnPackedRows:
    """An aggregation of losskit's, on the packed rows of ``mode``'s runs."""

    mode: str
    packed: ClassVar[bool] = True

    def structure(self, batch: Batch) -> dict[str, Any]:
        """``batch``'s segment and group ids as tensors."""
        import torch

        return {
            "segment_ids": torch.as_tensor(batch.segment_ids),
            "group_ids": torch.as_tensor(batch.group_ids),
        }


class LosskitPlan(_OnPackedRows):
    name: ClassVar[str] = "losskit plan"

    def prepare(self, window: list[Batch]) -> Any:
        """The plan of the rank's window; call it inside the engine's context."""
        import torch

        from losskit.aggregation import plan

        ids = [self.structure(b) for b in window]
        return plan(
            [torch.as_tensor(b.mask) for b in window],
            mode=self.mode,
            segment_ids=[i["segment_ids"] for i in ids],
            group_ids=[i["group_ids"] for i in ids],
            **_rl_task.options(self.mode),
        )

    def loss(self, state: Any, per_token_loss: Any, k: int) -> Any:
        return state.loss(per_token_loss, k)


class Local(_OnPackedRows):
    name: ClassVar[str] = "local: aggregate / K"

    def prepare(self, window: list[Batch]) -> Any:
        return window

    def loss(self, state: Any, per_token_loss: Any, k: int) -> Any:
        import torch

        from losskit.aggregation import aggregate
        from losskit.distribute import replica_context

        batch = state[k]
        with replica_context(1):  # what a loop that knows nothing of the other ranks computes
            value = aggregate(
                per_token_loss,
                torch.as_tensor(batch.mask),
                mode=self.mode,
                **self.structure(batch),
                **_rl_task.options(self.mode),
            )
        return value / _rl_task.ACCUMULATION


@dataclasses.dataclass(frozen=True)
class Published:
    bug: PublishedBug

    @property
    def mode(self) -> str:
        return self.bug.mode

    @property
    def name(self) -> str:
        return self.bug.name

    @property
    def packed(self) -> bool:
        """The layout its corpus entry uses: packed rows, or one padded row per sequence."""
        return self.bug.layout.packed

    def prepare(self, window: list[Batch]) -> Window:
        """What the framework's loss sees of the rank's window (inside an engine context,
        whose all-reduce sums its counts)."""
        from losskit.distribute import get_context

        context = get_context()
        assert context is not None
        assert context.all_reduce is not None
        import torch

        layout = self.bug.layout
        return Window(
            rank=int(context.replica_id),
            num_ranks=context.num_replicas,
            masks=tuple(torch.as_tensor(b.mask) for b in window),
            segment_ids=(
                tuple(torch.as_tensor(b.segment_ids) for b in window) if self.packed else None
            ),
            group_ids=tuple(torch.as_tensor(b.group_ids) for b in window),
            num_groups=_rl_task.GROUPS,
            accumulation_steps=context.accumulation_steps,
            gradients=layout.gradients,
            accumulation=layout.accumulation,
            all_reduce=_counts_all_reduce(context.all_reduce),
        )

    def loss(self, state: Window, per_token_loss: Any, k: int) -> Any:
        step = MicroStep(state, k)
        return self.engine_factor(state) * self.bug.buggy(per_token_loss, step)

    def engine_factor(self, window: Window) -> float:
        """Makes DDP (mean over ranks, micro-steps summed) combine the formula as the engine
        its corpus entry describes does (a sum over ranks for miles-masked-samples)."""
        factor = float(window.num_ranks) if window.gradients == "sum" else 1.0
        return factor / window.accumulation_steps if window.accumulation == "mean" else factor


def _counts_all_reduce(all_reduce: Any) -> Any:
    """The engine's all-reduce for the NumPy counts the corpus's formulas sum."""

    def counts(value: Any) -> Any:
        import torch

        total = np.asarray(all_reduce(torch.as_tensor(np.asarray(value, dtype=np.float64))))
        return float(total) if total.ndim == 0 else total

    return counts


def formulas(mode: str) -> list[PublishedBug]:
    """The corpus entries that claim ``mode`` and run on this scenario's data."""
    return [b for b in published_bugs() if b.mode == mode and b.name not in NOT_RUN]


def aggregations(mode: str) -> list[Any]:
    return [LosskitPlan(mode), Local(mode), *(Published(b) for b in formulas(mode))]


# ----------------------------------------------------------------------------- training


def train_reference(task: Task, mode: str) -> list[np.ndarray]:
    """One process, the whole step at once, the oracle's coefficients: the reference."""
    import torch

    model = policy(torch)
    optimizer = torch.optim.SGD(model.parameters(), lr=task.learning_rate(mode))
    params = []
    for step in task.steps:
        weights = torch.as_tensor(_rl_task.reference_weights(step, mode))
        loss = torch.sum(weights * token_losses(torch, model, step.whole))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        params.append(snapshot(model))
    return params


def _train(rank: int, task: Task, aggregation: Any, bar: Any) -> list[np.ndarray]:
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from losskit.distribute import torch_context

    model = policy(torch)
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=task.learning_rate(aggregation.mode))
    params = []
    for step in task.steps:
        window = [slot.layout(aggregation.packed) for slot in step.shards[rank]]
        optimizer.zero_grad()
        with torch_context(gradients="mean", accumulation_steps=task.accumulation):
            state = aggregation.prepare(window)
            for k, batch in enumerate(window):
                last = k == len(window) - 1
                with contextlib.nullcontext() if last else ddp.no_sync():
                    loss = aggregation.loss(state, token_losses(torch, ddp, batch), k)
                    loss.backward()
        optimizer.step()
        params.append(snapshot(model))
        if bar is not None:
            bar.update(1)
    return params


def train_rank(rank: int, world: int, task: Task) -> dict[str, dict[str, list[np.ndarray]]]:
    """Every aggregation of every mode on this rank (DDP over ``world`` gloo ranks); rank 0
    returns the parameters after each step, ``{mode: {aggregation: [...]}}``."""
    import torch

    torch.set_num_threads(1)
    runs = [(mode, a) for mode in MODES for a in aggregations(mode)]
    bar = progress(len(runs) * len(task.steps), f"{world} gloo ranks", show=rank == 0)
    found: dict[str, dict[str, list[np.ndarray]]] = {mode: {} for mode in MODES}
    for mode, aggregation in runs:
        if bar is not None:
            bar.set_postfix_str(f"{mode}: {aggregation.name}")
        found[mode][aggregation.name] = _train(rank, task, aggregation, bar)
    if bar is not None:
        bar.close()
    return found if rank == 0 else {}
