"""tf-keras's own losses tests, translated to losskit.

Upstream: https://github.com/keras-team/tf-keras, ``tf_keras/losses_test.py`` at commit
631ed411d9e55e40b1ecaae7b046bba14752f46e (tag v2.21.0, the tf_keras installed here).

Each ``TestX.test_y`` translates ``XTest.test_y`` (graph and eager modes are one test here);
the expected numbers are upstream's. ``VERDICTS`` gives every upstream method's verdict (see
``_verdicts.py``); ``docs/peers.md`` summarizes them.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from losskit import Reduction, losses
from tests.conformance.peers._verdicts import (
    PASSES,
    Upstream,
    assert_all_close,
    assert_almost_equal,
    assert_array_near,
    not_applicable,
)

UPSTREAM = Upstream(
    repository="keras-team/tf-keras",
    path="tf_keras/losses_test.py",
    commit="631ed411d9e55e40b1ecaae7b046bba14752f46e",
    tag="v2.21.0",
)

RAGGED = not_applicable("ragged tensors: no array-API library has them (pad and pass a mask)")
CACHED_LOGITS = not_applicable(
    "Keras caches the logits on its activations' outputs; arrays carry none (use from_logits)"
)
AUTOGRAPH = not_applicable("tf.function's autograph; losskit's code itself traces (test_tracing)")

VERDICTS: dict[str, str] = {
    "KerasLossesTest.test_objective_shapes_3d": PASSES,
    "KerasLossesTest.test_objective_shapes_2d": PASSES,
    "KerasLossesTest.test_cce_one_hot": PASSES,
    "KerasLossesTest.test_categorical_crossentropy_loss": PASSES,
    "KerasLossesTest.test_categorical_crossentropy_loss_with_unknown_rank_tensor": PASSES,
    "KerasLossesTest.test_categorial_crossentropy_loss_different_axis": PASSES,
    "KerasLossesTest.test_sparse_categorical_crossentropy_loss": PASSES,
    "KerasLossesTest.test_sparse_categorical_crossentropy_loss_with_ignore_class": PASSES,
    "KerasLossesTest.test_sparse_categorical_crossentropy_loss_with_unknown_rank_tensor": PASSES,
    "KerasLossesTest.test_sparse_categorical_crossentropy_with_float16": PASSES,
    "KerasLossesTest.test_binary_crossentropy_loss": PASSES,
    "KerasLossesTest.test_get_bce": PASSES,
    "KerasLossesTest.test_serialization": PASSES,
    "KerasLossesTest.test_categorical_hinge": PASSES,
    "KerasLossesTest.test_loss_wrapper": PASSES,
    "KerasLossesTest.test_loss_wrapper_autograph": AUTOGRAPH,
    "KerasLossesTest.test_loss_wrapper_dtype": PASSES,
    "KerasLossesTest.test_invalid_reduction": PASSES,
    "KerasLossesTest.test_deserialization_error": PASSES,
    "KerasLossesTest.test_binary_crossentropy_uses_cached_logits": CACHED_LOGITS,
    "KerasLossesTest.test_categorical_crossentropy_uses_cached_logits": CACHED_LOGITS,
    "KerasLossesTest.test_sparse_categorical_crossentropy_uses_cached_logits": CACHED_LOGITS,
    "KerasLossesTest.test_loss_not_autographed_in_eager": AUTOGRAPH,
    "MeanSquaredErrorTest.test_config": PASSES,
    "MeanSquaredErrorTest.test_all_correct_unweighted": PASSES,
    "MeanSquaredErrorTest.test_unweighted": PASSES,
    "MeanSquaredErrorTest.test_scalar_weighted": PASSES,
    "MeanSquaredErrorTest.test_sample_weighted": PASSES,
    "MeanSquaredErrorTest.test_ragged_tensors": RAGGED,
    "MeanSquaredErrorTest.test_timestep_weighted": PASSES,
    "MeanSquaredErrorTest.test_zero_weighted": PASSES,
    "MeanSquaredErrorTest.test_invalid_sample_weight": PASSES,
    "MeanSquaredErrorTest.test_no_reduction": PASSES,
    "MeanSquaredErrorTest.test_sum_reduction": PASSES,
    "MeanAbsoluteErrorTest.test_config": PASSES,
    "MeanAbsoluteErrorTest.test_all_correct_unweighted": PASSES,
    "MeanAbsoluteErrorTest.test_unweighted": PASSES,
    "MeanAbsoluteErrorTest.test_scalar_weighted": PASSES,
    "MeanAbsoluteErrorTest.test_sample_weighted": PASSES,
    "MeanAbsoluteErrorTest.test_timestep_weighted": PASSES,
    "MeanAbsoluteErrorTest.test_zero_weighted": PASSES,
    "MeanAbsoluteErrorTest.test_invalid_sample_weight": PASSES,
    "MeanAbsoluteErrorTest.test_no_reduction": PASSES,
    "MeanAbsoluteErrorTest.test_sum_reduction": PASSES,
    "MeanAbsoluteErrorTest.test_ragged_tensor": RAGGED,
    "MeanAbsolutePercentageErrorTest.test_config": PASSES,
    "MeanAbsolutePercentageErrorTest.test_all_correct_unweighted": PASSES,
    "MeanAbsolutePercentageErrorTest.test_unweighted": PASSES,
    "MeanAbsolutePercentageErrorTest.test_scalar_weighted": PASSES,
    "MeanAbsolutePercentageErrorTest.test_sample_weighted": PASSES,
    "MeanAbsolutePercentageErrorTest.test_ragged_tensors": RAGGED,
    "MeanAbsolutePercentageErrorTest.test_timestep_weighted": PASSES,
    "MeanAbsolutePercentageErrorTest.test_zero_weighted": PASSES,
    "MeanAbsolutePercentageErrorTest.test_no_reduction": PASSES,
    "MeanSquaredLogarithmicErrorTest.test_config": PASSES,
    "MeanSquaredLogarithmicErrorTest.test_unweighted": PASSES,
    "MeanSquaredLogarithmicErrorTest.test_scalar_weighted": PASSES,
    "MeanSquaredLogarithmicErrorTest.test_sample_weighted": PASSES,
    "MeanSquaredLogarithmicErrorTest.test_timestep_weighted": PASSES,
    "MeanSquaredLogarithmicErrorTest.test_zero_weighted": PASSES,
    "MeanSquaredLogarithmicErrorTest.test_ragged_tensors": RAGGED,
    "CosineSimilarityTest.test_config": PASSES,
    "CosineSimilarityTest.test_unweighted": PASSES,
    "CosineSimilarityTest.test_scalar_weighted": PASSES,
    "CosineSimilarityTest.test_sample_weighted": PASSES,
    "CosineSimilarityTest.test_timestep_weighted": PASSES,
    "CosineSimilarityTest.test_zero_weighted": PASSES,
    "CosineSimilarityTest.test_axis": PASSES,
    "BinaryCrossentropyTest.test_config": PASSES,
    "BinaryCrossentropyTest.test_all_correct_unweighted": PASSES,
    "BinaryCrossentropyTest.test_unweighted": PASSES,
    "BinaryCrossentropyTest.test_scalar_weighted": PASSES,
    "BinaryCrossentropyTest.test_sample_weighted": PASSES,
    "BinaryCrossentropyTest.test_no_reduction": PASSES,
    "BinaryCrossentropyTest.test_label_smoothing": PASSES,
    "BinaryCrossentropyTest.test_label_smoothing_ndarray": PASSES,
    "BinaryCrossentropyTest.test_ragged_tensors": RAGGED,
    "BinaryFocalCrossentropyTest.test_config": PASSES,
    "BinaryFocalCrossentropyTest.test_all_correct_unweighted": PASSES,
    "BinaryFocalCrossentropyTest.test_unweighted": PASSES,
    "BinaryFocalCrossentropyTest.test_scalar_weighted": PASSES,
    "BinaryFocalCrossentropyTest.test_sample_weighted": PASSES,
    "BinaryFocalCrossentropyTest.test_no_reduction": PASSES,
    "BinaryFocalCrossentropyTest.test_ragged_tensors": RAGGED,
    "BinaryWeightedFocalCrossentropyTest.test_config": PASSES,
    "BinaryWeightedFocalCrossentropyTest.test_all_correct_unweighted": PASSES,
    "BinaryWeightedFocalCrossentropyTest.test_unweighted": PASSES,
    "BinaryWeightedFocalCrossentropyTest.test_scalar_weighted": PASSES,
    "BinaryWeightedFocalCrossentropyTest.test_sample_weighted": PASSES,
    "BinaryWeightedFocalCrossentropyTest.test_no_reduction": PASSES,
    "BinaryWeightedFocalCrossentropyTest.test_ragged_tensors": RAGGED,
    "CategoricalCrossentropyTest.test_config": PASSES,
    "CategoricalCrossentropyTest.test_all_correct_unweighted": PASSES,
    "CategoricalCrossentropyTest.test_unweighted": PASSES,
    "CategoricalCrossentropyTest.test_scalar_weighted": PASSES,
    "CategoricalCrossentropyTest.test_sample_weighted": PASSES,
    "CategoricalCrossentropyTest.test_no_reduction": PASSES,
    "CategoricalCrossentropyTest.test_label_smoothing": PASSES,
    "CategoricalCrossentropyTest.test_label_smoothing_ndarray": PASSES,
    "CategoricalCrossentropyTest.test_shape_mismatch": PASSES,
    "CategoricalCrossentropyTest.test_ragged_tensors": RAGGED,
    "CategoricalCrossentropyTest.test_ragged_tensors_ragged_sample_weights": RAGGED,
    "CategoricalCrossentropyTest.test_binary_labels": PASSES,
    "CategoricalFocalCrossentropyTest.test_config": PASSES,
    "CategoricalFocalCrossentropyTest.test_all_correct_unweighted": PASSES,
    "CategoricalFocalCrossentropyTest.test_unweighted": PASSES,
    "CategoricalFocalCrossentropyTest.test_scalar_weighted": PASSES,
    "CategoricalFocalCrossentropyTest.test_sample_weighted": PASSES,
    "CategoricalFocalCrossentropyTest.test_no_reduction": PASSES,
    "CategoricalFocalCrossentropyTest.test_label_smoothing": PASSES,
    "CategoricalFocalCrossentropyTest.test_label_smoothing_ndarray": PASSES,
    "CategoricalFocalCrossentropyTest.test_shape_mismatch": PASSES,
    "CategoricalFocalCrossentropyTest.test_ragged_tensors": RAGGED,
    "CategoricalFocalCrossentropyTest.test_ragged_tensors_ragged_sample_weights": RAGGED,
    "CategoricalFocalCrossentropyTest.test_binary_labels": PASSES,
    "SparseCategoricalCrossentropyTest.test_config": PASSES,
    "SparseCategoricalCrossentropyTest.test_all_correct_unweighted": PASSES,
    "SparseCategoricalCrossentropyTest.test_unweighted": PASSES,
    "SparseCategoricalCrossentropyTest.test_unweighted_ignore_class": PASSES,
    "SparseCategoricalCrossentropyTest.test_unweighted_ignore_class_for_segmentation": PASSES,
    "SparseCategoricalCrossentropyTest.test_scalar_weighted": PASSES,
    "SparseCategoricalCrossentropyTest.test_sample_weighted": PASSES,
    "SparseCategoricalCrossentropyTest.test_sample_weighted_ignore_class": PASSES,
    "SparseCategoricalCrossentropyTest.test_no_reduction": PASSES,
    "SparseCategoricalCrossentropyTest.test_non_tensor": PASSES,
    "SparseCategoricalCrossentropyTest.test_ragged_tensors": RAGGED,
    "SparseCategoricalCrossentropyTest.test_ragged_tensors_rank_1": RAGGED,
    "SparseCategoricalCrossentropyTest.test_ragged_tensors_3d": RAGGED,
    "HingeTest.test_config": PASSES,
    "HingeTest.test_unweighted": PASSES,
    "HingeTest.test_scalar_weighted": PASSES,
    "HingeTest.test_sample_weighted": PASSES,
    "HingeTest.test_timestep_weighted": PASSES,
    "HingeTest.test_zero_weighted": PASSES,
    "SquaredHingeTest.test_config": PASSES,
    "SquaredHingeTest.test_unweighted": PASSES,
    "SquaredHingeTest.test_scalar_weighted": PASSES,
    "SquaredHingeTest.test_sample_weighted": PASSES,
    "SquaredHingeTest.test_timestep_weighted": PASSES,
    "SquaredHingeTest.test_zero_weighted": PASSES,
    "CategoricalHingeTest.test_config": PASSES,
    "CategoricalHingeTest.test_unweighted": PASSES,
    "CategoricalHingeTest.test_scalar_weighted": PASSES,
    "CategoricalHingeTest.test_sample_weighted": PASSES,
    "CategoricalHingeTest.test_timestep_weighted": PASSES,
    "CategoricalHingeTest.test_zero_weighted": PASSES,
    "LogCoshTest.test_config": PASSES,
    "LogCoshTest.test_unweighted": PASSES,
    "LogCoshTest.test_scalar_weighted": PASSES,
    "LogCoshTest.test_sample_weighted": PASSES,
    "LogCoshTest.test_timestep_weighted": PASSES,
    "LogCoshTest.test_zero_weighted": PASSES,
    "PoissonTest.test_config": PASSES,
    "PoissonTest.test_unweighted": PASSES,
    "PoissonTest.test_scalar_weighted": PASSES,
    "PoissonTest.test_sample_weighted": PASSES,
    "PoissonTest.test_timestep_weighted": PASSES,
    "PoissonTest.test_zero_weighted": PASSES,
    "KLDivergenceTest.test_config": PASSES,
    "KLDivergenceTest.test_unweighted": PASSES,
    "KLDivergenceTest.test_scalar_weighted": PASSES,
    "KLDivergenceTest.test_sample_weighted": PASSES,
    "KLDivergenceTest.test_timestep_weighted": PASSES,
    "KLDivergenceTest.test_zero_weighted": PASSES,
    "HuberLossTest.test_config": PASSES,
    "HuberLossTest.test_all_correct": PASSES,
    "HuberLossTest.test_unweighted": PASSES,
    "HuberLossTest.test_scalar_weighted": PASSES,
    "HuberLossTest.test_sample_weighted": PASSES,
    "HuberLossTest.test_timestep_weighted": PASSES,
    "HuberLossTest.test_zero_weighted": PASSES,
    "HuberLossTest.test_non_default_delta": PASSES,
    "HuberLossTest.test_loss_with_non_default_dtype": PASSES,
    "CustomLossTest.test_autograph": AUTOGRAPH,
}

SUM, NONE = Reduction.SUM, Reduction.NONE
# the inputs most classes share: tf.constant([...], shape=...) of int32 targets and float32
# predictions
Y_TRUE = np.array([1, 9, 2, -5, -2, 6], np.int32).reshape(2, 3)
Y_PRED = np.array([4, 8, 12, 8, 1, 3], np.float32).reshape(2, 3)
TIMESTEP_WEIGHTS = np.array([3, 6, 5, 0, 4, 2], np.int32).reshape(2, 3)
SAMPLE_WEIGHTS = np.array([1.2, 3.4], np.float32).reshape(2, 1)
RNG = np.random.default_rng(0)


def f32(values: Any) -> np.ndarray:
    return np.asarray(values, np.float32)


def i32(values: Any) -> np.ndarray:
    return np.asarray(values, np.int32)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _quietly(call: Any) -> Any:
    """Inputs with one class: both Keras versions (and losskit) warn, the tests ignore it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        return call()


