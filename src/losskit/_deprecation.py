"""Names that moved: they keep working for at least one release, with a warning that names
their new place (every move is listed in CHANGELOG.md).

TensorFlow 1's loss collections moved from the top level (``losskit.add_loss``, ...) and
``losskit.loss_collections`` to :mod:`losskit.v1`; their old names behave exactly as before
(old signatures included)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from losskit import v1
from losskit.v1 import _collections

__all__ = ["MOVED_TO_V1", "moved_names", "moved_to_v1"]


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


MOVED_TO_V1 = (
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "LossCollections",
    "add_loss",
    "clear_losses",
    "collect_losses",
    "get_losses",
    "get_total_loss",
)


def _add_loss(loss: Any, collection: str = _collections.LOSSES) -> Any:
    """The old ``add_loss`` (keyword ``collection``; TensorFlow 1 calls it ``loss_collection``)."""
    return _collections.add_loss(loss, collection)


def _get_losses(collection: str = _collections.LOSSES) -> list[Any]:
    """The old ``get_losses`` (first argument the collection; TensorFlow 1's is ``scope``)."""
    return _collections.get_losses(loss_collection=collection)


_OLD_SIGNATURES: dict[str, Callable[..., Any]] = {"add_loss": _add_loss, "get_losses": _get_losses}


def _getter(name: str) -> Callable[[], Any]:
    old = _OLD_SIGNATURES.get(name)
    return (lambda: old) if old is not None else (lambda: getattr(v1, name))


def moved_to_v1(module: str) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``module`` (``losskit`` or ``losskit.loss_collections``)."""
    return moved_names(
        module, {name: (f"losskit.v1.{name}", _getter(name)) for name in MOVED_TO_V1}
    )
