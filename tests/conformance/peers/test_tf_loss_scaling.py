"""TensorFlow's own tests of ``compute_average_loss`` and ``scale_regularization_loss``,
translated to losskit.

Upstream: repository ``tensorflow/tensorflow``, path
``tensorflow/python/ops/nn_loss_scaling_utilities_test.py``, commit
``20de2534cdb092b807a83e38c19743c216dad661``.

Verdicts as data in :data:`VERDICTS` (see ``_tf_verdicts.py``). A ``MirroredStrategy`` over
two CPUs becomes :func:`losskit.testing.run_replicas` with two replicas (threads, each in a
``replica_context``), and ``distribution.reduce("SUM", ...)`` the sum of their results;
``distribution.scope()`` is ``cross_replica_context``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

import losskit
from losskit.distribute import cross_replica_context
from losskit.testing import run_replicas
from tests.conformance.peers._tf_verdicts import PASSES, deviation, not_applicable

UPSTREAM = {
    "repository": "tensorflow/tensorflow",
    "path": "tensorflow/python/ops/nn_loss_scaling_utilities_test.py",
    "commit": "20de2534cdb092b807a83e38c19743c216dad661",
}

VERDICTS: dict[str, str] = {
    "LossUtilitiesTest.testComputeAverageLossGlobalBatchSize": PASSES,
    "LossUtilitiesTest.testComputeAverageLossGlobalBatchSize_BatchSizeNonScalar": (
        "passes: losskit's message wording (TF: global_batch_size must be scalar)"
    ),
    "LossUtilitiesTest.testComputeAverageLossGlobalBatchSize_BatchSizeFloat": deviation(
        "float-global-batch-size"
    ),
    "LossUtilitiesTest.testComputeAverageLossGlobalBatchSize_BatchSizeNegative": deviation(
        "error-types"
    ),
    "LossUtilitiesTest.testComputeAverageLossGlobalBatchSize_BatchSizeZero": not_applicable(
        "superseded upstream: TF 2.21 returns 0.0 for global_batch_size=0 (later revisions of "
        "this test assert 0.0), and so does losskit"
    ),
    "LossUtilitiesTest.testComputeAverageLossDefaultGlobalBatchSize": PASSES,
    "LossUtilitiesTest.testComputeAverageLossSampleWeights": PASSES,
    "LossUtilitiesTest.testComputeAverageLossInvalidSampleWeights": PASSES,
    "LossUtilitiesTest.testComputeAverageLossDtype": PASSES,
    "LossUtilitiesTest.testComputeAverageLossInvalidRank": (
        "passes: the static check; the run-time (placeholder) check has no losskit "
        "counterpart, shapes are always static"
    ),
    "LossUtilitiesTest.testComputeAverageLossInCrossReplicaContext": PASSES,
    "LossUtilitiesTest.testScaleRegularizationLoss": PASSES,
    "LossUtilitiesTest.testScaleRegularizationLossInCrossReplicaContext": PASSES,
}


def two_replicas(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``distribution.reduce("SUM", distribution.run(fn, args, kwargs))`` on two replicas."""
    results = run_replicas(lambda _: fn(*args, **kwargs), 2)
    return sum(np.asarray(result, np.float64) for result in results)


def test_LossUtilitiesTest_testComputeAverageLossGlobalBatchSize() -> None:
    loss = losskit.compute_average_loss([1, 2, 3, 4, 5], global_batch_size=10)
    assert float(loss) == 1.5


def test_LossUtilitiesTest_testComputeAverageLossGlobalBatchSize_BatchSizeNonScalar() -> None:
    with pytest.raises(ValueError, match=r"Invalid `global_batch_size`: expected a scalar"):
        losskit.compute_average_loss([1, 2, 3, 4, 5], global_batch_size=[10])


def test_LossUtilitiesTest_testComputeAverageLossGlobalBatchSize_BatchSizeFloat() -> None:
    """Deviation float-global-batch-size: TF raises TypeError; losskit divides by 10.0."""
    loss = losskit.compute_average_loss([1, 2, 3, 4, 5], global_batch_size=10.0)
    assert float(loss) == 1.5


def test_LossUtilitiesTest_testComputeAverageLossGlobalBatchSize_BatchSizeNegative() -> None:
    """Deviation error-types: TF raises InvalidArgumentError; losskit a ValueError."""
    with pytest.raises(ValueError, match=r"expected a finite number >= 0, received -1"):
        losskit.compute_average_loss([1, 2, 3, 4, 5], global_batch_size=-1)


