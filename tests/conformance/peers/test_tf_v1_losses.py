"""TensorFlow's own tests of ``tf.compat.v1.losses``, translated to ``losskit.v1``.

Upstream: repository ``tensorflow/tensorflow``, path
``tensorflow/python/kernel_tests/nn_ops/losses_test.py``, commit
``0304934138cbfabd338ec432a630a9c3c1191564``.

Every upstream test method has a verdict in :data:`VERDICTS` (see ``_tf_verdicts.py``);
each ``"passes"`` is the function ``test_<Class>_<method>`` below, with the upstream inputs
and expected numbers (``assertAlmostEqual(..., places)`` becomes
``assert_almost_equal(..., decimal=places)``). Graph-mode placeholders become arguments
traced by ``jax.jit`` (their values unknown while the loss is built, as a placeholder's);
assertions on graph op names are left out (eager arrays have no op names).
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_almost_equal

from losskit import v1
from tests.conformance.peers._tf_verdicts import PASSES

UPSTREAM = {
    "repository": "tensorflow/tensorflow",
    "path": "tensorflow/python/kernel_tests/nn_ops/losses_test.py",
    "commit": "0304934138cbfabd338ec432a630a9c3c1191564",
}

_OP_NAME = "passes: the graph op name assertion is left out (eager arrays have no op names)"
_PLACEHOLDER = "passes: the placeholder becomes an argument traced by jax.jit"
_DYNAMIC = (
    "passes: the static check; the run-time (placeholder) check has no losskit counterpart, "
    "shapes are always static"
)

VERDICTS: dict[str, str] = {
    "AbsoluteDifferenceLossTest.testValueErrorThrownWhenWeightIsNone": PASSES,
    "AbsoluteDifferenceLossTest.testAllCorrectNoLossWeight": PASSES,
    "AbsoluteDifferenceLossTest.testNonZeroLoss": PASSES,
    "AbsoluteDifferenceLossTest.testNonZeroLossWithPythonScalarWeight": PASSES,
    "AbsoluteDifferenceLossTest.testNonZeroLossWithScalarTensorWeight": PASSES,
    "AbsoluteDifferenceLossTest.testNonZeroLossWithOneDimBatchSpecificWeights": PASSES,
    "AbsoluteDifferenceLossTest.testNonZeroLossWithTwoDimBatchSpecificWeights": PASSES,
    "AbsoluteDifferenceLossTest.testNonZeroLossWithSampleSpecificWeights": PASSES,
    "AbsoluteDifferenceLossTest.testNonZeroLossWithSampleSpecificWeightsMostZero": PASSES,
    "AbsoluteDifferenceLossTest.testLossWithSampleSpecificWeightsAllZero": PASSES,
    "AbsoluteDifferenceLossTest.testEagerNoMemoryLeaked": (
        "passes: no new Python objects becomes: the result is freed once dropped"
    ),
    "SoftmaxCrossEntropyLossTest.testNoneWeightRaisesValueError": PASSES,
    "SoftmaxCrossEntropyLossTest.testAllCorrect": _OP_NAME,
    "SoftmaxCrossEntropyLossTest.testAllWrong": _OP_NAME,
    "SoftmaxCrossEntropyLossTest.testNonZeroLossWithPythonScalarWeight": PASSES,
    "SoftmaxCrossEntropyLossTest.testNonZeroLossWithScalarTensorWeight": PASSES,
    "SoftmaxCrossEntropyLossTest.testNonZeroLossWithOneDimBatchSpecificWeights": PASSES,
    "SoftmaxCrossEntropyLossTest.testAllWrongAllWeightsMissing": PASSES,
    "SoftmaxCrossEntropyLossTest.testSomeWeightsMissing": PASSES,
    "SoftmaxCrossEntropyLossTest.testSoftmaxWithMeasurementSpecificWeightsRaisesException": PASSES,
    "SoftmaxCrossEntropyLossTest.testSoftmaxLabelSmoothing": _OP_NAME,
    "SparseSoftmaxCrossEntropyLossTest.testNoneWeightRaisesValueError": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testAllCorrectInt32Labels": _OP_NAME,
    "SparseSoftmaxCrossEntropyLossTest.testEagerNoMemoryLeaked": (
        "passes: no new Python objects becomes: the result is freed once dropped"
    ),
    "SparseSoftmaxCrossEntropyLossTest.testAllCorrectInt64Labels": _OP_NAME,
    "SparseSoftmaxCrossEntropyLossTest.testAllCorrectNonColumnLabels": _OP_NAME,
    "SparseSoftmaxCrossEntropyLossTest.testAllWrongInt32Labels": _OP_NAME,
    "SparseSoftmaxCrossEntropyLossTest.testAllWrongInt64Labels": _OP_NAME,
    "SparseSoftmaxCrossEntropyLossTest.testAllWrongNonColumnLabels": _OP_NAME,
    "SparseSoftmaxCrossEntropyLossTest.testNonZeroLossWithPythonScalarWeight": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testNonZeroLossWithScalarTensorWeight": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testNonZeroLossWith1DTensorWeight": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testNonZeroLossWithPlaceholderForWeights": _PLACEHOLDER,
    "SparseSoftmaxCrossEntropyLossTest."
    "testUnknownShapePlaceholderForLogitsLabelsButScalarWeights": (
        "passes: the placeholders become arguments traced by jax.jit (whose shapes are known)"
    ),
    "SparseSoftmaxCrossEntropyLossTest.testNonZeroLossWithPlaceholderForLogitsLabelsAndWeights": (
        _PLACEHOLDER
    ),
    "SparseSoftmaxCrossEntropyLossTest.testNonZeroLossWithOneDimBatchSpecificWeights": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testNonZeroLossWithColumnWeights": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testAllWrongAllWeightsMissing": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testSomeWeightsMissing": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testMeasurementSpecificWeightsRaisesException": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testInconsistentWeightSizeRaisesException": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testInconsistentLabelSizeRaisesException": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testInconsistentWeightShapeRaisesException": PASSES,
    "SparseSoftmaxCrossEntropyLossTest.testInconsistentLabelShapeRaisesException": (
        "passes: losskit's message wording (TF: `labels.shape.rank` must equal ...)"
    ),
    "SigmoidCrossEntropyLossTest.testAllCorrectSigmoid": _OP_NAME,
    "SigmoidCrossEntropyLossTest.testLossWithSingleDimPlaceholderForLogitsAndWeights1": (
        _PLACEHOLDER
    ),
    "SigmoidCrossEntropyLossTest.testLossWithSingleDimPlaceholderForLogitsAndWeights2": (
        _PLACEHOLDER
    ),
    "SigmoidCrossEntropyLossTest.testAllWrongSigmoid": _OP_NAME,
    "SigmoidCrossEntropyLossTest.testAllWrongSigmoidWithMeasurementSpecificWeights": _OP_NAME,
    "SigmoidCrossEntropyLossTest.testMultiCorrectSigmoid": _OP_NAME,
    "SigmoidCrossEntropyLossTest.testSigmoidFloat64": PASSES,
    "SigmoidCrossEntropyLossTest.testSigmoidNoReduction": PASSES,
    "SigmoidCrossEntropyLossTest.testSigmoidLabelSmoothingCorrect": _OP_NAME,
    "SigmoidCrossEntropyLossTest.testSigmoidLabelSmoothingEqualsSoftmaxTwoLabel": PASSES,
    "LogLossTest.testValueErrorThrownWhenWeightIsNone": PASSES,
    "LogLossTest.testAllCorrectNoLossWeight": PASSES,
    "LogLossTest.testAllCorrectNoLossWeightWithPlaceholder": _PLACEHOLDER,
    "LogLossTest.testNonZeroLoss": PASSES,
    "LogLossTest.testNonZeroLossWithPythonScalarWeight": PASSES,
    "LogLossTest.testNonZeroLossWithScalarTensorWeight": PASSES,
    "LogLossTest.testNonZeroLossWithScalarTensorWeightAndPlaceholder": _PLACEHOLDER,
    "LogLossTest.testNonZeroLossWithScalarTensorWeightAndPlaceholderWithRankOnly": _PLACEHOLDER,
    "LogLossTest.testNonZeroLossWithOneDimBatchSpecificWeights": PASSES,
    "LogLossTest.testNonZeroLossWithOneDimBatchSpecificWeightsSomeZero": PASSES,
    "LogLossTest.testNonZeroLossWithTwoDimBatchSpecificWeightsSomeZero": PASSES,
    "LogLossTest.testWeightsWithSameNumDimsButWrongShapeThrowsException": PASSES,
    "LogLossTest.testNonZeroLossWithMeasurementSpecificWeights": PASSES,
    "LogLossTest.testNonZeroLossWithMeasurementSpecificWeightsWithPlaceholder": _PLACEHOLDER,
    "LogLossTest.testNonZeroLossWithSampleSpecificWeightsMostZero": PASSES,
    "LogLossTest.testNonZeroLossWithSampleSpecificWeightsMostZeroWithPlaceholder": _PLACEHOLDER,
    "LogLossTest.testLossWithSampleSpecificWeightsAllZero": PASSES,
    "HingeLossTest.testIncompatibleShapes": PASSES,
    "HingeLossTest.testAllOutsideMargin": PASSES,
    "HingeLossTest.testSomeInsideMargin": PASSES,
    "HingeLossTest.testSomeMisclassified": PASSES,
    "HuberLossTest.testIncompatibleShapes": PASSES,
    "HuberLossTest.testAllQuadratic": PASSES,
    "HuberLossTest.testAllLinear": PASSES,
    "HuberLossTest.testMixedQuadraticLinear": PASSES,
    "HuberLossTest.testAllQuadraticDelta": PASSES,
    "HuberLossTest.testAllLinearDelta": PASSES,
    "MeanSquaredErrorTest.testValueErrorThrownWhenWeightIsNone": PASSES,
    "MeanSquaredErrorTest.testScalar": PASSES,
    "MeanSquaredErrorTest.testAllCorrectNoLossWeight": PASSES,
    "MeanSquaredErrorTest.testNonZeroLoss": PASSES,
    "MeanSquaredErrorTest.testNonZeroLossWithPythonScalarWeight": PASSES,
    "MeanSquaredErrorTest.testNonZeroLossWithScalarTensorWeight": PASSES,
    "MeanSquaredErrorTest.testNonZeroLossWithOneDimBatchSpecificWeights": PASSES,
    "MeanSquaredErrorTest.testNonZeroLossWithTwoDimBatchSpecificWeights": PASSES,
    "MeanSquaredErrorTest.testNonZeroLossWithSampleSpecificWeights": PASSES,
    "MeanSquaredErrorTest.testNonZeroLossWithSampleSpecificWeightsMostZero": PASSES,
    "MeanSquaredErrorTest.testLossWithSampleSpecificWeightsAllZero": PASSES,
    # The class runs in graph mode upstream, whose numbers losskit follows (TensorFlow 2's
    # eager mode differs for scalar weights: deviation v1-pairwise-scalar-weight).
    "MeanPairwiseSquaredErrorTest.testValueErrorThrownWhenWeightIsNone": PASSES,
    "MeanPairwiseSquaredErrorTest.testAllCorrectNoLossWeight": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.testNonZeroLoss": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.testGradientWithZeroWeight": (
        "passes: a PyTorch matmul and autograd in place of the variable and the optimizer"
    ),
    "MeanPairwiseSquaredErrorTest.testNonZeroLossWithPythonScalarWeight": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.testNonZeroLossWithScalarTensorWeight": PASSES,
    "MeanPairwiseSquaredErrorTest.testNonZeroLossWithScalarZeroWeight": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.test3d": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.test3dWeightedScalar": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.testInvalid3dWeighted2x0": _DYNAMIC,
    "MeanPairwiseSquaredErrorTest.test3dWeighted2x3x3": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.testLossWithAllZeroBatchSpecificWeights": _PLACEHOLDER,
    "MeanPairwiseSquaredErrorTest.testLossIsAssociativeAcrossBatchElements": (
        "passes: NumPy's generator in place of TensorFlow's seeded random ops"
    ),
    "CosineDistanceLossTest.testValueErrorThrownWhenWeightIsNone": PASSES,
    "CosineDistanceLossTest.testAllCorrectNoWeights": PASSES,
    "CosineDistanceLossTest.testPartiallyCorrectWithIntegerValues": PASSES,
    "CosineDistanceLossTest.testPartiallyCorrectFloatingPointValues": PASSES,
    "CosineDistanceLossTest.testSampleSpecificWeights": PASSES,
    "CosineDistanceLossTest.testMeasurementSpecificWeights": PASSES,
    "CosineDistanceLossTest.testMeasurementSpecificWeightsWithPlaceholderWithShape": _PLACEHOLDER,
    "CosineDistanceLossTest.testZeroLossWhenAllSampleSpecificWeightsAreZero": PASSES,
    "CosineDistanceLossTest.testZeroLossWhenAllMeasurementSpecificWeightsAreZero": PASSES,
    "AddLossTest.testNoCollectLossesBatch2": PASSES,
    "ComputeWeightedLossTest.testUnweighted": (
        "passes: the graph's collection becomes a losskit.v1.collect_losses() block"
    ),
    "ComputeWeightedLossTest.testUnweightedFromPlaceholder": _PLACEHOLDER,
    "ComputeWeightedLossTest.testScalarWeight": PASSES,
    "ComputeWeightedLossTest.testInvalidWeightTooManyDims": _DYNAMIC,
    "ComputeWeightedLossTest.testInvalidWeightMismatchedDim": _DYNAMIC,
    "ComputeWeightedLossTest.testInvalid3Weight": _DYNAMIC,
    "ComputeWeightedLossTest.testInvalid3x1Weight": _DYNAMIC,
    "ComputeWeightedLossTest.testInvalid3x2Weight": _DYNAMIC,
    "ComputeWeightedLossTest.testInvalid1x2Weight": _DYNAMIC,
    "ComputeWeightedLossTest.testInvalidScalar1DWeight": _DYNAMIC,
    "ComputeWeightedLossTest.test1x1x1Weight": PASSES,
    "ComputeWeightedLossTest.test1x2x1Weight": PASSES,
    "ComputeWeightedLossTest.test1x1x4Weight": PASSES,
    "ComputeWeightedLossTest.test3x1x1Weight": PASSES,
    "ComputeWeightedLossTest.test3x2x1Weight": PASSES,
    "ComputeWeightedLossTest.test3x1x4Weight": PASSES,
    "ComputeWeightedLossTest.test1x2x4Weight": PASSES,
    "ComputeWeightedLossTest.test3x2x4Weight": PASSES,
}


def traced(fn: Any, *arrays: Any) -> Any:
    """``fn`` under ``jax.jit`` with ``arrays`` as traced arguments: a placeholder's role."""
    import jax
    import jax.numpy as jnp

    return np.asarray(jax.jit(fn)(*(jnp.asarray(a) for a in arrays)))


