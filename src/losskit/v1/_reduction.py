"""TensorFlow 1's ``Reduction``: its member names and its value strings.

``tf.compat.v1.losses.Reduction`` spells the reductions differently from tf.keras and Keras 3:
its ``SUM`` is ``"weighted_sum"`` and its ``MEAN`` (``"weighted_mean"``) divides by the sum of
the weights. ``losskit.v1.Reduction`` keeps those names and strings, so TF1 code ports
unchanged; each member maps to one :class:`losskit.Reduction` (``MEAN`` to
``WEIGHTED_MEAN``), which does the arithmetic.
"""

from __future__ import annotations

import enum

from losskit._errors import describe
from losskit.reduction import Reduction as CoreReduction

__all__ = ["Reduction", "V1ReductionLike", "resolve"]


class Reduction(str, enum.Enum):
    """Types of loss reduction, as ``tf.compat.v1.losses.Reduction`` names them.

    Members compare equal to TensorFlow 1's value strings (``Reduction.SUM ==
    "weighted_sum"``). Every ``reduction=`` of :mod:`losskit.v1` takes a member, one of these
    strings, or a :class:`losskit.Reduction` member.

    Example:
        >>> from losskit import v1
        >>> v1.Reduction.MEAN
        <Reduction.MEAN: 'weighted_mean'>
        >>> v1.Reduction.validate("weighted_sum") is v1.Reduction.SUM
        True
        >>> v1.Reduction.MEAN.core
        <Reduction.WEIGHTED_MEAN: 'weighted_mean'>
        >>> v1.Reduction.all()[:3]
        ('none', 'weighted_sum', 'weighted_mean')
    """

    NONE = "none"
    """Un-reduced weighted losses with the same shape as the input."""
    SUM = "weighted_sum"
    """Scalar sum of the weighted losses."""
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    """``SUM`` divided by the number of elements of the losses."""
    MEAN = "weighted_mean"
    """``SUM`` divided by the sum of the (broadcast) weights."""
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    """``SUM`` divided by the number of non-zero (broadcast) weights: the default."""
    SUM_OVER_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    """Alias of ``SUM_BY_NONZERO_WEIGHTS``."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """TensorFlow 1's tuple of keys, in its order (the alias included, as TF lists it)."""
        return (
            cls.NONE.value,
            cls.SUM.value,
            cls.MEAN.value,
            cls.SUM_OVER_BATCH_SIZE.value,
            cls.SUM_OVER_NONZERO_WEIGHTS.value,
            cls.SUM_BY_NONZERO_WEIGHTS.value,
        )

    @classmethod
    def validate(cls, key: object) -> Reduction:
        """The member for ``key`` (a member or a TensorFlow 1 value string).

        Raises:
            ValueError: any other key; the message lists TensorFlow 1's keys and, for a
                key of another API (``"sum"``, ``"mean"``), the TF1 spelling of its meaning.
        """
        if isinstance(key, str):
            for member in cls:
                if member.value == key:
                    return member
        keys = ", ".join(repr(member.value) for member in cls)
        raise ValueError(
            f"Invalid `reduction`: expected one of TensorFlow 1's keys {keys} (the values of "
            f"`losskit.v1.Reduction`) or a `losskit.Reduction` member, received "
            f"{describe(key)}.{_suggestion(key)}"
        )

    @property
    def core(self) -> CoreReduction:
        """The :class:`losskit.Reduction` that computes this reduction."""
        return _CORE[self]


_CORE = {
    Reduction.NONE: CoreReduction.NONE,
    Reduction.SUM: CoreReduction.SUM,
    Reduction.SUM_OVER_BATCH_SIZE: CoreReduction.SUM_OVER_BATCH_SIZE,
    Reduction.MEAN: CoreReduction.WEIGHTED_MEAN,
    Reduction.SUM_BY_NONZERO_WEIGHTS: CoreReduction.SUM_BY_NONZERO_WEIGHTS,
}


def _suggestion(key: object) -> str:
    """For a key another API spells (``"sum"``, Keras 3's ``"mean"``), its TF1 spelling."""
    if not isinstance(key, str):
        return ""
    try:
        meaning = CoreReduction.validate(key)
    except ValueError:
        return ""
    if meaning is CoreReduction.AUTO:
        meaning = CoreReduction.SUM_OVER_BATCH_SIZE
    for member, core in _CORE.items():
        if core is meaning:
            return f" TensorFlow 1 spells {key!r} as {member.value!r} (`Reduction.{member.name}`)."
    return f" {key!r} has no TensorFlow 1 name: pass `losskit.Reduction.{meaning.name}`."


V1ReductionLike = Reduction | CoreReduction | str
"""A :class:`Reduction` member, a TensorFlow 1 value string or a :class:`losskit.Reduction`."""


def resolve(reduction: V1ReductionLike) -> CoreReduction:
    """The :class:`losskit.Reduction` that computes ``reduction``.

    Raises:
        ValueError: ``reduction`` is not a TF1 key, a v1 member or a ``losskit.Reduction``.
    """
    if type(reduction) is CoreReduction:
        return reduction
    return Reduction.validate(reduction).core
