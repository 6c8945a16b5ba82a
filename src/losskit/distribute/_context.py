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
from collections.abc import Callable, Iterator
from typing import Any

from losskit._errors import invalid

__all__ = [
    "DistributionContext",
    "cross_replica_context",
    "get_context",
    "num_replicas_in_sync",
    "replica_context",
]


GRADIENT_MODES = ("sum", "mean")


class _Window:
    """The current optimizer step's accumulation window (set by ``global_denominator``)."""

    __slots__ = ("micro_steps",)

    def __init__(self, micro_steps: int | None = None) -> None:
        self.micro_steps = micro_steps


def _window(micro_steps: int | None, accumulation_steps: int) -> _Window:
    """A validated window: ``1 <= micro_steps <= accumulation_steps``, or None (full)."""
    if micro_steps is not None:
        count = check_count(micro_steps, "micro_steps")
        if count > accumulation_steps:
            raise ValueError(
                invalid("micro_steps", f"at most accumulation_steps={accumulation_steps}", count)
            )
    return _Window(micro_steps)


@dataclasses.dataclass(frozen=True)
class DistributionContext:
    """Where the current code runs, and how the engine combines its gradients.

    Attributes:
        num_replicas: replicas (processes, devices) that run the step in sync.
        replica_id: this replica's index; None in cross-replica context; a traced index
            under JAX.
        gradients: how the engine combines the replicas' gradients: ``"sum"``
            (tf.distribute, ``psum``) or ``"mean"`` (DDP, FSDP, Horovod, ``pmean``).
        accumulation_steps: micro-batches per optimizer step (gradient accumulation).
        accumulation: how the micro-steps' gradients are combined: ``"sum"`` (calling
            ``backward`` on each, gradients add up in ``.grad``) or ``"mean"`` (the engine
            divides each by ``accumulation_steps``, as DeepSpeed and accelerate do).
        engine: which engine: ``"replica_context"``, ``"torch"`` or ``"jax"``.

    Example:
        >>> from losskit.distribute import replica_context
        >>> with replica_context(4, replica_id=1) as context:
        ...     context.num_replicas, context.replica_id, context.gradients
        (4, 1, 'sum')
        >>> context.in_cross_replica_context
        False
    """

    num_replicas: int
    replica_id: Any
    gradients: str = "sum"
    accumulation_steps: int = 1
    accumulation: str = "sum"
    engine: str = "replica_context"
    all_reduce: Callable[[Any], Any] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    window: _Window = dataclasses.field(default_factory=_Window, repr=False, compare=False)

    @property
    def in_cross_replica_context(self) -> bool:
        return self.replica_id is None

    @property
    def micro_steps(self) -> int:
        """Micro-steps in the current window: as counted by the last ``global_denominator``
        call, else ``accumulation_steps``."""
        steps = self.window.micro_steps
        return self.accumulation_steps if steps is None else steps

    @property
    def loss_scale(self) -> int:
        """What the engine's combination divides a loss's gradient by, undone in advance:
        ``num_replicas`` if it averages replicas, times ``accumulation_steps`` if it averages
        micro-steps."""
        scale = self.num_replicas if self.gradients == "mean" else 1
        return scale * (self.accumulation_steps if self.accumulation == "mean" else 1)


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[DistributionContext] = []


_STATE = _State()


def check_count(num_replicas: object, name: str = "num_replicas") -> int:
    if (
        isinstance(num_replicas, bool)
        or not isinstance(num_replicas, numbers.Integral)
        or int(num_replicas) < 1
    ):
        raise ValueError(invalid(name, "a positive integer", num_replicas))
    return int(num_replicas)


def check_mode(value: object, name: str) -> str:
    if not isinstance(value, str) or value not in GRADIENT_MODES:
        raise ValueError(invalid(name, "'sum' or 'mean'", value))
    return value


def engine_fields(
    gradients: str, accumulation_steps: int, accumulation: str, micro_steps: int | None
) -> dict[str, Any]:
    """The validated engine description that every context manager takes."""
    steps = check_count(accumulation_steps, "accumulation_steps")
    return {
        "gradients": check_mode(gradients, "gradients"),
        "accumulation_steps": steps,
        "accumulation": check_mode(accumulation, "accumulation"),
        "window": _window(micro_steps, steps),
    }


@contextlib.contextmanager
def _entered(context: DistributionContext) -> Iterator[DistributionContext]:
    _STATE.stack.append(context)
    try:
        yield context
    finally:
        _STATE.stack.pop()


def enter(context: DistributionContext) -> contextlib.AbstractContextManager[DistributionContext]:
    """Push ``context`` for the enclosed code (the engines' context managers use this)."""
    return _entered(context)


def replica_context(
    num_replicas: int,
    *,
    replica_id: int = 0,
    gradients: str = "sum",
    accumulation_steps: int = 1,
    accumulation: str = "sum",
    all_reduce: Callable[[Any], Any] | None = None,
    micro_steps: int | None = None,
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

    Raises:
        ValueError: ``num_replicas`` or ``accumulation_steps`` is not a positive integer,
            ``replica_id`` is out of range, or a mode is not ``"sum"``/``"mean"``.
        TypeError: ``all_reduce`` is not callable.

    Example:
        >>> import numpy as np, losskit
        >>> with losskit.distribute.replica_context(2):
        ...     float(losskit.compute_average_loss(np.array([1.0, 2.0, 3.0, 4.0])))
        1.25
    """
    count = check_count(num_replicas)
    if (
        isinstance(replica_id, bool)
        or not isinstance(replica_id, numbers.Integral)
        or not 0 <= int(replica_id) < count
    ):
        raise ValueError(
            invalid("replica_id", f"an integer in [0, {count}) for {count} replicas", replica_id)
        )
    if all_reduce is not None and not callable(all_reduce):
        raise TypeError(invalid("all_reduce", "a callable or None", all_reduce))
    context = DistributionContext(
        count,
        int(replica_id),
        all_reduce=all_reduce,
        **engine_fields(gradients, accumulation_steps, accumulation, micro_steps),
    )
    return _entered(context)


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
    return _entered(DistributionContext(check_count(num_replicas), None))


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


def step_split() -> tuple[int, int, int]:
    """``(replicas, accumulation_steps, loss_scale)`` for a loss computed here: how the
    global batch is split and what the engine's combination divides by. Cross-replica code
    runs once for all: ``(1, 1, 1)``, as outside every context."""
    stack = _STATE.stack
    if not stack or stack[-1].in_cross_replica_context:
        return 1, 1, 1
    context = stack[-1]
    return context.num_replicas, context.accumulation_steps, context.loss_scale


def require_replica_context(
    caller: str, *, bypass: str = "", allowed: bool = False
) -> DistributionContext | None:
    """The replica context; None outside every context and, if ``allowed``, in
    cross-replica context (which runs once for all); else a ``RuntimeError`` there, as in
    TensorFlow."""
    context = get_context()
    if context is None:
        return None
    if context.in_cross_replica_context:
        if allowed:
            return None
        fix = (
            "Call it inside `losskit.distribute.replica_context(...)`, i.e. in the per-replica step"
        )
        fix += f", or {bypass}." if bypass else "."
        raise RuntimeError(
            f"You are calling `{caller}` in cross-replica context, while it was expected to be "
            f"called in replica context. {fix}"
        )
    return context