# ----------------------------------------------------------------------------- KerasLossesTest

ALL_LOSSES = [
    losses.mean_squared_error,
    losses.mean_absolute_error,
    losses.mean_absolute_percentage_error,
    losses.mean_squared_logarithmic_error,
    losses.squared_hinge,
    losses.hinge,
    losses.categorical_crossentropy,
    losses.binary_crossentropy,
    losses.kl_divergence,
    losses.poisson,
    losses.cosine_similarity,
    losses.log_cosh,
    losses.categorical_hinge,
]


class TestKerasLosses:
    def test_objective_shapes_3d(self) -> None:
        y_a, y_b = RNG.random((5, 6, 7)), RNG.random((5, 6, 7))
        for obj in ALL_LOSSES:
            assert obj(y_a, y_b).shape == (5, 6)

    def test_objective_shapes_2d(self) -> None:
        y_a, y_b = RNG.random((6, 7)), RNG.random((6, 7))
        for obj in ALL_LOSSES:
            assert obj(y_a, y_b).shape == (6,)

    def test_cce_one_hot(self) -> None:
        y_a, y_b = RNG.integers(0, 7, (5, 6)).astype(np.float32), RNG.random((5, 6, 7))
        assert losses.sparse_categorical_crossentropy(y_a, y_b).shape == (5, 6)
        y_a, y_b = RNG.integers(0, 7, (6,)).astype(np.float32), RNG.random((6, 7))
        assert losses.sparse_categorical_crossentropy(y_a, y_b).shape == (6,)

    def test_categorical_crossentropy_loss(self) -> None:
        target = RNG.integers(0, 1, (5, 1)).astype(np.float32)
        logits = RNG.random((5, 1)).astype(np.float32)
        softmax_output = _softmax(logits)
        for axis in (-1, 0):
            from_logit = _quietly(
                lambda a=axis: losses.categorical_crossentropy(
                    target, logits, from_logits=True, axis=a
                )
            )
            from_softmax = _quietly(
                lambda a=axis: losses.categorical_crossentropy(target, softmax_output, axis=a)
            )
            np.testing.assert_allclose(from_logit, from_softmax, atol=1e-5)

    def test_categorical_crossentropy_loss_with_unknown_rank_tensor(self) -> None:
        # (a graph placeholder of unknown rank upstream; arrays always have a rank)
        t_val = f32([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        p_val = f32([[0.9, 0.05, 0.05], [0.05, 0.89, 0.06], [0.05, 0.01, 0.94]])
        assert_array_near(
            losses.categorical_crossentropy(t_val, p_val), [0.105, 0.116, 0.062], 1e-3
        )
        p_val = f32([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]])
        result = losses.categorical_crossentropy(t_val, p_val, from_logits=True)
        assert_array_near(result, [0.002, 0, 0.17], 1e-3)

    def test_categorial_crossentropy_loss_different_axis(self) -> None:
        target = RNG.integers(0, 1, (5, 2, 3)).astype(np.float32)
        logits = RNG.random((5, 2, 3)).astype(np.float32)
        softmax_output = _softmax(logits)  # along the last axis, as backend.softmax
        from_logit = losses.categorical_crossentropy(target, logits, from_logits=True, axis=1)
        from_softmax = losses.categorical_crossentropy(target, softmax_output, axis=1)
        np.testing.assert_allclose(from_logit, from_softmax, atol=1e-5)

    def test_sparse_categorical_crossentropy_loss(self) -> None:
        target = RNG.integers(0, 1, (5, 1)).astype(np.float32)
        logits = RNG.random((5, 1)).astype(np.float32)
        from_logit = losses.sparse_categorical_crossentropy(target, logits, from_logits=True)
        from_softmax = losses.sparse_categorical_crossentropy(target, _softmax(logits))
        np.testing.assert_allclose(from_logit, from_softmax, atol=1e-5)

    def test_sparse_categorical_crossentropy_loss_with_ignore_class(self) -> None:
        ignore_class = 255
        target = RNG.integers(0, 1, (5, 1)).astype(np.float32)
        valid = f32([[0], [1], [0], [1], [1]])
        target = target * valid + (1 - valid) * ignore_class
        logits = RNG.random((5, 1)).astype(np.float32)
        from_logit = losses.sparse_categorical_crossentropy(
            target, logits, ignore_class=ignore_class, from_logits=True
        )
        from_softmax = losses.sparse_categorical_crossentropy(
            target, _softmax(logits), ignore_class=ignore_class
        )
        np.testing.assert_allclose(from_logit, from_softmax, atol=1e-5)

    def test_sparse_categorical_crossentropy_loss_with_unknown_rank_tensor(self) -> None:
        t_val = i32([0, 1, 2])
        p_val = f32([[0.9, 0.05, 0.05], [0.05, 0.89, 0.06], [0.05, 0.01, 0.94]])
        result = losses.sparse_categorical_crossentropy(t_val, p_val)
        assert_array_near(result, [0.105, 0.116, 0.062], 1e-3)
        p_val = f32([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]])
        result = losses.sparse_categorical_crossentropy(t_val, p_val, from_logits=True)
        assert_array_near(result, [0.002, 0, 0.17], 1e-3)

    def test_sparse_categorical_crossentropy_with_float16(self) -> None:
        y_true = [0, 2049]
        y_pred = np.zeros((2, 2050))
        y_pred[0][0] = 1
        y_pred[1][2049] = 1
        scce = losses.SparseCategoricalCrossentropy()
        assert_all_close(scce(y_true, y_pred.astype(np.float16)), 0.0, atol=1e-3)

    def test_binary_crossentropy_loss(self) -> None:
        target = RNG.integers(0, 1, (5, 1)).astype(np.float32)
        logits = RNG.random((5, 1)).astype(np.float32)
        sigmoid_output = _sigmoid(logits)
        for axis in (-1, 0):
            from_logit = losses.binary_crossentropy(target, logits, from_logits=True, axis=axis)
            from_sigmoid = losses.binary_crossentropy(target, sigmoid_output, axis=axis)
            np.testing.assert_allclose(from_logit, from_sigmoid, atol=1e-5)

    def test_get_bce(self) -> None:
        assert losses.get("bce") == losses.binary_crossentropy

    def test_serialization(self) -> None:
        fn = losses.get("mse")
        assert losses.deserialize(losses.serialize(fn)) == fn

    def test_categorical_hinge(self) -> None:
        y_pred = np.array([[0.3, 0.2, 0.1], [0.1, 0.2, 0.7]])
        y_true = np.array([[0, 1, 0], [1, 0, 0]])
        expected_loss = ((0.3 - 0.2 + 1) + (0.7 - 0.1 + 1)) / 2.0
        assert_all_close(expected_loss, np.mean(losses.categorical_hinge(y_true, y_pred)))

    def test_loss_wrapper(self) -> None:
        # tf_keras wraps a function in LossFunctionWrapper; losskit's way is a Loss subclass
        loss_fn = losses.get("mse")

        class Wrapper(losses.Loss):
            def call(self, y_true: Any, y_pred: Any) -> Any:
                return loss_fn(y_true, y_pred)

        mse_obj = Wrapper(name=loss_fn.__name__)
        assert mse_obj.name == "mean_squared_error"
        assert mse_obj.reduction == Reduction.AUTO
        y_true = f32([[1.0, 9.0], [2.0, 5.0]])
        y_pred = f32([[4.0, 8.0], [12.0, 3.0]])
        loss = mse_obj(y_true, y_pred, sample_weight=f32([1.2, 0.5]))
        assert_all_close(loss, 16, 1e-2)

    def test_loss_wrapper_dtype(self) -> None:
        x = np.array([[2.1]], np.float64)
        y_true = np.square(x)
        y_pred = np.array([[3.68]], np.float64)
        loss = losses.MeanSquaredError()(y_pred, y_true)
        assert loss.dtype == np.float64
        assert_all_close(loss, np.squeeze(np.square(y_pred - y_true)), atol=1e-8)

    def test_invalid_reduction(self) -> None:
        with pytest.raises(ValueError, match=r"Invalid `reduction`: .* received 'Foo'"):
            losses.MeanSquaredError(reduction="Foo")
        mse_obj = losses.MeanSquaredError()
        y = np.array([1])
        mse_obj.reduction = "Bar"  # type: ignore[assignment]
        with pytest.raises(ValueError, match=r"Invalid `reduction`: .* received 'Bar'"):
            mse_obj(y, y)

    def test_deserialization_error(self) -> None:
        with pytest.raises(ValueError, match="Could not interpret loss"):
            losses.get(0)


