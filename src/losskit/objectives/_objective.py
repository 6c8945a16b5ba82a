"""``Objective``: a training objective as terms, each with its normalizer and coefficient."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from losskit._errors import invalid
from losskit.objectives._deferred import DeferredObjective
from losskit.objectives._planned import ObjectivePlan, build_plan
from losskit.objectives._terms import Term

__all__ = ["Objective"]


class Objective:
    r"""A training objective :math:`\sum_j \text{coefficient}_j \cdot \text{term}_j`, each
    term normalized its own way (:class:`Term`), exact on every engine and layout.

    Each optimizer step, inside the engine's context (as for
    :func:`losskit.aggregation.plan`):

    * :meth:`plan` (counts known before the first backward): every term's counts in **one**
      all-reduce, then ``plan.loss(k, **values)`` per micro-batch, the value to call
      ``backward`` on. Each term's effective coefficient (its weight in the gradient the
      engine combines, relative to its single-device value) is its ``coefficient``, for
      any number of replicas, accumulation steps, partial windows and engine combination.
    * :meth:`deferred` (counts known only as the micro-steps run): backward on sums, one
      all-reduce and one in-place scaling at the window's end, step-level terms after
      it; only for terms that can share one post-hoc factor (others are refused).

    Args:
        terms: the terms (unique names; at least one per-token term).

    Raises:
        ValueError: no term, duplicate names, no per-token term.
        TypeError: an entry that is not a :class:`Term`.

    Example:
        >>> import numpy as np
        >>> from losskit.objectives import Objective, Term
        >>> objective = Objective([
        ...     Term("ce", "token-mean"),
        ...     Term("z", "token-mean", coefficient=0.1),
        ...     Term("l2", "step", coefficient=0.5),
        ... ])
        >>> masks = [np.array([[1, 1, 0]]), np.array([[1, 0, 0]])]  # 2 micro-batches, N = 3
        >>> p = objective.plan(masks)
        >>> ce = [np.array([[3.0, 6.0, 9.0]]), np.array([[3.0, 9.0, 9.0]])]
        >>> z = [np.array([[1.0, 2.0, 9.0]]), np.array([[3.0, 9.0, 9.0]])]
        >>> [float(p.loss(k, ce=ce[k], z=z[k], l2=np.array(4.0))) for k in range(2)]
        [4.1, 2.1]
        >>> # 12/3 + 0.1 * 6/3 + 0.5 * 4: each term at its coefficient
        >>> round(4.1 + 2.1, 9)
        6.2
    """

    __slots__ = ("terms",)

    def __init__(self, terms: Iterable[Term]) -> None:
        if isinstance(terms, Term):
            raise TypeError(invalid("terms", "a list of Term", terms))
        found = tuple(terms)
        if not found:
            raise ValueError(invalid("terms", "at least one Term", found))
        names = []
        for term in found:
            if not isinstance(term, Term):
                raise TypeError(invalid("terms", "a list of losskit.objectives.Term", term))
            if term.name in names:
                raise ValueError(invalid("terms", "unique term names", term.name))
            names.append(term.name)
        if not any(term.kind == "tokens" for term in found):
            raise ValueError(
                invalid("terms", "at least one per-token term (a mode normalizer)", names)
            )
        self.terms = found

    def __repr__(self) -> str:
        return f"Objective({list(self.terms)!r})"

    def __getitem__(self, name: str) -> Term:
        for term in self.terms:
            if term.name == name:
                return term
        raise KeyError(name)

    def plan(
        self,
        masks: Any,
        *,
        segment_ids: Any = None,
        group_ids: Any = None,
        num_groups: int | None = None,
        expert_counts: Any = None,
    ) -> ObjectivePlan:
        """One optimizer step's plan, before the first backward, inside the engine's
        context: every term's counts summed over the replicas in one all-reduce (under
        context parallelism, every term's per-sequence counts first summed over the
        sequence group in one more).

        Args:
            masks: this replica's micro-batch masks, ``[B, T]`` each: a list (the mask
                named ``"tokens"``), or a mapping of lists by mask name for terms over
                other masks (same number of micro-batches each).
            segment_ids, group_ids: as for :func:`losskit.aggregation.plan`: a list for
                every mask, or a mapping by mask name.
            num_groups: group modes: the number of groups.
            expert_counts: ``"global-batch"`` terms with ``counts="window"``: this
                replica's ``[layers, experts]`` routing counts over the whole window (e.g.
                from a counting forward pass without gradient): an array for one such
                term, else a mapping by term name.

        Returns:
            An :class:`ObjectivePlan`.

        Raises:
            ValueError: a missing mask or counts, lists of different lengths, and the
                errors of :func:`losskit.aggregation.plan`.
            TypeError: ``masks`` not a list or mapping, arrays of two libraries.
            RuntimeError: in cross-replica context, or a multi-replica context without an
                all-reduce.
        """
        return build_plan(
            self.terms,
            masks,
            segment_ids=segment_ids,
            group_ids=group_ids,
            num_groups=num_groups,
            expert_counts=expert_counts,
        )

    def deferred(self) -> DeferredObjective:
        """One optimizer step under deferred normalization (see :class:`DeferredObjective`),
        opened inside the engine's context before the first micro-step.

        Raises:
            ValueError: a term post-hoc scaling cannot serve: a group mode, a
                ``"global-batch"`` term, a per-token term over another mask or whose mode
                divides by another count than the first per-token term's.
            RuntimeError: in cross-replica context.
        """
        return DeferredObjective(self.terms)

    def get_config(self) -> dict[str, Any]:
        """``{"terms": [term configs]}``, JSON-able; :meth:`from_config` rebuilds it."""
        return {"terms": [term.get_config() for term in self.terms]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Objective:
        return cls([Term.from_config(term) for term in config["terms"]])
