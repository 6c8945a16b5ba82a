"""Where the current code runs: the stack of replica contexts that the arithmetic reads.

TensorFlow runs a training step once per replica (``strategy.run``: *replica context*) and
the code around it once for all replicas (``strategy.scope()``: *cross-replica context*).
Functions that need the replica count read it from the innermost context on this stack.
The engines that push contexts (``replica_context``, ``torch_context``, ``jax_context``)
live one floor up, in :mod:`losskit.distribute`; this module imports nothing of losskit but
its error helpers, so the arithmetic can read the state without importing any engine.

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
    "check_count",
    "check_index",
    "check_mode",
    "engine_fields",
    "enter",
    "get_context",
    "num_replicas_in_sync",
    "require_replica_context",
    "sequence_fields",
    "step_split",
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
        sequence_shards: ranks of this replica's sequence group (context parallelism):
            each of its sequences is split along T over that many replicas, which count
            among ``num_replicas`` (1: no split).
        sequence_shard: this replica's index in its sequence group (a traced index under
            JAX).

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
    sequence_shards: int = 1
    sequence_shard: Any = 0
    sequence_all_reduce: Callable[[Any], Any] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    @property
    def data_replicas(self) -> int:
        """Replicas that hold different sequences: ``num_replicas / sequence_shards`` (the
        ranks of a sequence group hold parts of the same sequences)."""
        return self.num_replicas // self.sequence_shards

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


def check_index(value: object, count: int, name: str, of: str) -> int:
    """``value`` as an int in ``[0, count)``, else ``ValueError`` naming ``count`` ``of``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 0 <= int(value) < count
    ):
        raise ValueError(invalid(name, f"an integer in [0, {count}) for {count} {of}", value))
    return int(value)


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


def sequence_fields(
    num_replicas: int, shards: object, shard: object, all_reduce: object
) -> dict[str, Any]:
    """The validated sequence split of a simulated context: ``shards`` ranks per sequence
    group (a divisor of ``num_replicas``), this rank's ``shard`` and the group's sum."""
    count = check_count(shards, "sequence_shards")
    if num_replicas % count:
        raise ValueError(
            invalid("sequence_shards", f"a divisor of num_replicas={num_replicas}", count)
        )
    index = check_index(shard, count, "sequence_shard", "shards")
    if all_reduce is not None and not callable(all_reduce):
        raise TypeError(invalid("sequence_all_reduce", "a callable or None", all_reduce))
    return {
        "sequence_shards": count,
        "sequence_shard": index,
        "sequence_all_reduce": all_reduce,
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
