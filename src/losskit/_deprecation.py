"""Names that moved: they keep working for at least one release, with a warning that names
their new place (every move is listed in CHANGELOG.md)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved_names"]


def moved_names(
    module: str, moved: Mapping[str, tuple[str, Callable[[], Any]]]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``moved``: ``old name -> (new dotted name, getter)``.

    Reading an old name warns with a ``DeprecationWarning`` (attributed to the caller's
    line) and returns what the getter gives; any other unknown name raises
    ``AttributeError`` as usual.
    """

    def __getattr__(name: str) -> Any:
        found = moved.get(name)
        if found is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, get = found
        warnings.warn(
            f"`{module}.{name}` is deprecated and will be removed in a future release; "
            f"use `{new}` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return get()

    return __getattr__