def freed_after(call: Any) -> bool:
    """Whether the result of ``call()`` is freed when dropped (nothing global holds it)."""
    result = call()
    ref = weakref.ref(result)
    del result
    gc.collect()
    return ref() is None


# ============================================================================ absolute difference

AD_PREDICTIONS = np.array([4, 8, 12, 8, 1, 3], np.int32).reshape(2, 3)
AD_LABELS = np.array([1, 9, 2, -5, -2, 6], np.int32).reshape(2, 3)


def test_AbsoluteDifferenceLossTest_testValueErrorThrownWhenWeightIsNone() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.absolute_difference(AD_PREDICTIONS, AD_PREDICTIONS, weights=None)


def test_AbsoluteDifferenceLossTest_testAllCorrectNoLossWeight() -> None:
    assert_almost_equal(v1.absolute_difference(AD_PREDICTIONS, AD_PREDICTIONS), 0.0, 3)


def test_AbsoluteDifferenceLossTest_testNonZeroLoss() -> None:
    assert_almost_equal(v1.absolute_difference(AD_LABELS, AD_PREDICTIONS), 5.5, 3)


def test_AbsoluteDifferenceLossTest_testNonZeroLossWithPythonScalarWeight() -> None:
    loss = v1.absolute_difference(AD_LABELS, AD_PREDICTIONS, 2.3)
    assert_almost_equal(loss, 5.5 * 2.3, 3)


