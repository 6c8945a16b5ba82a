"""Random step layouts for the aggregation tests: R replicas x k micro-batches of padded or
packed rows, with empty sequences, empty micro-batches and groups spread over both."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.aggregation._oracle import Layout


def micro_batch(
    rng: np.random.Generator,
    rows: int,
    length: int,
    *,
    packed: bool,
    num_groups: int,
    density: float,
) -> dict[str, Any]:
    """One micro-batch: each sequence is empty with probability 1/4; packed rows hold up to
    three sequences whose ids (any in [0, length)) need not be contiguous."""
    mask = rng.random((rows, length)) < density
    if not packed:
        mask &= rng.random((rows, 1)) >= 0.25  # whole empty rows
        return {"mask": mask, "seg": None, "group": rng.integers(0, num_groups, rows)}
    ids = np.stack([rng.choice(length, size=3) for _ in range(rows)]) if rows else None
    if ids is None:
        seg = np.zeros((0, length), dtype=np.int64)
        return {"mask": mask, "seg": seg, "group": np.zeros((0, length), dtype=np.int64)}
    slot = rng.integers(0, 3, (rows, length))
    seg = np.take_along_axis(ids, slot, axis=1)
    groups_of = rng.integers(0, num_groups, (rows, 3))
    group = np.zeros((rows, length), dtype=np.int64)
    for row in range(rows):  # one group per (row, id), whichever slot named it
        chosen = {int(i): int(groups_of[row, j]) for j, i in enumerate(ids[row])}
        group[row] = [chosen[int(i)] for i in seg[row]]
        empty = [i for i in chosen if rng.random() < 0.25]
        mask[row, np.isin(seg[row], empty)] = False
    return {"mask": mask, "seg": seg, "group": group}


def layout(
    seed: int,
    replicas: int,
    present: int,
    *,
    packed: bool,
    num_groups: int,
    max_rows: int = 3,
    max_length: int = 5,
    density: float = 0.7,
) -> Layout:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(replicas):
        batches = []
        for _ in range(present):
            rows = int(rng.integers(0, max_rows + 1))  # 0: an empty [0, T] micro-batch
            length = int(rng.integers(1, max_length + 1))
            batches.append(
                micro_batch(
                    rng, rows, length, packed=packed, num_groups=num_groups, density=density
                )
            )
        out.append(batches)
    return out


def losses(seed: int, layout: Layout) -> list[list[np.ndarray]]:
    """Per-token losses, NaN or infinite at masked positions (padding garbage)."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for batches in layout:
        row = []
        for mb in batches:
            values = rng.normal(size=mb["mask"].shape)
            garbage = rng.choice([np.nan, np.inf, -np.inf, 1e308], size=values.shape)
            row.append(np.where(mb["mask"], values, garbage))
        out.append(row)
    return out
