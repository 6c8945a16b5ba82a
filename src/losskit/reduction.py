"""The loss reductions of TensorFlow 1, tf.keras (Keras 2) and Keras 3, under one enum.

The three APIs reuse names with different meanings. losskit keeps every original *string*
meaning and gives each meaning one member:

========================== ================================ ======================================
member                     accepted strings                 denominator of ``sum(weights * losses)``
========================== ================================ ======================================
``AUTO``                   ``"auto"``                       resolved to ``SUM_OVER_BATCH_SIZE``
``NONE``                   ``"none"``, ``None``             no reduction
``SUM``                    ``"sum"``, ``"weighted_sum"``    1
``SUM_OVER_BATCH_SIZE``    ``"sum_over_batch_size"``,       number of loss elements
                           ``"weighted_sum_over_batch_size"``,
                           ``"mean"`` (Keras 3, PyTorch)
``WEIGHTED_MEAN``          ``"weighted_mean"`` (TF1 MEAN)   sum of the broadcast weights
``SUM_BY_NONZERO_WEIGHTS`` ``"sum_by_nonzero_weights"``,    number of non-zero broadcast weights
                           ``"weighted_sum_by_nonzero_weights"``
``MEAN_WITH_SAMPLE_WEIGHT`` ``"mean_with_sample_weight"``   sum of the weights as given (Keras 3)
========================== ================================ ======================================

``"mean"`` is Keras 3's (and PyTorch's) name for the mean over all elements; TF1's
``Reduction.MEAN`` is a different reduction whose *value* is ``"weighted_mean"``. losskit has
no ``Reduction.MEAN`` attribute, so neither meaning can be picked by accident: the attribute
raises an ``AttributeError`` that names both members.
"""

from __future__ import annotations

import difflib
import enum
from typing import NoReturn

from losskit._errors import describe

__all__ = ["Reduction", "ReductionLike"]

_ALIASES: dict[str | None, str] = {
    None: "none",
    "mean": "sum_over_batch_size",
    "weighted_sum": "sum",
    "weighted_sum_over_batch_size": "sum_over_batch_size",
    "weighted_sum_by_nonzero_weights": "sum_by_nonzero_weights",
    "sum_over_nonzero_weights": "sum_by_nonzero_weights",
}

_AMBIGUOUS = {
    "MEAN": (
        "`Reduction.MEAN` is ambiguous: TensorFlow 1's MEAN divides by the sum of the weights "
        "(use `Reduction.WEIGHTED_MEAN`), Keras 3's and PyTorch's 'mean' divides by the number "
        "of elements (use `Reduction.SUM_OVER_BATCH_SIZE`)."
    ),
}


class _ReductionMeta(enum.EnumMeta):
    def __getattr__(cls, name: str) -> NoReturn:
        if name in _AMBIGUOUS:
            raise AttributeError(_AMBIGUOUS[name])
        members = ", ".join(cls.__members__)
        raise AttributeError(f"`Reduction` has no member {name!r}; the members are {members}.")


