"""The in-process model of TensorFlow's replica and cross-replica contexts, and of any engine
you describe (``replica_context(R, gradients=..., accumulation=..., all_reduce=...)``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from losskit._errors import invalid
from losskit._state import (
    DistributionContext,
    check_count,
    check_index,
    engine_fields,
    enter,
    sequence_fields,
)

__all__ = ["cross_replica_context", "replica_context"]


def replica_context(
    num_replicas: int,
    *,
    replica_id: int = 0,
    gradients: str = "sum",
    accumulation_steps: int = 1,
    accumulation: str = "sum",
    all_reduce: Callable[[Any], Any] | None = None,
    micro_steps: int | None = None,
    sequence_shards: int = 1,
    sequence_shard: int = 0,
    sequence_all_reduce: Callable[[Any], Any] | None = None,
) -> contextlib.AbstractContextManager[DistributionContext]:
    """Run the enclosed code as replica ``replica_id`` of ``num_replicas``.

    By default this is the in-process model of the body of TensorFlow's ``strategy.run``
    (gradients summed over replicas): inside it, :func:`losskit.compute_average_loss`
    divides by ``batch * num_replicas`` and :func:`losskit.scale_regularization_loss` by
    ``num_replicas``, so that summing the replicas' gradients gives the gradient of the
    global mean. Contexts nest; the innermost one applies. To simulate ``R`` replicas in
    one process, run the step once per ``replica_id`` (or use :mod:`losskit.testing`).

    With ``gradients``, ``accumulation_steps``, ``accumulation`` and ``all_reduce`` it
    describes any engine (a plain sum engine such as Horovod with ``op=Sum``, an engine
    of your own): see ``docs/distributed.md`` for the contract.

    Args:
        num_replicas: the number of replicas in sync, a positive integer.
        replica_id: the index of this replica, ``0 <= replica_id < num_replicas``.
        gradients: ``"sum"`` or ``"mean"``: how the engine combines replicas' gradients.
        accumulation_steps: micro-batches per optimizer step, a positive integer.
        accumulation: ``"sum"`` or ``"mean"``: how micro-steps' gradients are combined.
        all_reduce: a function that sums an array over the replicas and returns the sum
            (used once per step by :func:`losskit.distribute.global_denominator`, on a 0-d
            count, and by :func:`losskit.aggregation.plan`, on one vector of counts).
        micro_steps: micro-batches this step really has, if fewer than
            ``accumulation_steps`` (a partial last window) and not counted by a
            ``global_denominator`` call inside this context.
        sequence_shards: context parallelism: each sequence is split along T over this
            many replicas (a divisor of ``num_replicas``; ``docs/parallelism.md``).
        sequence_shard: this replica's index in its sequence group.
        sequence_all_reduce: a function that sums an array over the sequence group (used
            at most once per window by :func:`losskit.aggregation.plan`, on the
            per-sequence token counts).

    Raises:
        ValueError: ``num_replicas``, ``accumulation_steps`` or ``sequence_shards`` is not
            a positive integer (``sequence_shards`` a divisor of ``num_replicas``),
            ``replica_id`` or ``sequence_shard`` is out of range, or a mode is not
            ``"sum"``/``"mean"``.
        TypeError: ``all_reduce`` or ``sequence_all_reduce`` is not callable.

    Example:
        >>> import numpy as np, losskit
        >>> with losskit.distribute.replica_context(2):
        ...     float(losskit.compute_average_loss(np.array([1.0, 2.0, 3.0, 4.0])))
        1.25
    """
    count = check_count(num_replicas)
    index = check_index(replica_id, count, "replica_id", "replicas")
    if all_reduce is not None and not callable(all_reduce):
        raise TypeError(invalid("all_reduce", "a callable or None", all_reduce))
    context = DistributionContext(
        count,
        index,
        all_reduce=all_reduce,
        **engine_fields(gradients, accumulation_steps, accumulation, micro_steps),
        **sequence_fields(count, sequence_shards, sequence_shard, sequence_all_reduce),
    )
    return enter(context)


def cross_replica_context(
    num_replicas: int,
) -> contextlib.AbstractContextManager[DistributionContext]:
    """The in-process model of TensorFlow's ``with strategy.scope():`` outside ``run``.

    Per-replica calls (``compute_average_loss`` without ``global_batch_size``,
    ``scale_regularization_loss``) raise ``RuntimeError`` here, as they do in TensorFlow.

    Raises:
        ValueError: ``num_replicas`` is not a positive integer.

    Example:
        >>> import numpy as np, losskit
        >>> with losskit.distribute.cross_replica_context(2):
        ...     losskit.scale_regularization_loss(np.array(4.0))
        Traceback (most recent call last):
        ...
        RuntimeError: You are calling `scale_regularization_loss` in cross-replica context...
    """
    return enter(DistributionContext(check_count(num_replicas), None))
