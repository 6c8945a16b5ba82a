"""``Term``: one additive term of a training objective, with its normalizer and coefficient."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.aggregation._inputs import read_options
from losskit.aggregation._modes import Mode, spec
from losskit.aggregation._resolve import resolve_with_options

__all__ = ["GLOBAL_BATCH", "STEP", "Term", "check_values", "step_value", "zero_d"]

STEP = "step"
"""The normalizer of a term counted once per optimizer step (a weight penalty)."""
GLOBAL_BATCH = "global-batch"
"""The normalizer of MoE load balancing with expert counts over the global batch."""
COUNT_SCOPES = ("window", "micro-batch")
RESERVED = ("segment_ids",)


@dataclasses.dataclass(frozen=True)
class Term:
    r"""One additive term of an :class:`Objective`: ``coefficient`` times the term's own
    normalized value.

    ``normalizer`` says what the term's value is normalized by:

    * an aggregation mode (``"token-mean"``, ``"seq-mean-token-mean"``, a framework alias
      ...; :data:`losskit.aggregation.MODES`): a per-token term (cross-entropy, z-loss,
      KL, entropy, an NLL side term) reduced over the step as the mode says, over the
      window's mask named ``mask``;
    * ``"step"``: a scalar counted once per optimizer step, whatever the replicas and
      micro-steps (a weight penalty);
    * ``"global-batch"``: MoE load balancing :math:`E \sum_{l,e} f_{l,e} P_{l,e}`, with
      :math:`f_{l,e}` the fraction of layer l's routing assignments that go to expert e
      and :math:`P_{l,e}` its mean router probability, both over the global batch; the
      expert counts ``[layers, experts]`` are summed over the replicas without gradient.
      ``counts="window"``: over the whole optimizer step (exact; the window's counts are
      given to :meth:`Objective.plan`, e.g. from a counting forward pass without
      gradient); ``counts="micro-batch"``: over each micro-step's global batch (every
      replica's micro-batch k: one all-reduce of the counts per micro-step), averaged over
      the window's micro-steps.

    Args:
        name: a Python identifier, unique in the objective; the keyword its value is passed
            under.
        normalizer: an aggregation mode, ``"step"`` or ``"global-batch"``.
        coefficient: a finite real number (negative for a bonus).
        mask: per-token terms: the name of the window's mask the term is reduced over
            (``"tokens"`` by default; e.g. ``"positive"`` for a side term on some samples).
        max_length, count_empty: per-token terms: the mode's options (see
            :func:`losskit.aggregation.plan`).
        top_k: ``"global-batch"``: experts each token is routed to.
        counts: ``"global-batch"``: ``"window"`` (default) or ``"micro-batch"``.

    Raises:
        ValueError: an invalid name, normalizer, coefficient or option, or an option given
            to a term it does not apply to.

    Example:
        >>> from losskit.objectives import Term
        >>> Term("ce", "token-mean")
        Term(name='ce', normalizer='token-mean', coefficient=1.0)
        >>> Term("lbl", "global-batch", coefficient=1e-2, top_k=2).kind
        'global-batch'
    """

    name: str
    normalizer: str
    coefficient: float = 1.0
    mask: str = "tokens"
    max_length: float | None = None
    count_empty: bool | None = None
    top_k: int | None = None
    counts: str = "window"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(invalid("name", "a Python identifier", self.name))
        if self.name in RESERVED:
            raise ValueError(
                invalid("name", f"a name other than {', '.join(RESERVED)} (reserved)", self.name)
            )
        coefficient = self.coefficient
        if (
            isinstance(coefficient, bool)
            or not isinstance(coefficient, numbers.Real)
            or not math.isfinite(float(coefficient))
        ):
            raise ValueError(invalid("coefficient", "a finite real number", coefficient))
        object.__setattr__(self, "coefficient", float(coefficient))
        if not isinstance(self.normalizer, str):
            raise ValueError(invalid("normalizer", _NORMALIZERS, self.normalizer))
        kind = self.kind
        if kind == "tokens":
            self._check_mode()
        else:
            self._reject_token_options()
        if kind == GLOBAL_BATCH:
            top_k = self.top_k
            if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
                raise ValueError(invalid("top_k", "a positive integer (experts per token)", top_k))
            if self.counts not in COUNT_SCOPES:
                raise ValueError(invalid("counts", f"one of {COUNT_SCOPES}", self.counts))
        else:
            if self.top_k is not None or self.counts != "window":
                raise ValueError(
                    invalid(
                        "top_k" if self.top_k is not None else "counts",
                        f"no value for a {kind!r} term (only 'global-batch' terms have one)",
                        self.top_k if self.top_k is not None else self.counts,
                    )
                )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{field.name}={getattr(self, field.name)!r}"
            for field in dataclasses.fields(self)
            if field.name in ("name", "normalizer", "coefficient")
            or getattr(self, field.name) != field.default
        )
        return f"Term({shown})"

    @property
    def kind(self) -> str:
        """``"tokens"`` (a per-token term reduced by a mode), ``"step"`` or
        ``"global-batch"``."""
        return self.normalizer if self.normalizer in (STEP, GLOBAL_BATCH) else "tokens"

    @property
    def mode(self) -> Mode | None:
        """The canonical mode of a per-token term; None for the others."""
        if self.kind != "tokens":
            return None
        return spec(resolve_with_options(self.normalizer)[0])

    @property
    def options(self) -> dict[str, Any]:
        """A per-token term's mode options, the alias's rule filled in: ``max_length``,
        ``count_empty``."""
        count_empty = self.count_empty
        if count_empty is None:
            count_empty = bool(resolve_with_options(self.normalizer)[1].get("count_empty", False))
        return {"max_length": self.max_length, "count_empty": count_empty}

    def _check_mode(self) -> None:
        try:
            canonical, _ = resolve_with_options(self.normalizer)
        except ValueError as error:
            raise ValueError(
                invalid("normalizer", _NORMALIZERS, self.normalizer, hint=str(error))
            ) from None
        if not isinstance(self.mask, str) or not self.mask:
            raise ValueError(invalid("mask", "the name of one of the window's masks", self.mask))
        grouped = spec(canonical).group_count is not None
        # the options' errors now, not at the first window (num_groups comes with it)
        read_options(canonical, num_groups=1 if grouped else None, **self.options)

    def _reject_token_options(self) -> None:
        for name in ("mask", "max_length", "count_empty"):
            value = getattr(self, name)
            if value != Term.__dataclass_fields__[name].default:
                raise ValueError(
                    invalid(
                        name,
                        f"no value for a {self.kind!r} term (only per-token terms have one)",
                        value,
                    )
                )

    def get_config(self) -> dict[str, Any]:
        """The term's settings as a JSON-able dict (``Term(**config)`` rebuilds it)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Term:
        return cls(**config)


