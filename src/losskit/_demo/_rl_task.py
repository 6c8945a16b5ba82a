"""The RL scenario's data: prompt groups of completions of very different lengths, packed
into rows, dealt unevenly over ranks and accumulation micro-batches.

Every optimizer step draws ``GROUPS`` prompts with ``GROUP_SIZE`` completions each, short
(1-4 tokens) or long (12-24), with fixed GRPO-style advantages (rewards normalized within
each prompt group); about one in six completions is fully masked (truncated). The
completions are dealt over ``WORLD`` ranks and ``ACCUMULATION`` micro-batches (the last step
has one fewer: a partial window), rank r about 2**r times as many as rank 0, so prompt groups
spread over ranks and micro-batches. Each micro-batch has two layouts of the same tokens:
packed rows of ``ROW`` positions with segment ids (what losskit and the packed frameworks
see), and one padded row per completion (what the padded frameworks see). Each position
keeps the index of its token in the step, so per-token values move between layouts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from losskit.testing import Layout
from losskit.testing._oracle import target_weights

VOCAB, EMBED = 16, 8
ROW = 32  # packed row width
MAX_LENGTH = 24  # the longest completion; the constant L of seq-mean-token-sum-norm
GROUPS, GROUP_SIZE = 8, 4  # prompts per step, completions per prompt
WORLD, ACCUMULATION, STEPS = 4, 3, 6
MASKED = 0.15  # probability that a completion is fully masked
LEARNING_RATE = 0.5  # per unit of the objective's total coefficient (see Task.learning_rate)
NORM_MODE = "seq-mean-token-sum-norm"


@dataclasses.dataclass(frozen=True)
class Completion:
    group: int
    context: np.ndarray  # [n] int64: the token before each position (the prompt's first)
    target: np.ndarray  # [n] int64
    advantage: float
    valid: bool  # False: every token masked
    first: int  # index of its first token in the step


@dataclasses.dataclass(frozen=True)
class Batch:
    """One micro-batch (or the whole step) in one layout: ``[B, T]`` arrays.

    ``index`` is each position's token index in the step (-1 for padding);
    ``group_ids`` is ``[B]`` for padded rows, ``[B, T]`` for packed ones;
    ``segment_ids`` is None for padded rows.
    """

    context: np.ndarray
    target: np.ndarray
    advantage: np.ndarray
    mask: np.ndarray
    index: np.ndarray
    group_ids: np.ndarray
    segment_ids: np.ndarray | None

    @property
    def packed(self) -> bool:
        return self.segment_ids is not None

    def place(self, values: np.ndarray) -> np.ndarray:
        """Per-token ``values`` of the step (indexed by token) in this layout; 0 on padding."""
        return np.where(self.index >= 0, values[np.maximum(self.index, 0)], 0.0)


@dataclasses.dataclass(frozen=True)
class Slot:
    """One rank's micro-batch, in both layouts."""

    packed: Batch
    padded: Batch

    def layout(self, packed: bool) -> Batch:
        return self.packed if packed else self.padded


@dataclasses.dataclass(frozen=True)
class Step:
    shards: list[list[Slot]]  # [rank][micro-batch]
    whole: Batch  # every completion of the step, one padded row each: the single process
    tokens: int  # positions of the step (valid or not)


@dataclasses.dataclass(frozen=True)
class Task:
    steps: list[Step]
    world: int
    accumulation: int

    def learning_rate(self, mode: str) -> float:
        """``LEARNING_RATE`` over the mode's total coefficient on the first step (1 for the
        means, N for token-sum ...), so that every mode takes steps of similar size."""
        return LEARNING_RATE / float(np.sum(reference_weights(self.steps[0], mode)))


def options(mode: str) -> dict[str, Any]:
    """The keyword options of ``plan`` for ``mode`` in this scenario (Dr. GRPO's norm mode
    counts every completion, as verl's configured batch does)."""
    norm = mode == NORM_MODE
    return {
        "num_groups": GROUPS,
        "max_length": MAX_LENGTH if norm else None,
        "count_empty": norm,
    }


def reference_weights(step: Step, mode: str) -> np.ndarray:
    """The coefficients c_t of the single-process objective on ``step.whole``, from the
    float64 NumPy oracle the audit uses (written from the formulas, not from ``plan``)."""
    whole = step.whole
    settings = options(mode)
    layout = Layout([[whole.mask]], group_ids=[[whole.group_ids]], num_groups=GROUPS)
    weights = target_weights(
        layout, mode, max_length=settings["max_length"], count_empty=settings["count_empty"]
    )
    return weights[0][0]


