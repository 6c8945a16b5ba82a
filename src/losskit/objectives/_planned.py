"""``ObjectivePlan``: one optimizer step of a multi-term objective, every term's counts in
one all-reduce, and each micro-step's value to call ``backward`` on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._collectives import reduce_over_replicas, sequence_shards
from losskit._errors import invalid
from losskit._state import DistributionContext, get_context
from losskit.aggregation._inputs import Inputs, read_inputs
from losskit.aggregation._plan import Plan, build_plans
from losskit.objectives._balance import as_layers, balance_value, balance_weights
from losskit.objectives._terms import (
    GLOBAL_BATCH,
    STEP,
    Term,
    check_values,
    step_value,
    zero_d,
)

__all__ = ["ObjectivePlan", "build_plan"]


class ObjectivePlan:
    r"""One optimizer step of an :class:`Objective`, built by :meth:`Objective.plan`.

    * ``loss(k, **values)``: micro-batch ``k``'s value to call ``backward`` on: the sum of
      every term's coefficient times its share of the step, scaled for the engine. Combined
      by the engine over replicas and micro-steps, its gradient is the gradient of the
      single-device objective :math:`\sum_j \text{coefficient}_j \cdot \text{term}_j`.
    * ``shares(k, **values)``: each term's coefficient times its share, without the engine
      scale (summed over replicas and micro-batches: the term's contribution to the
      objective), for logging.

    The values, one keyword per term: a per-token term's ``[B, T]`` losses (micro-batch
    ``k``'s mask shape); a ``"step"`` term's penalty (a scalar, the same on every
    replica); a ``"global-batch"`` term's ``[layers, experts]`` sums of the router
    probabilities over this micro-batch's routed tokens and, with
    ``counts="micro-batch"``, the pair ``(probability_sums, expert_counts)`` of this
    micro-batch (the counts are summed over the replicas without gradient: one all-reduce
    per micro-step, once even if ``loss`` and ``shares`` are both called).

    Attributes:
        terms: the objective's terms.
        micro_batches: the window's micro-batches on this replica.
        scale: the engine scale (as a :class:`~losskit.aggregation.Plan`'s).
        replicas: the replicas whose gradients the engine combines.

    Example:
        >>> import numpy as np
        >>> from losskit.distribute import replica_context
        >>> from losskit.objectives import Objective, Term
        >>> objective = Objective([Term("ce", "token-mean"), Term("l2", "step", coefficient=0.5)])
        >>> ce, l2 = np.array([[3.0, 5.0, 9.0]]), np.array(4.0)
        >>> # replica 0 of 2 under DDP; the other replica holds 2 of the step's N = 4 tokens
        >>> with replica_context(2, gradients="mean", all_reduce=lambda n: n + 2):
        ...     p = objective.plan([np.array([[1, 1, 0]])])  # an ObjectivePlan
        >>> {name: float(v) for name, v in p.shares(0, ce=ce, l2=l2).items()}  # 8/4; 0.5*4/2
        {'ce': 2.0, 'l2': 1.0}
        >>> float(p.loss(0, ce=ce, l2=l2))  # scaled for DDP's mean over 2 replicas
        6.0
    """

    __slots__ = (
        "_context",
        "_micro",
        "_plans",
        "_weights",
        "micro_batches",
        "replicas",
        "scale",
        "terms",
    )

    def __init__(
        self,
        terms: tuple[Term, ...],
        plans: dict[str, Plan],
        weights: dict[str, Any],
        context: DistributionContext | None,
        micro_batches: int,
    ) -> None:
        self.terms = terms
        self._plans = plans
        self._weights = weights
        self._context = context
        self._micro: dict[tuple[str, int], Any] = {}
        self.micro_batches = micro_batches
        self.scale = 1 if context is None else context.loss_scale
        self.replicas = 1 if context is None else context.num_replicas

    def __repr__(self) -> str:
        names = ", ".join(term.name for term in self.terms)
        return (
            f"ObjectivePlan(terms=[{names}], micro_batches={self.micro_batches}, "
            f"scale={self.scale})"
        )

    def plan_of(self, name: str) -> Plan:
        """The :class:`~losskit.aggregation.Plan` of a per-token term (its counts, weights)."""
        if name not in self._plans:
            raise KeyError(invalid("name", f"a per-token term of {sorted(self._plans)}", name))
        return self._plans[name]

    def loss(self, micro_batch: int, /, **values: Any) -> Any:
        """Micro-batch ``micro_batch``'s value to call ``backward`` on (see the class).

        Raises:
            IndexError: ``micro_batch`` out of range.
            ValueError: a missing or unknown term value, or a value of the wrong shape.
            TypeError: values of another library or dtype.
        """
        shares = self._shares(micro_batch, values, scaled=True)
        total = None
        for value in shares.values():
            total = value if total is None else total + value
        return zero_d(total)

    def shares(self, micro_batch: int, /, **values: Any) -> dict[str, Any]:
        """Each term's coefficient times its share of micro-batch ``micro_batch``, without
        the engine scale (see the class); the same arguments as :meth:`loss`."""
        return self._shares(micro_batch, values, scaled=False)

    def _shares(self, micro_batch: int, values: dict[str, Any], *, scaled: bool) -> dict[str, Any]:
        if type(micro_batch) is not int or not 0 <= micro_batch < self.micro_batches:
            raise IndexError(
                invalid("micro_batch", f"an integer in [0, {self.micro_batches})", micro_batch)
            )
        check_values(self.terms, values, call="this objective")
        scale = self.scale if scaled else 1
        out = {}
        for term in self.terms:
            value = values[term.name]
            if term.kind == "tokens":
                plan = self._plans[term.name]
                share = (
                    plan.loss(value, micro_batch)
                    if scaled
                    else plan.unscaled_loss(value, micro_batch)
                )
            elif term.kind == STEP:
                share = step_value(term, value) * (scale / (self.replicas * self.micro_batches))
            else:
                share = self._balance(term, value, micro_batch) * scale
            out[term.name] = zero_d(share * term.coefficient if term.coefficient != 1.0 else share)
        return out

    def _balance(self, term: Term, value: Any, k: int) -> Any:
        if term.counts == "window":
            sums = value
            weights = self._weights[term.name]
            xp = ns.namespace(sums, weights, names=(term.name, "expert_counts"))
            divide = 1
        else:
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise ValueError(
                    invalid(
                        term.name,
                        "a pair (probability_sums, expert_counts) of this micro-batch "
                        "(counts='micro-batch')",
                        value,
                    )
                )
            sums, counts = value
            xp = ns.namespace(sums, counts, names=(term.name, f"{term.name} expert_counts"))
            weights = self._micro.get((term.name, k))
            if weights is None:
                weights = self._micro[(term.name, k)] = _micro_weights(
                    xp, term, counts, sums, self._context
                )
            divide = self.micro_batches
        total, result_dtype = balance_value(xp, sums, weights, name=term.name)
        if divide != 1:
            total = total / divide
        return ns.finish(xp, total, result_dtype)


def _micro_weights(
    xp: ns.Namespace, term: Term, counts: Any, like: Any, context: DistributionContext | None
) -> Any:
    """The weights of one micro-step's global batch: its counts summed over the replicas
    (one all-reduce, without gradient)."""
    local = as_layers(xp, counts, f"{term.name} expert_counts", like=like)
    dtype = _backends.of(xp).widest_float(xp, local)
    local = _backends.of(xp).stop_gradient(xp.astype(local, dtype))
    total = reduce_over_replicas(context, local, caller=f"Objective term {term.name!r}")
    assert term.top_k is not None
    return balance_weights(xp, total, term.top_k)


def _per_mask(
    value: Any, name: str, masks: dict[str, Sequence[Any]]
) -> dict[str, Sequence[Any] | None]:
    """``value`` (None, one list for every mask, or a mapping by mask name) per mask."""
    if value is None:
        return dict.fromkeys(masks)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(masks))
        if unknown:
            raise ValueError(
                invalid(name, f"a mapping keyed by mask names {sorted(masks)}", unknown)
            )
        return {key: value.get(key) for key in masks}
    return dict.fromkeys(masks, value)


def _masks(masks: Any) -> dict[str, Sequence[Any]]:
    found = dict(masks) if isinstance(masks, Mapping) else {"tokens": masks}
    lengths = {key: len(value) for key, value in found.items() if isinstance(value, (list, tuple))}
    if len(lengths) != len(found) or not found:
        raise TypeError(
            invalid(
                "masks",
                "a list of [B, T] masks (one per micro-batch), or a mapping of such lists by "
                "mask name",
                masks,
            )
        )
    if len(set(lengths.values())) != 1:
        raise ValueError(
            invalid("masks", "the same number of micro-batches for every mask", lengths)
        )
    return found


def build_plan(
    terms: tuple[Term, ...],
    masks: Any,
    *,
    segment_ids: Any,
    group_ids: Any,
    num_groups: int | None,
    expert_counts: Any,
) -> ObjectivePlan:
    """Check the window, take every term's local counts, sum them in one all-reduce."""
    found = _masks(masks)
    for term in terms:
        if term.kind == "tokens" and term.mask not in found:
            raise ValueError(
                invalid(
                    "masks",
                    f"a mask named {term.mask!r} (term {term.name!r})",
                    f"masks named {sorted(found)}",
                )
            )
    segments = _per_mask(segment_ids, "segment_ids", found)
    groups = _per_mask(group_ids, "group_ids", found)
    shards = sequence_shards(get_context())
    keyed: dict[tuple[Any, ...], Inputs] = {}
    key_of: dict[str, tuple[Any, ...]] = {}
    for term in terms:
        mode = term.mode
        if mode is None:
            continue
        options = term.options
        key = (term.mask, mode.name, options["count_empty"], options["max_length"])
        key_of[term.name] = key
        if key not in keyed:
            keyed[key] = read_inputs(
                found[term.mask],
                mode=mode.name,
                segment_ids=segments[term.mask],
                group_ids=groups[term.mask],
                num_groups=num_groups,
                sequence_shards=shards,
                **options,
            )
    if not keyed:
        raise ValueError(invalid("terms", "at least one per-token term", [t.name for t in terms]))
    first = next(iter(keyed.values()))
    xp, dtype = first.xp, first.dtype
    for inputs in keyed.values():
        if inputs.xp is not xp:
            raise TypeError(invalid("masks", f"arrays of one library ({xp.__name__})", inputs.xp))
    balances = _window_counts(xp, dtype, terms, expert_counts, like=first.batches[0].mask)
    built, extra = build_plans(
        list(keyed.values()),
        [{"experts": counts} for counts in balances.values()],
        caller="Objective.plan",
    )
    by_key = dict(zip(keyed, built, strict=True))
    weights = {}
    for (name, shape), total in zip(balances, extra, strict=True):
        term = next(t for t in terms if t.name == name)
        assert term.top_k is not None
        layers = xp.reshape(total["experts"], shape)
        weights[name] = balance_weights(xp, layers, term.top_k)
    plans = {name: by_key[key] for name, key in key_of.items()}
    context = get_context()
    return ObjectivePlan(terms, plans, weights, context, len(first.batches))


def _window_counts(
    xp: ns.Namespace, dtype: Any, terms: tuple[Term, ...], expert_counts: Any, *, like: Any
) -> dict[tuple[str, tuple[int, ...]], Any]:
    """This replica's window counts of every ``counts="window"`` balancing term, flat, in
    ``dtype``, keyed by (term name, [L, E] shape)."""
    wanted = [t for t in terms if t.kind == GLOBAL_BATCH and t.counts == "window"]
    if not wanted:
        if expert_counts is not None:
            raise ValueError(
                invalid("expert_counts", "None: no term has counts='window'", expert_counts)
            )
        return {}
    if isinstance(expert_counts, Mapping):
        given = dict(expert_counts)
    elif expert_counts is not None and len(wanted) == 1:
        given = {wanted[0].name: expert_counts}
    else:
        given = {}
    names = [t.name for t in wanted]
    if sorted(given) != sorted(names):
        raise ValueError(
            invalid(
                "expert_counts",
                f"this replica's [layers, experts] routing counts over the window for "
                f"{names} (an array for one term, else a mapping by term name)",
                expert_counts,
            )
        )
    out = {}
    for name in names:
        counts = as_layers(xp, given[name], f"expert_counts[{name!r}]", like=like)
        out[(name, tuple(counts.shape))] = xp.reshape(xp.astype(counts, dtype), (-1,))
    return out