def test_AbsoluteDifferenceLossTest_testNonZeroLossWithScalarTensorWeight() -> None:
    loss = v1.absolute_difference(AD_LABELS, AD_PREDICTIONS, np.array(2.3, np.float32))
    assert_almost_equal(loss, 5.5 * 2.3, 3)


def test_AbsoluteDifferenceLossTest_testNonZeroLossWithOneDimBatchSpecificWeights() -> None:
    weights = np.array([1.2, 0.0], np.float32).reshape(2, 1)
    assert_almost_equal(v1.absolute_difference(AD_LABELS, AD_PREDICTIONS, weights), 5.6, 3)


def test_AbsoluteDifferenceLossTest_testNonZeroLossWithTwoDimBatchSpecificWeights() -> None:
    weights = np.array([[1.2], [0.0]], np.float32)
    assert_almost_equal(v1.absolute_difference(AD_LABELS, AD_PREDICTIONS, weights), 5.6, 3)


def test_AbsoluteDifferenceLossTest_testNonZeroLossWithSampleSpecificWeights() -> None:
    weights = np.array([3, 6, 5, 0, 4, 2], np.int32).reshape(2, 3)
    assert_almost_equal(v1.absolute_difference(AD_LABELS, AD_PREDICTIONS, weights), 16.6, 3)


def test_AbsoluteDifferenceLossTest_testNonZeroLossWithSampleSpecificWeightsMostZero() -> None:
    weights = np.array([0, 0, 0, 0, 0, 2], np.int32).reshape(2, 3)
    assert_almost_equal(v1.absolute_difference(AD_LABELS, AD_PREDICTIONS, weights), 6.0, 3)


def test_AbsoluteDifferenceLossTest_testLossWithSampleSpecificWeightsAllZero() -> None:
    loss = v1.absolute_difference(AD_LABELS, AD_PREDICTIONS, np.zeros((2, 3), np.float32))
    assert_almost_equal(loss, 0.0, 3)


def test_AbsoluteDifferenceLossTest_testEagerNoMemoryLeaked() -> None:
    assert freed_after(lambda: v1.absolute_difference(AD_LABELS, AD_PREDICTIONS))
    with v1.collect_losses() as store:
        pass
    assert len(store) == 0


# ============================================================================ softmax

LOGITS = np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]], np.float32)
WRONG = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.int32)
STRONG = np.array(
    [[100.0, -100.0, -100.0], [-100.0, 100.0, -100.0], [-100.0, -100.0, 100.0]], np.float32
)
PER_CLASS_WEIGHTS = np.array([[3, 4, 5], [2, 6, 0], [8, 0, 1]], np.int32)


def test_SoftmaxCrossEntropyLossTest_testNoneWeightRaisesValueError() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.softmax_cross_entropy(np.eye(3, dtype=np.int32), LOGITS, weights=None)


def test_SoftmaxCrossEntropyLossTest_testAllCorrect() -> None:
    loss = v1.softmax_cross_entropy(np.eye(3, dtype=np.int32), LOGITS)
    assert_almost_equal(loss, 0.0, 3)


def test_SoftmaxCrossEntropyLossTest_testAllWrong() -> None:
    assert_almost_equal(v1.softmax_cross_entropy(WRONG, LOGITS), 10.0, 3)


def test_SoftmaxCrossEntropyLossTest_testNonZeroLossWithPythonScalarWeight() -> None:
    assert_almost_equal(v1.softmax_cross_entropy(WRONG, LOGITS, 2.3), 2.3 * 10.0, 3)


def test_SoftmaxCrossEntropyLossTest_testNonZeroLossWithScalarTensorWeight() -> None:
    loss = v1.softmax_cross_entropy(WRONG, LOGITS, np.array(2.3, np.float32))
    assert_almost_equal(loss, 2.3 * 10.0, 3)


def test_SoftmaxCrossEntropyLossTest_testNonZeroLossWithOneDimBatchSpecificWeights() -> None:
    loss = v1.softmax_cross_entropy(WRONG, LOGITS, np.array([1.2, 3.4, 5.6], np.float32))
    assert_almost_equal(loss, (1.2 + 3.4 + 5.6) * 10.0 / 3.0, 3)


def test_SoftmaxCrossEntropyLossTest_testAllWrongAllWeightsMissing() -> None:
    loss = v1.softmax_cross_entropy(WRONG, LOGITS, np.zeros(3, np.int32))
    assert_almost_equal(loss, 0.0, 3)


def test_SoftmaxCrossEntropyLossTest_testSomeWeightsMissing() -> None:
    loss = v1.softmax_cross_entropy(WRONG, LOGITS, np.array([1.2, 0, 0], np.float32))
    assert_almost_equal(loss, 12.0, 3)


def test_SoftmaxCrossEntropyLossTest_testSoftmaxWithMeasurementSpecificWeightsRaisesException() -> (
    None
):
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.softmax_cross_entropy(np.eye(3, dtype=np.int32), STRONG, weights=PER_CLASS_WEIGHTS)


def test_SoftmaxCrossEntropyLossTest_testSoftmaxLabelSmoothing() -> None:
    # log-softmax of [100, -100, -100] is [0, -200, -200]: the loss is 400 L / n
    logits = np.array([[100.0, -100.0, -100.0]], np.float32)
    loss = v1.softmax_cross_entropy(np.array([[1, 0, 0]]), logits, label_smoothing=0.1)
    assert_almost_equal(loss, 400.0 * 0.1 / 3.0, 3)


# ============================================================================ sparse softmax

SPARSE_WRONG = np.array([[2], [0], [1]])


def test_SparseSoftmaxCrossEntropyLossTest_testNoneWeightRaisesValueError() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2]]), LOGITS, weights=None)


