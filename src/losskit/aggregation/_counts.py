"""The step's counts: taken locally per micro-batch, packed into one vector, and summed over
the replicas with one all-reduce.

A sequence is a row (padded layout) or a ``(row, id)`` pair (packed layout). Without
context parallelism its valid tokens ``n_i`` never leave the replica (a sequence lives in
one micro-batch). Under context parallelism a sequence is split over the ranks of its
sequence group: the per-sequence counts of every micro-batch (and of every mask and mode
of a multi-term objective) are packed into one vector and summed over the group first (one
more all-reduce), then counts of tokens add up over
every rank and counts of sequences are taken on the group's first shard only. The global
counts are N (valid tokens), S (sequences), N_g, S_g and the groups present, as integers
made floating (exact in float64 up to 2**53).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._collectives import count_once, sum_over_sequence
from losskit._errors import invalid
from losskit._state import DistributionContext
from losskit.aggregation._inputs import Inputs, MicroBatch

__all__ = [
    "Sequences",
    "add_groups",
    "counted_field",
    "global_counts",
    "joint_counts",
    "local_counts",
    "sequences",
    "window_counts",
]


@dataclasses.dataclass(frozen=True)
class Sequences:
    """One micro-batch's sequences: ``valid`` tokens of each (``[B]`` padded; ``[B, stride]``
    packed, indexed by row and id) and, packed with ``count_empty``, ``present`` tokens of
    each (masked or not); 0 for ids that do not occur."""

    valid: Any
    present: Any | None = None
    group: Any | None = None  # packed, split sequences: each one's group (-1: absent)

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


def local_counts(
    inputs: Inputs, context: DistributionContext | None = None, *, caller: str = "plan"
) -> tuple[dict[str, Any], list[Sequences | None]]:
    """This replica's counts for the mode (name -> 0-d or ``[num_groups]`` array of the
    plan's dtype), and each micro-batch's sequences where the mode uses them (whole
    sequences: summed over the sequence group under context parallelism)."""
    return window_counts([inputs], context, caller=caller)[0]


def window_counts(
    entries: Sequence[Inputs], context: DistributionContext | None, *, caller: str
) -> list[tuple[dict[str, Any], list[Sequences | None]]]:
    """:func:`local_counts` of several inputs over the same window (the masks and modes of a
    multi-term objective): under context parallelism the per-sequence counts of **every**
    entry go in one all-reduce on the sequence group (none if no entry needs them)."""
    split = context is not None and context.sequence_shards > 1
    found = [_local_sequences(entry, split) for entry in entries]
    if split:
        found = _whole_sequences(entries, found, context, caller)
    return [
        (_mode_counts(entry, sequences_k, context), sequences_k)
        for entry, sequences_k in zip(entries, found, strict=True)
    ]


def _local_sequences(inputs: Inputs, split: bool) -> list[Sequences | None]:
    """Each micro-batch's sequences on this replica, where the mode uses them."""
    if not inputs.mode.uses_sequences:
        return [None] * len(inputs.batches)
    # a shard may hold no token of a sequence: its presence must come from the group
    present = inputs.count_empty or split
    return [sequences(inputs.xp, batch, present=present) for batch in inputs.batches]


def _mode_counts(
    inputs: Inputs, found: list[Sequences | None], context: DistributionContext | None
) -> dict[str, Any]:
    xp, mode, dtype = inputs.xp, inputs.mode, inputs.dtype
    parts: dict[str, list[Any]] = {}
    for k, batch in enumerate(inputs.batches):
        seqs = found[k]
        if mode.denominator == "tokens":
            parts.setdefault("tokens", []).append(xp.count_nonzero(batch.mask))
        if mode.denominator == "sequences":
            assert seqs is not None
            count = _sequence_count(xp, seqs, inputs)
            parts.setdefault("sequences", []).append(count_once(xp, count, context))
        if mode.uses_groups:
            for name, count in _group_counts(xp, k, seqs, inputs, context).items():
                parts.setdefault(name, []).append(count)
    counts = {}
    for name, values in parts.items():
        total = xp.astype(values[0], dtype)
        for value in values[1:]:
            total = total + xp.astype(value, dtype)
        counts[name] = total
    return counts


