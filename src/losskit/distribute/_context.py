"""The in-process model of TensorFlow's replica and cross-replica contexts.

TensorFlow runs a training step once per replica (``strategy.run``: *replica context*) and
the code around it once for all replicas (``strategy.scope()``: *cross-replica context*).
Functions that need the replica count read it from the innermost context entered here.

The stack lives in a ``threading.local`` (one per thread) rather than a ``ContextVar``:
TorchDynamo cannot trace ``ContextVar.get``, and losskit must run under
``torch.compile(fullgraph=True)``; a thread-local is traced and guarded on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import threading
from collections.abc import Iterator

from losskit._errors import invalid

__all__ = [
    "DistributionContext",
    "cross_replica_context",
    "get_context",
    "num_replicas_in_sync",
    "replica_context",
]


@dataclasses.dataclass(frozen=True)
class DistributionContext:
    """Where the current code runs.

    Attributes:
        num_replicas: replicas that run the step in sync and whose gradients are summed.
        replica_id: this replica's index, or None in cross-replica context.

    Example:
        >>> from losskit.distribute import replica_context
        >>> with replica_context(4, replica_id=1) as context:
        ...     context
        DistributionContext(num_replicas=4, replica_id=1)
        >>> context.in_cross_replica_context
        False
    """

    num_replicas: int
    replica_id: int | None

    @property
    def in_cross_replica_context(self) -> bool:
        return self.replica_id is None


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[DistributionContext] = []


_STATE = _State()


def _check_count(num_replicas: object) -> int:
    if (
        isinstance(num_replicas, bool)
        or not isinstance(num_replicas, numbers.Integral)
        or int(num_replicas) < 1
    ):
        raise ValueError(invalid("num_replicas", "a positive integer", num_replicas))
    return int(num_replicas)


@contextlib.contextmanager
def _entered(context: DistributionContext) -> Iterator[DistributionContext]:
    _STATE.stack.append(context)
    try:
        yield context
    finally:
        _STATE.stack.pop()


def replica_context(
    num_replicas: int, *, replica_id: int = 0
) -> contextlib.AbstractContextManager[DistributionContext]:
    """Run the enclosed code as replica ``replica_id`` of ``num_replicas`` (sum of gradients).

    This is the in-process model of the body of TensorFlow's ``strategy.run``: inside it,
    :func:`losskit.compute_average_loss` divides by ``batch * num_replicas`` and
    :func:`losskit.scale_regularization_loss` by ``num_replicas``, so that summing the
    replicas' gradients gives the gradient of the global mean. Contexts nest; the innermost
    one applies. To simulate ``R`` replicas in one process, run the step once per
    ``replica_id``.

    Args:
        num_replicas: the number of replicas in sync, a positive integer.
        replica_id: the index of this replica, ``0 <= replica_id < num_replicas``.

    Raises:
        ValueError: ``num_replicas`` is not a positive integer, or ``replica_id`` is out of
            range.

    Example:
        >>> import numpy as np, losskit
        >>> with losskit.distribute.replica_context(2):
        ...     float(losskit.compute_average_loss(np.array([1.0, 2.0, 3.0, 4.0])))
        1.25
    """
    count = _check_count(num_replicas)
    if (
        isinstance(replica_id, bool)
        or not isinstance(replica_id, numbers.Integral)
        or not 0 <= int(replica_id) < count
    ):
        raise ValueError(
            invalid("replica_id", f"an integer in [0, {count}) for {count} replicas", replica_id)
        )
    return _entered(DistributionContext(count, int(replica_id)))


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
    return _entered(DistributionContext(_check_count(num_replicas), None))


def get_context() -> DistributionContext | None:
    """The innermost active context, or None outside every context (one replica).

    Example:
        >>> from losskit.distribute import cross_replica_context, get_context
        >>> get_context() is None
        True
        >>> with cross_replica_context(2):
        ...     get_context().in_cross_replica_context
        True
    """
    stack = _STATE.stack
    return stack[-1] if stack else None


def num_replicas_in_sync() -> int:
    """The replica count of the innermost context; 1 outside every context.

    Example:
        >>> from losskit.distribute import num_replicas_in_sync, replica_context
        >>> with replica_context(8):
        ...     num_replicas_in_sync()
        8
        >>> num_replicas_in_sync()
        1
    """
    stack = _STATE.stack
    return stack[-1].num_replicas if stack else 1


def summing_replicas() -> int:
    """How many replicas' gradients are summed with this code's: the replica count inside a
    replica context, 1 in cross-replica context (run once for all) and outside contexts."""
    stack = _STATE.stack
    if not stack or stack[-1].in_cross_replica_context:
        return 1
    return stack[-1].num_replicas


def require_replica_context(caller: str, *, bypass: str = "") -> int:
    """The replica count, or a ``RuntimeError`` in cross-replica context (as TensorFlow)."""
    context = get_context()
    if context is None:
        return 1
    if context.in_cross_replica_context:
        fix = (
            "Call it inside `losskit.distribute.replica_context(...)`, i.e. in the per-replica step"
        )
        fix += f", or {bypass}." if bypass else "."
        raise RuntimeError(
            f"You are calling `{caller}` in cross-replica context, while it was expected to be "
            f"called in replica context. {fix}"
        )
    return context.num_replicas
