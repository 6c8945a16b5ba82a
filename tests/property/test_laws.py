"""The laws of loss averaging, checked by hypothesis against float64 arithmetic.

* Splitting a batch over k replicas (equal or unequal shards) and summing the replicas'
  ``compute_average_loss`` with the global batch size gives the single-replica loss, and the
  summed gradients give the single-replica gradient.
* All-ones weights equal no weights, for every reduction.
* Scaling the weights by c scales ``SUM`` by c and leaves the weighted means unchanged.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from losskit import Reduction, compute_average_loss, compute_weighted_loss
from losskit.distribute import replica_context
from tests._helpers import Backend, assert_close

FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
# Zero or clearly positive: XLA flushes subnormal results to zero.
positive = st.one_of(st.just(0.0), st.floats(1e-3, 10.0))


@st.composite
def batches(draw, min_size: int = 1) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per-example losses [B, T], weights [B], and cut points splitting B into shards."""
    batch = draw(st.integers(min_size, 24))
    tokens = draw(st.integers(1, 3))
    losses = draw(hnp.arrays(np.float64, (batch, tokens), elements=finite))
    weights = draw(hnp.arrays(np.float64, (batch,), elements=positive))
    replicas = draw(st.integers(1, min(batch, 8)))
    cuts = sorted(
        draw(st.lists(st.integers(0, batch), min_size=replicas - 1, max_size=replicas - 1))
    )
    return losses, weights, [0, *cuts, batch]


@FIXTURE
@given(data=batches())
def test_sharded_replicas_sum_to_the_global_loss(xp: Backend, data) -> None:
    losses, weights, cuts = data
    replicas = len(cuts) - 1
    global_batch = losses.shape[0]
    single = compute_average_loss(xp.asarray(losses), xp.asarray(weights))
    parts = []
    for replica in range(replicas):
        shard = slice(cuts[replica], cuts[replica + 1])
        with replica_context(replicas, replica_id=replica):
            parts.append(
                compute_average_loss(
                    xp.asarray(losses[shard]),
                    xp.asarray(weights[shard]),
                    global_batch_size=global_batch,
                )
            )
    expected = (losses * weights[:, None]).sum() / global_batch
    assert_close(xp.numpy(single), expected, rtol=1e-9, atol=1e-9)
    total = sum(float(xp.numpy(part)) for part in parts)
    assert math.isclose(total, float(xp.numpy(single)), rel_tol=1e-9, abs_tol=1e-9)


@FIXTURE
@given(data=batches(min_size=2))
def test_sharded_gradients_sum_to_the_global_gradient(xp: Backend, data) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    losses, weights, cuts = data
    replicas = len(cuts) - 1
    global_batch = losses.shape[0]

    def single(values, w):
        return compute_average_loss(values, w)

    def sharded(values, w):
        total = 0.0
        for replica in range(replicas):
            shard = slice(cuts[replica], cuts[replica + 1])
            with replica_context(replicas, replica_id=replica):
                total = total + compute_average_loss(
                    values[shard], w[shard], global_batch_size=global_batch
                )
        return total

    arrays = (xp.asarray(losses), xp.asarray(weights))
    for expected, got in zip(xp.grad(single, *arrays), xp.grad(sharded, *arrays), strict=True):
        assert_close(got, expected, rtol=1e-9, atol=1e-12)
    # the oracle: d/dl = w / B, d/dw = sum_t l / B
    d_losses, d_weights = xp.grad(sharded, *arrays)
    assert_close(d_losses, np.broadcast_to(weights[:, None], losses.shape) / global_batch)
    assert_close(d_weights, losses.sum(axis=1) / global_batch, rtol=1e-9, atol=1e-12)


@given(data=batches(min_size=2))
def test_equal_shards_need_no_global_batch_size(data) -> None:
    losses, weights, _ = data
    replicas = next(k for k in (4, 3, 2, 1) if losses.shape[0] % k == 0)
    size = losses.shape[0] // replicas
    total = 0.0
    for replica in range(replicas):
        shard = slice(replica * size, (replica + 1) * size)
        with replica_context(replicas, replica_id=replica):
            total += float(compute_average_loss(losses[shard], weights[shard]))
    expected = (losses * weights[:, None]).sum() / losses.shape[0]
    assert math.isclose(total, expected, rel_tol=1e-9, abs_tol=1e-9)


