"""Names that moved, kept working as deprecated aliases (see CHANGELOG.md).

TensorFlow 1's loss collections moved from the top level (``losskit.add_loss``, ...) to
:mod:`losskit.v1`. The old names resolve lazily through the modules' ``__getattr__``, with a
``DeprecationWarning`` naming the new one, and behave exactly as before.
"""

from __future__ import annotations

import warnings
from typing import Any

from losskit import v1
from losskit.v1 import _collections

__all__ = ["MOVED_TO_V1", "moved_to_v1"]

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
"""The names that moved to :mod:`losskit.v1` (from ``losskit`` and ``losskit.loss_collections``)."""


def _add_loss(loss: Any, collection: str = _collections.LOSSES) -> Any:
    """The old ``add_loss`` (keyword ``collection``; TensorFlow 1 calls it ``loss_collection``)."""
    return _collections.add_loss(loss, collection)


def _get_losses(collection: str = _collections.LOSSES) -> list[Any]:
    """The old ``get_losses`` (first argument the collection; TensorFlow 1's is ``scope``)."""
    return _collections.get_losses(loss_collection=collection)


_OLD_SIGNATURES = {"add_loss": _add_loss, "get_losses": _get_losses}
_NOTES = {
    "collect_losses": (
        " Only `losskit.v1` functions record into it: `losskit.compute_weighted_loss` no "
        "longer does (use `losskit.v1.compute_weighted_loss`)."
    ),
}


def moved_to_v1(module: str, name: str) -> Any:
    """``module.name`` as it was, with a ``DeprecationWarning`` naming ``losskit.v1.name``.

    Raises:
        AttributeError: ``name`` did not move (the module has no such attribute).
    """
    if name not in MOVED_TO_V1:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    note = _NOTES.get(name, "")
    warnings.warn(
        f"`{module}.{name}` is deprecated: TensorFlow 1's loss collections moved to "
        f"`losskit.v1`; use `losskit.v1.{name}`. The old name will be removed in a future "
        f"release.{note}",
        DeprecationWarning,
        stacklevel=3,
    )
    return _OLD_SIGNATURES.get(name) or getattr(v1, name)
