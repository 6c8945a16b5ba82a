"""TensorFlow 1's loss collections, for eager training steps.

TensorFlow 1 adds every loss to a graph collection (``loss_collection``) that
``get_total_loss`` later sums; in eager mode TensorFlow ignores the argument. losskit keeps
the idea without a global graph: losses are recorded only inside
``with collect_losses() as losses:``, into a store that belongs to that block (and thread),
so nothing accumulates across steps and no autograd graph is kept alive by accident.

Recording is a hook (:func:`record`) that the :mod:`losskit.v1` functions call after
computing; the arithmetic of :mod:`losskit` never records.

Example:
    >>> import numpy as np
    >>> from losskit import v1
    >>> with v1.collect_losses() as collected:
    ...     data = v1.compute_weighted_loss(np.array([1.0, 3.0]), reduction=v1.Reduction.SUM)
    ...     penalty = v1.add_loss(np.array(0.5), v1.REGULARIZATION_LOSSES)
    ...     float(v1.get_total_loss()), float(v1.get_regularization_loss())
    (4.5, 0.5)
    >>> float(collected.total())  # LOSSES only
    4.0
"""

from __future__ import annotations

import contextlib
import functools
import operator
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from losskit import _namespace as ns
from losskit import weighted_loss
from losskit._errors import invalid

__all__ = [
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "LossCollections",
    "add_loss",
    "clear_losses",
    "collect_losses",
    "get_losses",
    "get_regularization_loss",
    "get_regularization_losses",
    "get_total_loss",
    "record",
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


def record(loss: Any, collection: str | None) -> Any:
    """The recording hook: add ``loss`` to ``collection`` of the innermost active block.

    Outside every block, or with ``collection`` None or empty, nothing is recorded (as in
    TensorFlow's eager mode). Returns ``loss``.
    """
    if collection and _STATE.stack:
        _STATE.stack[-1].add(loss, collection)
    return loss


def _legacy_record(loss: Any, collection: Any) -> bool:
    """``losskit.compute_weighted_loss``'s old recording, kept for one release: inside an
    active block, record (with a ``DeprecationWarning``) and return True."""
    if not _STATE.stack:
        return False
    if collection:
        warnings.warn(
            "Recording by `losskit.compute_weighted_loss` into loss collections is deprecated "
            "and will be removed in a future release: it computes only; use "
            "`losskit.v1.compute_weighted_loss` (which records) inside "
            "`losskit.v1.collect_losses()`.",
            DeprecationWarning,
            stacklevel=4,
        )
        _STATE.stack[-1].add(loss, collection)
    return True


weighted_loss.LEGACY_RECORDER[:] = [_legacy_record]


def _active(caller: str) -> LossCollections:
    if not _STATE.stack:
        raise RuntimeError(
            f"`{caller}` needs an active loss collection: wrap the training step in "
            "`with losskit.v1.collect_losses() as losses:`."
        )
    return _STATE.stack[-1]


def _no_scope(caller: str, scope: object) -> None:
    """TensorFlow filters collections by graph name scope; eager losses have no names."""
    if scope is None:
        return
    hint = (
        "To read another collection, pass `loss_collection=...`." if caller == "get_losses" else ""
    )
    expected = "None (losskit's collections hold eager arrays, which have no graph name scope)"
    raise ValueError(invalid("scope", expected, scope, hint=hint))


def add_loss(loss: Any, loss_collection: str | None = LOSSES) -> Any:
    """Record ``loss`` in ``loss_collection`` of the active :func:`collect_losses` block
    (TensorFlow 1's ``add_loss``); ``loss_collection=None`` records nothing.

    Returns ``loss`` unchanged, so it can wrap an expression.

    Raises:
        RuntimeError: a collection is named outside a :func:`collect_losses` block.
    """
    if loss_collection is None:
        return loss
    return _active("add_loss").add(loss, loss_collection)


def get_losses(scope: None = None, loss_collection: str = LOSSES) -> list[Any]:
    """The losses recorded in ``loss_collection`` of the active block, oldest first.

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
        ValueError: a ``scope`` other than None.
    """
    _no_scope("get_losses", scope)
    return _active("get_losses").get(loss_collection)


def get_regularization_losses(scope: None = None) -> list[Any]:
    """The losses recorded in ``REGULARIZATION_LOSSES`` of the active block.

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
        ValueError: a ``scope`` other than None.
    """
    _no_scope("get_regularization_losses", scope)
    return _active("get_regularization_losses").get(REGULARIZATION_LOSSES)


def get_regularization_loss(scope: None = None, name: str = "total_regularization_loss") -> Any:
    """The sum of ``REGULARIZATION_LOSSES`` (``0.0`` when empty); ``name`` is accepted and
    ignored (it names a graph op in TensorFlow).

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
        ValueError: a ``scope`` other than None.
    """
    del name
    _no_scope("get_regularization_loss", scope)
    return _active("get_regularization_loss").total(REGULARIZATION_LOSSES)


def get_total_loss(
    add_regularization_losses: bool = True, name: str = "total_loss", scope: None = None
) -> Any:
    """TensorFlow 1's ``get_total_loss``: ``LOSSES`` plus ``REGULARIZATION_LOSSES``.

    ``name`` is accepted and ignored. With nothing recorded the total is ``0.0``.

    Raises:
        RuntimeError: outside a :func:`collect_losses` block.
        ValueError: a ``scope`` other than None.
    """
    del name
    _no_scope("get_total_loss", scope)
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
