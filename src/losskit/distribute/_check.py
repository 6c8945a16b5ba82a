"""``check_layout``: an opt-in debug check that the data matches the layout the context
describes, so that every token and every sequence of the window is counted once.

Under context parallelism each rank holds some columns of every row of its micro-batches;
the rows of the ranks of one sequence group are the same sequences. Each token's position
in the whole (unsharded) row names it: over a sequence group, the positions of each row
must be every column of the whole row exactly once. A column held twice is a token counted
twice (ranks that load the same micro-batch without splitting it, a sequence group larger
than the real split); a position beyond the whole row is a token whose sequence is also
split over ranks outside the group (a group too small, or none declared), counted there
apart from it. The group's positions are as many as the whole row's columns, so a column
held by no rank always comes with one of these two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from losskit import _backends
from losskit import _namespace as ns
from losskit._collectives import sum_over_sequence
from losskit._errors import invalid
from losskit._state import DistributionContext, require_replica_context

__all__ = ["LayoutError", "check_layout"]

_NAME = "positions"


class LayoutError(ValueError):
    """The data does not match the context's layout: a token or a sequence would be
    counted twice or not at all.

    Attributes:
        kind: ``"twice"`` (a column held by two or more ranks of a sequence group),
            ``"missing"`` (a position beyond the whole row: the rest of the sequence is on
            ranks outside the group),
            ``"shapes"`` (the ranks of a sequence group disagree on the micro-batches or
            their rows), ``"elsewhere"`` (another sequence group of the combining group
            failed; its ranks say where).
        micro_batch, row, column: where, when it applies (else None).
        count: how many times that column is held (``"twice"``; 0 for ``"missing"``).
        replicas: ``"elsewhere"``: the replicas whose sequence group failed.

    Example:
        >>> from losskit.distribute import LayoutError
        >>> error = LayoutError("column 3 ...", kind="twice", micro_batch=0, row=1,
        ...                     column=3, count=2)
        >>> isinstance(error, ValueError), error.kind, error.count
        (True, 'twice', 2)
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        micro_batch: int | None = None,
        row: int | None = None,
        column: int | None = None,
        count: int | None = None,
        replicas: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.micro_batch = micro_batch
        self.row = row
        self.column = column
        self.count = count
        self.replicas = replicas


def check_layout(positions: Sequence[Any]) -> None:
    """Raise :class:`LayoutError` unless every token of the window is held by exactly one
    rank of its sequence group (a debug check: it syncs and adds collectives).

    Call it inside the context, with the same micro-batches as the plan, every N steps
    or in a test run: ``positions[k]`` is a ``[B, T]`` integer array, each token's column
    in the whole, unsharded row of micro-batch ``k`` (what context parallelism shards
    with the tokens: the position ids of a padded row, ``arange`` of the whole row before
    the split). Over each sequence group (``torch_context(sequence_group=...)``,
    ``jax_context(sequence_axis=...)``, ``replica_context(sequence_shards=...)``) it
    checks that the ranks hold the same micro-batches with the same rows, and that the
    columns of each row are every column of the whole row (the sum of the ranks' T)
    exactly once; without a sequence group, that each rank's rows are whole. The verdict
    is shared over the combining group, so every rank raises. It costs three all-reduces
    on the sequence group (the last of ``B x`` the whole row's length per micro-batch),
    one on the combining group (a flag per replica), and copies of the positions to the
    host.

    Args:
        positions: one ``[B, T]`` integer array per micro-batch of this rank's window.

    Raises:
        LayoutError: a token would be counted twice or not at all (see its ``kind``).
        TypeError: ``positions`` is not a non-empty list, or holds non-integer arrays.
        ValueError: an array is not 2-D.
        RuntimeError: in cross-replica context; under tracing (``jax.jit``,
            ``shard_map``, ``torch.compile``: the values must be read on the host); in a
            multi-replica context without an all-reduce.

    Example:
        >>> import numpy as np
        >>> from losskit.distribute import check_layout
        >>> from losskit.testing import run_replicas
        >>> check_layout([np.array([[0, 1, 2], [0, 1, 2]])])  # one process: whole rows
        >>> halves = [np.array([[0, 1, 2]]), np.array([[3, 4, 5]])]  # a row of 6, split
        >>> run_replicas(lambda r: check_layout([halves[r]]), 2, sequence_shards=2)
        [None, None]
        >>> run_replicas(lambda r: check_layout([halves[0]]), 2, sequence_shards=2)
        Traceback (most recent call last):
        ...
        losskit.distribute.LayoutError: column 0 of row 0 in micro-batch 0 is held 2 times ...
    """
    context = require_replica_context("check_layout")
    if not isinstance(positions, (list, tuple)) or not positions:
        raise TypeError(
            invalid(_NAME, "a non-empty list of [B, T] arrays (one per micro-batch)", positions)
        )
    names = [f"{_NAME}[{k}]" for k in range(len(positions))]
    xp = ns.namespace(*positions, names=names)
    backend = _backends.of(xp)
    host = []
    for value, name in zip(positions, names, strict=True):
        array = ns.as_array(xp, value, name=name)
        if array.ndim != 2:
            raise ValueError(invalid(name, "a [B, T] array of column positions", array))
        if not ns.is_integral(xp, array.dtype):
            raise TypeError(invalid(name, "an array of integer dtype", array))
        copy = backend.host_copy(array)
        if copy is None or not _concrete(context):
            raise RuntimeError(
                "check_layout reads the positions on the host: call it outside `jax.jit`, "
                "`shard_map` and `torch.compile` (a debug check, e.g. every N steps)."
            )
        host.append(copy.astype(np.int64))
    like = ns.as_array(xp, positions[0], name=names[0])
    problem = _group_problem(host, context, xp, like)
    _share_verdict(problem, context, xp, like)


