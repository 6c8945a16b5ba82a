"""The step's counts: taken locally per micro-batch, packed into one vector, and summed over
the replicas with one all-reduce.

A sequence is a row (padded layout) or a ``(row, id)`` pair (packed layout). Its valid
tokens ``n_i`` never leave the replica (a sequence lives in one micro-batch); the global
counts are N (valid tokens), S (sequences), N_g, S_g and the groups present, as integers
made floating (exact in float64 up to 2**53).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.aggregation._inputs import Inputs, MicroBatch

__all__ = [
    "Sequences",
    "add_groups",
    "global_counts",
    "joint_counts",
    "local_counts",
    "sequences",
]


@dataclasses.dataclass(frozen=True)
class Sequences:
    """One micro-batch's sequences: ``valid`` tokens of each (``[B]`` padded; ``[B, stride]``
    packed, indexed by row and id) and, packed with ``count_empty``, ``present`` tokens of
    each (masked or not); 0 for ids that do not occur."""

    valid: Any
    present: Any | None = None

    def per_token(self, xp: ns.Namespace, batch: MicroBatch) -> Any:
        """The valid tokens of each token's sequence: ``[B, 1]`` padded, ``[B, T]`` packed."""
        if not batch.packed:
            return self.valid[:, None]
        return xp.take_along_axis(self.valid, batch.segments, axis=1)


def sequences(xp: ns.Namespace, batch: MicroBatch, *, present: bool) -> Sequences:
    mask = batch.mask
    if not batch.packed:
        return Sequences(xp.count_nonzero(mask, axis=1))
    return Sequences(
        *_backends.of(xp).sequence_counts(xp, batch.segments, mask, batch.stride, present=present)
    )


def local_counts(inputs: Inputs) -> tuple[dict[str, Any], list[Sequences | None]]:
    """This replica's counts for the mode (name -> 0-d or ``[num_groups]`` array of the
    plan's dtype), and each micro-batch's sequences where the mode uses them."""
    xp, mode, dtype = inputs.xp, inputs.mode, inputs.dtype
    parts: dict[str, list[Any]] = {}
    found: list[Sequences | None] = []
    for k, batch in enumerate(inputs.batches):
        seqs = sequences(xp, batch, present=inputs.count_empty) if mode.uses_sequences else None
        found.append(seqs)
        if mode.denominator == "tokens":
            parts.setdefault("tokens", []).append(xp.count_nonzero(batch.mask))
        if mode.denominator == "sequences":
            assert seqs is not None
            parts.setdefault("sequences", []).append(_sequence_count(xp, batch, seqs, inputs))
        if mode.uses_groups:
            for name, count in _group_counts(xp, k, seqs, inputs).items():
                parts.setdefault(name, []).append(count)
    counts = {}
    for name, values in parts.items():
        total = xp.astype(values[0], dtype)
        for value in values[1:]:
            total = total + xp.astype(value, dtype)
        counts[name] = total
    return counts, found


def _sequence_count(xp: ns.Namespace, batch: MicroBatch, seqs: Sequences, inputs: Inputs) -> Any:
    """S of this micro-batch: sequences with a valid token, or with ``count_empty`` every
    row (padded) or every ``(row, id)`` that occurs (packed)."""
    if not inputs.count_empty:
        return xp.count_nonzero(seqs.valid)
    if seqs.present is None:
        return xp.sum(xp.ones_like(seqs.valid))  # the rows (an array: no host constant)
    return xp.count_nonzero(seqs.present)


