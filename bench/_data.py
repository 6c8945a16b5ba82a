"""The benchmark inputs, generated identically in every worker process, and float64 references.

Losses are exponential(1) like cross-entropy values (positive, so a relative error of the sum
is meaningful), weights are uniform in [0, 2) with 10% exact zeros (so ``count_nonzero`` has
work to do). The token case has per-sequence weights ``[B, 1]`` or a padding mask ``[B, T]``
of ones followed by zeros (random lengths). Everything is float32 and C-contiguous.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np

SEED = 20251122
N_LARGE = 1 << 24  # 16M float32 = 64 MiB per array
TOKENS = (1024, 4096)  # [batch, sequence]
N_SMALL = 32


@dataclasses.dataclass(frozen=True)
class Inputs:
    losses: np.ndarray
    weights: np.ndarray
    reference: float  # float64 sum(losses * weights), exact products, pairwise sum

    @property
    def size(self) -> int:
        return int(self.losses.size)


def _reference(losses: np.ndarray, weights: np.ndarray) -> float:
    # float32 * float32 is exact in float64 (48 significant bits); NumPy's pairwise float64
    # sum then has a relative error near 1e-16, far below anything measured here.
    wide = np.broadcast_to(weights, losses.shape).astype(np.float64)
    return float(np.sum(losses.astype(np.float64) * wide))


def _losses(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.exponential(1.0, size=shape).astype(np.float32)


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    w = rng.uniform(0.0, 2.0, size=shape).astype(np.float32)
    w[rng.random(size=shape) < 0.1] = 0.0
    return w


@cache
def large(n: int = N_LARGE) -> Inputs:
    """``[n]`` losses with ``[n]`` sample weights."""
    rng = np.random.default_rng(SEED)
    losses = _losses(rng, (n,))
    weights = _weights(rng, (n,))
    return Inputs(losses, weights, _reference(losses, weights))


@cache
def tokens_row_weights(shape: tuple[int, int] = TOKENS) -> Inputs:
    """``[B, T]`` token losses with ``[B, 1]`` per-sequence weights."""
    rng = np.random.default_rng(SEED + 1)
    losses = _losses(rng, shape)
    weights = _weights(rng, (shape[0], 1))
    return Inputs(losses, weights, _reference(losses, weights))


@cache
def tokens_mask(shape: tuple[int, int] = TOKENS) -> Inputs:
    """``[B, T]`` token losses with a ``[B, T]`` float padding mask (ones, then zeros)."""
    rng = np.random.default_rng(SEED + 2)
    losses = _losses(rng, shape)
    lengths = rng.integers(shape[1] // 4, shape[1] + 1, size=(shape[0], 1))
    mask = (np.arange(shape[1])[None, :] < lengths).astype(np.float32)
    return Inputs(losses, mask, _reference(losses, mask))


@cache
def small(n: int = N_SMALL) -> Inputs:
    rng = np.random.default_rng(SEED + 3)
    losses = _losses(rng, (n,))
    weights = _weights(rng, (n,))
    return Inputs(losses, weights, _reference(losses, weights))
