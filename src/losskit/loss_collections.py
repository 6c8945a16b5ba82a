"""Named loss collections that eager code can use.

TensorFlow 1 adds every loss to a graph collection (``loss_collection``) that
``get_total_loss`` later sums; in eager mode TensorFlow ignores the argument. losskit keeps
the idea for eager training steps without a global graph: losses are recorded only inside
``with collect_losses() as losses:``, into a store that belongs to that block (and thread),
so nothing accumulates across steps and no autograd graph is kept alive by accident.

Example:
    >>> import numpy as np, losskit
    >>> with losskit.collect_losses() as collected:
    ...     data = losskit.compute_weighted_loss(np.array([1.0, 3.0]), reduction="sum")
    ...     penalty = losskit.add_loss(np.array(0.5), losskit.REGULARIZATION_LOSSES)
    ...     float(collected.total())
    4.0
    >>> float(collected.total(losskit.LOSSES, losskit.REGULARIZATION_LOSSES))
    4.5
"""

from __future__ import annotations

import contextlib
import functools
import operator
import threading
from collections.abc import Iterator
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid

__all__ = [
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "LossCollections",
    "add_loss",
    "clear_losses",
    "collect_losses",
    "get_losses",
    "get_total_loss",
]

LOSSES = "losses"
"""The default collection (TensorFlow's ``GraphKeys.LOSSES``)."""
REGULARIZATION_LOSSES = "regularization_losses"
"""The collection for penalties (TensorFlow's ``GraphKeys.REGULARIZATION_LOSSES``)."""


def _check_name(collection: object) -> str:
    if not isinstance(collection, str) or not collection:
        raise TypeError(invalid("collection", "a non-empty string", collection))
    return collection


class LossCollections:
    """The losses recorded in one :func:`collect_losses` block, by collection name."""

    def __init__(self) -> None:
        self._losses: dict[str, list[Any]] = {}

    def add(self, loss: Any, collection: str = LOSSES) -> Any:
        """Record ``loss`` (an array of any shape) in ``collection``; returns ``loss``."""
        self._losses.setdefault(_check_name(collection), []).append(loss)
        return loss

    def get(self, collection: str = LOSSES) -> list[Any]:
        """The losses recorded in ``collection``, oldest first (a new list)."""
        return list(self._losses.get(_check_name(collection), ()))

    def names(self) -> tuple[str, ...]:
        """The collections that hold at least one loss."""
        return tuple(name for name, losses in self._losses.items() if losses)

    def total(self, *collections: str) -> Any:
        """Sum of every element of every loss in ``collections`` (default: ``LOSSES``).

        Returns a 0-d array of the losses' library (their promoted dtype), or the Python
        float ``0.0`` when the collections are empty.

        Raises:
            TypeError: the losses come from different array libraries.
        """
        entries = [loss for name in (collections or (LOSSES,)) for loss in self.get(name)]
        if not entries:
            return 0.0
        xp = ns.namespace(*entries, names=[f"loss {i}" for i in range(len(entries))])
        sums = [xp.sum(ns.as_array(xp, loss, name="loss")) for loss in entries]
        return functools.reduce(operator.add, sums)

    def clear(self, *collections: str) -> None:
        """Forget the losses of ``collections`` (default: all of them)."""
        if not collections:
            self._losses.clear()
        for name in collections:
            self._losses.pop(_check_name(name), None)

    def __len__(self) -> int:
        return sum(len(losses) for losses in self._losses.values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{name!r}: {len(v)}" for name, v in self._losses.items() if v)
        return f"LossCollections({{{counts}}})"


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[LossCollections] = []


_STATE = _State()


@contextlib.contextmanager
def collect_losses() -> Iterator[LossCollections]:
    """Record, inside the block, every loss computed with a ``loss_collection``.

    Blocks nest; losses go to the innermost one. The store stays readable after the block.
    """
    store = LossCollections()
    _STATE.stack.append(store)
    try:
        yield store
    finally:
        _STATE.stack.pop()


def record(loss: Any, collection: str) -> None:
    """Add ``loss`` to the innermost active store, if any (losskit's own calls use this)."""
    if _STATE.stack:
        _STATE.stack[-1].add(loss, collection)


def _active(caller: str) -> LossCollections:
    if not _STATE.stack:
        raise RuntimeError(
            f"`{caller}` needs an active loss collection: wrap the training step in "
            "`with losskit.collect_losses() as losses:`."
        )
    return _STATE.stack[-1]


def add_loss(loss: Any, collection: str = LOSSES) -> Any:
    """Record ``loss`` in ``collection`` of the active :func:`collect_losses` block.

    Returns ``loss`` unchanged, so it can wrap an expression.

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
    """
    return _active("add_loss").add(loss, collection)


def get_losses(collection: str = LOSSES) -> list[Any]:
    """The losses recorded in ``collection`` of the active block, oldest first.

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
    """
    return _active("get_losses").get(collection)


def get_total_loss(*, add_regularization_losses: bool = True) -> Any:
    """TensorFlow 1's ``get_total_loss``: ``LOSSES`` plus ``REGULARIZATION_LOSSES``.

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
    """
    store = _active("get_total_loss")
    if add_regularization_losses:
        return store.total(LOSSES, REGULARIZATION_LOSSES)
    return store.total(LOSSES)


def clear_losses(*collections: str) -> None:
    """Forget the losses of ``collections`` (default: all) in the active block.

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
    """
    _active("clear_losses").clear(*collections)