def test_SparseSoftmaxCrossEntropyLossTest_testAllCorrectInt32Labels() -> None:
    loss = v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2]], np.int32), LOGITS)
    assert_almost_equal(loss, 0.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testEagerNoMemoryLeaked() -> None:
    labels = np.array([[0], [1], [2]], np.int32)
    assert freed_after(lambda: v1.sparse_softmax_cross_entropy(labels, LOGITS))


def test_SparseSoftmaxCrossEntropyLossTest_testAllCorrectInt64Labels() -> None:
    loss = v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2]], np.int64), LOGITS)
    assert_almost_equal(loss, 0.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testAllCorrectNonColumnLabels() -> None:
    assert_almost_equal(v1.sparse_softmax_cross_entropy(np.array([0, 1, 2]), LOGITS), 0.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testAllWrongInt32Labels() -> None:
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG.astype(np.int32), LOGITS)
    assert_almost_equal(loss, 10.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testAllWrongInt64Labels() -> None:
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG.astype(np.int64), LOGITS)
    assert_almost_equal(loss, 10.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testAllWrongNonColumnLabels() -> None:
    assert_almost_equal(v1.sparse_softmax_cross_entropy(np.array([2, 0, 1]), LOGITS), 10.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testNonZeroLossWithPythonScalarWeight() -> None:
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, 2.3)
    assert_almost_equal(loss, 2.3 * 10.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testNonZeroLossWithScalarTensorWeight() -> None:
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, np.array(2.3, np.float32))
    assert_almost_equal(loss, 2.3 * 10.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testNonZeroLossWith1DTensorWeight() -> None:
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, np.array([2.3], np.float32))
    assert_almost_equal(loss, 2.3 * 10.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testNonZeroLossWithPlaceholderForWeights() -> None:
    weights = np.array([[1.2], [3.4], [5.6]], np.float32)
    loss = traced(lambda w: v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, w), weights)
    assert_almost_equal(loss, (1.2 + 3.4 + 5.6) * 10.0 / 3.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testUnknownShapePlaceholderForLogitsLabelsButScalarWeights() -> (  # noqa: E501
    None
):
    loss = traced(lambda t, z: v1.sparse_softmax_cross_entropy(t, z, 1.0), SPARSE_WRONG, LOGITS)
    assert_almost_equal(loss, (1.0 + 1.0 + 1.0) * 10.0 / 3.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testNonZeroLossWithPlaceholderForLogitsLabelsAndWeights() -> (  # noqa: E501
    None
):
    weights = np.array([[1.2], [3.4], [5.6]], np.float32)
    loss = traced(v1.sparse_softmax_cross_entropy, SPARSE_WRONG.astype(np.int32), LOGITS, weights)
    assert_almost_equal(loss, (1.2 + 3.4 + 5.6) * 10.0 / 3.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testNonZeroLossWithOneDimBatchSpecificWeights() -> None:
    weights = np.array([1.2, 3.4, 5.6], np.float32).reshape(3, 1)
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, weights)
    assert_almost_equal(loss, (1.2 + 3.4 + 5.6) * 10.0 / 3.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testNonZeroLossWithColumnWeights() -> None:
    weights = np.array([[1.2], [3.4], [5.6]], np.float32)
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, weights)
    assert_almost_equal(loss, (1.2 + 3.4 + 5.6) * 10.0 / 3.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testAllWrongAllWeightsMissing() -> None:
    loss = v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, np.zeros((3, 1), np.int32))
    assert_almost_equal(loss, 0.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testSomeWeightsMissing() -> None:
    weights = np.array([1.2, 0, 0], np.float32).reshape(3, 1)
    assert_almost_equal(v1.sparse_softmax_cross_entropy(SPARSE_WRONG, LOGITS, weights), 12.0, 3)


def test_SparseSoftmaxCrossEntropyLossTest_testMeasurementSpecificWeightsRaisesException() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2]]), STRONG, PER_CLASS_WEIGHTS)


def test_SparseSoftmaxCrossEntropyLossTest_testInconsistentWeightSizeRaisesException() -> None:
    """The weight tensor has incorrect number of elements."""
    weights = np.array([1.2, 3.4, 5.6, 7.8], np.float32)
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2]]), STRONG, weights)


def test_SparseSoftmaxCrossEntropyLossTest_testInconsistentLabelSizeRaisesException() -> None:
    """The label tensor has incorrect number of elements."""
    weights = np.array([1.2, 3.4, 5.6], np.float32)
    with pytest.raises(ValueError, match=r"Invalid `labels`"):
        v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2], [3]]), STRONG, weights)


FOUR = np.where(np.eye(4, dtype=bool), 100.0, -100.0).astype(np.float32)


def test_SparseSoftmaxCrossEntropyLossTest_testInconsistentWeightShapeRaisesException() -> None:
    """The weight tensor has incorrect shape."""
    weights = np.array([[1.2, 3.4], [5.6, 7.8]], np.float32)
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2], [3]]), FOUR, weights)


def test_SparseSoftmaxCrossEntropyLossTest_testInconsistentLabelShapeRaisesException() -> None:
    """The label tensor has incorrect shape."""
    with pytest.raises(ValueError, match=r"Invalid `labels`: expected the shape of `logits`"):
        v1.sparse_softmax_cross_entropy(np.array([[0, 1], [2, 3]]), FOUR, np.array(1.2))


# ============================================================================ sigmoid


def test_SigmoidCrossEntropyLossTest_testAllCorrectSigmoid() -> None:
    loss = v1.sigmoid_cross_entropy(np.eye(3, dtype=np.int32), STRONG)
    assert loss.dtype == STRONG.dtype
    assert_almost_equal(loss, 0.0, 3)


def _single_dim(classes: int) -> None:
    logits, labels = np.ones((32, classes), np.float32), np.ones((32, classes), np.float32)
    import jax.numpy as jnp

    loss = traced(lambda z, t: v1.sigmoid_cross_entropy(t, z, jnp.ones_like(z)), logits, labels)
    assert loss.dtype == np.float32
    assert_almost_equal(loss, 0.313, 3)


def test_SigmoidCrossEntropyLossTest_testLossWithSingleDimPlaceholderForLogitsAndWeights1() -> None:
    _single_dim(1)


def test_SigmoidCrossEntropyLossTest_testLossWithSingleDimPlaceholderForLogitsAndWeights2() -> None:
    _single_dim(2)


def test_SigmoidCrossEntropyLossTest_testAllWrongSigmoid() -> None:
    loss = v1.sigmoid_cross_entropy(WRONG, STRONG)
    assert loss.dtype == STRONG.dtype
    assert_almost_equal(loss, 600.0 / 9.0, 3)


def test_SigmoidCrossEntropyLossTest_testAllWrongSigmoidWithMeasurementSpecificWeights() -> None:
    loss = v1.sigmoid_cross_entropy(WRONG, STRONG, PER_CLASS_WEIGHTS)
    assert loss.dtype == STRONG.dtype
    assert_almost_equal(loss, 1700.0 / 7.0, 3)


def test_SigmoidCrossEntropyLossTest_testMultiCorrectSigmoid() -> None:
    logits = np.array(
        [[100.0, -100.0, 100.0], [100.0, 100.0, -100.0], [-100.0, 100.0, 100.0]], np.float32
    )
    labels = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], np.int32)
    loss = v1.sigmoid_cross_entropy(labels, logits)
    assert loss.dtype == logits.dtype
    assert_almost_equal(loss, 0.0, 3)


def test_SigmoidCrossEntropyLossTest_testSigmoidFloat64() -> None:
    logits = np.array(
        [[100.0, -100.0, 100.0], [100.0, -100.0, 100.0], [100.0, 100.0, -100.0]], np.float64
    )
    labels = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], np.int64)
    loss = v1.sigmoid_cross_entropy(labels, logits)
    assert loss.dtype == logits.dtype
    assert_almost_equal(loss, 44.444, 3)


def test_SigmoidCrossEntropyLossTest_testSigmoidNoReduction() -> None:
    logits = np.array(
        [[100.0, -100.0, 100.0], [100.0, -100.0, 100.0], [100.0, 100.0, -100.0]], np.float32
    )
    labels = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], np.int32)
    loss = v1.sigmoid_cross_entropy(labels, logits, reduction=v1.Reduction.NONE)
    assert loss.dtype == logits.dtype
    expected = [[0.0, 0.0, 0.0], [0.0, 100.0, 100.0], [100.0, 0.0, 100.0]]
    assert_allclose(loss, expected, rtol=1e-6, atol=1e-3)


