"""``Layout``: who holds which tokens in one optimizer step, and how the engine combines them."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from losskit._errors import invalid
from losskit._state import check_count, check_mode

__all__ = ["Layout", "random_layout"]

Nested = Sequence[Sequence[Any]]
Frozen = tuple[tuple[np.ndarray, ...], ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """One optimizer step of token losses, as the replicas and micro-batches hold it.

    ``masks[r][k]`` is replica ``r``'s micro-batch ``k``: a ``[B, T]`` loss mask (bool or
    0/1 numbers; ``B`` and ``T`` may differ between micro-batches, ``B`` may be 0). Every
    replica runs the same number of micro-batches, ``micro_steps``; fewer than
    ``accumulation_steps`` is a partial last window.

    Padded rows (``segment_ids=None``): each row is one sequence, ``group_ids[r][k]`` has
    shape ``[B]``. Packed rows: ``segment_ids[r][k]`` is ``[B, T]`` integers and (row, id)
    is one sequence (every id, 0 included, is a real sequence; padding comes only from the
    mask); ``group_ids[r][k]`` is then ``[B, T]`` and constant within a sequence. Group ids
    are global prompt indices in ``[0, num_groups)``.

    Context parallelism (``sequence_shards > 1``): the ranks come in sequence groups of
    ``sequence_shards`` consecutive ranks; rank r holds shard ``r % sequence_shards`` of
    the sequences of its group: row b of micro-batch k is the same sequence on every rank
    of the group, whose masks there hold some of its columns (the same ``[B, T]`` shape on
    each shard; packed segment ids name the same sequence on every shard). Replicated data
    (``replicas > 1``): each rank is followed by ``replicas - 1`` ranks that hold copies of
    its micro-batches (ranks that load the same micro-batch without splitting it, inside
    the engine's combination); a token's effective weight is then the sum over its copies.
    Rank ``r`` is copy ``r % replicas`` of shard ``(r // replicas) % sequence_shards`` of
    data group ``r // (replicas * sequence_shards)``. A pipeline schedule needs no field:
    its micro-batches are the window's (``accumulation="mean"`` when the schedule divides
    the gradients by their number, ``scale_grads=True``), the loss stage's data-parallel
    ranks the replicas.

    Args:
        masks: ``[replica][micro-batch]`` nested sequences of ``[B, T]`` masks.
        segment_ids: same nesting and shapes as ``masks``, or None (padded rows).
        group_ids: same nesting, ``[B]`` (padded) or ``[B, T]`` (packed), or None.
        num_groups: the number of group ids, required with ``group_ids``.
        gradients: ``"mean"`` (DDP, FSDP) or ``"sum"``: how the engine combines replicas.
        accumulation: ``"sum"`` (``backward`` per micro-batch) or ``"mean"`` (the engine
            divides each micro-step by ``accumulation_steps``: DeepSpeed).
        accumulation_steps: configured micro-batches per window; default ``micro_steps``.
        sequence_shards: ranks per sequence group (context parallelism); 1: no split.
        replicas: ranks per copy group of identical micro-batches; 1: no copies.

    Raises:
        ValueError: ragged nesting, a mask that is not 2-D or not 0/1, ids of the wrong
            shape or range, a sequence spread over two groups, or a bad engine field;
            ranks not a multiple of ``sequence_shards * replicas``, shards of a sequence
            group of different shapes, copies that differ.

    Example:
        >>> import numpy as np
        >>> from losskit.testing import Layout
        >>> layout = Layout([[np.array([[1, 1, 0]])], [np.ones((2, 2))]])  # 2 replicas
        >>> layout.num_ranks, layout.micro_steps, layout.accumulation_steps, layout.packed
        (2, 1, 1, False)
    """

    masks: Nested
    segment_ids: Nested | None = None
    group_ids: Nested | None = None
    num_groups: int | None = None
    gradients: str = "mean"
    accumulation: str = "sum"
    accumulation_steps: int | None = None
    sequence_shards: int = 1
    replicas: int = 1

    def __post_init__(self) -> None:
        masks = _nested(self.masks, "masks")
        for r, k, mask in _items(masks):
            if mask.ndim != 2:
                raise ValueError(invalid(f"masks[{r}][{k}]", "a [B, T] array", mask))
            if mask.dtype != bool and not np.all((mask == 0) | (mask == 1)):
                raise ValueError(invalid(f"masks[{r}][{k}]", "bool or 0/1 values", mask))
        object.__setattr__(self, "masks", masks)
        if self.segment_ids is not None:
            segments = _nested(self.segment_ids, "segment_ids", like=masks)
            for r, k, ids in _items(segments):
                _check_ids(ids, f"segment_ids[{r}][{k}]", masks[r][k].shape)
            object.__setattr__(self, "segment_ids", segments)
        if self.group_ids is not None:
            self._set_groups(masks)
        elif self.num_groups is not None:
            raise ValueError(
                invalid("num_groups", "None when there are no group_ids", self.num_groups)
            )
        self._check_split(masks)
        check_mode(self.gradients, "gradients")
        check_mode(self.accumulation, "accumulation")
        steps = self.micro_steps
        if self.accumulation_steps is None:
            object.__setattr__(self, "accumulation_steps", steps)
        elif check_count(self.accumulation_steps, "accumulation_steps") < steps:
            raise ValueError(
                invalid(
                    "accumulation_steps",
                    f"at least the {steps} micro-batches per replica",
                    self.accumulation_steps,
                )
            )

    def _set_groups(self, masks: Frozen) -> None:
        groups = _nested(self.group_ids, "group_ids", like=masks)
        count = self.num_groups
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise ValueError(invalid("num_groups", "a positive integer with group_ids", count))
        for r, k, ids in _items(groups):
            name = f"group_ids[{r}][{k}]"
            shape = masks[r][k].shape if self.segment_ids is not None else masks[r][k].shape[:1]
            _check_ids(ids, name, shape)
            if ids.size and (ids.min() < 0 or ids.max() >= count):
                raise ValueError(invalid(name, f"ids in [0, num_groups={count})", ids))
            if self.segment_ids is not None:
                _check_constant(ids, self.segment_ids[r][k], name)
        object.__setattr__(self, "group_ids", groups)

    def _check_split(self, masks: Frozen) -> None:
        shards = check_count(self.sequence_shards, "sequence_shards")
        copies = check_count(self.replicas, "replicas")
        if len(masks) % (shards * copies):
            raise ValueError(
                invalid(
                    "masks",
                    f"a multiple of sequence_shards x replicas = {shards * copies} ranks",
                    f"{len(masks)} ranks",
                )
            )
        nested = [masks, self.segment_ids, self.group_ids]
        for r in range(len(masks)):
            first = r - r % copies  # the rank this one copies
            for k in range(len(masks[r])):
                for name, arrays in zip(("masks", "segment_ids", "group_ids"), nested, strict=True):
                    if arrays is not None and not np.array_equal(arrays[r][k], arrays[first][k]):
                        raise ValueError(
                            invalid(
                                f"{name}[{r}][{k}]",
                                f"a copy of {name}[{first}][{k}] (replicas={copies})",
                                arrays[r][k],
                            )
                        )
                shard_zero = self.sequence_group(r)[0]
                if masks[r][k].shape != masks[shard_zero][k].shape:
                    raise ValueError(
                        invalid(
                            f"masks[{r}][{k}]",
                            f"the shape of masks[{shard_zero}][{k}], "
                            f"{masks[shard_zero][k].shape} (a shard of the same rows)",
                            masks[r][k],
                        )
                    )
        if shards > 1 and self.group_ids is not None and self.segment_ids is not None:
            for r in range(0, len(masks), shards * copies):
                for k in range(len(masks[r])):
                    _, segments, groups = self.unsharded(r, k)
                    assert segments is not None
                    assert groups is not None
                    _check_constant(groups, segments, f"group_ids[{r}][{k}] and its shards")

    def data_index(self, rank: int) -> int:
        """The data group of ``rank``: the ranks of one data group hold the same sequences."""
        return rank // (self.replicas * self.sequence_shards)

    def shard_index(self, rank: int) -> int:
        """Which shard of its sequences ``rank`` holds, in ``[0, sequence_shards)``."""
        return (rank // self.replicas) % self.sequence_shards

    def replica_index(self, rank: int) -> int:
        """Which copy of its micro-batches ``rank`` is, in ``[0, replicas)``."""
        return rank % self.replicas

    def sequence_group(self, rank: int) -> list[int]:
        """The ranks that hold the shards of ``rank``'s sequences, in shard order."""
        base = self.data_index(rank) * self.replicas * self.sequence_shards
        return [
            base + c * self.replicas + self.replica_index(rank) for c in range(self.sequence_shards)
        ]

    def unsharded(
        self, rank: int, micro_batch: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(mask, segment_ids, group_ids)`` of ``rank``'s micro-batch before the split:
        its sequence group's shards side by side along T, in shard order."""
        group = self.sequence_group(rank)

        def joined(nested: Frozen | None, per_token: bool) -> np.ndarray | None:
            if nested is None:
                return None
            if not per_token:
                return nested[group[0]][micro_batch]
            return np.concatenate([nested[g][micro_batch] for g in group], axis=1)

        mask = joined(self.masks, True)  # type: ignore[arg-type]
        assert mask is not None
        segments = joined(self.segment_ids, True)  # type: ignore[arg-type]
        groups = joined(self.group_ids, self.segment_ids is not None)  # type: ignore[arg-type]
        return mask, segments, groups

    @property
    def num_ranks(self) -> int:
        """Replicas (data-parallel ranks) R."""
        return len(self.masks)

    @property
    def micro_steps(self) -> int:
        """Micro-batches each replica runs in this window."""
        return len(self.masks[0])

    @property
    def packed(self) -> bool:
        return self.segment_ids is not None

    def describe(self) -> str:
        rows = "packed rows" if self.packed else "padded rows"
        split = ""
        if self.sequence_shards > 1:
            split += f", each sequence split over {self.sequence_shards} ranks"
        if self.replicas > 1:
            split += f", each micro-batch on {self.replicas} ranks"
        return (
            f"{_plural(self.num_ranks, 'rank')} x {_plural(self.micro_steps, 'micro-batch')} "
            f"(accumulation_steps={self.accumulation_steps}, gradients={self.gradients!r}, "
            f"accumulation={self.accumulation!r}), {rows}{split}"
        )

    def pieces(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None, np.ndarray | None]]:
        """``(rank, micro_batch, mask, segment_ids, group_ids)`` in rank-major order."""
        for r, k, mask in _items(self.masks):
            seg = None if self.segment_ids is None else self.segment_ids[r][k]
            grp = None if self.group_ids is None else self.group_ids[r][k]
            yield r, k, mask, seg, grp


def _items(nested: Nested) -> Iterator[tuple[int, int, Any]]:
    for r, row in enumerate(nested):
        for k, array in enumerate(row):
            yield r, k, array


def _nested(value: Any, name: str, *, like: Frozen | None = None) -> Frozen:
    if not isinstance(value, Sequence) or not value or isinstance(value, (str, bytes)):
        raise ValueError(invalid(name, "a non-empty list (one entry per replica) of lists", value))
    result = []
    for r, row in enumerate(value):
        if not isinstance(row, Sequence) or isinstance(row, (str, bytes)) or not row:
            raise ValueError(
                invalid(f"{name}[{r}]", "a non-empty list of arrays (one per micro-batch)", row)
            )
        result.append(tuple(np.asarray(a) for a in row))
    lengths = {len(row) for row in result}
    if len(lengths) != 1:
        raise ValueError(
            invalid(
                name,
                "the same number of micro-batches on every replica",
                f"counts {[len(row) for row in result]}",
            )
        )
    if like is not None and [len(row) for row in result] != [len(row) for row in like]:
        raise ValueError(
            invalid(
                name,
                f"the nesting of masks ({len(like)} replicas x {len(like[0])} micro-batches)",
                f"{len(result)} replicas x {len(result[0])} micro-batches",
            )
        )
    return tuple(result)


def _check_ids(ids: np.ndarray, name: str, shape: tuple[int, ...]) -> None:
    if ids.shape != tuple(shape):
        raise ValueError(invalid(name, f"integers of shape {tuple(shape)}", ids))
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(invalid(name, "integers", ids))


def _check_constant(groups: np.ndarray, segments: np.ndarray, name: str) -> None:
    for row in range(groups.shape[0]):
        for segment in np.unique(segments[row]):
            values = np.unique(groups[row][segments[row] == segment])
            if values.size > 1:
                raise ValueError(
                    invalid(
                        name,
                        "one group id per sequence",
                        f"ids {values.tolist()} in row {row}, segment {int(segment)}",
                    )
                )


def random_layout(
    seed: int,
    *,
    ranks: int = 2,
    micro_steps: int = 2,
    accumulation_steps: int | None = None,
    rows: tuple[int, int] = (0, 4),
    length: tuple[int, int] = (1, 8),
    packed: bool = False,
    segments: int = 3,
    num_groups: int | None = None,
    empty: float = 0.2,
    density: float = 0.7,
    gradients: str = "mean",
    accumulation: str = "sum",
) -> Layout:
    """A random :class:`Layout`: uneven rows and widths, empty sequences, groups spread
    over replicas and micro-batches.

    Args:
        seed: the NumPy generator seed.
        ranks, micro_steps, accumulation_steps: the split (``micro_steps <
            accumulation_steps`` is a partial window).
        rows: inclusive range of rows per micro-batch (0 gives an empty micro-batch).
        length: inclusive range of the padded width ``T`` of each micro-batch.
        packed: pack up to ``segments`` sequences per row.
        num_groups: assign each sequence a random group in ``[0, num_groups)``.
        empty: probability that a sequence is fully masked.
        density: probability that a token of a non-empty sequence is valid.
        gradients, accumulation: the engine.

    Example:
        >>> from losskit.testing import random_layout
        >>> layout = random_layout(0, ranks=3, micro_steps=2, accumulation_steps=4)
        >>> layout.num_ranks, layout.micro_steps, layout.accumulation_steps
        (3, 2, 4)
    """
    rng = np.random.default_rng(seed)
    masks: list[list[np.ndarray]] = []
    segment_ids: list[list[np.ndarray]] = []
    group_ids: list[list[np.ndarray]] = []
    for _ in range(ranks):
        masks.append([])
        segment_ids.append([])
        group_ids.append([])
        for _ in range(micro_steps):
            b = int(rng.integers(rows[0], rows[1] + 1))
            t = int(rng.integers(length[0], length[1] + 1))
            seg = _random_segments(rng, b, t, segments if packed else 1)
            count = int(seg.max()) + 1 if seg.size else 0
            # one random group and "empty" flag per sequence (row, segment)
            groups = rng.integers(0, num_groups or 1, size=(b, max(count, 1)))
            dead = rng.random((b, max(count, 1))) < empty
            row_index = np.arange(b)[:, None]
            mask = (rng.random((b, t)) < density) & ~dead[row_index, seg]
            masks[-1].append(mask.astype(np.float64))
            segment_ids[-1].append(seg)
            group_ids[-1].append(groups[row_index, seg] if packed else groups[:, 0])
    return Layout(
        masks,
        segment_ids=segment_ids if packed else None,
        group_ids=group_ids if num_groups else None,
        num_groups=num_groups,
        gradients=gradients,
        accumulation=accumulation,
        accumulation_steps=accumulation_steps,
    )


def _random_segments(rng: np.random.Generator, b: int, t: int, most: int) -> np.ndarray:
    """``[b, t]`` sorted segment ids 0.. with up to ``most`` segments per row."""
    ids = np.zeros((b, t), dtype=np.int64)
    for row in range(b):
        count = int(rng.integers(0, min(most - 1, t - 1) + 1)) if t > 1 else 0
        for cut in rng.choice(np.arange(1, t), size=count, replace=False) if count else ():
            ids[row, cut:] += 1
    return ids


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}es" if noun.endswith("h") else f"{count} {noun}s"
