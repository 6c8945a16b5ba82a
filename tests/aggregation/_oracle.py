"""The single-device objective of every aggregation mode, written from the definitions
(float64 NumPy and Python loops over sequences), independently of losskit's vectorised code.

A layout is ``layout[r][k]``: replica r's micro-batch k, a dict with ``mask`` (bool
``[B, T]``), ``seg`` (packed: ``[B, T]`` ids, or None: padded) and ``group`` (``[B]``
padded, ``[B, T]`` packed, or None).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Layout = list[list[dict[str, Any]]]


def _sequences(layout: Layout) -> dict[tuple[int, ...], dict[str, Any]]:
    """Every sequence of the step: (r, k, row, id) -> its valid tokens and group."""
    found: dict[tuple[int, ...], dict[str, Any]] = {}
    for r, batches in enumerate(layout):
        for k, mb in enumerate(batches):
            mask, seg, group = mb["mask"], mb["seg"], mb["group"]
            rows, length = mask.shape
            for row in range(rows):
                if seg is None:  # a padded row is a sequence, even with no position
                    g = None if group is None else int(group[row])
                    found[(r, k, row, 0)] = {"valid": 0, "group": g}
                for t in range(length):
                    key = (r, k, row, 0 if seg is None else int(seg[row, t]))
                    g = None if group is None or seg is None else int(group[row, t])
                    entry = found.setdefault(key, {"valid": 0, "group": g})
                    if seg is not None:
                        assert entry["group"] == g, "one group per sequence"
                    entry["valid"] += int(mask[row, t])
    return found


def coefficients(
    layout: Layout, mode: str, *, count_empty: bool = False, max_length: float = 1.0
) -> list[list[np.ndarray]]:
    """c_t for every token of the step, shaped like the layout's masks (0 where masked)."""
    seqs = _sequences(layout)
    counted = [key for key, s in seqs.items() if count_empty or s["valid"] > 0]
    total_tokens = sum(s["valid"] for s in seqs.values())
    num_sequences = len(counted)
    groups_counted = {seqs[key]["group"] for key in counted}
    group_tokens: dict[Any, int] = {}
    group_sequences: dict[Any, int] = {}
    for s in seqs.values():
        group_tokens[s["group"]] = group_tokens.get(s["group"], 0) + s["valid"]
    for key in counted:
        g = seqs[key]["group"]
        group_sequences[g] = group_sequences.get(g, 0) + 1
    out = []
    for r, batches in enumerate(layout):
        row_out = []
        for k, mb in enumerate(batches):
            mask, seg = mb["mask"], mb["seg"]
            c = np.zeros(mask.shape)
            for (row, t), valid in np.ndenumerate(mask):
                if not valid:
                    continue
                s = seqs[(r, k, row, 0 if seg is None else int(seg[row, t]))]
                n, g = s["valid"], s["group"]
                if mode == "token-mean":
                    c[row, t] = 1 / total_tokens
                elif mode == "token-sum":
                    c[row, t] = 1.0
                elif mode == "seq-mean-token-mean":
                    c[row, t] = 1 / (num_sequences * n)
                elif mode == "seq-mean-token-sum":
                    c[row, t] = 1 / num_sequences
                elif mode == "seq-mean-token-sum-norm":
                    c[row, t] = 1 / (num_sequences * max_length)
                elif mode == "group-token-mean":
                    c[row, t] = 1 / (len(groups_counted) * group_tokens[g])
                elif mode == "group-seq-mean":
                    c[row, t] = 1 / (len(groups_counted) * group_sequences[g] * n)
                else:
                    raise AssertionError(mode)
            row_out.append(c)
        out.append(row_out)
    return out


def objective(coefficients: list[list[np.ndarray]], losses: list[list[np.ndarray]]) -> float:
    """sum_t c_t l_t over the valid tokens (masked losses may be NaN: they are skipped)."""
    total = 0.0
    for c_r, l_r in zip(coefficients, losses, strict=True):
        for c, values in zip(c_r, l_r, strict=True):
            total += float(np.sum(np.where(c != 0, c * np.nan_to_num(values), 0.0)))
    return total