def test_SigmoidCrossEntropyLossTest_testSigmoidLabelSmoothingCorrect() -> None:
    # labels become z (1 - L) + L / 2; the loss is (100 + 50 L) / 3
    logits = np.array([[100.0, -100.0, -100.0]], np.float32)
    loss = v1.sigmoid_cross_entropy(np.array([[1, 0, 1]]), logits, label_smoothing=0.1)
    assert loss.dtype == logits.dtype
    assert_almost_equal(loss, (100.0 + 50.0 * 0.1) / 3.0, 3)


def test_SigmoidCrossEntropyLossTest_testSigmoidLabelSmoothingEqualsSoftmaxTwoLabel() -> None:
    sigmoid = v1.sigmoid_cross_entropy(
        np.array([[1, 0, 1]]), np.array([[100.0, -100.0, -100.0]], np.float32), label_smoothing=0.1
    )
    softmax = v1.softmax_cross_entropy(
        np.array([[0, 1], [1, 0], [0, 1]]),
        np.array([[0.0, 100.0], [100.0, 0.0], [100.0, 0.0]], np.float32),
        label_smoothing=0.1,
    )
    assert_almost_equal(sigmoid, softmax, 3)


# ============================================================================ log loss

LL_PREDICTIONS = np.asarray([0.9, 0.2, 0.2, 0.8, 0.4, 0.6]).reshape((2, 3))
LL_LABELS = np.asarray([1.0, 0.0, 1.0, 1.0, 0.0, 0.0]).reshape((2, 3))
LL_EXPECTED = LL_LABELS * np.log(LL_PREDICTIONS + 1e-7) + (1 - LL_LABELS) * np.log(
    1 - LL_PREDICTIONS + 1e-7
)


def test_LogLossTest_testValueErrorThrownWhenWeightIsNone() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.log_loss(LL_LABELS, LL_LABELS, weights=None)


def test_LogLossTest_testAllCorrectNoLossWeight() -> None:
    assert_almost_equal(v1.log_loss(LL_LABELS, LL_LABELS), 0.0, 3)


def test_LogLossTest_testAllCorrectNoLossWeightWithPlaceholder() -> None:
    loss = traced(lambda p: v1.log_loss(LL_LABELS, p), LL_LABELS.astype(np.float32))
    assert_almost_equal(loss, 0.0, 3)


def test_LogLossTest_testNonZeroLoss() -> None:
    assert_almost_equal(v1.log_loss(LL_LABELS, LL_PREDICTIONS), -np.sum(LL_EXPECTED) / 6.0, 3)


def test_LogLossTest_testNonZeroLossWithPythonScalarWeight() -> None:
    loss = v1.log_loss(LL_LABELS, LL_PREDICTIONS, 2.3)
    assert_almost_equal(loss, 2.3 * -np.sum(LL_EXPECTED) / 6.0, 3)


def test_LogLossTest_testNonZeroLossWithScalarTensorWeight() -> None:
    loss = v1.log_loss(LL_LABELS, LL_PREDICTIONS, np.array(2.3, np.float32))
    assert_almost_equal(loss, 2.3 * -np.sum(LL_EXPECTED) / 6.0, 3)


def test_LogLossTest_testNonZeroLossWithScalarTensorWeightAndPlaceholder() -> None:
    loss = traced(
        lambda p: v1.log_loss(LL_LABELS, p, np.array(2.3, np.float32)),
        LL_PREDICTIONS.astype(np.float32),
    )
    assert_almost_equal(loss, 2.3 * -np.sum(LL_EXPECTED) / 6.0, 3)


def test_LogLossTest_testNonZeroLossWithScalarTensorWeightAndPlaceholderWithRankOnly() -> None:
    test_LogLossTest_testNonZeroLossWithScalarTensorWeightAndPlaceholder()


def test_LogLossTest_testNonZeroLossWithOneDimBatchSpecificWeights() -> None:
    weights = np.array([1.2, 3.4], np.float32).reshape(2, 1)
    expected = LL_EXPECTED * np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))
    assert_almost_equal(v1.log_loss(LL_LABELS, LL_PREDICTIONS, weights), -np.sum(expected) / 6, 3)


def test_LogLossTest_testNonZeroLossWithOneDimBatchSpecificWeightsSomeZero() -> None:
    weights = np.array([1.2, 0], np.float32).reshape(2, 1)
    expected = LL_EXPECTED * np.asarray([1.2, 1.2, 1.2, 0, 0, 0]).reshape((2, 3))
    assert_almost_equal(v1.log_loss(LL_LABELS, LL_PREDICTIONS, weights), -np.sum(expected) / 3, 3)


def test_LogLossTest_testNonZeroLossWithTwoDimBatchSpecificWeightsSomeZero() -> None:
    weights = np.array([[1.2], [0]], np.float32)
    expected = LL_EXPECTED * np.asarray([1.2, 1.2, 1.2, 0, 0, 0]).reshape((2, 3))
    assert_almost_equal(v1.log_loss(LL_LABELS, LL_PREDICTIONS, weights), -np.sum(expected) / 3, 3)


def test_LogLossTest_testWeightsWithSameNumDimsButWrongShapeThrowsException() -> None:
    weights = np.random.default_rng(0).normal(size=(2, 4))
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.log_loss(LL_LABELS, LL_PREDICTIONS, weights)


MEASUREMENT = np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3))
MOST_ZERO = np.array([0, 0, 0, 0, 0, 2]).reshape((2, 3))


def test_LogLossTest_testNonZeroLossWithMeasurementSpecificWeights() -> None:
    loss = v1.log_loss(LL_LABELS, LL_PREDICTIONS, MEASUREMENT)
    assert_almost_equal(loss, -np.sum(LL_EXPECTED * MEASUREMENT) / 5.0, 3)


def test_LogLossTest_testNonZeroLossWithMeasurementSpecificWeightsWithPlaceholder() -> None:
    loss = traced(
        lambda p: v1.log_loss(LL_LABELS, p, MEASUREMENT), LL_PREDICTIONS.astype(np.float32)
    )
    assert_almost_equal(loss, -np.sum(LL_EXPECTED * MEASUREMENT) / 5.0, 3)


def test_LogLossTest_testNonZeroLossWithSampleSpecificWeightsMostZero() -> None:
    loss = v1.log_loss(LL_LABELS, LL_PREDICTIONS, MOST_ZERO)
    assert_almost_equal(loss, -np.sum(LL_EXPECTED * MOST_ZERO), 3)


def test_LogLossTest_testNonZeroLossWithSampleSpecificWeightsMostZeroWithPlaceholder() -> None:
    loss = traced(lambda p: v1.log_loss(LL_LABELS, p, MOST_ZERO), LL_PREDICTIONS.astype(np.float32))
    assert_almost_equal(loss, -np.sum(LL_EXPECTED * MOST_ZERO), 3)


def test_LogLossTest_testLossWithSampleSpecificWeightsAllZero() -> None:
    loss = v1.log_loss(LL_LABELS, LL_PREDICTIONS, np.zeros((2, 3), np.float32))
    assert_almost_equal(loss, 0.0, 3)


# ============================================================================ hinge


def test_HingeLossTest_testIncompatibleShapes() -> None:
    with pytest.raises(ValueError, match=r"Invalid `logits`: expected the shape of `labels`"):
        v1.hinge_loss(np.array([0.0, 1.0]), np.array([[-1.0], [2.1]]))