@given(data=batches(min_size=3))
def test_unequal_shards_without_global_batch_size_are_wrong(data) -> None:
    # The bug losskit's explicit global batch size avoids: each replica assumes its own
    # batch is everyone's. With unequal shards (and non-uniform losses) the sum is off.
    losses, weights, cuts = data
    sizes = np.diff(cuts)
    assume(len(set(sizes.tolist())) > 1 and sizes.min() > 0)
    replicas = len(sizes)
    naive = 0.0
    for replica in range(replicas):
        shard = slice(cuts[replica], cuts[replica + 1])
        with replica_context(replicas, replica_id=replica):
            naive += float(compute_average_loss(losses[shard], weights[shard]))
    per_shard = [
        (losses[a:b] * weights[a:b, None]).sum() / ((b - a) * replicas)
        for a, b in itertools.pairwise(cuts)
    ]
    assert math.isclose(naive, sum(per_shard), rel_tol=1e-9, abs_tol=1e-9)


def test_unequal_shards_example() -> None:
    # shards of 1 and 3 examples: the lone example's loss is counted twice as heavily
    losses = np.array([4.0, 0.0, 0.0, 0.0])
    naive = exact = 0.0
    for replica, shard in enumerate((slice(0, 1), slice(1, 4))):
        with replica_context(2, replica_id=replica):
            naive += float(compute_average_loss(losses[shard]))
            exact += float(compute_average_loss(losses[shard], global_batch_size=4))
    assert naive == 2.0
    assert exact == 1.0 == losses.mean()


shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4)


@FIXTURE
@given(
    losses=shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=finite)),
    reduction=st.sampled_from([r for r in Reduction if r is not Reduction.AUTO]),
)
def test_all_ones_weights_equal_no_weights(xp: Backend, losses, reduction) -> None:
    values = xp.asarray(losses)
    unweighted = compute_weighted_loss(values, reduction=reduction)
    ones = compute_weighted_loss(values, xp.asarray(np.ones(losses.shape)), reduction=reduction)
    assert_close(xp.numpy(ones), xp.numpy(unweighted), rtol=1e-12, atol=1e-12)
    if losses.shape[0] > 0:
        per_example = (losses.shape[0],) + (1,) * (losses.ndim - 1)
        average = compute_average_loss(values, xp.asarray(np.ones(per_example)))
        assert_close(
            xp.numpy(average), xp.numpy(compute_average_loss(values)), rtol=1e-12, atol=1e-12
        )


@FIXTURE
@given(
    data=batches(),
    scale=st.floats(0.01, 100.0),
)
def test_scaling_weights(xp: Backend, data, scale) -> None:
    losses, weights, _ = data
    weights = weights[:, None]
    assume(weights.sum() > 1e-3)
    values = xp.asarray(losses)

    def reduce(w, reduction):
        return float(xp.numpy(compute_weighted_loss(values, xp.asarray(w), reduction=reduction)))

    def close(a, b):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(b)))

    assert close(reduce(weights * scale, "sum"), scale * reduce(weights, "sum"))
    for reduction in ("weighted_mean", "mean_with_sample_weight", "sum_by_nonzero_weights"):
        scaled, plain = reduce(weights * scale, reduction), reduce(weights, reduction)
        factor = scale if reduction == "sum_by_nonzero_weights" else 1.0
        assert close(scaled, factor * plain), reduction


@FIXTURE
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    data=st.data(),
)
def test_weighted_sum_equals_the_broadcast_product(xp: Backend, shape, data) -> None:
    # Every weight shape the TF1 rule allows: each axis kept or set to 1.
    weight_shape = tuple(data.draw(st.sampled_from([d, 1])) for d in shape)
    losses = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    weights = data.draw(hnp.arrays(np.float64, weight_shape, elements=finite))
    got = compute_weighted_loss(xp.asarray(losses), xp.asarray(weights), reduction="sum")
    expected = (losses * np.broadcast_to(weights, shape)).sum()
    assert_close(xp.numpy(got), expected, rtol=1e-9, atol=1e-6)