# ----------------------------------------------------------------------------- regression


def _invalid_timestep_weights(loss: Any) -> None:
    y_true = i32([1, 9, 2, -5, -2, 6]).reshape(2, 3, 1)
    y_pred = i32([4, 8, 12, 8, 1, 3]).reshape(2, 3, 1)
    sample_weight = i32([3, 6, 5, 0]).reshape(2, 2)
    with pytest.raises(ValueError, match=r"Invalid `sample_weight`: .*shape \(2, 2\)"):
        loss(y_true, y_pred, sample_weight=sample_weight)


class TestMeanSquaredError:
    def test_config(self) -> None:
        mse_obj = losses.MeanSquaredError(reduction=SUM, name="mse_1")
        assert mse_obj.name == "mse_1"
        assert mse_obj.reduction == SUM

    def test_all_correct_unweighted(self) -> None:
        assert_almost_equal(losses.MeanSquaredError()(Y_TRUE, Y_TRUE), 0.0, 3)

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.MeanSquaredError()(Y_TRUE, Y_PRED), 49.5, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.MeanSquaredError()(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 113.85, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.MeanSquaredError()(Y_TRUE, Y_PRED, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 767.8 / 6, 3)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanSquaredError()(
            Y_TRUE.reshape(2, 3, 1), Y_PRED.reshape(2, 3, 1), sample_weight=TIMESTEP_WEIGHTS
        )
        assert_almost_equal(loss, 587 / 6, 3)

    def test_zero_weighted(self) -> None:
        assert_almost_equal(losses.MeanSquaredError()(Y_TRUE, Y_PRED, sample_weight=0), 0.0, 3)

    def test_invalid_sample_weight(self) -> None:
        _invalid_timestep_weights(losses.MeanSquaredError())

    def test_no_reduction(self) -> None:
        loss = losses.MeanSquaredError(reduction=NONE)(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_array_near(loss, [84.3333, 143.3666], 1e-3)

    def test_sum_reduction(self) -> None:
        loss = losses.MeanSquaredError(reduction=SUM)(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 227.69998, 3)


class TestMeanAbsoluteError:
    def test_config(self) -> None:
        mae_obj = losses.MeanAbsoluteError(reduction=SUM, name="mae_1")
        assert mae_obj.name == "mae_1"
        assert mae_obj.reduction == SUM

    def test_all_correct_unweighted(self) -> None:
        assert_almost_equal(losses.MeanAbsoluteError()(Y_TRUE, Y_TRUE), 0.0, 3)

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.MeanAbsoluteError()(Y_TRUE, Y_PRED), 5.5, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.MeanAbsoluteError()(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 12.65, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.MeanAbsoluteError()(Y_TRUE, Y_PRED, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 81.4 / 6, 3)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanAbsoluteError()(
            Y_TRUE.reshape(2, 3, 1), Y_PRED.reshape(2, 3, 1), sample_weight=TIMESTEP_WEIGHTS
        )
        assert_almost_equal(loss, 83 / 6, 3)

    def test_zero_weighted(self) -> None:
        assert_almost_equal(losses.MeanAbsoluteError()(Y_TRUE, Y_PRED, sample_weight=0), 0.0, 3)

    def test_invalid_sample_weight(self) -> None:
        _invalid_timestep_weights(losses.MeanAbsoluteError())

    def test_no_reduction(self) -> None:
        loss = losses.MeanAbsoluteError(reduction=NONE)(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_array_near(loss, [10.7333, 14.5666], 1e-3)

    def test_sum_reduction(self) -> None:
        loss = losses.MeanAbsoluteError(reduction=SUM)(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 25.29999, 3)


class TestMeanAbsolutePercentageError:
    def test_config(self) -> None:
        mape_obj = losses.MeanAbsolutePercentageError(reduction=SUM, name="mape_1")
        assert mape_obj.name == "mape_1"
        assert mape_obj.reduction == SUM

    def test_all_correct_unweighted(self) -> None:
        y_true = f32([4, 8, 12, 8, 1, 3]).reshape(2, 3)
        assert_almost_equal(losses.MeanAbsolutePercentageError()(y_true, y_true), 0.0, 3)

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.MeanAbsolutePercentageError()(Y_TRUE, Y_PRED), 211.8518, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.MeanAbsolutePercentageError()(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 487.259, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.MeanAbsolutePercentageError()(Y_TRUE, Y_PRED, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 422.8888, 3)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanAbsolutePercentageError()(
            Y_TRUE.reshape(2, 3, 1), Y_PRED.reshape(2, 3, 1), sample_weight=TIMESTEP_WEIGHTS
        )
        assert_almost_equal(loss, 694.4445, 3)

    def test_zero_weighted(self) -> None:
        loss = losses.MeanAbsolutePercentageError()(Y_TRUE, Y_PRED, sample_weight=0)
        assert_almost_equal(loss, 0.0, 3)

    def test_no_reduction(self) -> None:
        loss = losses.MeanAbsolutePercentageError(reduction=NONE)(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_array_near(loss, [621.8518, 352.6666], 1e-3)


class TestMeanSquaredLogarithmicError:
    def test_config(self) -> None:
        msle_obj = losses.MeanSquaredLogarithmicError(reduction=SUM, name="mape_1")
        assert msle_obj.name == "mape_1"
        assert msle_obj.reduction == SUM

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.MeanSquaredLogarithmicError()(Y_TRUE, Y_PRED), 1.4370, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.MeanSquaredLogarithmicError()(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 3.3051, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.MeanSquaredLogarithmicError()(Y_TRUE, Y_PRED, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 3.7856, 3)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanSquaredLogarithmicError()(
            Y_TRUE.reshape(2, 3, 1), Y_PRED.reshape(2, 3, 1), sample_weight=TIMESTEP_WEIGHTS
        )
        assert_almost_equal(loss, 2.6473, 3)

    def test_zero_weighted(self) -> None:
        loss = losses.MeanSquaredLogarithmicError()(Y_TRUE, Y_PRED, sample_weight=0)
        assert_almost_equal(loss, 0.0, 3)


def _l2_norm(x: np.ndarray, axis: int) -> np.ndarray:
    square_sum = np.sum(np.square(x), axis=axis, keepdims=True)
    return x / np.sqrt(np.maximum(square_sum, 1e-12))


COSINE_TRUE = f32([[1, 9, 2], [-5, -2, 6]])
COSINE_PRED = f32([[4, 8, 12], [8, 1, 3]])
COSINE = np.sum(_l2_norm(COSINE_TRUE, 1) * _l2_norm(COSINE_PRED, 1), axis=1)


class TestCosineSimilarity:
    def test_config(self) -> None:
        cosine_obj = losses.CosineSimilarity(axis=2, reduction=SUM, name="cosine_loss")
        assert cosine_obj.name == "cosine_loss"
        assert cosine_obj.reduction == SUM

    def test_unweighted(self) -> None:
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED)
        assert_almost_equal(loss, -np.mean(COSINE), 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED, sample_weight=2.3)
        assert_almost_equal(loss, -np.mean(COSINE * 2.3), 3)

    def test_sample_weighted(self) -> None:
        sample_weight = np.asarray([1.2, 3.4])
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED, sample_weight=sample_weight)
        assert_almost_equal(loss, -np.mean(COSINE * sample_weight), 3)

    def test_timestep_weighted(self) -> None:
        y_true, y_pred = COSINE_TRUE.reshape(2, 3, 1), COSINE_PRED.reshape(2, 3, 1)
        sample_weight = np.asarray([3, 6, 5, 0, 4, 2]).reshape(2, 3)
        expected = np.sum(_l2_norm(y_true, 2) * _l2_norm(y_pred, 2), axis=2)
        loss = losses.CosineSimilarity()(y_true, y_pred, sample_weight=sample_weight)
        assert_almost_equal(loss, -np.mean(expected * sample_weight), 3)

    def test_zero_weighted(self) -> None:
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED, sample_weight=0)
        assert_almost_equal(loss, 0.0, 3)

    def test_axis(self) -> None:
        loss = losses.CosineSimilarity(axis=1)(COSINE_TRUE, COSINE_PRED)
        assert_almost_equal(loss, -np.mean(COSINE), 3)


# ----------------------------------------------------------------------------- crossentropies

IDENTITY = f32([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
SATURATED = f32([[100.0, -100.0, -100.0], [-100.0, 100.0, -100.0], [-100.0, -100.0, 100.0]])
BCE_TRUE = np.asarray([1, 0, 1, 0]).reshape(2, 2)
BCE_PRED = f32([1, 1, 1, 0]).reshape(2, 2)
BCE_LOGITS_TRUE = i32([[1, 0, 1], [0, 1, 1]])
BCE_LOGITS = f32([[100.0, -100.0, 100.0], [100.0, 100.0, -100.0]])


class TestBinaryCrossentropy:
    def test_config(self) -> None:
        bce_obj = losses.BinaryCrossentropy(reduction=SUM, name="bce_1")
        assert bce_obj.name == "bce_1"
        assert bce_obj.reduction == SUM

    def test_all_correct_unweighted(self) -> None:
        assert_almost_equal(losses.BinaryCrossentropy()(IDENTITY, IDENTITY), 0.0, 3)
        loss = losses.BinaryCrossentropy(from_logits=True)(IDENTITY, SATURATED)
        assert_almost_equal(loss, 0.0, 3)

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.BinaryCrossentropy()(BCE_TRUE, BCE_PRED), 3.833, 3)
        loss = losses.BinaryCrossentropy(from_logits=True)(BCE_LOGITS_TRUE, BCE_LOGITS)
        assert_almost_equal(loss, 33.333, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.BinaryCrossentropy()(BCE_TRUE, BCE_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 8.817, 3)
        loss = losses.BinaryCrossentropy(from_logits=True)(
            BCE_LOGITS_TRUE, BCE_LOGITS, sample_weight=2.3
        )
        assert_almost_equal(loss, 76.667, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.BinaryCrossentropy()(BCE_TRUE, BCE_PRED, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 4.6, 3)
        loss = losses.BinaryCrossentropy(from_logits=True)(
            BCE_LOGITS_TRUE, BCE_LOGITS, sample_weight=i32([4, 3])
        )
        assert_almost_equal(loss, 100, 3)

    def test_no_reduction(self) -> None:
        loss = losses.BinaryCrossentropy(from_logits=True, reduction=NONE)(
            BCE_LOGITS_TRUE, BCE_LOGITS
        )
        assert_all_close(loss, (0.0, 66.6666), atol=1e-3)

    def test_label_smoothing(self) -> None:
        logits, y_true = f32([[100.0, -100.0, -100.0]]), i32([[1, 0, 1]])
        loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)(y_true, logits)
        assert_almost_equal(loss, (100.0 + 50.0 * 0.1) / 3.0, 3)

    def test_label_smoothing_ndarray(self) -> None:
        logits, y_true = np.asarray([[100.0, -100.0, -100.0]]), np.asarray([[1, 0, 1]])
        loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)(y_true, logits)
        assert_almost_equal(loss, (100.0 + 50.0 * 0.1) / 3.0, 3)


FOCAL_TRUE = np.asarray([1, 0, 1, 0]).reshape(2, 2)
FOCAL_PRED = f32([0.9, 0.8, 0.7, 0.2]).reshape(2, 2)
FOCAL_LOGITS_TRUE = f32([[1, 1, 0], [0, 1, 0]])
FOCAL_LOGITS = f32([[1.5, -2.7, 2.9], [-3.8, 1.2, -4.5]])


class TestBinaryFocalCrossentropy:
    def test_config(self) -> None:
        obj = losses.BinaryFocalCrossentropy(gamma=1.5, name="bfce_0")
        assert obj.name == "bfce_0"
        assert_almost_equal(obj.gamma, 1.5)
        obj_2 = losses.BinaryFocalCrossentropy.from_config(obj.get_config())
        assert obj_2.name == "bfce_0"
        assert_almost_equal(obj_2.gamma, 1.5)

    def test_all_correct_unweighted(self) -> None:
        assert_almost_equal(losses.BinaryFocalCrossentropy(gamma=1.5)(IDENTITY, IDENTITY), 0.0, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        assert_almost_equal(obj(IDENTITY, SATURATED), 0.0, 3)

    def test_unweighted(self) -> None:
        loss = losses.BinaryFocalCrossentropy(gamma=2.0)(FOCAL_TRUE, FOCAL_PRED)
        assert_almost_equal(loss, 0.268, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True)
        assert_almost_equal(obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS), 0.799, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.BinaryFocalCrossentropy(gamma=2.0)(FOCAL_TRUE, FOCAL_PRED, sample_weight=1.23)
        assert_almost_equal(loss, 0.3296, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True)
        assert_almost_equal(obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS, sample_weight=3.21), 2.565, 3)

    def test_sample_weighted(self) -> None:
        obj = losses.BinaryFocalCrossentropy(gamma=2.0)
        assert_almost_equal(obj(FOCAL_TRUE, FOCAL_PRED, sample_weight=SAMPLE_WEIGHTS), 0.34415, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True)
        loss = obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 0.95977, 3)

    def test_no_reduction(self) -> None:
        obj = losses.BinaryFocalCrossentropy(gamma=2.0, reduction=NONE)
        assert_all_close(obj(FOCAL_TRUE, FOCAL_PRED), (0.5155, 0.0205), atol=1e-3)


class TestBinaryWeightedFocalCrossentropy:
    def test_config(self) -> None:
        obj = losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.1, gamma=1.5, name="bfce_0"
        )
        assert obj.apply_class_balancing
        assert obj.name == "bfce_0"
        assert_almost_equal(obj.alpha, 0.1)
        assert_almost_equal(obj.gamma, 1.5)
        obj_2 = losses.BinaryFocalCrossentropy.from_config(obj.get_config())
        assert obj_2.apply_class_balancing
        assert obj_2.name == "bfce_0"
        assert_almost_equal(obj_2.alpha, 0.1)
        assert_almost_equal(obj_2.gamma, 1.5)

    def test_all_correct_unweighted(self) -> None:
        obj = losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.5)
        assert_almost_equal(obj(IDENTITY, IDENTITY), 0.0, 3)
        obj = losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.3, gamma=2.0, from_logits=True
        )
        assert_almost_equal(obj(IDENTITY, SATURATED), 0.0, 3)

    def test_unweighted(self) -> None:
        obj = losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=2.0)
        assert_almost_equal(obj(FOCAL_TRUE, FOCAL_PRED), 0.15915, 3)
        obj = losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.3, gamma=3.0, from_logits=True
        )
        assert_almost_equal(obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS), 0.40724, 3)

    def test_scalar_weighted(self) -> None:
        obj = losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.6, gamma=2.0)
        assert_almost_equal(obj(FOCAL_TRUE, FOCAL_PRED, sample_weight=1.23), 0.13388, 3)
        obj = losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.2, gamma=3.0, from_logits=True
        )
        assert_almost_equal(obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS, sample_weight=3.21), 1.32, 3)

    def test_sample_weighted(self) -> None:
        obj = losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.1, gamma=2.0)
        assert_almost_equal(obj(FOCAL_TRUE, FOCAL_PRED, sample_weight=SAMPLE_WEIGHTS), 0.2877, 3)
        obj = losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.2, gamma=3.0, from_logits=True
        )
        loss = obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 0.49366, 3)

    def test_no_reduction(self) -> None:
        obj = losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.6, gamma=2.0, reduction=NONE
        )
        assert_all_close(obj(FOCAL_TRUE, FOCAL_PRED), (0.2063, 0.0114), atol=1e-3)