def test_HingeLossTest_testAllOutsideMargin() -> None:
    loss = v1.hinge_loss(np.array([1.0, 0.0, 0.0, 1.0]), np.array([1.2, -1.4, -1.0, 2.1]))
    assert_allclose(loss, 0.0, atol=1e-3)


def test_HingeLossTest_testSomeInsideMargin() -> None:
    # examples 1 and 4 are on the correct side of the hyperplane but within the margin
    loss = v1.hinge_loss(
        np.array([[0.0], [0.0], [1.0], [1.0]]), np.array([[-0.7], [-1.4], [1.4], [0.6]])
    )
    assert_allclose(loss, 0.175, atol=1e-3)


def test_HingeLossTest_testSomeMisclassified() -> None:
    # examples 2 and 4 are on the wrong side of the hyperplane
    loss = v1.hinge_loss(
        np.array([[[1.0], [0.0], [0.0], [1.0]]]), np.array([[[1.2], [0.4], [-1.0], [-1.1]]])
    )
    assert_allclose(loss, 0.875, atol=1e-3)


# ============================================================================ huber

HUBER_PREDICTIONS = np.array([1.5, -1.4, -1.0, 0.0], np.float32)
QUADRATIC_LABELS = np.array([1.0, -1.0, 0.0, 0.5], np.float32)
LINEAR_LABELS = np.array([0.0, 1.0, 0.0, 1.5], np.float32)


def test_HuberLossTest_testIncompatibleShapes() -> None:
    with pytest.raises(ValueError, match=r"Invalid `predictions`: expected the shape of `labels`"):
        v1.huber_loss(np.array([0.0, 1.0]), np.array([[-1.0], [2.1]]))


def test_HuberLossTest_testAllQuadratic() -> None:
    loss = v1.huber_loss(QUADRATIC_LABELS, HUBER_PREDICTIONS)
    assert_allclose(loss, 0.5 * (0.25 + 0.16 + 1.0 + 0.25) / 4.0, atol=1e-5)


def test_HuberLossTest_testAllLinear() -> None:
    loss = v1.huber_loss(LINEAR_LABELS, HUBER_PREDICTIONS)
    assert_allclose(loss, (1.5 + 2.4 + 1.0 + 1.5) / 4.0 - 0.5, atol=1e-5)


def test_HuberLossTest_testMixedQuadraticLinear() -> None:
    predictions = np.stack([HUBER_PREDICTIONS, HUBER_PREDICTIONS])
    labels = np.stack([QUADRATIC_LABELS, LINEAR_LABELS])
    quadratic = 0.5 * (0.25 + 0.16 + 1.0 + 0.25) / 4.0
    linear = (1.5 + 2.4 + 1.0 + 1.5) / 4.0 - 0.5
    assert_allclose(v1.huber_loss(labels, predictions), (quadratic + linear) / 2.0, atol=1e-5)


def test_HuberLossTest_testAllQuadraticDelta() -> None:
    predictions = np.array([1.5, -1.4, -0.5, 0.0], np.float32)
    expected = 0.5 * np.array([0.5**2, 0.4**2, 0.5**2, 0.5**2]).mean()
    assert_allclose(v1.huber_loss(QUADRATIC_LABELS, predictions, delta=0.5), expected, atol=1e-5)


def test_HuberLossTest_testAllLinearDelta() -> None:
    expected = 0.5 * np.array([1.5, 2.4, 1.0, 1.5]).mean() - 0.5 * 0.5**2
    loss = v1.huber_loss(LINEAR_LABELS, HUBER_PREDICTIONS, delta=0.5)
    assert_allclose(loss, expected, atol=1e-5)


# ============================================================================ mean squared error


def test_MeanSquaredErrorTest_testValueErrorThrownWhenWeightIsNone() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.mean_squared_error(AD_PREDICTIONS, AD_PREDICTIONS, weights=None)


def test_MeanSquaredErrorTest_testScalar() -> None:
    assert float(v1.mean_squared_error(predictions=np.int32(0), labels=np.int32(0))) == 0.0


def test_MeanSquaredErrorTest_testAllCorrectNoLossWeight() -> None:
    assert_almost_equal(v1.mean_squared_error(AD_PREDICTIONS, AD_PREDICTIONS), 0.0, 3)


def test_MeanSquaredErrorTest_testNonZeroLoss() -> None:
    assert_almost_equal(v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS), 49.5, 3)


def test_MeanSquaredErrorTest_testNonZeroLossWithPythonScalarWeight() -> None:
    assert_almost_equal(v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS, 2.3), 49.5 * 2.3, 3)


def test_MeanSquaredErrorTest_testNonZeroLossWithScalarTensorWeight() -> None:
    loss = v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS, np.array(2.3, np.float32))
    assert_almost_equal(loss, 49.5 * 2.3, 3)


def test_MeanSquaredErrorTest_testNonZeroLossWithOneDimBatchSpecificWeights() -> None:
    weights = np.array([1.2, 3.4], np.float32).reshape(2, 1)
    assert_almost_equal(v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS, weights), 767.8 / 6, 3)


def test_MeanSquaredErrorTest_testNonZeroLossWithTwoDimBatchSpecificWeights() -> None:
    weights = np.array([[1.2], [3.4]], np.float32)
    assert_almost_equal(v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS, weights), 767.8 / 6, 3)


def test_MeanSquaredErrorTest_testNonZeroLossWithSampleSpecificWeights() -> None:
    weights = np.array([3, 6, 5, 0, 4, 2], np.int32).reshape(2, 3)
    assert_almost_equal(v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS, weights), 587 / 5.0, 3)


def test_MeanSquaredErrorTest_testNonZeroLossWithSampleSpecificWeightsMostZero() -> None:
    weights = np.array([0, 0, 0, 0, 0, 2], np.int32).reshape(2, 3)
    assert_almost_equal(v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS, weights), 18.0, 3)


def test_MeanSquaredErrorTest_testLossWithSampleSpecificWeightsAllZero() -> None:
    loss = v1.mean_squared_error(AD_LABELS, AD_PREDICTIONS, np.zeros((2, 3)))
    assert_almost_equal(loss, 0.0, 3)


# ============================================================================ mean pairwise

MP_PREDICTIONS = np.array([[4, 8, 12], [8, 1, 3]])
MP_LABELS = np.array([[1, 9, 2], [-5, -5, 7]])
MP_3D_LABELS = np.array([[[1, 9, 2], [12, 11, 10], [9, 8, 7]], [[-5, -5, 7], [6, 5, 4], [3, 2, 1]]])
MP_3D_PREDICTIONS = np.array(
    [[[4, 8, 12], [1, 2, 3], [4, 5, 6]], [[8, 1, 3], [7, 8, 9], [10, 11, 12]]]
)


def _mp_expected() -> float:
    """The upstream setUp's expected loss, pair by pair."""
    total = 0.0
    for b in range(2):
        for i in range(2):
            for j in range(i + 1, 3):
                x = MP_PREDICTIONS[b, i] - MP_PREDICTIONS[b, j]
                y = MP_LABELS[b, i] - MP_LABELS[b, j]
                total += (x - y) ** 2 / 3.0
    return total


def _mp_valid(labels: Any, predictions: Any, expected: float, weights: Any = 1.0) -> None:
    """Upstream's _test_valid_weights: the static call, then the placeholder call."""
    static = v1.mean_pairwise_squared_error(predictions=predictions, labels=labels, weights=weights)
    assert_almost_equal(static, expected, decimal=3)
    dynamic = traced(
        lambda p, t, w: v1.mean_pairwise_squared_error(predictions=p, labels=t, weights=w),
        np.asarray(predictions, np.float32),
        np.asarray(labels, np.int32),
        np.asarray(weights, np.float32),
    )
    assert_almost_equal(dynamic, expected, decimal=3)


