"""``DeferredObjective``: a multi-term objective under deferred normalization.

Post-hoc scaling multiplies the whole gradient buffer by one factor, so it can be exact
only for terms that share that factor: per-token terms over the same mask whose modes
divide by the same global count (N, or S with the same ``count_empty``; their local
:math:`1/n_i` or :math:`1/L` may differ), and step-level terms added after the scaling. A
term with another data-dependent denominator (another mask's count, a group mode, global
load balancing, a ``token-sum`` beside a mean) would need the final count inside its
multiplier before it is known: it is refused.
"""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.aggregation._deferred import DeferredWindow, deferrable
from losskit.aggregation._deferred_counts import DeferredCounts, micro_step
from losskit.aggregation._inputs import read_inputs
from losskit.objectives._terms import (
    GLOBAL_BATCH,
    STEP,
    Term,
    check_values,
    step_value,
    zero_d,
)

__all__ = ["DeferredObjective"]

_PLAN = "build the window with `Objective.plan` (counts before the first backward) instead"


def _refuse(term: Term, why: str) -> ValueError:
    return ValueError(
        invalid(
            "terms",
            "per-token terms sharing the main mask and global count, and step-level terms, "
            "for deferred normalization",
            term,
            hint=f"{why} Post-hoc scaling cannot give it its own factor: {_PLAN}.",
        )
    )


class DeferredObjective(DeferredWindow):
    r"""One optimizer step of an :class:`Objective` whose counts are taken as its
    micro-steps run (built by :meth:`Objective.deferred` inside the engine's context).

    * ``loss(mask, **values)``: the micro-step's value to call ``backward`` on: the sum
      over the per-token terms of coefficient times :math:`\sum_t a_t \ell_t` (the local
      part of each term's coefficient); the mask's count is added to the window's.
    * ``scale_gradients(grads)``: after the window's last backward, one all-reduce of the
      count and one multiply of the gradients by ``scale / D``
      (as ``scale_gradients`` of :class:`losskit.aggregation.DeferredPlan`; under context
      parallelism, a term that needs :math:`n_i` makes every micro-step take one
      all-reduce on the sequence group, for all the terms at once).
    * ``step_loss(**values)``: the step-level terms, coefficient times value, to
      differentiate and **add after the scaling** (PyTorch: ``.backward()`` on it adds its
      gradient to ``.grad``; JAX: add its gradient to the scaled pytree), at full strength
      on every replica, after the engine has combined the gradients.

    Attributes:
        terms: the objective's terms.
        scale, micro_steps, finished, count: as for
            :class:`~losskit.aggregation.DeferredPlan`.

    Example:
        >>> import numpy as np
        >>> from losskit.objectives import Objective, Term
        >>> policy = Objective([
        ...     Term("pg", "seq-mean-token-mean"),
        ...     Term("kl", "seq-mean-token-mean", coefficient=0.1),  # the same S
        ...     Term("l2", "step", coefficient=0.5),
        ... ])
        >>> window = policy.deferred()
        >>> pg, kl = np.array([[2.0, 4.0, 9.0]]), np.array([[1.0, 1.0, 9.0]])
        >>> float(window.loss(np.array([[1, 1, 0]]), pg=pg, kl=kl))  # 6/2 + 0.1 * 2/2
        3.1
        >>> pg, kl = np.array([[3.0, 9.0]]), np.array([[2.0, 9.0]])
        >>> float(window.loss(np.array([[1, 0]]), pg=pg, kl=kl))
        3.2
        >>> window.scale_gradients([np.array([6.2])])  # the sums' gradient / S = 2
        [array([3.1])]
        >>> float(window.step_loss(l2=np.array(4.0)))  # its gradient is added after
        2.0
    """

    __slots__ = ("_step_terms", "_token_terms", "terms")

    def __init__(self, terms: tuple[Term, ...]) -> None:
        token_terms = [t for t in terms if t.kind == "tokens"]
        if not token_terms:
            raise ValueError(
                invalid("terms", "at least one per-token term", [t.name for t in terms])
            )
        main = token_terms[0]
        main_mode = deferrable(main.normalizer, name=f"terms[{main.name!r}]")[0]
        main_empty = main.options["count_empty"]
        for term in terms:
            if term.kind == GLOBAL_BATCH:
                raise _refuse(
                    term,
                    "Global-batch load balancing divides by the global batch's routed tokens "
                    "and expert counts.",
                )
            if term.kind != "tokens" or term is main:
                continue
            mode = deferrable(term.normalizer, name=f"terms[{term.name!r}]")[0]
            if term.mask != main.mask:
                raise _refuse(
                    term,
                    f"Its mask {term.mask!r} has a count of its own, not that of "
                    f"{main.mask!r} (term {main.name!r}).",
                )
            if mode.denominator != main_mode.denominator or (
                mode.denominator == "sequences" and term.options["count_empty"] != main_empty
            ):
                raise _refuse(
                    term,
                    f"Its mode divides by {_count_name(mode.denominator)}, the window by "
                    f"{_count_name(main_mode.denominator)} (term {main.name!r}).",
                )
        self.terms = terms
        self._token_terms = tuple(token_terms)
        self._step_terms = tuple(t for t in terms if t.kind == STEP)
        super().__init__(DeferredCounts("Objective.deferred", main_mode.denominator))

    def __repr__(self) -> str:
        names = ", ".join(term.name for term in self.terms)
        return f"DeferredObjective(terms=[{names}], micro_steps={self.micro_steps})"

    def loss(self, mask: Any, /, *, segment_ids: Any = None, **values: Any) -> Any:
        """This micro-step's value to call ``backward`` on: one ``[B, T]`` loss per
        per-token term, keyed by term name (see the class).

        Raises:
            ValueError: a missing or unknown value (step-level terms go to
                :meth:`step_loss`), shapes and masks as for
                :func:`losskit.aggregation.plan`.
            RuntimeError: the window is finished.
        """
        check_values(self._token_terms, values, call="the per-token terms")
        entries = [
            read_inputs(
                [mask],
                mode=term.normalizer,
                segment_ids=None if segment_ids is None else [segment_ids],
                group_ids=None,
                num_groups=None,
                sequence_shards=self._counts.shards,
                **term.options,
            )
            for term in self._token_terms
        ]
        losses = [values[term.name] for term in self._token_terms]
        total = None
        for term, entry, (weighted, result_dtype) in zip(
            self._token_terms, entries, micro_step(self._counts, entries, losses), strict=True
        ):
            share = ns.finish(entry.xp, weighted, result_dtype)
            if term.coefficient != 1.0:
                share = share * term.coefficient
            total = share if total is None else total + share
        return zero_d(total)

    def step_loss(self, **values: Any) -> Any:
        """The step-level terms, :math:`\\sum_j \\text{coefficient}_j P_j`, at full strength:
        differentiate it and add its gradient after :meth:`scale_gradients`.

        Raises:
            ValueError: the objective has no step-level term, or a value is missing or
                unknown.
        """
        if not self._step_terms:
            raise ValueError(invalid("values", "no value: the objective has no step term", values))
        check_values(self._step_terms, values, call="the step-level terms")
        total = None
        for term in self._step_terms:
            value = step_value(term, values[term.name])
            value = value * term.coefficient if term.coefficient != 1.0 else value
            total = value if total is None else total + value
        return zero_d(total)


def _count_name(denominator: str | None) -> str:
    return {"tokens": "N (tokens)", "sequences": "S (sequences)"}.get(
        str(denominator), "nothing (token-sum)"
    )
