"""Activity penalties in functional code: ``activity(x, regularizer)`` inside a
``Collector``, a plain Python list of penalties that lives for one call of the user's
function."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from losskit import _selectors
from losskit._activity import batch_of, divide_by_batch, over_global_batch
from losskit._errors import invalid

__all__ = ["Collector", "activity"]

_STACK: list[Collector] = []


class Collector:
    """A context manager that collects the activity penalties recorded while it is open:
    :func:`activity` calls inside record into the innermost open collector, in call order.

    Open it *inside* the function that ``jax.jit`` / ``jax.grad`` traces (or wrap the
    function with :meth:`wrap`), so that the penalties are values of that trace.

    Attributes:
        losses: the penalties as Keras has them: each divided by its output's batch size.
        records: ``(undivided penalty, batch size)`` pairs behind them.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from losskit.jax import Collector, activity
        >>> from losskit.regularizers import L2
        >>> with Collector() as collector:
        ...     _ = activity(jnp.full((2, 2), 3.0), "l2")  # 0.01 * 36 / 2
        >>> round(float(collector.total()), 6)
        0.18
        >>> round(float(collector.total(global_batch_size=6)), 6)  # 0.01 * 36 / 6
        0.06
        >>> @jax.jit
        ... def loss(kernel, x):
        ...     with Collector() as collector:
        ...         y = activity(x @ kernel, L2(0.01))
        ...     return y.mean() + collector.total()
        >>> float(loss(jnp.ones((5, 5)), jnp.ones((5, 5)) * 2.0))  # 10 + 0.01 * 25 * 100 / 5
        15.0
    """

    def __init__(self) -> None:
        self.losses: list[Any] = []
        self.records: list[tuple[Any, Any]] = []

    def __enter__(self) -> Collector:
        _STACK.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _STACK.remove(self)

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

    @staticmethod
    def wrap(fn: Callable[..., Any]) -> Callable[..., tuple[Any, list[Any]]]:
        """``fn`` returning ``(its result, [activity penalties recorded while it ran])``.

        Example:
            >>> import jax, jax.numpy as jnp
            >>> from losskit.jax import Collector, activity
            >>> def model(x):
            ...     return activity(2 * x, "l1") + activity(x, "l1")
            >>> out, penalties = jax.jit(Collector.wrap(model))(jnp.ones((2, 3)))
            >>> [round(float(p), 6) for p in penalties]  # 0.01 * 12 / 2, 0.01 * 6 / 2
            [0.06, 0.03]
        """

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
            with Collector() as collector:
                result = fn(*args, **kwargs)
            return result, collector.losses

        return wrapped


def activity(x: Any, regularizer: Any) -> Any:
    """Record ``regularizer(x)`` divided by ``x.shape[0]`` in the innermost open
    :class:`Collector` and return ``x`` unchanged (nothing is recorded outside a collector,
    like flax's ``sow`` into a collection that is not mutable).

    Raises:
        ValueError: an invalid regularizer identifier or None.

    Example:
        >>> import jax.numpy as jnp
        >>> from losskit.jax import Collector, activity
        >>> with Collector() as collector:
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
