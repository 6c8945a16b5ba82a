"""``LossMeter``: the logged loss is the optimized objective, on every layout.

A meter keeps, on the device, the sums of its micro-batches' pairs (weighted sum, counts)
under one mode and all-reduces them once, when it is read (under context parallelism a
sequence mode's update also sums the micro-batch's per-sequence counts over the sequence
group). Its ``loss`` is the mode's objective over everything every replica added: the
number :func:`plan` optimizes, the same for any split of the data over replicas,
micro-batches and sequence shards. The usual logged value, the mean of the micro-batches'
own means, is reported beside it under its own name (not under context parallelism).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._collectives import count_once, reduce_over_replicas, sequence_shards
from losskit._errors import invalid
from losskit._state import DistributionContext, get_context, require_replica_context
from losskit.aggregation._counts import global_counts, local_counts
from losskit.aggregation._inputs import read_inputs, read_options
from losskit.aggregation._local import objective, pair, safe
from losskit.aggregation._modes import spec
from losskit.aggregation._resolve import resolve_with_options

__all__ = ["LossMeter", "MeterReading"]

_MEANS, _UPDATES, _SUM = "_own_means", "_updates", "_weighted_sum"


@dataclasses.dataclass(frozen=True)
class MeterReading:
    """What a :class:`LossMeter` holds, over every replica (0-d arrays of the meter's
    library and widest floating dtype; no host sync until you convert them).

    Attributes:
        mode: the canonical mode the meter reduces with.
        loss: the mode's objective over every micro-batch added on every replica: the loss
            the optimizer minimizes (with the same mode and data).
        count: the objective's global count: N (``token-mean``), S (sequence modes), G
            (group modes); None for ``token-sum``.
        mean_of_micro_batch_means: **another statistic**, the mean over every replica's
            updates of each update's own aggregate (what a per-micro-batch logger shows);
            equal to ``loss`` only when every micro-batch has the same count. None under
            context parallelism: a micro-batch is split over its sequence group, and its
            own aggregate would cost one more collective per update.
        updates: the number of updates over every replica (under context parallelism, of
            whole micro-batches: the shards of a sequence group count once).

    Example:
        >>> import numpy as np
        >>> from losskit.aggregation import LossMeter
        >>> meter = LossMeter(mode="seq-mean-token-mean")
        >>> meter.update(np.array([[2.0, 4.0], [9.0, 0.0]]), np.array([[1, 1], [1, 0]]))
        >>> reading = meter.read()  # a MeterReading
        >>> float(reading.loss), float(reading.count)  # (3 + 9) / 2 sequences
        (6.0, 2.0)
        >>> list(reading.as_dict())
        ['loss (seq-mean-token-mean)', 'mean of micro-batch means (seq-mean-token-mean)']
    """

    mode: str
    loss: Any
    count: Any
    mean_of_micro_batch_means: Any
    updates: Any

    def as_dict(self) -> dict[str, Any]:
        """The statistics under explicit names, for a logger: ``"loss (<mode>)"`` and
        ``"mean of micro-batch means (<mode>)"`` (left out where it is None)."""
        found = {f"loss ({self.mode})": self.loss}
        if self.mean_of_micro_batch_means is not None:
            found[f"mean of micro-batch means ({self.mode})"] = self.mean_of_micro_batch_means
        return found


class LossMeter:
    r"""Accumulates per-token losses (or their pairs) under one aggregation mode, on the
    device, and reads the objective over every replica with one all-reduce.

    * ``update(per_token_loss, mask, ...)``: add one micro-batch (train or eval); its
      pair is :math:`(\sum_t a_t \ell_t, \text{counts})` with the local part
      :math:`a_t` of the mode's coefficient (1, :math:`1/n_i`, :math:`1/L`), per group for
      the group modes. Losses are detached.
    * ``add(weighted_sum, count)``: add a pair you computed (scalar modes).
    * ``read()``: one all-reduce of the sums in the current engine context (every replica
      must call it), then a :class:`MeterReading`.
    * ``reset()``: start over.

    Read it inside the same kind of context as the training step
    (:func:`~losskit.distribute.replica_context`, ``torch_context``, ``jax_context``; none
    for one device or ``jit`` over global arrays). The reading is identical for every split
    of the same data over replicas and micro-batches, and equals the planned objective.

    Under context parallelism (a context with a sequence group) update **and** read it in
    that context: a sequence mode's update sums the micro-batch's per-sequence counts over
    the sequence group (one all-reduce on that group per update: the local factor needs
    each whole :math:`n_i`), and counts each sequence once; token modes need nothing more.

    Args:
        mode: an aggregation mode or framework alias (:data:`MODES`).
        num_groups: group modes: the number of groups.
        max_length: ``seq-mean-token-sum-norm``: the constant L.
        count_empty: count empty sequences and groups (the mode's rule by default).

    Raises:
        ValueError: an unknown mode or invalid options.

    Example:
        >>> import numpy as np
        >>> from losskit.aggregation import LossMeter
        >>> meter = LossMeter(mode="token-mean")
        >>> meter.update(np.array([[1.0, 3.0, 9.0]]), np.array([[1, 1, 0]]))  # mean 2
        >>> meter.update(np.array([[8.0, 9.0]]), np.array([[1, 0]]))  # mean 8
        >>> reading = meter.read()
        >>> float(reading.loss), float(reading.mean_of_micro_batch_means)  # 12 / 3 tokens
        (4.0, 5.0)
    """

    def __init__(
        self,
        *,
        mode: str = "token-mean",
        num_groups: int | None = None,
        max_length: float | None = None,
        count_empty: bool | None = None,
    ) -> None:
        canonical, options = resolve_with_options(mode)
        self.mode = canonical
        self._spec = spec(canonical)
        if count_empty is None:
            count_empty = bool(options.get("count_empty", False))
        self._options: dict[str, Any] = {
            "num_groups": num_groups,
            "max_length": max_length,
            "count_empty": count_empty,
        }
        read_options(self.mode, **self._options)
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        self._sums: dict[str, Any] = {}
        self._xp: ns.Namespace | None = None
        self._dtype: Any = None
        self._shards: int | None = None  # the sequence split of the updates

    def __repr__(self) -> str:
        return f"LossMeter(mode={self.mode!r})"

    def update(
        self,
        per_token_loss: Any,
        mask: Any,
        *,
        segment_ids: Any = None,
        group_ids: Any = None,
    ) -> None:
        """Add one micro-batch's losses (detached).

        Args:
            per_token_loss: ``[B, T]`` losses (the mask's shape).
            mask: ``[B, T]`` mask, bool or 0/1 numbers.
            segment_ids: packed rows: ``[B, T]`` sequence ids (see :func:`plan`).
            group_ids: group modes: ``[B]`` (padded) or ``[B, T]`` (packed) group ids.

        Raises:
            ValueError, TypeError: the checks of :func:`plan` and :meth:`Plan.loss`.
            RuntimeError: earlier updates ran under another sequence split, or a sequence
                mode under a split in a context without a sequence all-reduce.
        """
        context = get_context()
        shards = self._check_split(sequence_shards(context), "LossMeter.update")
        inputs = read_inputs(
            [mask],
            mode=self.mode,
            segment_ids=None if segment_ids is None else [segment_ids],
            group_ids=None if group_ids is None else [group_ids],
            sequence_shards=shards,
            **self._options,
        )
        xp = inputs.xp
        self._check_library(xp, "mask", mask)
        counts, found = local_counts(inputs, context, caller="LossMeter.update")
        weighted, _, _ = pair(inputs, found[0], per_token_loss)
        weighted = xp.astype(_backends.of(xp).stop_gradient(weighted), inputs.dtype)
        own = objective(xp, self._spec, weighted, counts) if shards == 1 else None
        self._accumulate(xp, inputs.dtype, weighted, counts, own, context)

    def add(self, weighted_sum: Any, count: Any = None) -> None:
        """Add a pair you computed: ``weighted_sum`` (0-d: :math:`\\sum_t a_t \\ell_t`) and
        its ``count`` (N or S; None for ``token-sum``).

        Under context parallelism only token modes take pairs (each rank adds its shard's
        sum and tokens): a sequence's count spans the sequence group.

        Raises:
            ValueError: a group mode (use :meth:`update`), a sequence mode under context
                parallelism (use :meth:`update`), a count given for ``token-sum`` or
                missing for another mode, or a value that is not 0-d.
            TypeError: values of another library than earlier updates.
            RuntimeError: earlier updates ran under another sequence split.
        """
        denominator = self._spec.denominator
        context = get_context()
        shards = sequence_shards(context)
        if denominator == "sequences" and shards > 1:
            raise ValueError(
                invalid(
                    "weighted_sum",
                    f"per-token losses through `update` for mode {self.mode!r} under context "
                    f"parallelism (sequences split over {shards} ranks)",
                    weighted_sum,
                    hint="A sequence's tokens and its count span the sequence group: "
                    "`update` sums them over it and counts each sequence once.",
                )
            )
        if self._spec.group_count is not None:
            raise ValueError(
                invalid(
                    "weighted_sum",
                    "per-token losses through `update` for a group mode",
                    weighted_sum,
                    hint="A group mode's pair is a vector per group.",
                )
            )
        if (count is None) != (denominator is None):
            expected = "None (token-sum has no count)" if denominator is None else "N or S"
            raise ValueError(invalid("count", expected, count))
        arrays = [weighted_sum] if count is None else [weighted_sum, count]
        xp = ns.namespace(*arrays, names=("weighted_sum", "count")[: len(arrays)])
        self._check_library(xp, "weighted_sum", weighted_sum)
        dtype = self._dtype
        values = []
        for name, value in zip(("weighted_sum", "count"), arrays, strict=False):
            array = ns.as_array(xp, value, name=name)
            if array.ndim != 0:
                raise ValueError(invalid(name, "a 0-d array or a number", array))
            if dtype is None:
                dtype = _backends.of(xp).widest_float(xp, array)
            values.append(xp.astype(_backends.of(xp).stop_gradient(array), dtype))
        counts = {} if denominator is None else {denominator: values[1]}
        own = values[0] if count is None else values[0] / safe(xp, values[1])
        self._check_split(shards, "LossMeter.add")
        self._accumulate(xp, dtype, values[0], counts, own if shards == 1 else None, context)

    def _check_library(self, xp: ns.Namespace, name: str, value: Any) -> None:
        if self._xp is not None and xp is not self._xp:
            raise TypeError(
                invalid(name, f"an array of {self._xp.__name__}, as the earlier updates", value)
            )

    def _check_split(self, shards: int, caller: str, *, update: bool = True) -> int:
        """``shards``, the sequence split of this call, if it is that of the earlier
        updates (the first ``update`` sets it)."""
        if self._shards is None or self._shards == shards:
            if update:
                self._shards = shards
            return shards
        raise RuntimeError(
            f"{caller}: the meter's updates split each sequence over {self._shards} rank(s), "
            f"this context over {shards}. Update and read a meter in the same engine "
            "context (the same `sequence_group` or `sequence_axis`), or `reset` it."
        )

    def _accumulate(
        self,
        xp: ns.Namespace,
        dtype: Any,
        weighted: Any,
        counts: dict[str, Any],
        own: Any,
        context: DistributionContext | None,
    ) -> None:
        if self._xp is None:
            self._xp, self._dtype = xp, dtype
        one = xp.ones((), dtype=dtype, device=_backends.of(xp).device(weighted))
        pieces = {_SUM: weighted, _UPDATES: count_once(xp, one, context)}
        if own is not None:  # the micro-batch's own aggregate: whole micro-batches only
            pieces[_MEANS] = xp.astype(own, dtype)
        pieces.update({name: xp.astype(value, dtype) for name, value in counts.items()})
        for name, value in pieces.items():
            found = self._sums.get(name)
            self._sums[name] = value if found is None else found + value

    def read(self) -> MeterReading:
        """The statistics over every replica's updates: one all-reduce of the sums in the
        current context (call it on every replica), none on one device.

        Raises:
            RuntimeError: no update yet, in cross-replica context, a multi-replica
                context without an all-reduce, or another sequence split than the updates'.
        """
        xp = self._xp
        if xp is None:
            raise RuntimeError("LossMeter.read: nothing to read; call `update` first.")
        context = require_replica_context("LossMeter.read")
        self._check_split(sequence_shards(context), "LossMeter.read", update=False)
        totals = global_counts(
            xp,
            self._sums,
            lambda vector: reduce_over_replicas(context, vector, caller="LossMeter.read"),
        )
        counts = {k: v for k, v in totals.items() if not k.startswith("_")}
        loss = objective(xp, self._spec, totals[_SUM], counts)
        if self._spec.group_count is not None:
            count = counts["groups"]
        else:
            count = None if self._spec.denominator is None else counts[self._spec.denominator]
        updates = totals[_UPDATES]

        def array(value: Any) -> Any:  # 0-d arrays, never NumPy scalars
            return None if value is None else ns.finish(xp, value, self._dtype)

        return MeterReading(
            mode=self.mode,
            loss=array(loss),
            count=array(count),
            mean_of_micro_batch_means=(
                array(totals[_MEANS] / safe(xp, updates)) if _MEANS in totals else None
            ),
            updates=array(updates),
        )
