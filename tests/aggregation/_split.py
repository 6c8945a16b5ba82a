"""Context-parallel layouts for the tests: whole-sequence micro-batches split along T over
the ranks of each sequence group, and the oracle's coefficients carried to the shards.

A split keeps every row: row b of micro-batch k is the same sequence on every shard of the
group, each shard holding some of its columns (contiguous blocks, or the load-balanced
"zigzag" of 2 x shards chunks, or any permutation of equal-sized column sets), so a shard
may hold no valid token of a sequence. Packed segment ids travel with their columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.aggregation import _layouts, _oracle

Layout = _oracle.Layout


def columns(rng: np.random.Generator, length: int, shards: int, how: str) -> list[np.ndarray]:
    """The columns of a ``length``-wide row that each shard holds (equal counts)."""
    assert length % shards == 0, (length, shards)
    if how == "contiguous":
        return list(np.arange(length).reshape(shards, -1))
    if how == "zigzag":  # chunks c and 2 * shards - 1 - c on shard c
        assert length % (2 * shards) == 0, (length, shards)
        chunks = np.arange(length).reshape(2 * shards, -1)
        return [np.concatenate([chunks[c], chunks[2 * shards - 1 - c]]) for c in range(shards)]
    return list(np.sort(rng.permutation(length).reshape(shards, -1), axis=1))


def split(
    whole: Layout, shards: int, rng: np.random.Generator, how: str
) -> tuple[Layout, list[list[np.ndarray]]]:
    """``whole[d][k]`` (data replica d) split into ``sharded[d * shards + c][k]``; also each
    piece's column positions in the whole row."""
    sharded: Layout = []
    positions: list[list[np.ndarray]] = []
    for batches in whole:
        cuts = [columns(rng, mb["mask"].shape[1], shards, how) for mb in batches]
        for c in range(shards):
            pieces, places = [], []
            for mb, cut in zip(batches, cuts, strict=True):
                taken = cut[c]
                piece = {"mask": mb["mask"][:, taken], "seg": None, "group": mb["group"]}
                if mb["seg"] is not None:
                    piece["seg"] = mb["seg"][:, taken]
                    piece["group"] = mb["group"][:, taken]
                pieces.append(piece)
                places.append(np.broadcast_to(taken, mb["mask"].shape[:1] + taken.shape).copy())
            sharded.append(pieces)
            positions.append(places)
    return sharded, positions


def coefficients(
    whole: Layout,
    positions: list[list[np.ndarray]],
    shards: int,
    mode: str,
    *,
    count_empty: bool,
    max_length: float,
) -> list[list[np.ndarray]]:
    """The unsharded oracle's c_t, carried to each shard's columns."""
    c = _oracle.coefficients(whole, mode, count_empty=count_empty, max_length=max_length)
    return carry(c, positions, shards)


def carry(
    values: list[list[np.ndarray]], positions: list[list[np.ndarray]], shards: int
) -> list[list[np.ndarray]]:
    """Per-token ``values[d][k]`` of the whole rows (``[B, T, ...]``) carried to each
    shard's columns: ``out[d * shards + c][k]``."""

    def take(value: np.ndarray, place: np.ndarray) -> np.ndarray:
        return np.take_along_axis(value, place.reshape(place.shape + (1,) * (value.ndim - 2)), 1)

    return [
        [take(values[r // shards][k], place) for k, place in enumerate(row)]
        for r, row in enumerate(positions)
    ]


def layout(
    seed: int,
    data: int,
    shards: int,
    present: int,
    *,
    packed: bool,
    num_groups: int,
    how: str = "random",
    density: float = 0.7,
) -> tuple[Layout, Layout, list[list[np.ndarray]]]:
    """A random whole layout (``data`` replicas x ``present`` micro-batches, rows of
    ``2 * shards * m`` tokens), its split, and the split's positions."""
    rng = np.random.default_rng(seed)
    whole = []
    for _ in range(data):
        batches = []
        for _ in range(present):
            rows = int(rng.integers(0, 4))
            length = 2 * shards * int(rng.integers(1, 4))
            batches.append(
                _layouts.micro_batch(
                    rng, rows, length, packed=packed, num_groups=num_groups, density=density
                )
            )
        whole.append(batches)
    sharded, positions = split(whole, shards, rng, how)
    return whole, sharded, positions


def arrays(piece: dict[str, Any], convert: Any) -> dict[str, Any]:
    return {key: None if value is None else convert(value) for key, value in piece.items()}
