"""``check_replica_invariance``: does a loss give the same gradients on 1 or R x K pieces?"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from losskit import _backends
from losskit import _namespace as ns
from losskit._errors import invalid
from losskit._state import check_count, check_mode
from losskit._trees import walk
from losskit.distribute._denominator import global_denominator
from losskit.reduction import Reduction, ReductionLike
from losskit.testing._threads import run_replicas

__all__ = ["InvarianceReport", "check_replica_invariance"]


@dataclasses.dataclass(frozen=True)
class InvarianceReport:
    """What :func:`check_replica_invariance` compared.

    Attributes:
        single_loss: the loss on the whole batch, one replica.
        combined_loss: the engine's combination of the replicas' micro-step losses.
        max_abs_error: the largest absolute difference over the loss and every gradient
            entry (float64).
        max_rel_error: ``max_abs_error`` relative to the largest single-replica magnitude.
        gradients_checked: False where the library has no autograd (values only).
        sizes: the shard sizes, in the order replica 0's micro-batches, replica 1's, ...

    Example:
        >>> import numpy as np, losskit
        >>> from losskit.testing import check_replica_invariance
        >>> report = check_replica_invariance(
        ...     lambda w, mb: losskit.compute_average_loss(w * mb, global_batch_size=4),
        ...     2.0, np.arange(4.0), num_replicas=2)
        >>> report.single_loss, report.combined_loss, report.sizes
        (3.0, 3.0, (2, 2))
    """

    single_loss: float
    combined_loss: float
    max_abs_error: float
    max_rel_error: float
    gradients_checked: bool
    sizes: tuple[int, ...]


def check_replica_invariance(
    loss_fn: Callable[..., Any],
    params: Any,
    batch: Any,
    *,
    num_replicas: int,
    accumulation_steps: int = 1,
    micro_batches: int | None = None,
    gradients: str = "sum",
    accumulation: str = "sum",
    sizes: Sequence[int] | None = None,
    weights: Callable[[Any], Any] | None = None,
    reduction: ReductionLike = Reduction.SUM_BY_NONZERO_WEIGHTS,
    rtol: float = 1e-6,
) -> InvarianceReport:
    """Check that ``loss_fn`` trains the same on one replica and on an engine's pieces.

    The batch is cut along its first axis into ``num_replicas * micro_batches`` shards
    (``sizes``, uneven if you like; empty shards are allowed). Each replica runs, in its
    own thread inside :func:`losskit.distribute.replica_context`, its micro-batches of
    the step; the gradients (PyTorch, JAX; the loss values elsewhere) are combined as the
    engine described by ``gradients`` and ``accumulation`` would, and compared with those
    of ``loss_fn`` on the whole batch outside every context.

    ``loss_fn(params, micro_batch)`` is your per-micro-step loss, written with losskit. If
    it needs the step's global denominator, give ``weights``: a function from a
    micro-batch to its weights or mask. Then each replica computes
    ``D = global_denominator(*[weights(mb) for mb in its micro-batches], reduction=...)``
    before its first micro-step, as your training loop does, and the call is
    ``loss_fn(params, micro_batch, D)``.

    Args:
        loss_fn: the loss, ``(params, batch) -> scalar`` or ``(params, batch, D) -> scalar``.
        params: a PyTorch tensor (``requires_grad=True``) or list/tuple/dict of them, a JAX
            pytree, or anything ``loss_fn`` takes (then only values are compared).
        batch: an array, or a list/tuple/dict of arrays, with the examples on axis 0.
        num_replicas: replicas to simulate.
        accumulation_steps: the engine's micro-steps per optimizer step.
        micro_batches: micro-batches this step really has (``<= accumulation_steps``; fewer
            is a partial last window); defaults to ``accumulation_steps``.
        gradients: ``"sum"`` or ``"mean"``, as for ``replica_context``.
        accumulation: ``"sum"`` or ``"mean"``, as for ``replica_context``.
        sizes: the shard sizes (``num_replicas * micro_batches`` non-negative integers that
            add up to the batch); default: as even as possible.
        weights: see above.
        reduction: the reduction for ``global_denominator``.
        rtol: tolerated ``max_rel_error``.

    Returns:
        An :class:`InvarianceReport`.

    Raises:
        AssertionError: the combined loss or gradients differ by more than ``rtol``.
        ValueError: bad ``sizes``, counts or modes.

    Example:
        >>> import numpy as np, losskit
        >>> from losskit.testing import check_replica_invariance
        >>> data = {"x": np.arange(10.0), "mask": (np.arange(10) % 3 != 0) * 1.0}
        >>> def loss(w, mb, D):
        ...     l2 = (w * mb["x"]) ** 2
        ...     return losskit.compute_average_loss(l2, mb["mask"], global_batch_size=D)
        >>> report = check_replica_invariance(
        ...     loss, 0.5, data, num_replicas=3, accumulation_steps=2, sizes=[4, 0, 1, 2, 3, 0],
        ...     weights=lambda mb: mb["mask"], gradients="mean")
        >>> report.max_rel_error < 1e-12
        True
    """
    replicas = check_count(num_replicas)
    steps = check_count(accumulation_steps, "accumulation_steps")
    present = steps if micro_batches is None else check_count(micro_batches, "micro_batches")
    if present > steps:
        raise ValueError(
            invalid("micro_batches", f"at most accumulation_steps={steps}", micro_batches)
        )
    check_mode(gradients, "gradients")
    check_mode(accumulation, "accumulation")
    total = _batch_size(batch)
    shard_sizes = _shard_sizes(total, replicas * present, sizes)
    shards = _split(batch, shard_sizes)
    differentiate = _differentiator(params)

    def run(micro: list[Any]) -> list[tuple[Any, Any]]:
        extra: tuple[Any, ...] = ()
        if weights is not None:
            extra = (global_denominator(*[weights(mb) for mb in micro], reduction=reduction),)
        return [differentiate(functools.partial(_bind, loss_fn, mb, extra), params) for mb in micro]

    single = run([batch])[0]
    per_replica = run_replicas(
        lambda r: run(shards[r * present : (r + 1) * present]),
        replicas,
        gradients=gradients,
        accumulation_steps=steps,
        accumulation=accumulation,
    )
    weight = (1.0 / replicas if gradients == "mean" else 1.0) * (
        1.0 / steps if accumulation == "mean" else 1.0
    )
    combined_value = weight * sum(_flat(value)[0] for pieces in per_replica for value, _ in pieces)
    expected = [_flat(single[0])]
    got = [np.asarray([combined_value])]
    checked = single[1] is not None
    if checked:
        expected += [_flat(leaf) for leaf in single[1]]
        for index in range(len(single[1])):
            got.append(weight * sum(_flat(g[index]) for pieces in per_replica for _, g in pieces))
    abs_error = max(
        (float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(got, expected, strict=True))
    )
    scale = max(float(np.max(np.abs(b), initial=0.0)) for b in expected)
    rel_error = abs_error / scale if scale > 0 else abs_error
    report = InvarianceReport(
        single_loss=float(expected[0][0]),
        combined_loss=float(combined_value),
        max_abs_error=abs_error,
        max_rel_error=rel_error,
        gradients_checked=checked,
        sizes=tuple(shard_sizes),
    )
    if not rel_error <= rtol:
        raise AssertionError(
            f"not replica-invariant: {replicas} replicas x {present} micro-batches "
            f"(gradients={gradients!r}, accumulation={accumulation!r}, shard sizes "
            f"{list(shard_sizes)}) give loss {report.combined_loss!r} against "
            f"{report.single_loss!r} on one replica; largest relative difference over the "
            f"loss and the gradients {rel_error:.3g} > rtol={rtol:g}."
        )
    return report


def _bind(loss_fn: Callable[..., Any], micro_batch: Any, extra: tuple[Any, ...], p: Any) -> Any:
    return loss_fn(p, micro_batch, *extra)


def _batch_size(batch: Any) -> int:
    leaves = _leaves(batch)
    if not leaves:
        raise ValueError(invalid("batch", "an array or a list/tuple/dict of arrays", batch))
    counts = {int(leaf.shape[0]) if leaf.ndim else -1 for leaf in leaves}
    if len(counts) != 1 or -1 in counts:
        raise ValueError(invalid("batch", "arrays with the same first dimension", batch))
    return counts.pop()


def _leaves(batch: Any) -> list[Any]:
    return [leaf for _, leaf in walk(batch) if hasattr(leaf, "shape")]


def _shard_sizes(total: int, count: int, sizes: Sequence[int] | None) -> list[int]:
    if sizes is None:
        return [total // count + (1 if index < total % count else 0) for index in range(count)]
    given = list(sizes)
    if (
        len(given) != count
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in given)
        or sum(given) != total
    ):
        raise ValueError(
            invalid(
                "sizes",
                f"{count} non-negative integers (replicas x micro-batches) adding up to the "
                f"batch size {total}",
                sizes,
            )
        )
    return given


def _split(batch: Any, sizes: list[int]) -> list[Any]:
    starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return [_take(batch, int(a), int(b)) for a, b in itertools.pairwise(starts)]


def _take(batch: Any, start: int, stop: int) -> Any:
    if isinstance(batch, dict):
        return {key: _take(value, start, stop) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_take(value, start, stop) for value in batch)
    return batch[start:stop] if hasattr(batch, "shape") else batch


def _differentiator(params: Any) -> Callable[[Callable[[Any], Any], Any], tuple[Any, Any]]:
    """``(fn, params) -> (value, gradient leaves or None)`` for the params' library."""
    leaves = _leaves(params) if isinstance(params, (list, tuple, dict)) else [params]
    if not leaves:
        return lambda fn, p: (fn(p), None)
    backend = _backends.of(ns.namespace(leaves[0]))
    return lambda fn, p: backend.value_and_grad(fn, p, leaves)


def _flat(value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    return np.asarray(value, dtype=np.float64).reshape(-1)