ONEHOT = i32([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
CCE_PRED = f32([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
CCE_LOGITS = f32([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]])
CCE_WEIGHTS = f32([[1.2], [3.4], [5.6]])
CONFIDENT_LOGITS = f32([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])


class TestCategoricalCrossentropy:
    def test_config(self) -> None:
        cce_obj = losses.CategoricalCrossentropy(reduction=SUM, name="bce_1")
        assert cce_obj.name == "bce_1"
        assert cce_obj.reduction == SUM

    def test_all_correct_unweighted(self) -> None:
        y_true = ONEHOT.astype(np.int64)
        assert_almost_equal(losses.CategoricalCrossentropy()(y_true, IDENTITY), 0.0, 3)
        loss = losses.CategoricalCrossentropy(from_logits=True)(y_true, CONFIDENT_LOGITS)
        assert_almost_equal(loss, 0.0, 3)

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.CategoricalCrossentropy()(ONEHOT, CCE_PRED), 0.3239, 3)
        loss = losses.CategoricalCrossentropy(from_logits=True)(ONEHOT, CCE_LOGITS)
        assert_almost_equal(loss, 0.0573, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.CategoricalCrossentropy()(ONEHOT, CCE_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 0.7449, 3)
        loss = losses.CategoricalCrossentropy(from_logits=True)(
            ONEHOT, CCE_LOGITS, sample_weight=2.3
        )
        assert_almost_equal(loss, 0.1317, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.CategoricalCrossentropy()(ONEHOT, CCE_PRED, sample_weight=CCE_WEIGHTS)
        assert_almost_equal(loss, 1.0696, 3)
        loss = losses.CategoricalCrossentropy(from_logits=True)(
            ONEHOT, CCE_LOGITS, sample_weight=CCE_WEIGHTS
        )
        assert_almost_equal(loss, 0.31829, 3)

    def test_no_reduction(self) -> None:
        loss = losses.CategoricalCrossentropy(from_logits=True, reduction=NONE)(ONEHOT, CCE_LOGITS)
        assert_all_close(loss, (0.001822, 0.000459, 0.169846), atol=1e-3)

    def test_label_smoothing(self) -> None:
        logits, y_true = f32([[100.0, -100.0, -100.0]]), i32([[1, 0, 0]])
        loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(y_true, logits)
        assert_almost_equal(loss, 400.0 * 0.1 / 3.0, 3)

    def test_label_smoothing_ndarray(self) -> None:
        logits, y_true = np.asarray([[100.0, -100.0, -100.0]]), np.asarray([[1, 0, 0]])
        loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(y_true, logits)
        assert_almost_equal(loss, 400.0 * 0.1 / 3.0, 3)

    def test_shape_mismatch(self) -> None:
        with pytest.raises(ValueError, match=r"Invalid `y_true`: .* received shape \(3, 1\)"):
            losses.CategoricalCrossentropy()(i32([[0], [1], [2]]), CCE_PRED)

    def test_binary_labels(self) -> None:
        with pytest.warns(SyntaxWarning, match="In loss categorical_crossentropy, expected "):
            losses.CategoricalCrossentropy()(f32([[1.0], [0.0]]), f32([[1.0], [1.0]]))


class TestCategoricalFocalCrossentropy:
    def test_config(self) -> None:
        cce_obj = losses.CategoricalFocalCrossentropy(
            name="focal_cce", reduction=SUM, alpha=0.25, gamma=2.0
        )
        assert cce_obj.name == "focal_cce"
        assert cce_obj.reduction == SUM
        assert cce_obj.alpha == 0.25
        assert cce_obj.gamma == 2.0
        cce_obj = losses.CategoricalFocalCrossentropy(alpha=[0.25, 0.5, 0.75])
        assert cce_obj.alpha == [0.25, 0.5, 0.75]

    def test_all_correct_unweighted(self) -> None:
        y_true = ONEHOT.astype(np.int64)
        obj = losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0)
        assert_almost_equal(obj(y_true, IDENTITY), 0.0, 3)
        loss = losses.CategoricalFocalCrossentropy(from_logits=True)(y_true, CONFIDENT_LOGITS)
        assert_almost_equal(loss, 0.0, 3)

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.CategoricalFocalCrossentropy()(ONEHOT, CCE_PRED), 0.02059, 3)
        loss = losses.CategoricalFocalCrossentropy(from_logits=True)(ONEHOT, CCE_LOGITS)
        assert_almost_equal(loss, 0.000345, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.CategoricalFocalCrossentropy()(ONEHOT, CCE_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 0.047368, 3)
        loss = losses.CategoricalFocalCrossentropy(from_logits=True)(
            ONEHOT, CCE_LOGITS, sample_weight=2.3
        )
        assert_almost_equal(loss, 0.000794, 4)

    def test_sample_weighted(self) -> None:
        loss = losses.CategoricalFocalCrossentropy()(ONEHOT, CCE_PRED, sample_weight=CCE_WEIGHTS)
        assert_almost_equal(loss, 0.06987, 3)
        loss = losses.CategoricalFocalCrossentropy(from_logits=True)(
            ONEHOT, CCE_LOGITS, sample_weight=CCE_WEIGHTS
        )
        assert_almost_equal(loss, 0.001933, 3)

    def test_no_reduction(self) -> None:
        obj = losses.CategoricalFocalCrossentropy(from_logits=True, reduction=NONE)
        assert_all_close(
            obj(ONEHOT, CCE_LOGITS), (1.5096224e-09, 2.4136547e-11, 1.0360638e-03), atol=1e-3
        )

    def test_label_smoothing(self) -> None:
        logits, y_true = f32([[4.9, -0.5, 2.05]]), i32([[1, 0, 0]])
        obj = losses.CategoricalFocalCrossentropy(from_logits=True, label_smoothing=0.1)
        assert_almost_equal(obj(y_true, logits), 0.06685, 3)

    def test_label_smoothing_ndarray(self) -> None:
        logits, y_true = np.asarray([[4.9, -0.5, 2.05]]), np.asarray([[1, 0, 0]])
        obj = losses.CategoricalFocalCrossentropy(from_logits=True, label_smoothing=0.1)
        assert_almost_equal(obj(y_true, logits), 0.06685, 3)

    def test_shape_mismatch(self) -> None:
        with pytest.raises(ValueError, match=r"Invalid `y_true`: .* received shape \(3, 1\)"):
            losses.CategoricalFocalCrossentropy()(i32([[0], [1], [2]]), CCE_PRED)

    def test_binary_labels(self) -> None:
        with pytest.warns(SyntaxWarning, match="In loss categorical_focal_crossentropy, expected "):
            losses.CategoricalFocalCrossentropy()(f32([[1.0], [0.0]]), f32([[1.0], [1.0]]))


IGNORED_PRED = f32([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94], [0.85, 0.14, 0.01]])
IGNORED_LOGITS = f32([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0], [7.8, 2.0, 1.0]])


class TestSparseCategoricalCrossentropy:
    def test_config(self) -> None:
        cce_obj = losses.SparseCategoricalCrossentropy(reduction=SUM, name="scc")
        assert cce_obj.name == "scc"
        assert cce_obj.reduction == SUM

    def test_all_correct_unweighted(self) -> None:
        y_true = np.array([[0], [1], [2]], np.int64)
        assert_almost_equal(losses.SparseCategoricalCrossentropy()(y_true, IDENTITY), 0.0, 3)
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)(y_true, CONFIDENT_LOGITS)
        assert_almost_equal(loss, 0.0, 3)

    def test_unweighted(self) -> None:
        y_true = i32([0, 1, 2])
        assert_almost_equal(losses.SparseCategoricalCrossentropy()(y_true, CCE_PRED), 0.3239, 3)
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)(y_true, CCE_LOGITS)
        assert_almost_equal(loss, 0.0573, 3)

    def test_unweighted_ignore_class(self) -> None:
        y_true = i32([0, 1, 2, -1])
        loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)(y_true, IGNORED_PRED)
        assert_almost_equal(loss, 0.3239, 3)
        obj = losses.SparseCategoricalCrossentropy(ignore_class=-1, from_logits=True)
        assert_almost_equal(obj(y_true, IGNORED_LOGITS), 0.0573, 3)

    def test_unweighted_ignore_class_for_segmentation(self) -> None:
        y_true = i32([[[0, 2], [-1, -1]], [[0, 2], [-1, -1]], [[0, 0], [0, 0]]])
        y_pred = f32(
            [
                [[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]]],
                [[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], [[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]]],
                [[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], [[0.1, 0.9, 0.0], [0.2, 0.8, 0.0]]],
            ]
        )
        loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)(y_true, y_pred)
        assert_almost_equal(loss, 0.575646375, 3)

    def test_scalar_weighted(self) -> None:
        y_true = i32([[0], [1], [2]])
        loss = losses.SparseCategoricalCrossentropy()(y_true, CCE_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 0.7449, 3)
        obj = losses.SparseCategoricalCrossentropy(from_logits=True)
        assert_almost_equal(obj(y_true, CCE_LOGITS, sample_weight=2.3), 0.1317, 3)

    def test_sample_weighted(self) -> None:
        y_true = i32([[0], [1], [2]])
        loss = losses.SparseCategoricalCrossentropy()(y_true, CCE_PRED, sample_weight=CCE_WEIGHTS)
        assert_almost_equal(loss, 1.0696, 3)
        obj = losses.SparseCategoricalCrossentropy(from_logits=True)
        assert_almost_equal(obj(y_true, CCE_LOGITS, sample_weight=CCE_WEIGHTS), 0.31829, 3)

    def test_sample_weighted_ignore_class(self) -> None:
        y_true = i32([[0], [1], [2], [-1]])
        sample_weight = f32([[1.2], [3.4], [5.6], [10.4]])
        obj = losses.SparseCategoricalCrossentropy(ignore_class=-1)
        assert_almost_equal(obj(y_true, IGNORED_PRED, sample_weight=sample_weight), 1.0696, 3)
        obj = losses.SparseCategoricalCrossentropy(ignore_class=-1, from_logits=True)
        assert_almost_equal(obj(y_true, IGNORED_LOGITS, sample_weight=sample_weight), 0.31829, 3)

    def test_no_reduction(self) -> None:
        obj = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=NONE)
        loss = obj(i32([[0], [1], [2]]), CCE_LOGITS)
        assert_all_close(loss, (0.001822, 0.000459, 0.169846), atol=1e-3)

    def test_non_tensor(self) -> None:
        y_true = [[0], [1], [2]]
        y_pred = [[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]]
        loss = losses.SparseCategoricalCrossentropy()(y_true, y_pred, sample_weight=2.3)
        assert_almost_equal(loss, 0.7449, 3)