def test_MeanPairwiseSquaredErrorTest_testValueErrorThrownWhenWeightIsNone() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.mean_pairwise_squared_error(predictions=MP_LABELS, labels=MP_LABELS, weights=None)


def test_MeanPairwiseSquaredErrorTest_testAllCorrectNoLossWeight() -> None:
    _mp_valid(MP_LABELS, MP_LABELS, 0.0)


def test_MeanPairwiseSquaredErrorTest_testNonZeroLoss() -> None:
    _mp_valid(MP_LABELS, MP_PREDICTIONS, _mp_expected())


def test_MeanPairwiseSquaredErrorTest_testGradientWithZeroWeight() -> None:
    import torch

    torch.manual_seed(0)
    weights = torch.nn.init.trunc_normal_(torch.empty(3, 4)).requires_grad_(True)
    predictions = torch.ones(2, 3) @ weights
    v1.mean_pairwise_squared_error(predictions, predictions, 0).backward()
    assert weights.grad is not None
    assert not torch.isnan(weights.grad).any()


def test_MeanPairwiseSquaredErrorTest_testNonZeroLossWithPythonScalarWeight() -> None:
    _mp_valid(MP_LABELS, MP_PREDICTIONS, 2.3 * _mp_expected(), weights=2.3)


def test_MeanPairwiseSquaredErrorTest_testNonZeroLossWithScalarTensorWeight() -> None:
    loss = v1.mean_pairwise_squared_error(
        predictions=MP_PREDICTIONS, labels=MP_LABELS, weights=np.array(2.3, np.float32)
    )
    assert_almost_equal(loss, 2.3 * _mp_expected(), 3)


def test_MeanPairwiseSquaredErrorTest_testNonZeroLossWithScalarZeroWeight() -> None:
    _mp_valid(MP_LABELS, MP_PREDICTIONS, 0.0, weights=0.0)


def test_MeanPairwiseSquaredErrorTest_test3d() -> None:
    _mp_valid(MP_3D_LABELS, MP_3D_PREDICTIONS, 137.5)


def test_MeanPairwiseSquaredErrorTest_test3dWeightedScalar() -> None:
    _mp_valid(MP_3D_LABELS, MP_3D_PREDICTIONS, 3.0 * 137.5, weights=3.0)


