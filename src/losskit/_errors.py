"""One shape for every error message: the argument, what is allowed, what was received."""

from __future__ import annotations

from typing import Any

import numpy as np


def describe(value: Any) -> str:
    """A short, unambiguous rendering of a received value for an error message."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return repr(value)  # np.float64(5.0), array(5.): the value is the useful part
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        kind = type(value).__module__.split(".")[0]
        return f"{kind} array of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def invalid(argument: str, expected: str, received: Any, *, hint: str = "") -> str:
    """``Invalid `argument`: expected ..., received ...`` plus an optional hint."""
    message = f"Invalid `{argument}`: expected {expected}, received {describe(received)}."
    return f"{message} {hint}" if hint else message
