"""The running count of a deferred window: each micro-step's local weighted sums and counts,
and the window's collectives at its end.

Under context parallelism (a context with ``sequence_shards > 1``) a sequence is split over
its sequence group, so a micro-step's counts depend on the group:

* a mode whose local factor is the sequence's own :math:`1/n_i` (``seq-mean-token-mean``)
  needs each :math:`n_i` summed over the group **before its backward**: one all-reduce of
  the micro-batch's per-sequence counts on the sequence group per micro-step (one for all
  the terms of a :class:`~losskit.objectives.DeferredObjective`: they share the mask), S
  then counted on the group's first shard;
* a mode that needs only S (``seq-mean-token-sum``, ``seq-mean-token-sum-norm``) keeps
  each micro-step's per-sequence counts on the device and sums them over the group **once,
  at the window's end**, before the all-reduce of the count (padded rows with
  ``count_empty`` need none: every row counts, once per group);
* ``token-mean`` and ``token-sum`` count tokens, which add up over every rank: nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._collectives import (
    count_once,
    sequence_shards,
    sum_over_replicas,
    sum_over_sequence,
)
from losskit._errors import invalid
from losskit._state import DistributionContext, require_replica_context
from losskit.aggregation._counts import counted_field, local_counts
from losskit.aggregation._inputs import Inputs
from losskit.aggregation._local import pair, safe

__all__ = ["DeferredCounts", "micro_step"]


class DeferredCounts:
    """The running local count of one deferred window, and its collectives.

    Attributes:
        denominator: the count it keeps: ``"tokens"`` (N), ``"sequences"`` (S) or None
            (nothing: the factor is the engine scale, no collective).
        scale: the engine scale of the context the window was opened in.
        micro_steps: the micro-steps counted so far.
    """

    def __init__(self, caller: str, denominator: str | None) -> None:
        self.caller = caller
        self.denominator = denominator
        self.context: DistributionContext | None = require_replica_context(caller)
        self.scale = 1 if self.context is None else self.context.loss_scale
        self.micro_steps = 0
        self._local: Any = None
        self._pending: list[Any] = []  # per-sequence counts, summed over the group at the end
        self._like: Any = None
        self._xp: ns.Namespace | None = None
        self._dtype: Any = None
        self.total: Any = None
        self.factor: Any = None

    @property
    def finished(self) -> bool:
        return self.factor is not None

    @property
    def shards(self) -> int:
        return sequence_shards(self.context)

    def check_open(self, inputs: Inputs) -> None:
        """Refuse a micro-step the window cannot take (before any collective)."""
        if self.finished:
            raise RuntimeError(
                f"{self.caller}: this window is finished (its gradients were scaled). Open a "
                "new window for the next optimizer step."
            )
        if self._xp is not None and inputs.xp is not self._xp:
            raise TypeError(
                invalid(
                    "mask",
                    f"an array of {self._xp.__name__}, as the window's first micro-step",
                    inputs.batches[0].mask,
                )
            )
        context = self.context
        if (
            context is not None
            and context.accumulation == "mean"
            and self.micro_steps >= context.accumulation_steps
        ):
            raise ValueError(
                invalid(
                    "mask",
                    f"at most accumulation_steps={context.accumulation_steps} micro-steps in "
                    "a window of an engine that averages them (accumulation='mean')",
                    f"micro-step {self.micro_steps + 1}",
                    hint="Finish the window (scale the gradients) when the engine steps.",
                )
            )

    def add(self, inputs: Inputs, counts: dict[str, Any], pending: Any = None) -> None:
        """Count one micro-step: its local ``counts`` (from ``local_counts``), and
        ``pending`` per-sequence counts to sum over the sequence group at the end."""
        self.micro_steps += 1
        if self._xp is None:
            self._xp, self._dtype = inputs.xp, inputs.dtype
            self._like = inputs.batches[0].mask
        stop = _backends.of(inputs.xp).stop_gradient
        if pending is not None:
            self._pending.append(stop(pending))
        count = counts.get(self.denominator) if self.denominator is not None else None
        if count is not None:
            self._local = stop(count) if self._local is None else self._local + stop(count)

    def finish(self) -> Any:
        """The factor the window's gradients are multiplied by (0-d): the engine scale over
        the global count. The first call all-reduces the count (once per window; under
        context parallelism, pending per-sequence counts first on the sequence group)."""
        if self.factor is not None:
            return self.factor
        if self._xp is None:
            raise RuntimeError(
                f"{self.caller}: the window has no micro-step to finish. Call `loss` at least "
                "once per window, on every replica (an empty [0, T] mask counts)."
            )
        xp = self._xp
        local = self._local
        if self._pending:
            pieces = self._pending
            whole = sum_over_sequence(
                self.context,
                xp.concat(pieces) if len(pieces) > 1 else pieces[0],
                caller=self.caller,
            )
            count = count_once(xp, xp.astype(xp.count_nonzero(whole), self._dtype), self.context)
            local = count if local is None else local + count
        total = sum_over_replicas(self.context, local, steps=self.micro_steps, caller=self.caller)
        if total is None:  # nothing to count: the sum's gradient is the objective's
            device = _backends.of(xp).device(self._like)
            self.factor = xp.asarray(float(self.scale), dtype=self._dtype, device=device)
        else:
            self.total = total
            self.factor = ns.finish(xp, self.scale / safe(xp, total), self._dtype)
        return self.factor

    def scale_gradients(self, grads: Any) -> Any:
        """Multiply ``grads`` by :meth:`finish`'s factor (see ``DeferredPlan``)."""
        factor = self.finish()
        assert self._xp is not None
        return _backends.of(self._xp).scale_gradients(self._xp, grads, factor)


def micro_step(
    window: DeferredCounts, entries: Sequence[Inputs], losses: Sequence[Any]
) -> list[tuple[Any, Any]]:
    """One micro-step of a deferred window: ``(weighted sum, result dtype)`` of each entry
    for its ``losses``, and the count of ``entries[0]`` added to the window (see the
    module). The entries hold one micro-batch each, the same mask and segment ids, and
    modes that share the window's count: they all count sequences, or none does, so the
    sequences of the first serve them all."""
    main = entries[0]
    window.check_open(main)
    context = window.context
    at_end = (
        window.shards > 1
        and main.mode.denominator == "sequences"
        and not any(entry.mode.per_sequence for entry in entries)
    )
    pending = None
    if at_end:  # S alone: no n_i in the local factors, the sequences summed at the end
        counts, found = local_counts(main, caller=window.caller)
        assert found[0] is not None
        field = counted_field(found[0], main)
        if field is None:  # padded rows with count_empty: every row, once per group
            counts = {"sequences": count_once(main.xp, counts["sequences"], context)}
        else:
            counts, pending = {}, main.xp.reshape(main.xp.astype(field, main.dtype), (-1,))
    else:  # n_i summed over the sequence group now, for every entry at once
        counts, found = local_counts(main, context, caller=window.caller)
    out = []
    for entry, loss in zip(entries, losses, strict=True):
        weighted, result_dtype, _ = pair(entry, found[0], loss)
        out.append((weighted, result_dtype))
    window.add(main, counts, pending)
    return out
