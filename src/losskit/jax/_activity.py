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
from losskit._errors import invalid

__all__ = ["Collector", "activity", "collect", "collect_activity", "divide_by_batch"]

_STACK: list[Collector] = []


def divide_by_batch(penalty: Any, output: Any) -> Any:
    """Keras's rule: divide by ``shape(output)[0]`` (``divide_no_nan``; a 0-d output is not
    divided). The one place that picks the denominator (a global batch size under data
    parallelism would come in here)."""
    if output.ndim == 0:
        return penalty
    batch = output.shape[0]
    if batch == 0:
        return penalty * 0.0
    return penalty / batch


class Collector:
    """The activity penalties recorded while it was open, in call order.

    Example:
        >>> import jax.numpy as jnp
        >>> from losskit.jax import Collector, activity, collect_activity
        >>> with collect_activity() as collector:
        ...     _ = activity(jnp.full((2, 2), 3.0), "l2")  # 0.01 * 36 / 2
        >>> isinstance(collector, Collector), round(float(collector.total()), 6)
        (True, 0.18)
    """

    def __init__(self) -> None:
        self.losses: list[Any] = []

    def total(self) -> Any:
        """Their sum (0.0 if none were recorded)."""
        return functools.reduce(operator.add, self.losses) if self.losses else jnp.zeros(())


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
        _STACK[-1].losses.append(divide_by_batch(chosen(x), x))
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