def _whole_sequences(
    entries: Sequence[Inputs],
    local: list[list[Sequences | None]],
    context: DistributionContext | None,
    caller: str,
) -> list[list[Sequences | None]]:
    """Every entry's per-sequence counts, over every micro-batch, summed over the sequence
    group in one all-reduce of one vector (none if no entry has sequences): valid tokens,
    present tokens (packed: also each sequence's group, as the sum of ``group + 1`` over
    the shards that hold it and their number)."""
    xp, dtype = entries[0].xp, entries[0].dtype
    slots = [  # (entry, micro-batch index, micro-batch, its sequences, send the groups?)
        (e, k, batch, seqs, inputs.mode.group_count == "group_sequences" and batch.packed)
        for e, (inputs, found) in enumerate(zip(entries, local, strict=True))
        for k, (batch, seqs) in enumerate(zip(inputs.batches, found, strict=True))
        if seqs is not None
    ]
    if not slots:
        return local
    pieces: list[Any] = []
    shapes: list[list[tuple[int, ...]]] = []
    for _, k, batch, seqs, with_group in slots:
        fields = [seqs.valid] if seqs.present is None else [seqs.valid, seqs.present]
        if with_group:
            assert seqs.present is not None  # counted under a split
            here = xp.astype(seqs.present > 0, dtype)
            group = xp.astype(_groups_of_sequences(xp, batch, f"group_ids[{k}]"), dtype)
            fields += [group * here + here, here]
        shapes.append([tuple(field.shape) for field in fields])
        pieces += [xp.reshape(xp.astype(field, dtype), (-1,)) for field in fields]
    vector = _backends.of(xp).stop_gradient(xp.concat(pieces) if len(pieces) > 1 else pieces[0])
    total = sum_over_sequence(context, vector, caller=caller)
    whole = [list(found) for found in local]
    start = 0
    for (e, k, _, _, with_group), field_shapes in zip(slots, shapes, strict=True):
        fields = []
        for shape in field_shapes:
            stop = start + math.prod(shape)
            fields.append(xp.reshape(total[start:stop], shape))
            start = stop
        group = None
        if with_group:
            summed, shards = fields[2], fields[3]
            group = xp.where(shards > 0, summed / xp.where(shards > 0, shards, 1.0) - 1.0, -1.0)
        whole[e][k] = Sequences(fields[0], fields[1] if len(fields) > 1 else None, group)
    return whole


def counted_field(seqs: Sequences, inputs: Inputs) -> Any | None:
    """The per-sequence counts whose nonzero entries S counts: valid tokens, or with
    ``count_empty`` present tokens (packed); None for padded rows with ``count_empty``
    (every row counts). Summed over a sequence group first, they count each sequence the
    group holds."""
    return seqs.valid if not inputs.count_empty else seqs.present


def _sequence_count(xp: ns.Namespace, seqs: Sequences, inputs: Inputs) -> Any:
    """S of this micro-batch: sequences with a valid token, or with ``count_empty`` every
    row (padded) or every ``(row, id)`` that occurs (packed)."""
    field = counted_field(seqs, inputs)
    if field is None:
        return xp.sum(xp.ones_like(seqs.valid))  # the rows (an array: no host constant)
    return xp.count_nonzero(field)


def _group_counts(
    xp: ns.Namespace,
    k: int,
    seqs: Sequences | None,
    inputs: Inputs,
    context: DistributionContext | None,
) -> dict[str, Any]:
    """Per-group counts ``[num_groups]``: valid tokens (N_g) and present groups for
    group-token-mean; sequences (S_g) for group-seq-mean. Counts of tokens add up over a
    sequence group, counts of rows or sequences are taken once per group."""
    batch = inputs.batches[k]
    groups, size = batch.groups, inputs.num_groups
    backend = _backends.of(xp)
    discard = size  # count_ids ignores this id
    if inputs.mode.group_count == "group_tokens":
        tokens = groups if batch.packed else groups[:, None]
        counts = {
            "group_tokens": backend.count_ids(xp, xp.where(batch.mask, tokens, discard), size)
        }
        if batch.packed and _readable(batch):
            _groups_of_sequences(xp, batch, f"group_ids[{k}]")  # one group per sequence
        if inputs.count_empty:
            present = backend.count_ids(xp, groups, size)  # tokens (packed) or rows (padded)
            counts["group_present"] = present if batch.packed else count_once(xp, present, context)
        return counts
    assert seqs is not None
    kept = seqs.valid if not inputs.count_empty else seqs.present
    if kept is None:  # padded, count_empty: every row
        return {"group_sequences": count_once(xp, backend.count_ids(xp, groups, size), context)}
    per_sequence = groups
    if batch.packed:
        per_sequence = _groups_of_sequences(xp, batch, f"group_ids[{k}]")
        if seqs.group is not None:  # split over a sequence group: the group's view
            per_sequence = xp.astype(seqs.group, per_sequence.dtype)
    counted = backend.count_ids(xp, xp.where(kept > 0, per_sequence, discard), size)
    return {"group_sequences": count_once(xp, counted, context)}


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