class Reduction(str, enum.Enum, metaclass=_ReductionMeta):
    """Types of loss reduction.

    Members compare equal to their string values (``Reduction.SUM == "sum"``), so they
    serialize to JSON as plain strings. Every function that takes a ``reduction`` also takes
    any accepted string (see the module docstring), including TensorFlow 1's value strings
    and Keras 3's ``"mean"`` and ``None``.

    Example:
        >>> from losskit import Reduction
        >>> Reduction.validate("weighted_sum")
        <Reduction.SUM: 'sum'>
        >>> Reduction.validate("mean") is Reduction.SUM_OVER_BATCH_SIZE
        True
        >>> Reduction.all()[:4]
        ('auto', 'none', 'sum', 'sum_over_batch_size')
    """

    AUTO = "auto"
    """Determined by the context: ``SUM_OVER_BATCH_SIZE``, an error with several replicas."""
    NONE = "none"
    """No reduction: the weighted losses, broadcast to a common shape."""
    SUM = "sum"
    """Scalar sum of the weighted losses."""
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
    """Sum divided by the number of elements of the losses (Keras 3 and PyTorch ``"mean"``)."""
    WEIGHTED_MEAN = "weighted_mean"
    """Sum divided by the sum of the broadcast weights (TensorFlow 1 ``Reduction.MEAN``)."""
    SUM_BY_NONZERO_WEIGHTS = "sum_by_nonzero_weights"
    """Sum divided by the number of non-zero broadcast weights (TensorFlow 1 default)."""
    SUM_OVER_NONZERO_WEIGHTS = "sum_by_nonzero_weights"
    """Alias of ``SUM_BY_NONZERO_WEIGHTS``."""
    MEAN_WITH_SAMPLE_WEIGHT = "mean_with_sample_weight"
    """Sum divided by the sum of the weights before broadcasting (Keras 3)."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _missing_(cls, value: object) -> Reduction | None:
        if isinstance(value, str) or value is None:
            canonical = _ALIASES.get(value)
            if canonical is not None:
                return cls(canonical)
        return None

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """The canonical value of every reduction, aliases excluded."""
        return tuple(member.value for member in cls)

    @classmethod
    def accepted_keys(cls) -> tuple[str | None, ...]:
        """Every accepted key: the canonical values and the TF1 and Keras 3 aliases."""
        return (*cls.all(), *_ALIASES)

    @classmethod
    def validate(cls, key: object) -> Reduction:
        """The member for ``key`` (a member, a canonical value or an alias).

        Raises:
            ValueError: ``key`` is not a reduction; the message lists the valid keys.
        """
        if type(key) is Reduction:
            return key
        if isinstance(key, str) or key is None:
            found = _BY_KEY.get(key)
            if found is not None:
                return found
        suggestion = ""
        if isinstance(key, str):
            known = [k for k in cls.accepted_keys() if k]
            close = difflib.get_close_matches(key.lower(), known, n=1)
            if close:
                suggestion = f" Did you mean {close[0]!r}?"
        accepted = ", ".join(repr(k) for k in cls.all())
        aliases = ", ".join(repr(k) for k in _ALIASES)
        raise ValueError(
            f"Invalid `reduction`: expected one of {accepted} or an alias ({aliases}), "
            f"received {describe(key)}.{suggestion}"
        )

    @property
    def divides(self) -> bool:
        """True for the reductions that divide the sum by a denominator."""
        return self not in (Reduction.NONE, Reduction.SUM)


_BY_KEY: dict[str | None, Reduction] = {
    **{member.value: member for member in Reduction},
    **{alias: Reduction(value) for alias, value in _ALIASES.items()},
}

ReductionLike = Reduction | str | None
"""A :class:`Reduction` or any key :meth:`Reduction.validate` accepts."""


def resolve(
    reduction: ReductionLike, *, num_replicas: int, accumulation_steps: int = 1
) -> Reduction:
    """Validate ``reduction`` and resolve ``AUTO`` for a step split over ``num_replicas``
    replicas and ``accumulation_steps`` micro-batches.

    With more than one replica or micro-batch a local mean is wrong: the pieces' gradients
    are combined, so the mean must be over the global batch. Like tf.keras's ``Loss``,
    losskit then refuses ``AUTO`` and every dividing reduction and says what to use instead.

    Raises:
        ValueError: an invalid key, or a dividing reduction when the step is split.
    """
    member = Reduction.validate(reduction)
    if member.divides and (num_replicas > 1 or accumulation_steps > 1):
        where = (
            f"inside a replica context with {num_replicas} replicas (their gradients are summed)"
            if num_replicas > 1
            else f"with {accumulation_steps} accumulation steps (their gradients are combined)"
        )
        raise ValueError(
            f"Invalid `reduction`: {member.value!r} divides by the local batch, which is wrong "
            f"{where}. Use `Reduction.SUM` or `Reduction.NONE` and divide by the global batch "
            "with `losskit.compute_average_loss(per_example_loss, global_batch_size=...)` "
            "(`losskit.distribute.global_denominator` computes it)."
        )
    if member is Reduction.AUTO:
        return Reduction.SUM_OVER_BATCH_SIZE
    return member
