"""The demo's task: deterministic synthetic token classification with uneven shards.

Every optimizer step has a global batch of variable-length sequences, split over
``replicas`` ranks and up to ``accumulation`` micro-batches per rank, with different
example counts and lengths on every rank (the last step is a partial window).
"""

from __future__ import annotations

import dataclasses

import numpy as np

VOCAB, TOKENS, CLASSES, EMBED, HIDDEN = 20, 10, 5, 8, 16
KERNEL_L2 = 1e-3  # kernel regularizer: L2 on both dense kernels
ACTIVITY_L1 = 1e-3  # activity regularizer: L1 on the hidden layer's output (Keras: / examples)
LEARNING_RATE = 0.5


@dataclasses.dataclass(frozen=True)
class Shard:
    tokens: np.ndarray  # [n, TOKENS] int64
    labels: np.ndarray  # [n, TOKENS] int64
    mask: np.ndarray  # [n, TOKENS] float64, 1 for real tokens


@dataclasses.dataclass(frozen=True)
class Plan:
    replicas: int
    accumulation: int
    steps: int
    shards: list[list[list[Shard]]]  # [step][replica][micro-batch]

    def global_batch(self, step: int) -> Shard:
        pieces = [mb for rank in self.shards[step] for mb in rank]
        return Shard(
            *(np.concatenate([getattr(p, f) for p in pieces]) for f in ("tokens", "labels", "mask"))
        )


def _examples(rng: np.random.Generator, n: int) -> Shard:
    tokens = rng.integers(0, VOCAB, size=(n, TOKENS))
    previous = np.concatenate([np.zeros((n, 1), dtype=tokens.dtype), tokens[:, :-1]], axis=1)
    labels = (tokens + 2 * previous) % CLASSES
    noisy = rng.random((n, TOKENS)) < 0.1
    labels = np.where(noisy, rng.integers(0, CLASSES, size=(n, TOKENS)), labels)
    lengths = rng.integers(1, TOKENS + 1, size=n)
    mask = (np.arange(TOKENS)[None, :] < lengths[:, None]).astype(np.float64)
    return Shard(tokens.astype(np.int64), labels.astype(np.int64), mask)


def make_plan(replicas: int, *, accumulation: int = 3, steps: int = 12, seed: int = 0) -> Plan:
    """Rank r holds about ``2 + 3 r`` examples per micro-batch: very uneven shards."""
    rng = np.random.default_rng(seed)
    shards = []
    for step in range(steps):
        window = accumulation if step < steps - 1 else max(1, accumulation - 1)
        shards.append(
            [
                [_examples(rng, int(2 + 3 * r + rng.integers(0, 3))) for _ in range(window)]
                for r in range(replicas)
            ]
        )
    return Plan(replicas, accumulation, steps, shards)


def initial_params(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "embed": rng.normal(0, 0.5, size=(VOCAB, EMBED)),
        "w1": rng.normal(0, 0.4, size=(EMBED, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "w2": rng.normal(0, 0.4, size=(HIDDEN, CLASSES)),
        "b2": np.zeros(CLASSES),
    }


PARAM_NAMES = ("embed", "w1", "b1", "w2", "b2")
KERNELS = ("w1", "w2")
