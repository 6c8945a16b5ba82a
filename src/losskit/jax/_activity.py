"""Activity penalties in functional code: ``activity(x, regularizer)`` inside a collector.

A collector is a plain Python list of penalties that lives for one call of the user's
function: open it *inside* the function that ``jax.jit`` / ``jax.grad`` traces (or wrap
the function with :func:`collect`), so the recorded penalties are values of that trace.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Callable, Iterator
from typing import Any

import jax.numpy as jnp

from losskit import _selectors
from losskit._activity import batch_of, divide_by_batch, over_global_batch
from losskit._errors import invalid

__all__ = ["Collector", "activity", "collect", "collect_activity"]

_STACK: list[Collector] = []


class Collector:
    """The activity penalties recorded while it was open, in call order.

    Attributes:
        losses: the penalties as Keras has them: each divided by its output's batch size.
        records: ``(undivided penalty, batch size)`` pairs behind them.

    Example:
        >>> import jax.numpy as jnp
        >>> from losskit.jax import Collector, activity, collect_activity
        >>> with collect_activity() as collector:
        ...     _ = activity(jnp.full((2, 2), 3.0), "l2")  # 0.01 * 36 / 2
        >>> isinstance(collector, Collector), round(float(collector.total()), 6)
        (True, 0.18)
        >>> round(float(collector.total(global_batch_size=6)), 6)  # 0.01 * 36 / 6
        0.06
    """

    def __init__(self) -> None:
        self.losses: list[Any] = []
        self.records: list[tuple[Any, Any]] = []

    def record(self, penalty: Any, output: Any) -> None:
        batch = batch_of(output)
        self.records.append((penalty, batch))
        self.losses.append(divide_by_batch(penalty, batch))

    def total(self, *, global_batch_size: Any = None) -> Any:
        """Their sum (0.0 if none were recorded).

        Under data parallelism or accumulation (a :mod:`losskit.distribute` context), give
        the step's example count over every replica and micro-batch: each penalty is then
        divided by it instead of its own batch size and scaled for the engine, like
        :func:`losskit.compute_average_loss` (exact on uneven shards).
        """
        if global_batch_size is None:
            found = self.losses
        else:
            found = over_global_batch(self.records, global_batch_size)
        return functools.reduce(operator.add, found) if found else jnp.zeros(())


@contextlib.contextmanager
def collect_activity() -> Iterator[Collector]:
    """Open a collector: :func:`activity` calls inside record into it (the innermost one).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from losskit.jax import activity, collect_activity
        >>> from losskit.regularizers import L2
        >>> @jax.jit
        ... def loss(kernel, x):
        ...     with collect_activity() as collector:
        ...         y = activity(x @ kernel, L2(0.01))
        ...     return y.mean() + collector.total()
        >>> float(loss(jnp.ones((5, 5)), jnp.ones((5, 5)) * 2.0))  # 10 + 0.01 * 25 * 100 / 5
        15.0
    """
    collector = Collector()
    _STACK.append(collector)
    try:
        yield collector
    finally:
        _STACK.remove(collector)


def activity(x: Any, regularizer: Any) -> Any:
    """Record ``regularizer(x)`` divided by ``x.shape[0]`` in the innermost open collector
    and return ``x`` unchanged (nothing is recorded outside a collector, like flax's
    ``sow`` into a collection that is not mutable).

    Raises:
        ValueError: an invalid regularizer identifier or None.

    Example:
        >>> import jax.numpy as jnp
        >>> from losskit.jax import activity, collect_activity
        >>> with collect_activity() as collector:
        ...     y = activity(jnp.ones((4, 3)), "l1")
        >>> [round(float(v), 6) for v in collector.losses]  # 0.01 * 12 / 4
        [0.03]
    """
    chosen = _selectors.regularizer_argument("regularizer", regularizer)
    if chosen is None:
        raise ValueError(invalid("regularizer", "a regularizer", regularizer))
    if _STACK:
        _STACK[-1].record(chosen(x), x)
    return x


def collect(fn: Callable[..., Any]) -> Callable[..., tuple[Any, list[Any]]]:
    """``fn`` returning ``(its result, [activity penalties recorded while it ran])``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from losskit.jax import activity, collect
        >>> def model(x):
        ...     return activity(2 * x, "l1") + activity(x, "l1")
        >>> out, penalties = jax.jit(collect(model))(jnp.ones((2, 3)))
        >>> [round(float(p), 6) for p in penalties]  # 0.01 * 12 / 2, 0.01 * 6 / 2
        [0.06, 0.03]
    """

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
        with collect_activity() as collector:
            result = fn(*args, **kwargs)
        return result, collector.losses

    return wrapped