# ----------------------------------------------------------------------------- hinges

HINGE_TRUE = i32([[0, 1, 0, 1], [0, 0, 1, 1]])
HINGE_PRED = f32([[-0.3, 0.2, -0.1, 1.6], [-0.25, -1.0, 0.5, 0.6]])
HINGE_TIMESTEP_WEIGHTS = i32([3, 6, 5, 0, 4, 2, 1, 3]).reshape(2, 4)


class TestHinge:
    def test_config(self) -> None:
        hinge_obj = losses.Hinge(reduction=SUM, name="hinge_loss")
        assert hinge_obj.name == "hinge_loss"
        assert hinge_obj.reduction == SUM

    def test_unweighted(self) -> None:
        assert_all_close(0.506, losses.Hinge()(HINGE_TRUE, HINGE_PRED), atol=1e-3)

    def test_scalar_weighted(self) -> None:
        hinge_obj = losses.Hinge()
        loss = hinge_obj(HINGE_TRUE, HINGE_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 1.164, 3)
        loss_2 = hinge_obj(HINGE_TRUE, HINGE_PRED, sample_weight=2.3)
        assert_all_close(loss, loss_2, 1e-3)

    def test_sample_weighted(self) -> None:
        loss = losses.Hinge()(HINGE_TRUE, HINGE_PRED, sample_weight=SAMPLE_WEIGHTS)
        assert_all_close(loss, 1.061, 1e-3)

    def test_timestep_weighted(self) -> None:
        loss = losses.Hinge()(
            HINGE_TRUE.reshape(2, 4, 1),
            HINGE_PRED.reshape(2, 4, 1),
            sample_weight=HINGE_TIMESTEP_WEIGHTS,
        )
        assert_all_close(loss, 2.012, 1e-3)

    def test_zero_weighted(self) -> None:
        assert_all_close(losses.Hinge()(HINGE_TRUE, HINGE_PRED, sample_weight=0), 0.0, 1e-3)