def test_MeanPairwiseSquaredErrorTest_testInvalid3dWeighted2x0() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`: expected a scalar or an array"):
        v1.mean_pairwise_squared_error(
            predictions=MP_3D_PREDICTIONS, labels=MP_3D_LABELS, weights=np.asarray((1.2, 3.4))
        )


def test_MeanPairwiseSquaredErrorTest_test3dWeighted2x3x3() -> None:
    # upstream: "TODO(ptucker): This doesn't look right." (each example's loss repeats 9 x)
    _mp_valid(MP_3D_LABELS, MP_3D_PREDICTIONS, 9 * 137.5, weights=np.ones((2, 3, 3)))


def test_MeanPairwiseSquaredErrorTest_testLossWithAllZeroBatchSpecificWeights() -> None:
    _mp_valid(MP_LABELS, MP_PREDICTIONS, 0.0, weights=np.zeros((2, 1)))


def test_MeanPairwiseSquaredErrorTest_testLossIsAssociativeAcrossBatchElements() -> None:
    rng = np.random.default_rng(0)
    shape = (1, 3, 4, 1)
    labels0, predictions0, labels1, predictions1 = (
        rng.uniform(0, 1, size=shape).astype(np.float32) for _ in range(4)
    )
    loss0 = v1.mean_pairwise_squared_error(labels=labels0, predictions=predictions0)
    loss1 = v1.mean_pairwise_squared_error(labels=labels1, predictions=predictions1)
    loss0_1 = v1.mean_pairwise_squared_error(
        labels=np.concatenate([labels0, labels1]),
        predictions=np.concatenate([predictions0, predictions1]),
    )
    assert loss0 > 0
    assert loss1 > 0
    assert_almost_equal(loss0 + loss1, loss0_1, 5)


# ============================================================================ cosine distance

COS_PREDICTIONS = np.asarray(
    [[1, 0, 0], [0, 0, -1], [1, 0, 0], [1, 0, 0], [0, 0, -1], [1, 0, 0]]
).reshape((3, 2, 3))
COS_LABELS = np.asarray([[1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]]).reshape(
    (3, 2, 3)
)


def test_CosineDistanceLossTest_testValueErrorThrownWhenWeightIsNone() -> None:
    with pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.cosine_distance(predictions=COS_LABELS, labels=COS_LABELS, dim=2, weights=None)


def test_CosineDistanceLossTest_testAllCorrectNoWeights() -> None:
    assert_almost_equal(v1.cosine_distance(predictions=COS_LABELS, labels=COS_LABELS, dim=2), 0, 5)


def test_CosineDistanceLossTest_testPartiallyCorrectWithIntegerValues() -> None:
    loss = v1.cosine_distance(predictions=COS_PREDICTIONS, labels=COS_LABELS, dim=2)
    assert_almost_equal(loss, 1, 5)


def test_CosineDistanceLossTest_testPartiallyCorrectFloatingPointValues() -> None:
    predictions = np.array(
        [
            [0.819031913261206, 0.567041924552012, 0.087465312324590],
            [-0.665139432070255, -0.739487441769973, -0.103671883216994],
            [0.707106781186548, -0.707106781186548, 0],
        ],
        np.float32,
    ).reshape(3, 1, 3)
    labels = np.array(
        [
            [0.819031913261206, 0.567041924552012, 0.087465312324590],
            [0.665139432070255, 0.739487441769973, 0.103671883216994],
            [0.707106781186548, 0.707106781186548, 0],
        ],
        np.float32,
    ).reshape(3, 1, 3)
    assert_almost_equal(v1.cosine_distance(labels, predictions, dim=2), 1.0, 5)


def test_CosineDistanceLossTest_testSampleSpecificWeights() -> None:
    loss = v1.cosine_distance(
        predictions=COS_PREDICTIONS,
        labels=COS_LABELS,
        dim=2,
        weights=np.asarray((1, 0, 0)).reshape((3, 1, 1)),
    )
    assert float(loss) == 1.0


def test_CosineDistanceLossTest_testMeasurementSpecificWeights() -> None:
    weights = np.array([1, 0, 0, 1, 1, 1], np.int32).reshape(3, 2, 1)
    loss = v1.cosine_distance(
        predictions=COS_PREDICTIONS, labels=COS_LABELS, dim=2, weights=weights
    )
    assert float(loss) == 3.0 / 4.0


def test_CosineDistanceLossTest_testMeasurementSpecificWeightsWithPlaceholderWithShape() -> None:
    weights = np.array([1, 0, 0, 1, 1, 1], np.int32).reshape(3, 2, 1)
    loss = traced(
        lambda p: v1.cosine_distance(predictions=p, labels=COS_LABELS, dim=2, weights=weights),
        COS_PREDICTIONS.astype(np.float32),
    )
    assert float(loss) == 3.0 / 4.0


def test_CosineDistanceLossTest_testZeroLossWhenAllSampleSpecificWeightsAreZero() -> None:
    loss = v1.cosine_distance(
        predictions=COS_PREDICTIONS, labels=COS_LABELS, dim=2, weights=np.zeros((3, 1, 1))
    )
    assert float(loss) == 0


def test_CosineDistanceLossTest_testZeroLossWhenAllMeasurementSpecificWeightsAreZero() -> None:
    loss = v1.cosine_distance(
        predictions=COS_PREDICTIONS, labels=COS_LABELS, dim=2, weights=np.zeros((3, 2, 1))
    )
    assert float(loss) == 0


# ============================================================================ add_loss


def test_AddLossTest_testNoCollectLossesBatch2() -> None:
    logits = np.array([[1.2, 0.4, -1.0, -1.1]] * 2, np.float32)
    labels = np.array([[1.0, 0.0, 0.0, 1.0]] * 2, np.float32)
    with v1.collect_losses() as store:
        assert not v1.get_losses()
        v1.absolute_difference(logits, labels, loss_collection=None)
        v1.log_loss(logits, labels, loss_collection=None)
        v1.mean_squared_error(logits, labels, loss_collection=None)
        v1.sigmoid_cross_entropy(logits, labels, loss_collection=None)
        v1.softmax_cross_entropy(logits, labels, loss_collection=None)
        assert not v1.get_losses()
    assert len(store) == 0


# ============================================================================ compute_weighted_loss

RAW_LOSSES = np.arange(24, dtype=np.float64).reshape(3, 2, 4)
"""Upstream's setUp: 0, 1, 2, ... in a [3, 2, 4] array."""
ONES_SHAPES = ((1, 1, 1), (1, 1, 4), (1, 2, 1), (1, 2, 4), (3, 1, 1), (3, 1, 4), (3, 2, 1))


def _unweighted(run: Any, ones_shapes: tuple[Any, ...]) -> None:
    """Upstream's testUnweighted: per reduction, a fresh collection (upstream: a fresh
    graph) that records one loss per call; ``run(step)`` runs the step eagerly or traced."""
    for reduction in v1.Reduction.all():

        def step(raw: Any, reduction: str = reduction) -> list[Any]:
            with v1.collect_losses():
                assert len(v1.get_losses()) == 0
                results = [v1.compute_weighted_loss(raw, reduction=reduction)]
                results += [
                    v1.compute_weighted_loss(raw, weights=np.ones(shape), reduction=reduction)
                    for shape in ones_shapes
                ]
                assert len(v1.get_losses()) == len(results)
            return results

        for result in run(step):
            if reduction == v1.Reduction.NONE:
                assert_allclose(result, RAW_LOSSES, rtol=1e-6, atol=1e-6)
            elif reduction == v1.Reduction.SUM:
                assert_allclose(result, np.sum(RAW_LOSSES), rtol=1e-6, atol=1e-6)
            else:  # MEAN, SUM_OVER_NONZERO_WEIGHTS, SUM_BY_NONZERO_WEIGHTS, SUM_OVER_BATCH_SIZE
                assert_allclose(result, np.mean(RAW_LOSSES), rtol=1e-6, atol=1e-6)


def test_ComputeWeightedLossTest_testUnweighted() -> None:
    _unweighted(lambda step: step(RAW_LOSSES), (*ONES_SHAPES, RAW_LOSSES.shape))


def test_ComputeWeightedLossTest_testUnweightedFromPlaceholder() -> None:
    """The placeholder: the whole step (block included) traced by jax.jit."""
    import jax
    import jax.numpy as jnp

    def run(step: Any) -> list[Any]:
        return [np.asarray(r) for r in jax.jit(step)(jnp.asarray(RAW_LOSSES, jnp.float32))]

    _unweighted(run, ONES_SHAPES[:2])


def test_ComputeWeightedLossTest_testScalarWeight() -> None:
    with v1.collect_losses():
        assert len(v1.get_losses()) == 0
        loss = v1.compute_weighted_loss(RAW_LOSSES, weights=17.0)
        assert len(v1.get_losses()) == 1
    assert_allclose(loss, np.mean(17.0 * RAW_LOSSES), rtol=1e-6)


def _invalid(weights: Any, losses: Any = RAW_LOSSES) -> None:
    """Upstream's _test_invalid_weights, static check (the message is losskit's)."""
    with v1.collect_losses() as store, pytest.raises(ValueError, match=r"Invalid `weights`"):
        v1.compute_weighted_loss(losses, weights=weights)
    assert len(store) == 0


def test_ComputeWeightedLossTest_testInvalidWeightTooManyDims() -> None:
    _invalid(np.zeros(shape=(2, 2, 2, 2)))


def test_ComputeWeightedLossTest_testInvalidWeightMismatchedDim() -> None:
    _invalid(np.ones(shape=(3, 2, 4, 2)), RAW_LOSSES.reshape(3, 2, 4, 1))


def test_ComputeWeightedLossTest_testInvalid3Weight() -> None:
    _invalid((17.0, 5.0, 2.0))


def test_ComputeWeightedLossTest_testInvalid3x1Weight() -> None:
    _invalid(((17.0,), (5.0,), (2.0,)))


def test_ComputeWeightedLossTest_testInvalid3x2Weight() -> None:
    _invalid(((17.0, 3.0), (5.0, 31.0), (2.0, 7.0)))


def test_ComputeWeightedLossTest_testInvalid1x2Weight() -> None:
    _invalid((17.0, 3.0))


def test_ComputeWeightedLossTest_testInvalidScalar1DWeight() -> None:
    _invalid((17.0,))


def _valid(weights: Any) -> None:
    """Upstream's _test_valid_weights: every reduction against NumPy."""
    weights = np.asarray(weights)
    for reduction in v1.Reduction.all():
        with v1.collect_losses() as store:
            loss = v1.compute_weighted_loss(RAW_LOSSES, weights=weights, reduction=reduction)
        assert len(store.get()) == 1
        weighted = weights * RAW_LOSSES
        broadcast = weights * np.ones_like(RAW_LOSSES)
        expected = {
            "none": weighted,
            "weighted_sum": np.sum(weighted),
            "weighted_mean": np.sum(weighted) / np.sum(broadcast),
            "weighted_sum_by_nonzero_weights": np.sum(weighted) / np.count_nonzero(broadcast),
            "weighted_sum_over_batch_size": np.sum(weighted) / RAW_LOSSES.size,
        }[reduction]
        assert_allclose(loss, expected, rtol=1e-6, atol=1e-6)


def test_ComputeWeightedLossTest_test1x1x1Weight() -> None:
    _valid((((17.0,),),))


def test_ComputeWeightedLossTest_test1x2x1Weight() -> None:
    _valid((((17.0,), (3.0,)),))


def test_ComputeWeightedLossTest_test1x1x4Weight() -> None:
    _valid((((17.0, 0.0, 2.0, 5.0),),))


def test_ComputeWeightedLossTest_test3x1x1Weight() -> None:
    _valid((((17.0,),), ((5.0,),), ((2.0,),)))


def test_ComputeWeightedLossTest_test3x2x1Weight() -> None:
    _valid((((17.0,), (3.0,)), ((5.0,), (31.0,)), ((2.0,), (7.0,))))


def test_ComputeWeightedLossTest_test3x1x4Weight() -> None:
    _valid(
        (
            ((17.0, 0.0, 2.0, 5.0),),
            ((5.0, 31.0, 17.0, 5.0),),
            ((7.0, 3.0, 11.0, 5.0),),
        )
    )


def test_ComputeWeightedLossTest_test1x2x4Weight() -> None:
    _valid((((17.0, 0.0, 2.0, 5.0), (3.0, 13.0, 11.0, 2.0)),))


def test_ComputeWeightedLossTest_test3x2x4Weight() -> None:
    _valid(
        (
            ((17.0, 0.0, 2.0, 5.0), (3.0, 13.0, 11.0, 2.0)),
            ((5.0, 31.0, 17.0, 5.0), (13.0, 3.0, 0.0, 11.0)),
            ((0.0, 3.0, 11.0, 5.0), (13.0, 11.0, 1.0, 7.0)),
        )
    )
