"""Checks of option values that several modules share, with one wording each."""

from __future__ import annotations

import math
import numbers

from losskit._errors import invalid

__all__ = ["NON_NEGATIVE", "non_negative"]

NON_NEGATIVE = "a finite number >= 0"


def non_negative(argument: str, value: object) -> float:
    """``value`` as a float if it is a finite real number >= 0, else a ``ValueError`` naming
    ``argument``. Bools are refused (``L2(True)`` is a mistake, not a factor of 1); an
    integer beyond the float range (JSON allows any size) is infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(invalid(argument, NON_NEGATIVE, value))
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise ValueError(invalid(argument, NON_NEGATIVE, value))
    return number
