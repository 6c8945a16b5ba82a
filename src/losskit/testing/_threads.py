"""``run_replicas``: simulate R replicas in one process, one thread each, with a real all-reduce."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from losskit._state import check_count
from losskit.distribute._context import replica_context

__all__ = ["run_replicas"]


class _ThreadAllReduce:
    """A sum over ``n`` threads: each deposits its value; the last to arrive adds them up in
    replica order (so every run gives the same bits), then all read the sum."""

    def __init__(self, n: int, timeout: float) -> None:
        self.values: list[Any] = [None] * n
        self.total: Any = None
        self.timeout = timeout
        self.barrier = threading.Barrier(n, action=self._add, timeout=timeout)

    def _add(self) -> None:
        total = self.values[0]
        for value in self.values[1:]:
            total = total + value
        self.total = total

    def for_replica(self, replica_id: int) -> Callable[[Any], Any]:
        def all_reduce(value: Any) -> Any:
            self.values[replica_id] = value
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                raise RuntimeError(
                    f"replica {replica_id}: the all-reduce was abandoned (another replica "
                    f"failed, or not every replica reached it within {self.timeout} s)"
                ) from None
            return self.total

        return all_reduce


def run_replicas(
    step: Callable[[int], Any],
    num_replicas: int,
    *,
    gradients: str = "sum",
    accumulation_steps: int = 1,
    accumulation: str = "sum",
    sequence_shards: int = 1,
    timeout: float = 60.0,
) -> list[Any]:
    """Run ``step(replica_id)`` as each of ``num_replicas`` replicas, in threads, and return
    the results in replica order.

    Each call runs inside :func:`losskit.distribute.replica_context` with the given engine
    description and an ``all_reduce`` that really sums over the threads, so code that calls
    :func:`losskit.distribute.global_denominator` runs unchanged. Every replica must call
    the all-reduce the same number of times, as on a real engine.

    Args:
        step: the per-replica code; receives the replica index.
        num_replicas: how many replicas to simulate (1,024 is fine).
        gradients: how the engine combines gradients, as for ``replica_context``.
        accumulation_steps: the engine's micro-steps per optimizer step, as there.
        accumulation: how it combines micro-steps, as there.
        sequence_shards: context parallelism: replicas ``g * sequence_shards`` to
            ``(g + 1) * sequence_shards - 1`` form sequence group ``g`` (each sequence is
            split over them), with an all-reduce of their own (``sequence_all_reduce``).
        timeout: seconds a replica waits for the others at an all-reduce.

    Returns:
        ``[step(0), ..., step(num_replicas - 1)]``.

    Raises:
        ValueError: ``num_replicas`` is not a positive integer, or ``sequence_shards``
            does not divide it.
        Exception: the first exception a replica raised (the others are released).

    Example:
        >>> import numpy as np, losskit
        >>> from losskit.testing import run_replicas
        >>> shards = [np.array([1.0, 1.0]), np.array([1.0, 2.0, 3.0, 4.0])]  # uneven
        >>> def step(r):
        ...     D = losskit.distribute.global_denominator(np.ones_like(shards[r]))
        ...     return float(losskit.compute_average_loss(shards[r], global_batch_size=D))
        >>> sum(run_replicas(step, 2))  # the mean of all six values
        2.0
    """
    count = check_count(num_replicas)
    replica_context(  # validates the engine description once, before any thread starts
        count,
        gradients=gradients,
        accumulation_steps=accumulation_steps,
        accumulation=accumulation,
        sequence_shards=sequence_shards,
    )
    collective = _ThreadAllReduce(count, timeout)
    groups = [_ThreadAllReduce(sequence_shards, timeout) for _ in range(count // sequence_shards)]
    results: list[Any] = [None] * count
    errors: list[tuple[int, BaseException]] = []

    def body(replica_id: int) -> None:
        try:
            with replica_context(
                count,
                replica_id=replica_id,
                gradients=gradients,
                accumulation_steps=accumulation_steps,
                accumulation=accumulation,
                all_reduce=collective.for_replica(replica_id),
                sequence_shards=sequence_shards,
                sequence_shard=replica_id % sequence_shards,
                sequence_all_reduce=groups[replica_id // sequence_shards].for_replica(
                    replica_id % sequence_shards
                ),
            ):
                results[replica_id] = step(replica_id)
        except BaseException as error:  # re-raised in the caller's thread
            errors.append((replica_id, error))
            collective.barrier.abort()
            for group in groups:
                group.barrier.abort()

    threads = [threading.Thread(target=body, args=(r,), daemon=True) for r in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        # the first failure, not the replicas released by it
        errors.sort(key=lambda item: "all-reduce was abandoned" in str(item[1]))
        replica_id, error = errors[0]
        if hasattr(error, "add_note"):  # Python >= 3.11
            error.add_note(f"(raised by replica {replica_id} of {count})")
        raise error
    return results