def _concrete(context: DistributionContext | None) -> bool:
    if context is None:
        return True
    return isinstance(context.sequence_shard, int) and isinstance(context.replica_id, int)


def _over_group(
    context: DistributionContext | None, values: np.ndarray, xp: ns.Namespace, like: Any
) -> np.ndarray:
    """``values`` summed over the sequence group, back on the host."""
    if context is None or context.sequence_shards == 1:
        return values
    array = xp.asarray(values, device=_backends.of(xp).device(like))
    total = sum_over_sequence(context, array, caller="check_layout")
    copied = _backends.of(xp).host_copy(total)
    assert copied is not None
    return copied


def _group_problem(
    host: list[np.ndarray], context: DistributionContext | None, xp: ns.Namespace, like: Any
) -> LayoutError | None:
    shards = 1 if context is None else context.sequence_shards
    shard = 0 if context is None else int(context.sequence_shard)
    count = len(host)
    counts = np.zeros(shards)
    counts[shard] = count
    counts = _over_group(context, counts, xp, like)
    if np.any(counts != count):
        return LayoutError(
            f"the {shards} ranks of this sequence group hold {counts.astype(int).tolist()} "
            "micro-batches in this window: row b of micro-batch k must be one sequence on "
            "every rank of a sequence group, so they must hold the same micro-batches.",
            kind="shapes",
        )
    shapes = np.zeros((shards, count, 2))
    shapes[shard] = [array.shape for array in host]
    shapes = _over_group(context, shapes, xp, like)
    for k in range(count):
        rows = shapes[:, k, 0].astype(int)
        if np.any(rows != rows[0]):
            return LayoutError(
                f"micro-batch {k} has {rows.tolist()} rows on the {shards} ranks of this "
                "sequence group: row b must be the same sequence on every rank of the group.",
                kind="shapes",
                micro_batch=k,
            )
    lengths = shapes[:, :, 1].sum(axis=0).astype(int)  # the whole rows
    held = _over_group(context, _histograms(host, lengths), xp, like)
    return _coverage(held, host, lengths, shards)


def _histograms(host: list[np.ndarray], lengths: np.ndarray) -> np.ndarray:
    """How often each column of each whole row occurs here, one bin more per row for
    positions outside it; all micro-batches in one vector."""
    pieces = []
    for array, length in zip(host, lengths, strict=True):
        rows = array.shape[0]
        bins = np.zeros((rows, int(length) + 1))
        outside = (array < 0) | (array >= length)
        columns = np.where(outside, length, array)
        np.add.at(bins, (np.repeat(np.arange(rows), array.shape[1]), columns.reshape(-1)), 1)
        pieces.append(bins.reshape(-1))
    return np.concatenate(pieces)


def _coverage(
    held: np.ndarray, host: list[np.ndarray], lengths: np.ndarray, shards: int
) -> LayoutError | None:
    ranks = "the rank" if shards == 1 else f"the {shards} ranks of this sequence group"
    start = 0
    for k, (array, length) in enumerate(zip(host, lengths, strict=True)):
        length = int(length)
        bins = held[start : start + array.shape[0] * (length + 1)].reshape(-1, length + 1)
        start += bins.size
        beyond = np.argwhere(bins[:, length] > 0)
        if beyond.size:
            row = int(beyond[0][0])
            whole = (
                "the row this rank holds (no sequence group)"
                if shards == 1
                else f"the whole row {ranks} hold"
            )
            return LayoutError(
                f"row {row} of micro-batch {k} holds {int(bins[row, length])} position(s) "
                f"outside [0, {length}), {whole}: the rest of this sequence lives on ranks "
                "outside the sequence group, and its tokens there would not be counted with "
                "it. Pass the whole context-parallel group as the sequence group "
                "(`sequence_group=`, `sequence_axis=`).",
                kind="missing",
                micro_batch=k,
                row=row,
                count=0,
            )
        twice = np.argwhere(bins[:, :length] > 1)
        if twice.size:
            row, column = (int(i) for i in twice[0])
            times = int(bins[row, column])
            return LayoutError(
                f"column {column} of row {row} in micro-batch {k} is held {times} times by "
                f"{ranks}: its token would be counted {times} times. Do the ranks of a "
                "sequence group load the same micro-batch without splitting it along T?",
                kind="twice",
                micro_batch=k,
                row=row,
                column=column,
                count=times,
            )
    return None


def _share_verdict(
    problem: LayoutError | None,
    context: DistributionContext | None,
    xp: ns.Namespace,
    like: Any,
) -> None:
    """Raise on every rank of the combining group if any sequence group failed."""
    if context is None or context.num_replicas == 1:
        if problem is not None:
            raise problem
        return
    if context.all_reduce is None:
        raise RuntimeError(
            f"check_layout: the context ({context.engine}, {context.num_replicas} replicas) "
            "has no all-reduce. Pass `all_reduce=` to `replica_context`, or use "
            "`torch_context`/`jax_context`."
        )
    flags = np.zeros(context.num_replicas)
    flags[int(context.replica_id)] = problem is not None
    array = xp.asarray(flags, device=_backends.of(xp).device(like))
    total = _backends.of(xp).host_copy(context.all_reduce(array))
    assert total is not None
    if problem is not None:
        raise problem
    failed = tuple(int(r) for r in np.flatnonzero(total))
    if failed:
        raise LayoutError(
            f"check_layout: replicas {list(failed)} of the {context.num_replicas} found a "
            "token counted twice or not at all in their sequence group (their error says "
            "where); this replica's sequence group is consistent.",
            kind="elsewhere",
            replicas=failed,
        )


LayoutError.__module__ = "losskit.distribute"  # its public home, in tracebacks
