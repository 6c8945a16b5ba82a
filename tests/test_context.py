"""replica_context / cross_replica_context: nesting, validation, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from losskit import compute_average_loss
from losskit.distribute import (
    DistributionContext,
    cross_replica_context,
    get_context,
    num_replicas_in_sync,
    replica_context,
)


def test_default_is_one_replica_and_no_context() -> None:
    assert get_context() is None
    assert num_replicas_in_sync() == 1


def test_nesting_innermost_wins_and_unwinds() -> None:
    with cross_replica_context(4) as outer:
        assert outer == DistributionContext(4, None)
        assert outer.in_cross_replica_context
        with replica_context(4, replica_id=3) as inner:
            assert get_context() is inner
            assert inner.replica_id == 3
            assert not inner.in_cross_replica_context
            assert num_replicas_in_sync() == 4
        assert get_context() is outer
    assert get_context() is None


def test_context_is_left_on_exceptions() -> None:
    with pytest.raises(KeyError), replica_context(2):
        raise KeyError("boom")
    assert get_context() is None


def test_contexts_are_per_thread() -> None:
    seen = []

    def worker() -> None:
        seen.append(num_replicas_in_sync())

    with replica_context(8):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert seen == [1]


@pytest.mark.parametrize("count", [0, -1, 1.5, "2", True, None])
def test_num_replicas_validated(count) -> None:
    with pytest.raises(ValueError, match=r"Invalid `num_replicas`: expected a positive integer"):
        replica_context(count)
    with pytest.raises(ValueError, match=r"Invalid `num_replicas`: expected a positive integer"):
        cross_replica_context(count)


@pytest.mark.parametrize("replica_id", [-1, 2, 1.0, True])
def test_replica_id_validated(replica_id) -> None:
    with pytest.raises(ValueError, match=r"Invalid `replica_id`: expected an integer in \[0, 2\)"):
        replica_context(2, replica_id=replica_id)


def test_simulated_replicas_sum_to_the_global_mean() -> None:
    # Splitting a batch of 6 over 3 replicas: summing their losses gives the global mean.
    losses = np.arange(6.0)
    parts = []
    for replica in range(3):
        with replica_context(3, replica_id=replica):
            parts.append(float(compute_average_loss(losses[2 * replica : 2 * replica + 2])))
    assert sum(parts) == pytest.approx(losses.mean())
