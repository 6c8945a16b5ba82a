"""The checks of the built-in losses' options, one per kind of option.

Each check takes ``(name, value)``, returns the value in its stored form and raises a
``ValueError`` naming the option, the expectation and the value received. The function forms
call them directly; the classes declare them with :func:`option`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from losskit._checks import non_negative
from losskit._errors import invalid

__all__ = [
    "Check",
    "check_axis",
    "check_bool",
    "check_class_weights",
    "check_finite",
    "check_non_negative",
    "check_open_unit",
    "check_option",
    "check_reduce_axis",
    "check_unit",
    "is_real",
    "option",
]

Check = Callable[[str, Any], Any]
"""``check(name, value) -> stored value``; raises ``ValueError``."""


def option(default: Any, check: Check) -> Any:
    """A dataclass field of a built-in loss: its default and the check of a given value."""
    return dataclasses.field(default=default, metadata={"check": check})


def check_option(name: str, value: Any, expected: str, ok: Callable[[Any], bool]) -> Any:
    """``value`` if ``ok(value)``, else a ``ValueError`` naming the option."""
    try:
        good = ok(value)
    except TypeError:
        good = False
    if not good:
        raise ValueError(invalid(name, expected, value))
    return value


def is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_bool(name: str, value: Any) -> bool:
    return bool(check_option(name, value, "True or False", lambda v: isinstance(v, bool)))


def check_axis(name: str, value: Any) -> int:
    return int(check_option(name, value, "an integer", _is_int))


def check_unit(name: str, value: Any) -> float:
    """A number in [0, 1] (label smoothing, alpha)."""
    return float(
        check_option(name, value, "a number in [0, 1]", lambda v: is_real(v) and 0 <= v <= 1)
    )


def check_open_unit(name: str, value: Any) -> float:
    """A number in (0, 1) (the generalized crossentropy's ``q``)."""
    return float(
        check_option(name, value, "a number in (0, 1)", lambda v: is_real(v) and 0 < v < 1)
    )


def check_non_negative(name: str, value: Any) -> float:
    return non_negative(name, value)


def check_finite(name: str, value: Any) -> float:
    return float(
        check_option(name, value, "a finite number", lambda v: is_real(v) and math.isfinite(v))
    )


def check_class_weights(name: str, value: Any) -> float | list[float]:
    """A number in [0, 1], or a non-empty list of finite numbers >= 0, one per class
    (tf_keras's per-class ``alpha`` of the categorical focal crossentropy)."""
    if not isinstance(value, (list, tuple)):
        return check_unit(name, value)

    def ok(values: Sequence[Any]) -> bool:
        return bool(values) and all(is_real(v) and 0 <= v < math.inf for v in values)

    check_option(name, value, "a number in [0, 1] or a list of finite numbers >= 0", ok)
    return [float(v) for v in value]


def check_reduce_axis(name: str, value: Any) -> int | list[int] | None:
    """None (every axis), an integer, or a list of distinct integers (stored as a list, the
    form a JSON config reads back; Keras 3 writes a tuple as ``{"class_name": "__tuple__",
    "config": {"value": [...]}}``, which is read too)."""
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        value = value.get("config", {}).get("value")
    if value is None or _is_int(value):
        return value  # type: ignore[no-any-return]

    def ok(values: Any) -> bool:
        return (
            isinstance(values, (list, tuple))
            and bool(values)
            and all(_is_int(v) for v in values)
            and len(set(values)) == len(values)
        )

    check_option(name, value, "None, an integer or a list of distinct integers", ok)
    return [int(v) for v in value]
