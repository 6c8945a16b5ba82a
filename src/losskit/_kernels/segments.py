"""Counting and picking by integer ids (segment sums) in pure array-API calls.

The array API has no scatter-add. These are the fallbacks for a library without one:
sort the ids, take running sums (exact: the values are integers) and difference them at
each id's first and last position. :mod:`losskit._backends` replaces them with the
library's own kernel (``np.bincount``, ``index_add_``/``scatter_add_``,
``jax.ops.segment_sum``) where there is one. Shapes never depend on values (the number of
bins is a Python int), so everything traces under ``jax.jit`` and ``torch.compile``. Ids
equal to ``length`` are a discard bin: they are not counted and not picked.
"""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns

__all__ = ["count_ids", "id_bound", "pick", "sorted_sums"]


def sorted_sums(xp: ns.Namespace, ids: Any, values: Any, length: int) -> Any:
    """The sum of ``values`` (None: 1 each) of each id in ``[0, length)``; ``[length]``."""
    order = xp.argsort(ids)
    ordered = xp.take(ids, order)
    if values is None:
        running = xp.arange(1, ids.shape[0] + 1, dtype=ids.dtype)
    else:
        running = xp.cumulative_sum(xp.take(values, order))
    bounds = xp.arange(length, dtype=ids.dtype)
    start = xp.searchsorted(ordered, bounds, side="left")
    stop = xp.searchsorted(ordered, bounds, side="right")
    padded = xp.concat([xp.zeros(1, dtype=running.dtype), running])
    return xp.take(padded, stop) - xp.take(padded, start)


def count_ids(xp: ns.Namespace, ids: Any, length: int) -> Any:
    """How often each id in ``[0, length)`` occurs in ``ids`` (integers in ``[0, length]``)."""
    return sorted_sums(xp, xp.reshape(ids, (-1,)), None, length)


def pick(xp: ns.Namespace, values: Any, ids: Any, length: int) -> Any:
    """One of the values of each id in ``[0, length)`` (0 where an id does not occur): the
    value of each segment, when all the values of a segment are equal."""
    flat_ids, flat = xp.reshape(ids, (-1,)), xp.reshape(values, (-1,))
    counts = sorted_sums(xp, flat_ids, None, length)
    sums = sorted_sums(xp, flat_ids, flat, length)
    return sums // xp.where(counts > 0, counts, 1)


def id_bound(xp: ns.Namespace, ids: Any) -> Any:
    """A 0-d integer that is the largest id if no id is negative, and at least
    ``2**31 - 1`` otherwise: ``0 <= ids < stop`` exactly when it is below ``stop``."""
    return xp.where(xp.min(ids) < 0, 2**31 - 1, xp.max(ids))
