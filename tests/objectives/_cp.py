"""Context-parallel windows for the objective tests: one global batch of whole rows, cut in
order into R data replicas x micro-batches, each micro-batch split along T over the ranks of
a sequence group (``tests/aggregation/_split.py``). Every cut holds the same sequences, so
the single-device objective, and each term's coefficient on every token, is the same for
every layout. Tensor replicas run the same data in a data group of their own.

Rows carry a second mask (``positive``: some whole rows of the mask, for a side term), each
token's expert in every router layer (``expert``, ``[B, T, layers]``) and its loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from losskit.testing import run_replicas
from tests.aggregation import _layouts, _split
from tests.objectives import _windows

LENGTH, LAYERS, EXPERTS, GROUPS = 8, 2, 3, 3  # a whole row: 2 x 2 zigzag chunks per shard


@dataclasses.dataclass(frozen=True)
class Window:
    """One layout of the global batch: ``whole[d][k]`` (data replica d) and
    ``sharded[r][k]`` (rank ``r = d * shards + c``), with each piece's columns."""

    shards: int
    whole: list[list[dict[str, Any]]]
    sharded: list[list[dict[str, Any]]]
    positions: list[list[np.ndarray]]

    def carried(self, key: str) -> list[list[np.ndarray]]:
        """The rows' per-token ``key`` (``positive``, ``expert``, ``loss``) on each rank."""
        return _split.carry(
            [[mb[key] for mb in row] for row in self.whole], self.positions, self.shards
        )

    def coefficients(
        self,
        mode: str,
        *,
        positive: bool = False,
        count_empty: bool = False,
        max_length: float = 1.0,
    ) -> list:
        """The single-device c_t of ``mode`` (over the ``positive`` mask if asked) on each
        rank's tokens (float64 oracle)."""
        whole = self.whole
        if positive:
            whole = [[{**mb, "mask": mb["positive"]} for mb in row] for row in whole]
        return _split.coefficients(
            whole, self.positions, self.shards, mode, count_empty=count_empty, max_length=max_length
        )


def rows(seed: int, count: int, *, packed: bool, density: float) -> dict[str, np.ndarray]:
    """``count`` whole rows of ``LENGTH`` tokens (padded or packed, empty sequences), a
    ``positive`` mask, each token's ``expert`` per layer and its ``loss`` (garbage where
    masked)."""
    rng = np.random.default_rng(seed)
    batch = _layouts.micro_batch(
        rng, count, LENGTH, packed=packed, num_groups=GROUPS, density=density
    )
    batch["positive"] = batch["mask"] & (rng.random((count, 1)) < 0.5)
    batch["expert"] = rng.integers(0, EXPERTS, (count, LENGTH, LAYERS))
    batch["loss"] = _layouts.losses(seed, [[batch]])[0][0]
    return batch


def cut(batch: dict[str, np.ndarray], present: list[int], shards: int, *, seed: int) -> Window:
    """``batch``'s rows cut in order into ``present[d]`` micro-batches for data replica d
    (some may be empty), each split over ``shards`` ranks ("zigzag" columns)."""
    pieces = np.array_split(np.arange(batch["mask"].shape[0]), sum(present))
    whole, start = [], 0
    for count in present:
        whole.append(
            [
                {key: None if value is None else value[rows_] for key, value in batch.items()}
                for rows_ in pieces[start : start + count]
            ]
        )
        start += count
    sharded, positions = _split.split(whole, shards, np.random.default_rng(seed), "zigzag")
    return Window(shards, whole, sharded, positions)


def draw_rows_and_engine(draw: Any) -> dict[str, Any]:
    """The hypothesis draws every layout test shares: the global batch's rows (``rows``,
    ``packed``, ``density``, ``seed``) and the engine (``gradients``, ``accumulation``)."""
    return {
        "rows": draw(st.integers(0, 10)),
        "packed": draw(st.booleans()),
        "density": draw(st.sampled_from([0.0, 0.4, 0.8, 1.0])),
        "gradients": draw(st.sampled_from(["sum", "mean"])),
        "accumulation": draw(st.sampled_from(["sum", "mean"])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def expert_counts(expert: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[layers, experts]`` routing counts of the valid tokens (top-1)."""
    chosen = np.eye(EXPERTS)[expert] * mask[..., None, None]  # [B, T, L, E]
    return chosen.sum((0, 1))


def balance_weights(counts: np.ndarray) -> np.ndarray:
    """E f_le / T_l from global ``[L, E]`` counts (top-1), by the definition."""
    assigned = counts.sum(-1, keepdims=True)
    return EXPERTS * np.where(assigned > 0, counts / np.maximum(assigned, 1) ** 2, 0)


def run_tensor_replicas(
    replica: Callable[[int, list[int]], Any], step: dict[str, Any], tensor: int
) -> tuple[list[list[Any]], float]:
    """``replica(r, calls)`` on every tensor coordinate: each one a data x context group of
    its own (the group passed to the engine leaves the tensor replicas out), its
    collectives counted; and the engine division (over the data x context ranks)."""
    found = [_windows.run_counted(replica, step) for _ in range(tensor)]
    return [results for results, _ in found], found[0][1]


def naive_tensor_group(
    replica: Callable[[int], Any], step: dict[str, Any], tensor: int
) -> list[Any]:
    """``replica(r)`` with the tensor replicas **inside** the context's group (the world
    as the group): ranks ``(d * tensor + t) * shards + c`` hold data replica d's shard c."""
    shards = step["shards"]

    def rank(r: int) -> Any:
        d, c = r // (shards * tensor), r % shards
        return replica(d * shards + c)

    return run_replicas(
        rank,
        step["replicas"] * tensor,
        gradients=step["gradients"],
        accumulation_steps=step["steps"],
        accumulation=step["accumulation"],
        sequence_shards=shards,
    )