class TestSquaredHinge:
    def test_config(self) -> None:
        sq_hinge_obj = losses.SquaredHinge(reduction=SUM, name="sq_hinge_loss")
        assert sq_hinge_obj.name == "sq_hinge_loss"
        assert sq_hinge_obj.reduction == SUM

    def test_unweighted(self) -> None:
        assert_all_close(losses.SquaredHinge()(HINGE_TRUE, HINGE_PRED), 0.364, 1e-3)

    def test_scalar_weighted(self) -> None:
        sq_hinge_obj = losses.SquaredHinge()
        loss = sq_hinge_obj(HINGE_TRUE, HINGE_PRED, sample_weight=2.3)
        assert_all_close(loss, 0.837, 1e-3)
        loss_2 = sq_hinge_obj(HINGE_TRUE, HINGE_PRED, sample_weight=2.3)
        assert_almost_equal(loss, loss_2, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.SquaredHinge()(HINGE_TRUE, HINGE_PRED, sample_weight=f32([1.2, 3.4]))
        assert_all_close(loss, 0.704, 1e-3)

    def test_timestep_weighted(self) -> None:
        loss = losses.SquaredHinge()(
            HINGE_TRUE.reshape(2, 4, 1),
            HINGE_PRED.reshape(2, 4, 1),
            sample_weight=HINGE_TIMESTEP_WEIGHTS,
        )
        assert_all_close(loss, 1.542, 1e-3)

    def test_zero_weighted(self) -> None:
        loss = losses.SquaredHinge()(HINGE_TRUE, HINGE_PRED, sample_weight=0)
        assert_all_close(loss, 0.0, 1e-3)


class TestCategoricalHinge:
    def test_config(self) -> None:
        cat_hinge_obj = losses.CategoricalHinge(reduction=SUM, name="cat_hinge_loss")
        assert cat_hinge_obj.name == "cat_hinge_loss"
        assert cat_hinge_obj.reduction == SUM

    def test_unweighted(self) -> None:
        y_true = i32([1, 9, 2, -5]).reshape(2, 2)
        y_pred = f32([4, 8, 12, 8]).reshape(2, 2)
        assert_almost_equal(losses.CategoricalHinge()(y_true, y_pred), 32.5, 3)

    def test_scalar_weighted(self) -> None:
        cat_hinge_obj = losses.CategoricalHinge()
        loss = cat_hinge_obj(Y_TRUE, Y_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 83.95, 3)
        assert_almost_equal(loss, cat_hinge_obj(Y_TRUE, Y_PRED, sample_weight=2.3), 3)

    def test_sample_weighted(self) -> None:
        loss = losses.CategoricalHinge()(Y_TRUE, Y_PRED, sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, 124.1, 3)

    def test_timestep_weighted(self) -> None:
        loss = losses.CategoricalHinge()(
            Y_TRUE.reshape(2, 3, 1), Y_PRED.reshape(2, 3, 1), sample_weight=TIMESTEP_WEIGHTS
        )
        assert_almost_equal(loss, 4.0, 3)

    def test_zero_weighted(self) -> None:
        assert_almost_equal(losses.CategoricalHinge()(Y_TRUE, Y_PRED, sample_weight=0), 0.0, 3)


# ----------------------------------------------------------------------------- log-cosh, KL


LOGCOSH_PRED = np.asarray([1, 9, 2, -5, -2, 6]).reshape(2, 3)
LOGCOSH_TRUE = np.asarray([4, 8, 12, 8, 1, 3]).reshape(2, 3)
LOGCOSH = np.log(np.cosh(LOGCOSH_PRED - LOGCOSH_TRUE))
ROW_WEIGHTS = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape(2, 3)


class TestLogCosh:
    def test_config(self) -> None:
        logcosh_obj = losses.LogCosh(reduction=SUM, name="logcosh_loss")
        assert logcosh_obj.name == "logcosh_loss"
        assert logcosh_obj.reduction == SUM

    def test_unweighted(self) -> None:
        loss = losses.LogCosh()(i32(LOGCOSH_TRUE), f32(LOGCOSH_PRED))
        assert_almost_equal(loss, np.sum(LOGCOSH) / 6, 3)

    def test_scalar_weighted(self) -> None:
        logcosh_obj = losses.LogCosh()
        loss = logcosh_obj(i32(LOGCOSH_TRUE), f32(LOGCOSH_PRED), sample_weight=2.3)
        assert_almost_equal(loss, 2.3 * np.sum(LOGCOSH) / 6, 3)
        loss_2 = logcosh_obj(i32(LOGCOSH_TRUE), f32(LOGCOSH_PRED), sample_weight=2.3)
        assert_almost_equal(loss, loss_2, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.LogCosh()(i32(LOGCOSH_TRUE), f32(LOGCOSH_PRED), sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, np.sum(LOGCOSH * ROW_WEIGHTS) / 6, 3)

    def test_timestep_weighted(self) -> None:
        sample_weight = np.array([3, 6, 5, 0, 4, 2]).reshape(2, 3)
        loss = losses.LogCosh()(
            i32(LOGCOSH_TRUE).reshape(2, 3, 1),
            f32(LOGCOSH_PRED).reshape(2, 3, 1),
            sample_weight=sample_weight,
        )
        assert_almost_equal(loss, np.sum(LOGCOSH * sample_weight) / 6, 3)

    def test_zero_weighted(self) -> None:
        loss = losses.LogCosh()(i32(LOGCOSH_TRUE), f32(LOGCOSH_PRED), sample_weight=0)
        assert_almost_equal(loss, 0.0, 3)


POISSON_PRED = np.asarray([1, 9, 2, 5, 2, 6]).reshape(2, 3)
POISSON_TRUE = np.asarray([4, 8, 12, 8, 1, 3]).reshape(2, 3)
POISSON = POISSON_PRED - POISSON_TRUE * np.log(POISSON_PRED)


class TestPoisson:
    def test_config(self) -> None:
        poisson_obj = losses.Poisson(reduction=SUM, name="poisson")
        assert poisson_obj.name == "poisson"
        assert poisson_obj.reduction == SUM

    def test_unweighted(self) -> None:
        loss = losses.Poisson()(i32(POISSON_TRUE), f32(POISSON_PRED))
        assert_almost_equal(loss, np.sum(POISSON) / 6, 3)

    def test_scalar_weighted(self) -> None:
        poisson_obj = losses.Poisson()
        loss = poisson_obj(i32(POISSON_TRUE), f32(POISSON_PRED), sample_weight=2.3)
        assert_almost_equal(loss, 2.3 * np.sum(POISSON) / 6, 3)
        loss_2 = poisson_obj(i32(POISSON_TRUE), f32(POISSON_PRED), sample_weight=2.3)
        assert_almost_equal(loss, loss_2, 3)

    def test_sample_weighted(self) -> None:
        loss = losses.Poisson()(i32(POISSON_TRUE), f32(POISSON_PRED), sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, np.sum(POISSON * ROW_WEIGHTS) / 6, 3)

    def test_timestep_weighted(self) -> None:
        sample_weight = np.asarray([3, 6, 5, 0, 4, 2]).reshape(2, 3)
        loss = losses.Poisson()(
            i32(POISSON_TRUE).reshape(2, 3, 1),
            f32(POISSON_PRED).reshape(2, 3, 1),
            sample_weight=sample_weight,
        )
        assert_almost_equal(loss, np.sum(POISSON * sample_weight) / 6, 3)

    def test_zero_weighted(self) -> None:
        loss = losses.Poisson()(i32(POISSON_TRUE), f32(POISSON_PRED), sample_weight=0)
        assert_almost_equal(loss, 0.0, 3)


KL_PRED = np.asarray([0.4, 0.9, 0.12, 0.36, 0.3, 0.4]).reshape(2, 3)
KL_TRUE = np.asarray([0.5, 0.8, 0.12, 0.7, 0.43, 0.8]).reshape(2, 3)
KL = KL_TRUE * np.log(KL_TRUE / KL_PRED)


class TestKLDivergence:
    def test_config(self) -> None:
        k_obj = losses.KLDivergence(reduction=SUM, name="kld")
        assert k_obj.name == "kld"
        assert k_obj.reduction == SUM

    def test_unweighted(self) -> None:
        assert_almost_equal(losses.KLDivergence()(KL_TRUE, f32(KL_PRED)), np.sum(KL) / 2, 3)

    def test_scalar_weighted(self) -> None:
        k_obj = losses.KLDivergence()
        loss = k_obj(KL_TRUE, f32(KL_PRED), sample_weight=2.3)
        assert_almost_equal(loss, 2.3 * np.sum(KL) / 2, 3)
        assert_almost_equal(loss, k_obj(KL_TRUE, f32(KL_PRED), sample_weight=2.3), 3)

    def test_sample_weighted(self) -> None:
        loss = losses.KLDivergence()(KL_TRUE, f32(KL_PRED), sample_weight=SAMPLE_WEIGHTS)
        assert_almost_equal(loss, np.sum(KL * ROW_WEIGHTS) / 2, 3)

    def test_timestep_weighted(self) -> None:
        y_true, y_pred = KL_TRUE.reshape(2, 3, 1), KL_PRED.reshape(2, 3, 1)
        sample_weight = np.asarray([3, 6, 5, 0, 4, 2]).reshape(2, 3)
        expected = np.sum(y_true * np.log(y_true / y_pred), axis=-1)
        loss = losses.KLDivergence()(y_true, f32(y_pred), sample_weight=sample_weight)
        assert_almost_equal(loss, np.sum(expected * sample_weight) / (2 * 3), 3)

    def test_zero_weighted(self) -> None:
        loss = losses.KLDivergence()(KL_TRUE, f32(KL_PRED), sample_weight=0)
        assert_almost_equal(loss, 0.0, 3)


def _huber(y_true: np.ndarray, y_pred: np.ndarray, delta: float = 1.0) -> np.ndarray:
    abs_error = np.abs(y_pred - y_true)
    quadratic = np.minimum(abs_error, delta)
    return 0.5 * quadratic * quadratic + delta * (abs_error - quadratic)


HUBER_PRED = np.asarray([0.9, 0.2, 0.2, 0.8, 0.4, 0.6]).reshape(2, 3)
HUBER_TRUE = np.asarray([1.0, 0.0, 1.0, 1.0, 0.0, 0.0]).reshape(2, 3)


class TestHuberLoss:
    def test_config(self) -> None:
        h_obj = losses.Huber(reduction=SUM, name="huber")
        assert h_obj.name == "huber"
        assert h_obj.reduction == SUM

    def test_all_correct(self) -> None:
        assert_almost_equal(losses.Huber()(HUBER_TRUE, HUBER_TRUE), 0.0, 3)

    def test_unweighted(self) -> None:
        loss = losses.Huber()(HUBER_TRUE, HUBER_PRED)
        assert_almost_equal(loss, np.sum(_huber(HUBER_TRUE, HUBER_PRED)) / 6, 3)

    def test_scalar_weighted(self) -> None:
        h_obj = losses.Huber()
        loss = h_obj(HUBER_TRUE, HUBER_PRED, sample_weight=2.3)
        assert_almost_equal(loss, 2.3 * np.sum(_huber(HUBER_TRUE, HUBER_PRED)) / 6, 3)
        assert_almost_equal(loss, h_obj(HUBER_TRUE, HUBER_PRED, sample_weight=2.3), 3)

    def test_sample_weighted(self) -> None:
        loss = losses.Huber()(HUBER_TRUE, HUBER_PRED, sample_weight=np.array([[1.2], [3.4]]))
        expected = np.sum(_huber(HUBER_TRUE, HUBER_PRED) * ROW_WEIGHTS) / 6
        assert_almost_equal(loss, expected, 3)

    def test_timestep_weighted(self) -> None:
        y_pred, y_true = HUBER_PRED.reshape(2, 3, 1), HUBER_TRUE.reshape(2, 3, 1)
        sample_weight = np.array([3, 6, 5, 0, 4, 2]).reshape(2, 3, 1)
        loss = losses.Huber()(y_true, y_pred, sample_weight=sample_weight.reshape(2, 3))
        expected = np.sum(_huber(y_true, y_pred) * sample_weight) / 6
        assert_almost_equal(loss, expected, 3)

    def test_zero_weighted(self) -> None:
        assert_almost_equal(losses.Huber()(HUBER_TRUE, HUBER_PRED, sample_weight=0), 0.0, 3)

    def test_non_default_delta(self) -> None:
        loss = losses.Huber(delta=0.8)(HUBER_TRUE, HUBER_PRED, sample_weight=2.3)
        expected = 2.3 * np.sum(_huber(HUBER_TRUE, HUBER_PRED, 0.8)) / 6
        assert_almost_equal(loss, expected, 3)

    def test_loss_with_non_default_dtype(self) -> None:
        # upstream sets Keras's floatx to float64; losskit computes in the inputs' dtype
        loss = losses.Huber()(HUBER_TRUE, HUBER_TRUE)
        assert loss.dtype == np.float64
        assert_almost_equal(loss, 0.0, 3)
