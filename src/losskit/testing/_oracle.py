"""The single-device objective of each aggregation mode, as float64 coefficients c_t.

A private NumPy oracle for the audit, written from the formulas of issue #12 and
independent of the planner: it sees the whole step at once (every replica, every
micro-batch) and computes each valid token's coefficient directly from the global
counts. Masked positions get 0; a step without valid tokens gets 0 everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from losskit._errors import invalid
from losskit.aggregation._aliases import CANONICAL_MODES
from losskit.testing._layout import Layout

__all__ = ["check_target", "target_weights"]

_GROUP_MODES = ("group-token-mean", "group-seq-mean")


def check_target(layout: Layout, mode: str, max_length: Any) -> None:
    """Raise ``ValueError`` if ``mode`` cannot be computed on ``layout``."""
    if mode not in CANONICAL_MODES:
        raise ValueError(invalid("mode", f"one of {CANONICAL_MODES}", mode))
    if mode == "seq-mean-token-sum-norm" and (
        isinstance(max_length, bool)
        or not isinstance(max_length, (int, float, np.integer, np.floating))
        or not max_length > 0
    ):
        raise ValueError(invalid("max_length", f"a positive number for mode={mode!r}", max_length))
    if mode in _GROUP_MODES and layout.group_ids is None:
        raise ValueError(
            invalid("layout", f"a layout with group_ids and num_groups for mode={mode!r}", None)
        )


def target_weights(
    layout: Layout, mode: str, *, max_length: Any = None, count_empty: bool = False
) -> list[list[np.ndarray]]:
    """``c[r][k]``: the coefficient of each position of replica r's micro-batch k. The
    shards of a sequence group hold parts of the same sequences; copies (``replicas``)
    get the coefficients of the tokens they copy."""
    check_target(layout, mode, max_length)
    index, groups, masks, counted = _sequences(layout)
    flat_index = np.concatenate([i.ravel() for i in index]) if index else np.zeros(0, int)
    flat_mask = np.concatenate([m.ravel() for m in counted]) if counted else np.zeros(0)
    count = len(groups)
    n = np.bincount(flat_index, weights=flat_mask, minlength=count)
    live = n > 0
    coefficient = _per_sequence(
        mode, n, live, np.asarray(groups, dtype=np.int64), count_empty, max_length
    )
    return _unflatten(layout, [m * coefficient[i] for m, i in zip(masks, index, strict=True)])


def _per_sequence(
    mode: str,
    n: np.ndarray,
    live: np.ndarray,
    groups: np.ndarray,
    count_empty: bool,
    max_length: Any,
) -> np.ndarray:
    total = n.sum()
    if total == 0:
        return np.zeros_like(n)
    safe_n = np.where(live, n, 1.0)
    sequences = float(live.size if count_empty else live.sum())
    if mode == "token-mean":
        return np.full_like(n, 1.0 / total)
    if mode == "token-sum":
        return np.ones_like(n)
    if mode == "seq-mean-token-mean":
        return 1.0 / (sequences * safe_n)
    if mode == "seq-mean-token-sum":
        return np.full_like(n, 1.0 / sequences)
    if mode == "seq-mean-token-sum-norm":
        return np.full_like(n, 1.0 / (sequences * float(max_length)))
    present = np.unique(groups)
    group_tokens = {g: n[groups == g].sum() for g in present.tolist()}
    group_members = {
        g: float(np.sum(groups == g) if count_empty else np.sum(live & (groups == g)))
        for g in present.tolist()
    }
    num_groups = float(present.size if count_empty else sum(v > 0 for v in group_tokens.values()))
    result = np.zeros_like(n)
    for i, g in enumerate(groups.tolist()):
        if not live[i]:
            continue
        if mode == "group-token-mean":
            result[i] = 1.0 / (num_groups * group_tokens[g])
        else:  # group-seq-mean
            result[i] = 1.0 / (num_groups * group_members[g] * n[i])
    return result


def _sequences(
    layout: Layout,
) -> tuple[list[np.ndarray], list[int], list[np.ndarray], list[np.ndarray]]:
    """Per piece: each position's global sequence number (the same on every shard of a
    sequence group and on every copy); each sequence's group (0 if none); the masks as
    float64; the masks that count (a copy's count nothing: its tokens are the original's)."""
    numbers: dict[tuple[int, ...], int] = {}
    index: list[np.ndarray] = []
    groups: list[int] = []
    masks: list[np.ndarray] = []
    counted: list[np.ndarray] = []
    for r, k, mask, segments, group_ids in layout.pieces():
        rows, width = mask.shape
        local = np.zeros((rows, width), dtype=np.int64)
        for row in range(rows):
            ids = np.zeros(width, dtype=np.int64) if segments is None else segments[row]
            values = np.unique(ids) if segments is not None else np.zeros(1, dtype=np.int64)
            for value in values.tolist():  # a padded row is one sequence, even with T = 0
                key = (layout.data_index(r), k, row, int(value))
                if key not in numbers:
                    numbers[key] = len(groups)
                    if group_ids is None:
                        groups.append(0)
                    elif segments is None:
                        groups.append(int(group_ids[row]))
                    else:
                        groups.append(int(group_ids[row][ids == value][0]))
                local[row][ids == value] = numbers[key]
        index.append(local)
        masks.append(np.asarray(mask, dtype=np.float64))
        counted.append(masks[-1] if layout.replica_index(r) == 0 else np.zeros_like(masks[-1]))
    return index, groups, masks, counted


def _unflatten(layout: Layout, pieces: list[np.ndarray]) -> list[list[np.ndarray]]:
    k = layout.micro_steps
    return [pieces[r * k : (r + 1) * k] for r in range(layout.num_ranks)]