_NORMALIZERS = "an aggregation mode (losskit.aggregation.MODES or an alias), 'step' or " + (
    "'global-batch'"
)


def check_values(terms: tuple[Term, ...], values: dict[str, Any], *, call: str) -> None:
    """Every term of ``terms`` has a value in ``values``, and nothing else is there."""
    names = [term.name for term in terms]
    unknown = sorted(set(values) - set(names))
    missing = [name for name in names if name not in values]
    if unknown or missing:
        hint = f"Unknown terms {unknown}." if unknown else f"No value for {missing}."
        raise ValueError(
            invalid(
                "values",
                f"one keyword per term of {call}: {', '.join(names) or 'none'}",
                sorted(values),
                hint=hint,
            )
        )


def step_value(term: Term, value: Any) -> Any:
    """A step-level term's value: the sum of ``value`` (a scalar or an array of penalties),
    0-d, in its library and floating dtype, without the coefficient."""
    xp = ns.namespace(value, names=(term.name,))
    array = ns.as_array(xp, value, name=term.name)
    result_dtype, dtype = ns.loss_dtypes(xp, array, name=term.name)
    return ns.finish(xp, xp.sum(ns.astype(xp, array, dtype)), result_dtype)


def zero_d(value: Any) -> Any:
    """``value`` as a 0-d array of its library: NumPy arithmetic on 0-d arrays gives
    NumPy scalars, and every public result of losskit is an array."""
    return ns.finish(ns.namespace(value), value, value.dtype)