def test_LossUtilitiesTest_testComputeAverageLossGlobalBatchSize_BatchSizeZero() -> None:
    """Not applicable as written (TF 2.21 itself no longer raises); TF 2.21's result."""
    assert float(losskit.compute_average_loss([1, 2, 3, 4, 5], global_batch_size=0)) == 0.0


def test_LossUtilitiesTest_testComputeAverageLossDefaultGlobalBatchSize() -> None:
    # without a strategy: one replica
    per_example_loss = np.array([2.5, 6.2, 5.0], np.float32)
    loss = losskit.compute_average_loss(per_example_loss)
    assert_allclose(loss, (2.5 + 6.2 + 5.0) / 3, rtol=1e-6)
    # with two replicas
    loss = two_replicas(losskit.compute_average_loss, per_example_loss)
    assert_allclose(loss, (2.5 + 6.2 + 5.0) / 3, rtol=1e-6)


def test_LossUtilitiesTest_testComputeAverageLossSampleWeights() -> None:
    # scalar sample weight
    loss = two_replicas(losskit.compute_average_loss, [2.0, 4.0, 6.0], sample_weight=2)
    assert_allclose(loss, (2.0 + 4.0 + 6.0) * 2.0 / 3, rtol=1e-6)
    # per example sample weight
    loss = two_replicas(
        losskit.compute_average_loss, [2.0, 4.0, 6.0], sample_weight=[0.3, 0.5, 0.2]
    )
    assert_allclose(loss, (2.0 * 0.3 + 4.0 * 0.5 + 6.0 * 0.2) / 3, rtol=1e-6)
    # time-step sample weight
    loss = two_replicas(
        losskit.compute_average_loss,
        [[2.0, 0.5], [4.0, 1.0]],
        sample_weight=[[0.3, 0.7], [0.2, 0.8]],
    )
    assert_allclose(loss, (2.0 * 0.3 + 0.5 * 0.7 + 4.0 * 0.2 + 1.0 * 0.8) / 2, rtol=1e-6)


def test_LossUtilitiesTest_testComputeAverageLossInvalidSampleWeights() -> None:
    with pytest.raises(ValueError, match=r"Invalid `sample_weight`"):
        losskit.compute_average_loss(
            [2.5, 6.2, 5.0], sample_weight=[0.2, 0.8], global_batch_size=10
        )


def test_LossUtilitiesTest_testComputeAverageLossDtype() -> None:
    per_example_loss = np.array([2.0, 4.0, 6.0], np.float64)
    results = run_replicas(
        lambda _: losskit.compute_average_loss(per_example_loss, sample_weight=2), 2
    )
    assert all(result.dtype == np.float64 for result in results)
    assert (results[0] + results[1]).dtype == np.float64


def test_LossUtilitiesTest_testComputeAverageLossInvalidRank() -> None:
    with pytest.raises(
        ValueError,
        match=r"Invalid `per_example_loss`: expected an array of rank >= 1 \(one loss per "
        r"example\)",
    ):
        losskit.compute_average_loss(np.array(2))


def test_LossUtilitiesTest_testComputeAverageLossInCrossReplicaContext() -> None:
    with (
        cross_replica_context(2),
        pytest.raises(
            RuntimeError, match=r"You are calling `compute_average_loss` in cross-replica context"
        ),
    ):
        losskit.compute_average_loss([2, 3])


def test_LossUtilitiesTest_testScaleRegularizationLoss() -> None:
    # without a strategy: one replica
    reg_losses = np.array([2.5, 6.2, 5.0], np.float32)
    assert_allclose(losskit.scale_regularization_loss(reg_losses), 2.5 + 6.2 + 5.0, rtol=1e-6)
    # with two replicas
    loss = two_replicas(losskit.scale_regularization_loss, reg_losses)
    assert_allclose(loss, 2.5 + 6.2 + 5.0, rtol=1e-6)


def test_LossUtilitiesTest_testScaleRegularizationLossInCrossReplicaContext() -> None:
    with (
        cross_replica_context(2),
        pytest.raises(
            RuntimeError,
            match=r"You are calling `scale_regularization_loss` in cross-replica context",
        ),
    ):
        losskit.scale_regularization_loss([2, 3])