def _completions(rng: np.random.Generator) -> list[Completion]:
    found: list[Completion] = []
    first = 0
    for group in range(GROUPS):
        prompt = int(rng.integers(VOCAB))
        rewards = rng.random(GROUP_SIZE)
        advantages = (rewards - rewards.mean()) / (rewards.std() + 1e-6)
        for advantage in advantages:
            short = rng.random() < 0.5
            n = int(rng.integers(1, 5) if short else rng.integers(12, MAX_LENGTH + 1))
            target = rng.integers(0, VOCAB, size=n)
            context = np.concatenate([[prompt], target[:-1]])
            valid = bool(rng.random() >= MASKED)
            found.append(Completion(group, context, target, float(advantage), valid, first))
            first += n
    return found


def _deal(rng: np.random.Generator, completions: list[Completion], window: int) -> list[Any]:
    """``[rank][micro-batch]`` lists of completions: one with a valid token in every
    micro-batch first, the rest at random, rank r weighted 2**r."""
    slots = [(r, k) for r in range(WORLD) for k in range(window)]
    order = rng.permutation(len(completions))
    valid = [i for i in order if completions[i].valid]
    if len(valid) < len(slots):
        raise AssertionError("too few valid completions for every micro-batch")
    dealt: list[list[list[Completion]]] = [[[] for _ in range(window)] for _ in range(WORLD)]
    for (r, k), i in zip(slots, valid, strict=False):
        dealt[r][k].append(completions[i])
    placed = set(valid[: len(slots)])
    rest = [i for i in order if i not in placed]
    weights = np.array([2.0**r for r, _ in slots])
    for i in rest:
        r, k = slots[int(rng.choice(len(slots), p=weights / weights.sum()))]
        dealt[r][k].append(completions[i])
    return dealt


def _empty(rows: int, width: int, packed: bool) -> dict[str, np.ndarray]:
    arrays = {
        "context": np.zeros((rows, width), dtype=np.int64),
        "target": np.zeros((rows, width), dtype=np.int64),
        "advantage": np.zeros((rows, width)),
        "mask": np.zeros((rows, width)),
        "index": np.full((rows, width), -1, dtype=np.int64),
        "group_ids": np.zeros((rows, width) if packed else rows, dtype=np.int64),
    }
    if packed:
        arrays["segment_ids"] = np.zeros((rows, width), dtype=np.int64)
    return arrays


def _put(arrays: dict[str, np.ndarray], row: int, start: int, c: Completion) -> None:
    span = slice(start, start + len(c.target))
    arrays["context"][row, span] = c.context
    arrays["target"][row, span] = c.target
    arrays["advantage"][row, span] = c.advantage
    arrays["mask"][row, span] = float(c.valid)
    arrays["index"][row, span] = np.arange(c.first, c.first + len(c.target))


def padded(completions: list[Completion]) -> Batch:
    """One row per completion, as wide as the longest."""
    arrays = _empty(len(completions), max(len(c.target) for c in completions), packed=False)
    for row, c in enumerate(completions):
        _put(arrays, row, 0, c)
        arrays["group_ids"][row] = c.group
    return Batch(**arrays, segment_ids=None)


def packed(completions: list[Completion]) -> Batch:
    """First-fit into rows of ``ROW`` positions; segment ids count the completions of a
    row, and a row's padding belongs to its last completion (its mask is 0 there)."""
    rows: list[list[Completion]] = []
    for c in completions:
        room = next((r for r in rows if sum(len(o.target) for o in r) + len(c.target) <= ROW), None)
        if room is None:
            rows.append([c])
        else:
            room.append(c)
    arrays = _empty(len(rows), ROW, packed=True)
    for row, members in enumerate(rows):
        start = 0
        for segment, c in enumerate(members):
            _put(arrays, row, start, c)
            arrays["segment_ids"][row, start:] = segment
            arrays["group_ids"][row, start:] = c.group
            start += len(c.target)
    return Batch(**arrays)


def make_task(*, seed: int = 0, steps: int = STEPS) -> Task:
    """The scenario's optimizer steps (deterministic)."""
    rng = np.random.default_rng(seed)
    made = []
    for s in range(steps):
        window = ACCUMULATION if s < steps - 1 else ACCUMULATION - 1
        completions = _completions(rng)
        dealt = _deal(rng, completions, window)
        shards = [[Slot(packed(mb), padded(mb)) for mb in rank] for rank in dealt]
        tokens = completions[-1].first + len(completions[-1].target)
        made.append(Step(shards, padded(completions), tokens))
    return Task(made, WORLD, ACCUMULATION)