def _group_counts(
    xp: ns.Namespace, k: int, seqs: Sequences | None, inputs: Inputs
) -> dict[str, Any]:
    """Per-group counts ``[num_groups]``: valid tokens (N_g) and present groups for
    group-token-mean; sequences (S_g) for group-seq-mean."""
    batch = inputs.batches[k]
    groups, size = batch.groups, inputs.num_groups
    discard = size  # count_ids ignores this id
    per_sequence = groups
    if batch.packed and (inputs.mode.group_count == "group_sequences" or _readable(batch)):
        per_sequence = _groups_of_sequences(xp, batch, f"group_ids[{k}]")
    if inputs.mode.group_count == "group_tokens":
        tokens = groups if batch.packed else groups[:, None]
        counts = {
            "group_tokens": _backends.of(xp).count_ids(
                xp, xp.where(batch.mask, tokens, discard), size
            )
        }
        if inputs.count_empty:
            counts["group_present"] = _backends.of(xp).count_ids(xp, groups, size)
        return counts
    assert seqs is not None
    kept = seqs.valid if not inputs.count_empty else seqs.present
    if kept is None:  # padded, count_empty: every row
        return {"group_sequences": _backends.of(xp).count_ids(xp, groups, size)}
    return {
        "group_sequences": _backends.of(xp).count_ids(
            xp, xp.where(kept > 0, per_sequence, discard), size
        )
    }


def _readable(batch: MicroBatch) -> bool:
    return _backends.of(ns.namespace(batch.groups)).host_readable(batch.groups)


def _groups_of_sequences(xp: ns.Namespace, batch: MicroBatch, name: str) -> Any:
    """The group of each packed ``(row, id)``, ``[B, stride]``; where readable, every token
    of a sequence must carry that group."""
    rows, stride = batch.mask.shape[0], batch.stride
    offsets = (
        xp.arange(rows, dtype=batch.groups.dtype, device=_backends.of(xp).device(batch.mask))
        * stride
    )
    found = _backends.of(xp).pick(
        xp, batch.groups, batch.segments + offsets[:, None], rows * stride
    )
    found = xp.reshape(found, (rows, stride))
    if _readable(batch) and rows * batch.mask.shape[1] > 0:
        spread = xp.take_along_axis(found, batch.segments, axis=1)
        differs = xp.any(spread != batch.groups)
        if _backends.of(xp).host_float(differs):
            raise ValueError(
                invalid(
                    name,
                    "one group per sequence (constant over each (row, segment id))",
                    batch.groups,
                    hint="A packed sequence has tokens in two groups.",
                )
            )
    return found


def global_counts(xp: ns.Namespace, local: dict[str, Any], reduce: Any) -> dict[str, Any]:
    """Pack ``local`` into one vector, sum it over the replicas with ``reduce`` (one call;
    none if there is nothing to count), unpack, and add G (the groups counted)."""
    return joint_counts(xp, [local], reduce)[0]


def joint_counts(
    xp: ns.Namespace, locals_: list[dict[str, Any]], reduce: Any
) -> list[dict[str, Any]]:
    """:func:`global_counts` of several count sets at once: every piece of every set in one
    vector and one call of ``reduce`` (a multi-term objective's window costs one all-reduce
    whatever its number of terms). The pieces share one dtype."""
    pieces = [
        (index, name, xp.reshape(local[name], (-1,)))
        for index, local in enumerate(locals_)
        for name in sorted(local)
    ]
    if not pieces:
        reduce(None)
        return [{} for _ in locals_]
    flat = [piece for _, _, piece in pieces]
    vector = _backends.of(xp).stop_gradient(xp.concat(flat) if len(flat) > 1 else flat[0])
    total = reduce(vector)
    outs: list[dict[str, Any]] = [{} for _ in locals_]
    start = 0
    for index, name, piece in pieces:
        stop = start + piece.shape[0]
        outs[index][name] = total[start:stop] if locals_[index][name].ndim else total[start]
        start = stop
    for out in outs:
        add_groups(xp, out)
    return outs


def add_groups(xp: ns.Namespace, counts: dict[str, Any]) -> dict[str, Any]:
    """Add G to per-group ``counts`` (in place): the groups with a sequence
    (``count_empty``), else with a valid token; nothing for a mode without groups."""
    for name in ("group_present", "group_sequences", "group_tokens"):
        if name in counts:
            counts["groups"] = xp.astype(xp.count_nonzero(counts[name]), counts[name].dtype)
            break
    return counts
