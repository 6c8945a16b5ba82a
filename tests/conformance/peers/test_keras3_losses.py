"""Keras 3's own losses tests, translated to losskit.

Upstream: https://github.com/keras-team/keras, ``keras/src/losses/losses_test.py`` at commit
250b42181ce9f37df68319d8f4753ec89a349a43 (tag v3.15.1, the Keras 3 installed here).

Keras 3's reduction ``None`` is losskit's ``"none"`` (both spellings work); its default
``"sum_over_batch_size"`` is losskit's ``AUTO`` outside a replica context. Where upstream
branches on the Keras backend, the translation follows the branch whose behaviour losskit
has (class axes other than the last: Keras's PyTorch backend).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from losskit import Reduction, losses
from tests.conformance.peers._verdicts import (
    PASSES,
    Upstream,
    assert_all_close,
    assert_class_serialization,
    assert_decimal,
    deviation,
)

UPSTREAM = Upstream(
    repository="keras-team/keras",
    path="keras/src/losses/losses_test.py",
    commit="250b42181ce9f37df68319d8f4753ec89a349a43",
    tag="v3.15.1",
)

DTYPE_ARG = deviation("keras3-float32-losses")
CLIPPING = deviation("keras3-binary-crossentropy-clipping")
CONFIG_OPTIONS = deviation("keras3-config-options")

_CLASSES = {
    "MeanSquaredErrorTest": [
        "test_config",
        "test_base_function_reduction",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_no_reduction",
        "test_sum_reduction",
        "test_mean_with_sample_weight_reduction",
        "test_dtype_arg",
    ],
    "MeanAbsoluteErrorTest": [
        "test_config",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_no_reduction",
        "test_sum_reduction",
        "test_mean_with_sample_weight_reduction",
        "test_dtype_arg",
    ],
    "MeanAbsolutePercentageErrorTest": [
        "test_config",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_no_reduction",
        "test_mean_with_sample_weight_reduction",
        "test_dtype_arg",
    ],
    "MeanSquaredLogarithmicErrorTest": [
        "test_config",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_mean_with_sample_weight_reduction",
        "test_dtype_arg",
    ],
    "HingeTest": ["test_unweighted", "test_weighted", "test_zero_weighted", "test_dtype_arg"],
    "SquaredHingeTest": [
        "test_unweighted",
        "test_weighted",
        "test_zero_weighted",
        "test_dtype_arg",
    ],
    "CategoricalHingeTest": [
        "test_unweighted",
        "test_weighted",
        "test_zero_weighted",
        "test_dtype_arg",
    ],
    "CosineSimilarityTest": [
        "test_config",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_axis",
        "test_dtype_arg",
    ],
    "HuberLossTest": [
        "test_config",
        "test_all_correct",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_non_default_delta",
        "test_dtype_arg",
    ],
    "LogCoshTest": [
        "test_config",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_dtype_arg",
    ],
    "KLDivergenceTest": [
        "test_config",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_dtype_arg",
    ],
    "PoissonTest": [
        "test_config",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_timestep_weighted",
        "test_zero_weighted",
        "test_dtype_arg",
    ],
    "BinaryCrossentropyTest": [
        "test_config",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_no_reduction",
        "test_label_smoothing",
        "test_shape_mismatch",
        "test_dtype_arg",
    ],
    "CategoricalCrossentropyTest": [
        "test_config",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_no_reduction",
        "test_label_smoothing",
        "test_label_smoothing_ndarray",
        "test_shape_mismatch",
        "test_dtype_arg",
    ],
    "SparseCategoricalCrossentropyTest": [
        "test_config",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_no_reduction",
        "test_ignore_class",
        "test_binary_segmentation",
        "test_binary_segmentation_different_axis",
        "test_squeezes_singleton_class_dim_on_user_axis",
        "test_multi_class_segmentation",
        "test_multi_class_segmentation_different_axis",
        "test_dtype_arg",
    ],
    "BinaryFocalCrossentropyTest": [
        "test_config",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_no_reduction",
        "test_dtype_arg",
    ],
    "CategoricalFocalCrossentropyTest": [
        "test_config",
        "test_all_correct_unweighted",
        "test_unweighted",
        "test_scalar_weighted",
        "test_sample_weighted",
        "test_no_reduction",
        "test_label_smoothing",
        "test_dtype_arg",
    ],
    "CTCTest": ["test_config", "test_correctness", "test_dtype_arg"],
    "DiceTest": [
        "test_config",
        "test_correctness",
        "test_binary_segmentation",
        "test_binary_segmentation_with_axis",
        "test_dtype_arg",
    ],
    "TverskyTest": [
        "test_config",
        "test_correctness",
        "test_correctness_custom_coefficients",
        "test_binary_segmentation",
        "test_binary_segmentation_with_axis",
        "test_binary_segmentation_custom_coefficients",
        "test_binary_segmentation_custom_coefficients_with_axis",
        "test_dtype_arg",
    ],
    "CircleTest": [
        "test_config",
        "test_correctness",
        "test_correctness_weighted",
        "test_no_reduction",
        "test_sum_reduction",
        "test_mean_with_sample_weight_reduction",
        "test_dtype_arg",
    ],
    "CategoricalGeneralizedCrossEntropyTest": [
        "test_config",
        "test_basic_correctness_for_binary",
        "test_basic_correctness_for_multi_class",
        "test_binary_segmentation",
        "test_multi_class_segmentation",
        "test_dtype_arg",
    ],
}

_EXCEPTIONS = {
    "CosineSimilarityTest.test_config": CONFIG_OPTIONS,
    "HuberLossTest.test_config": CONFIG_OPTIONS,
    "BinaryCrossentropyTest.test_unweighted": CLIPPING,
    "BinaryCrossentropyTest.test_scalar_weighted": CLIPPING,
    "BinaryCrossentropyTest.test_sample_weighted": CLIPPING,
    "BinaryCrossentropyTest.test_shape_mismatch": deviation("keras3-binary-crossentropy-shapes"),
}

VERDICTS: dict[str, str] = {
    f"{cls}.{method}": _EXCEPTIONS.get(
        f"{cls}.{method}", DTYPE_ARG if method == "test_dtype_arg" else PASSES
    )
    for cls, methods in _CLASSES.items()
    for method in methods
}

Y_TRUE = np.array([[1, 9, 2], [-5, -2, 6]])
Y_PRED = np.array([[4, 8, 12], [8, 1, 3]], dtype="float32")
ROW_WEIGHTS = np.array([[1.2], [3.4]])
TIMESTEP_TRUE = np.asarray([1, 9, 2, -5, -2, 6]).reshape(2, 3, 1)
TIMESTEP_PRED = np.asarray([4, 8, 12, 8, 1, 3]).reshape(2, 3, 1)
TIMESTEP_WEIGHTS = np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3))


def _regression_case(cls: Any, **kwargs: Any) -> Any:
    """``cls(**kwargs)`` on the shared inputs (``sample_weight`` passed through)."""
    weight = kwargs.pop("sample_weight", None)
    return cls(**kwargs)(Y_TRUE, Y_PRED, sample_weight=weight)


class TestMeanSquaredError:
    def test_config(self) -> None:
        assert_class_serialization(losses.MeanSquaredError(name="mymse"))

    def test_base_function_reduction(self) -> None:
        loss = losses.mean_squared_error(np.array([4, 8, 12]), np.array([[3], [0], [1]]))
        assert loss.shape == (3,)

    def test_all_correct_unweighted(self) -> None:
        y_true = np.array([[4, 8, 12], [8, 1, 3]])
        assert_decimal(losses.MeanSquaredError()(y_true, y_true), 0.0)

    def test_unweighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanSquaredError), 49.5)

    def test_scalar_weighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanSquaredError, sample_weight=2.3), 113.85)

    def test_sample_weighted(self) -> None:
        loss = _regression_case(losses.MeanSquaredError, sample_weight=ROW_WEIGHTS)
        assert_decimal(loss, 767.8 / 6)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanSquaredError()(
            TIMESTEP_TRUE, TIMESTEP_PRED, sample_weight=TIMESTEP_WEIGHTS
        )
        assert_decimal(loss, 97.833336)

    def test_zero_weighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanSquaredError, sample_weight=0), 0.0)

    def test_no_reduction(self) -> None:
        loss = _regression_case(losses.MeanSquaredError, reduction=None, sample_weight=2.3)
        assert_decimal(loss, [84.3333, 143.3666])

    def test_sum_reduction(self) -> None:
        loss = _regression_case(losses.MeanSquaredError, reduction="sum", sample_weight=2.3)
        assert_decimal(loss, 227.69998)

    def test_mean_with_sample_weight_reduction(self) -> None:
        loss = _regression_case(
            losses.MeanSquaredError,
            reduction="mean_with_sample_weight",
            sample_weight=ROW_WEIGHTS,
        )
        assert_decimal(loss, (110 / 3 * 1.2 + 187 / 3 * 3.4) / (1.2 + 3.4))


class TestMeanAbsoluteError:
    def test_config(self) -> None:
        assert_class_serialization(losses.MeanAbsoluteError(name="myname"))

    def test_all_correct_unweighted(self) -> None:
        y_true = np.array([[4, 8, 12], [8, 1, 3]])
        assert_decimal(losses.MeanAbsoluteError()(y_true, y_true), 0.0)

    def test_unweighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanAbsoluteError), 5.5)

    def test_scalar_weighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanAbsoluteError, sample_weight=2.3), 12.65)

    def test_sample_weighted(self) -> None:
        loss = _regression_case(losses.MeanAbsoluteError, sample_weight=ROW_WEIGHTS)
        assert_decimal(loss, 81.4 / 6)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanAbsoluteError()(
            TIMESTEP_TRUE, TIMESTEP_PRED, sample_weight=TIMESTEP_WEIGHTS
        )
        assert_decimal(loss, 13.833333)

    def test_zero_weighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanAbsoluteError, sample_weight=0), 0.0)

    def test_no_reduction(self) -> None:
        loss = _regression_case(losses.MeanAbsoluteError, reduction=None, sample_weight=2.3)
        assert_decimal(loss, [10.7333, 14.5666])

    def test_sum_reduction(self) -> None:
        loss = _regression_case(losses.MeanAbsoluteError, reduction="sum", sample_weight=2.3)
        assert_decimal(loss, 25.29999)

    def test_mean_with_sample_weight_reduction(self) -> None:
        loss = _regression_case(
            losses.MeanAbsoluteError,
            reduction="mean_with_sample_weight",
            sample_weight=ROW_WEIGHTS,
        )
        assert_decimal(loss, (14 / 3 * 1.2 + 19 / 3 * 3.4) / (1.2 + 3.4))


class TestMeanAbsolutePercentageError:
    def test_config(self) -> None:
        assert_class_serialization(losses.MeanAbsolutePercentageError(name="mymape"))

    def test_all_correct_unweighted(self) -> None:
        y_true = np.array([[4, 8, 12], [8, 1, 3]])
        assert_decimal(losses.MeanAbsolutePercentageError()(y_true, y_true), 0.0)

    def test_unweighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanAbsolutePercentageError), 211.8518, 3)

    def test_scalar_weighted(self) -> None:
        loss = _regression_case(losses.MeanAbsolutePercentageError, sample_weight=2.3)
        assert_decimal(loss, 487.259, 3)

    def test_sample_weighted(self) -> None:
        loss = _regression_case(losses.MeanAbsolutePercentageError, sample_weight=ROW_WEIGHTS)
        assert_decimal(loss, 422.8888, 3)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanAbsolutePercentageError()(
            TIMESTEP_TRUE, TIMESTEP_PRED, sample_weight=TIMESTEP_WEIGHTS
        )
        assert_decimal(loss, 694.4444)

    def test_zero_weighted(self) -> None:
        loss = _regression_case(losses.MeanAbsolutePercentageError, sample_weight=0)
        assert_decimal(loss, 0.0, 3)

    def test_no_reduction(self) -> None:
        loss = _regression_case(
            losses.MeanAbsolutePercentageError, reduction=None, sample_weight=2.3
        )
        assert_decimal(loss, [621.8518, 352.6666])

    def test_mean_with_sample_weight_reduction(self) -> None:
        loss = _regression_case(
            losses.MeanAbsolutePercentageError,
            reduction="mean_with_sample_weight",
            sample_weight=ROW_WEIGHTS,
        )
        assert_decimal(loss, 183.865)


class TestMeanSquaredLogarithmicError:
    def test_config(self) -> None:
        assert_class_serialization(losses.MeanSquaredLogarithmicError(name="mysloge"))

    def test_unweighted(self) -> None:
        assert_decimal(_regression_case(losses.MeanSquaredLogarithmicError), 1.4370, 3)

    def test_scalar_weighted(self) -> None:
        loss = _regression_case(losses.MeanSquaredLogarithmicError, sample_weight=2.3)
        assert_decimal(loss, 3.3051, 3)

    def test_sample_weighted(self) -> None:
        loss = _regression_case(losses.MeanSquaredLogarithmicError, sample_weight=ROW_WEIGHTS)
        assert_decimal(loss, 3.7856, 3)

    def test_timestep_weighted(self) -> None:
        loss = losses.MeanSquaredLogarithmicError()(
            TIMESTEP_TRUE, TIMESTEP_PRED, sample_weight=TIMESTEP_WEIGHTS
        )
        assert_decimal(loss, 2.647374)

    def test_zero_weighted(self) -> None:
        loss = _regression_case(losses.MeanSquaredLogarithmicError, sample_weight=0)
        assert_decimal(loss, 0.0, 3)

    def test_mean_with_sample_weight_reduction(self) -> None:
        loss = _regression_case(
            losses.MeanSquaredLogarithmicError,
            reduction="mean_with_sample_weight",
            sample_weight=ROW_WEIGHTS,
        )
        assert_decimal(loss, 1.646)


# ----------------------------------------------------------------------------- hinges

HINGE_TRUE = np.array([[0.0, 1.0], [0.0, 0.0]])
HINGE_PRED = np.array([[0.6, 0.4], [0.4, 0.6]])


def _hinge_unweighted(cls: Any, mean: float, total: float, each: list[float]) -> None:
    assert_decimal(cls(reduction="sum_over_batch_size")(HINGE_TRUE, HINGE_PRED), mean, 3)
    assert_decimal(cls(reduction="sum")(HINGE_TRUE, HINGE_PRED), total, 3)
    assert_all_close(cls(reduction=None)(HINGE_TRUE, HINGE_PRED), each)
    with pytest.raises(ValueError, match=r"Invalid `reduction`: expected one of .* 'abc'"):
        cls(reduction="abc")


def _hinge_weighted(cls: Any, mean: float, total: float, each: list[float]) -> None:
    weight = [1, 0]
    loss = cls(reduction="sum_over_batch_size")(HINGE_TRUE, HINGE_PRED, sample_weight=weight)
    assert_decimal(loss, mean, 3)
    assert_decimal(cls(reduction="sum")(HINGE_TRUE, HINGE_PRED, sample_weight=weight), total, 3)
    assert_decimal(cls(reduction=None)(HINGE_TRUE, HINGE_PRED, sample_weight=weight), each)


class TestHinge:
    def test_unweighted(self) -> None:
        _hinge_unweighted(losses.Hinge, 1.3, 2.6, [1.1, 1.5])

    def test_weighted(self) -> None:
        _hinge_weighted(losses.Hinge, 0.55, 1.1, [1.1, 0.0])

    def test_zero_weighted(self) -> None:
        assert float(losses.Hinge()(HINGE_TRUE, HINGE_PRED, sample_weight=0.0)) == 0.0


class TestSquaredHinge:
    def test_unweighted(self) -> None:
        _hinge_unweighted(losses.SquaredHinge, 1.86, 3.72, [1.46, 2.26])

    def test_weighted(self) -> None:
        _hinge_weighted(losses.SquaredHinge, 0.73, 1.46, [1.46, 0.0])

    def test_zero_weighted(self) -> None:
        assert float(losses.SquaredHinge()(HINGE_TRUE, HINGE_PRED, sample_weight=0.0)) == 0.0


class TestCategoricalHinge:
    def test_unweighted(self) -> None:
        _hinge_unweighted(losses.CategoricalHinge, 1.4, 2.8, [1.2, 1.6])

    def test_weighted(self) -> None:
        _hinge_weighted(losses.CategoricalHinge, 0.6, 1.2, [1.2, 0.0])

    def test_zero_weighted(self) -> None:
        loss = losses.CategoricalHinge()(HINGE_TRUE, HINGE_PRED, sample_weight=0.0)
        assert float(loss) == 0.0


# ----------------------------------------------------------------------------- cosine, Huber, ...


def _l2_norm(x: np.ndarray, axis: int) -> np.ndarray:
    return x / np.sqrt(np.maximum(np.sum(np.square(x), axis=axis, keepdims=True), 1e-12))


COSINE_TRUE = np.asarray([[1, 9, 2], [-5, -2, 6]], dtype=np.float32)
COSINE_PRED = np.asarray([[4, 8, 12], [8, 1, 3]], dtype=np.float32)
COSINE = np.sum(_l2_norm(COSINE_TRUE, 1) * _l2_norm(COSINE_PRED, 1), axis=1)


class TestCosineSimilarity:
    def test_config(self) -> None:
        """Row "keras3-config-options": Keras 3's config has only the name and reduction;
        losskit's (and tf_keras's) also has ``axis``."""
        cosine_obj = losses.CosineSimilarity(axis=2, reduction="sum", name="cosine_loss")
        assert cosine_obj.name == "cosine_loss"
        assert cosine_obj.reduction == Reduction.SUM
        assert cosine_obj.get_config() == {"name": "cosine_loss", "reduction": "sum", "axis": 2}

    def test_unweighted(self) -> None:
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED)
        assert_decimal(loss, -np.mean(COSINE), 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED, sample_weight=2.3)
        assert_decimal(loss, -np.mean(COSINE * 2.3), 3)

    def test_sample_weighted(self) -> None:
        weights = np.asarray([1.2, 3.4])
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED, sample_weight=weights)
        assert_decimal(loss, -np.mean(COSINE * weights), 3)

    def test_timestep_weighted(self) -> None:
        y_true, y_pred = COSINE_TRUE.reshape(2, 3, 1), COSINE_PRED.reshape(2, 3, 1)
        expected = np.sum(_l2_norm(y_true, 2) * _l2_norm(y_pred, 2), axis=2)
        loss = losses.CosineSimilarity()(y_true, y_pred, sample_weight=TIMESTEP_WEIGHTS)
        assert_decimal(loss, -np.mean(expected * TIMESTEP_WEIGHTS), 3)

    def test_zero_weighted(self) -> None:
        loss = losses.CosineSimilarity()(COSINE_TRUE, COSINE_PRED, sample_weight=0)
        assert_decimal(loss, 0.0, 3)

    def test_axis(self) -> None:
        loss = losses.CosineSimilarity(axis=1)(COSINE_TRUE, COSINE_PRED)
        assert_decimal(loss, -np.mean(COSINE), 3)


def _huber(y_true: np.ndarray, y_pred: np.ndarray, delta: float = 1.0) -> np.ndarray:
    abs_error = np.abs(y_pred - y_true)
    quadratic = np.minimum(abs_error, delta)
    return 0.5 * quadratic * quadratic + delta * (abs_error - quadratic)


HUBER_PRED = np.array([[0.9, 0.2, 0.2], [0.8, 0.4, 0.6]])
HUBER_TRUE = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
SPREAD_WEIGHTS = np.asarray([1.2, 1.2, 1.2, 3.4, 3.4, 3.4]).reshape((2, 3))


class TestHuberLoss:
    def test_config(self) -> None:
        """Row "keras3-config-options": Keras 3's config omits ``delta``; losskit's has it."""
        h_obj = losses.Huber(reduction="sum", name="huber")
        assert h_obj.name == "huber"
        assert h_obj.reduction == Reduction.SUM
        assert h_obj.get_config() == {"name": "huber", "reduction": "sum", "delta": 1.0}

    def test_all_correct(self) -> None:
        assert_decimal(losses.Huber()(HUBER_TRUE, HUBER_TRUE), 0.0, 3)

    def test_unweighted(self) -> None:
        loss = losses.Huber()(HUBER_TRUE, HUBER_PRED)
        assert_decimal(loss, np.sum(_huber(HUBER_TRUE, HUBER_PRED)) / 6, 3)

    def test_scalar_weighted(self) -> None:
        h_obj = losses.Huber()
        loss = h_obj(HUBER_TRUE, HUBER_PRED, sample_weight=2.3)
        assert_decimal(loss, 2.3 * np.sum(_huber(HUBER_TRUE, HUBER_PRED)) / 6, 3)
        assert_decimal(loss, h_obj(HUBER_TRUE, HUBER_PRED, sample_weight=2.3), 3)

    def test_sample_weighted(self) -> None:
        loss = losses.Huber()(HUBER_TRUE, HUBER_PRED, sample_weight=ROW_WEIGHTS)
        assert_decimal(loss, np.sum(_huber(HUBER_TRUE, HUBER_PRED) * SPREAD_WEIGHTS) / 6, 3)

    def test_timestep_weighted(self) -> None:
        y_pred, y_true = HUBER_PRED.reshape((2, 3, 1)), HUBER_TRUE.reshape((2, 3, 1))
        sample_weight = np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3, 1))
        loss = losses.Huber()(y_true, y_pred, sample_weight=sample_weight)
        assert_decimal(loss, np.sum(_huber(y_true, y_pred) * sample_weight) / 6, 3)

    def test_zero_weighted(self) -> None:
        assert_decimal(losses.Huber()(HUBER_TRUE, HUBER_PRED, sample_weight=0), 0.0, 3)

    def test_non_default_delta(self) -> None:
        loss = losses.Huber(delta=0.8)(HUBER_TRUE, HUBER_PRED, sample_weight=2.3)
        assert_decimal(loss, 2.3 * np.sum(_huber(HUBER_TRUE, HUBER_PRED, 0.8)) / 6, 3)


LOGCOSH = np.log(np.cosh(COSINE_PRED.astype(np.float64) - COSINE_TRUE))


class TestLogCosh:
    def test_config(self) -> None:
        logcosh_obj = losses.LogCosh(reduction="sum", name="logcosh_loss")
        assert logcosh_obj.name == "logcosh_loss"
        assert logcosh_obj.reduction == Reduction.SUM
        assert logcosh_obj.get_config() == {"name": "logcosh_loss", "reduction": "sum"}

    def test_unweighted(self) -> None:
        loss = losses.LogCosh()(COSINE_TRUE, COSINE_PRED)
        assert_decimal(loss, np.sum(LOGCOSH) / 6, 3)

    def test_scalar_weighted(self) -> None:
        logcosh_obj = losses.LogCosh()
        loss = logcosh_obj(COSINE_TRUE, COSINE_PRED, sample_weight=2.3)
        assert_decimal(loss, 2.3 * np.sum(LOGCOSH) / 6, 3)
        assert_decimal(loss, logcosh_obj(COSINE_TRUE, COSINE_PRED, sample_weight=2.3), 3)

    def test_sample_weighted(self) -> None:
        loss = losses.LogCosh()(COSINE_TRUE, COSINE_PRED, sample_weight=np.asarray([1.2, 3.4]))
        assert_decimal(loss, np.sum(LOGCOSH * SPREAD_WEIGHTS) / 6, 3)

    def test_timestep_weighted(self) -> None:
        sample_weight = np.array([3, 6, 5, 0, 4, 2]).reshape((2, 3, 1))
        error = TIMESTEP_PRED - TIMESTEP_TRUE
        expected = np.log((np.exp(error) + np.exp(-error)) / 2)
        loss = losses.LogCosh()(TIMESTEP_TRUE, TIMESTEP_PRED, sample_weight=sample_weight)
        assert_decimal(loss, np.sum(expected * sample_weight) / 6, 3)

    def test_zero_weighted(self) -> None:
        assert_decimal(losses.LogCosh()(COSINE_TRUE, COSINE_PRED, sample_weight=0), 0.0, 3)


KL_PRED = np.asarray([0.4, 0.9, 0.12, 0.36, 0.3, 0.4], dtype=np.float32).reshape((2, 3))
KL_TRUE = np.asarray([0.5, 0.8, 0.12, 0.7, 0.43, 0.8], dtype=np.float32).reshape((2, 3))
KL = KL_TRUE * np.log(KL_TRUE / KL_PRED)


class TestKLDivergence:
    def test_config(self) -> None:
        k_obj = losses.KLDivergence(reduction="sum", name="kld")
        assert k_obj.name == "kld"
        assert k_obj.reduction == Reduction.SUM

    def test_unweighted(self) -> None:
        assert_decimal(losses.KLDivergence()(KL_TRUE, KL_PRED), np.sum(KL) / 2, 3)

    def test_scalar_weighted(self) -> None:
        k_obj = losses.KLDivergence()
        loss = k_obj(KL_TRUE, KL_PRED, sample_weight=2.3)
        assert_decimal(loss, 2.3 * np.sum(KL) / 2, 3)
        assert_decimal(loss, k_obj(KL_TRUE, KL_PRED, sample_weight=2.3), 3)

    def test_sample_weighted(self) -> None:
        weights = np.asarray([1.2, 3.4], dtype=np.float32).reshape((2, 1))
        loss = losses.KLDivergence()(KL_TRUE, KL_PRED, sample_weight=weights)
        assert_decimal(loss, np.sum(KL * SPREAD_WEIGHTS.astype(np.float32)) / 2, 3)

    def test_timestep_weighted(self) -> None:
        y_true, y_pred = KL_TRUE.reshape(2, 3, 1), KL_PRED.reshape(2, 3, 1)
        expected = np.sum(y_true * np.log(y_true / y_pred), axis=-1)
        loss = losses.KLDivergence()(y_true, y_pred, sample_weight=TIMESTEP_WEIGHTS)
        assert_decimal(loss, np.sum(expected * TIMESTEP_WEIGHTS) / (2 * 3), 3)

    def test_zero_weighted(self) -> None:
        assert_decimal(losses.KLDivergence()(KL_TRUE, KL_PRED, sample_weight=0), 0.0, 3)


POISSON_PRED = np.asarray([1, 9, 2, 5, 2, 6], dtype=np.float32).reshape((2, 3))
POISSON_TRUE = np.asarray([4, 8, 12, 8, 1, 3], dtype=np.float32).reshape((2, 3))
POISSON = POISSON_PRED - POISSON_TRUE * np.log(POISSON_PRED)


class TestPoisson:
    def test_config(self) -> None:
        poisson_obj = losses.Poisson(reduction="sum", name="poisson")
        assert poisson_obj.name == "poisson"
        assert poisson_obj.reduction == Reduction.SUM

    def test_unweighted(self) -> None:
        assert_decimal(losses.Poisson()(POISSON_TRUE, POISSON_PRED), np.sum(POISSON) / 6, 3)

    def test_scalar_weighted(self) -> None:
        poisson_obj = losses.Poisson()
        loss = poisson_obj(POISSON_TRUE, POISSON_PRED, sample_weight=2.3)
        assert_decimal(loss, 2.3 * np.sum(POISSON) / 6, 3)
        assert_decimal(loss, poisson_obj(POISSON_TRUE, POISSON_PRED, sample_weight=2.3), 3)

    def test_sample_weighted(self) -> None:
        weights = np.asarray([1.2, 3.4]).reshape((2, 1))
        loss = losses.Poisson()(POISSON_TRUE, POISSON_PRED, sample_weight=weights)
        assert_decimal(loss, np.sum(POISSON * SPREAD_WEIGHTS) / 6, 3)

    def test_timestep_weighted(self) -> None:
        y_true, y_pred = POISSON_TRUE.reshape(2, 3, 1), POISSON_PRED.reshape(2, 3, 1)
        sample_weight = np.asarray([3, 6, 5, 0, 4, 2]).reshape(2, 3, 1)
        expected = y_pred - y_true * np.log(y_pred)
        loss = losses.Poisson()(y_true, y_pred, sample_weight=sample_weight.reshape((2, 3)))
        assert_decimal(loss, np.sum(expected * sample_weight) / 6, 3)

    def test_zero_weighted(self) -> None:
        assert_decimal(losses.Poisson()(POISSON_TRUE, POISSON_PRED, sample_weight=0), 0.0, 3)


# ----------------------------------------------------------------------------- crossentropies

IDENTITY = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype="float32")
BCE_LOGITS_TRUE = np.array([[1, 0, 1], [0, 1, 1]])
BCE_LOGITS = np.array([[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]])
BCE_TRUE = np.array([1, 0, 1, 0]).reshape([2, 2])
BCE_PRED = np.array([1, 1, 1, 0], dtype="float32").reshape([2, 2])


class TestBinaryCrossentropy:
    def test_config(self) -> None:
        assert_class_serialization(losses.BinaryCrossentropy(name="bce", axis=-1))

    def test_all_correct_unweighted(self) -> None:
        assert_decimal(losses.BinaryCrossentropy()(IDENTITY, IDENTITY), 0.0)
        logits = np.array([[10.0, -10.0, -10.0], [-10.0, 10.0, -10.0], [-10.0, -10.0, 10.0]])
        assert_decimal(losses.BinaryCrossentropy(from_logits=True)(IDENTITY, logits), 0.0)

    def test_unweighted(self) -> None:
        """Row "keras3-binary-crossentropy-clipping": Keras 3's 3.98559 for probabilities of
        exactly 0 and 1 is tf_keras's 3.833 in losskit; the other values are Keras 3's."""
        y_pred = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32")
        assert_all_close(losses.BinaryCrossentropy()(IDENTITY, y_pred), 0.20046903)
        assert_decimal(losses.BinaryCrossentropy()(BCE_TRUE, BCE_PRED), 3.833, 3)
        loss = losses.BinaryCrossentropy(from_logits=True)(BCE_LOGITS_TRUE, BCE_LOGITS)
        assert_decimal(loss, 3.3333)

    def test_no_reduction(self) -> None:
        loss = losses.BinaryCrossentropy(from_logits=True, reduction=None)(
            BCE_LOGITS_TRUE, BCE_LOGITS
        )
        assert_all_close(loss, [0.0, 6.666], atol=1e-3)

    def test_label_smoothing(self) -> None:
        logits, y_true = np.array([[10.0, -10.0, -10.0]]), np.array([[1, 0, 1]])
        loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)(y_true, logits)
        assert_decimal(loss, (10.0 + 5.0 * 0.1) / 3.0)

    def test_shape_mismatch(self) -> None:
        """Row "keras3-binary-crossentropy-shapes": Keras 3 raises, tf_keras and losskit
        broadcast the [3, 1] targets over the [3, 3] probabilities."""
        y_true = np.array([[0], [1], [2]])
        y_pred = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
        assert losses.BinaryCrossentropy(reduction="none")(y_true, y_pred).shape == (3,)


CCE_TRUE = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
CCE_PRED = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]], dtype="float32")
CCE_LOGITS = np.array([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]])
CCE_WEIGHTS = np.array([[1.2], [3.4], [5.6]]).reshape((3, 1))
CONFIDENT_LOGITS = np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])


class TestCategoricalCrossentropy:
    def test_config(self) -> None:
        assert_class_serialization(losses.CategoricalCrossentropy(name="cce", axis=-1))

    def test_all_correct_unweighted(self) -> None:
        y_true = CCE_TRUE.astype("int64")
        assert_decimal(losses.CategoricalCrossentropy()(y_true, IDENTITY), 0.0)
        loss = losses.CategoricalCrossentropy(from_logits=True)(y_true, CONFIDENT_LOGITS)
        assert_decimal(loss, 0.0)

    def test_unweighted(self) -> None:
        assert_decimal(losses.CategoricalCrossentropy()(CCE_TRUE, CCE_PRED), 0.3239)
        loss = losses.CategoricalCrossentropy(from_logits=True)(CCE_TRUE, CCE_LOGITS)
        assert_decimal(loss, 0.0573)

    def test_scalar_weighted(self) -> None:
        loss = losses.CategoricalCrossentropy()(CCE_TRUE, CCE_PRED, sample_weight=2.3)
        assert_decimal(loss, 0.7449)
        loss = losses.CategoricalCrossentropy(from_logits=True)(
            CCE_TRUE, CCE_LOGITS, sample_weight=2.3
        )
        assert_decimal(loss, 0.1317)

    def test_sample_weighted(self) -> None:
        loss = losses.CategoricalCrossentropy()(CCE_TRUE, CCE_PRED, sample_weight=CCE_WEIGHTS)
        assert_decimal(loss, 1.0696)
        loss = losses.CategoricalCrossentropy(from_logits=True)(
            CCE_TRUE, CCE_LOGITS, sample_weight=CCE_WEIGHTS
        )
        assert_decimal(loss, 0.31829)

    def test_no_reduction(self) -> None:
        loss = losses.CategoricalCrossentropy(from_logits=True, reduction=None)(
            CCE_TRUE, CCE_LOGITS
        )
        assert_all_close(loss, (0.001822, 0.000459, 0.169846))

    def test_label_smoothing(self) -> None:
        logits, y_true = np.array([[100.0, -100.0, -100.0]]), np.array([[1, 0, 0]])
        loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(y_true, logits)
        assert_decimal(loss, 400.0 * 0.1 / 3.0)

    def test_label_smoothing_ndarray(self) -> None:
        logits, y_true = np.asarray([[100.0, -100.0, -100.0]]), np.asarray([[1, 0, 0]])
        loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(y_true, logits)
        assert_decimal(loss, 400.0 * 0.1 / 3.0)

    def test_shape_mismatch(self) -> None:
        y_pred = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
        with pytest.raises(ValueError, match=r"of the shape of `y_pred` \(3, 3\)"):
            losses.CategoricalCrossentropy()(np.array([[0], [1], [2]]), y_pred)


SEGMENTATION_TRUE = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
SEGMENTATION_EXACT = np.array(
    [
        [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]],
        [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]],
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
        [[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
    ]
)
SEGMENTATION_OFF = SEGMENTATION_EXACT.copy()
SEGMENTATION_OFF[0, 3] = [0.2, 0.8]
SEGMENTATION_OFF[3, 3] = [0.6, 0.4]
MULTI_TRUE = np.array([[0, 1, 2, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
MULTI_EXACT = np.eye(3)[MULTI_TRUE]
MULTI_OFF = MULTI_EXACT.copy()
MULTI_OFF[0, 3] = [0.2, 0.0, 0.8]
MULTI_OFF[1, 0] = [0.7, 0.3, 0.0]
MULTI_OFF[3, 2] = [0.5, 0.5, 0.0]


class TestSparseCategoricalCrossentropy:
    def test_config(self) -> None:
        assert_class_serialization(losses.SparseCategoricalCrossentropy(name="scce"))

    def test_all_correct_unweighted(self) -> None:
        y_true = np.array([[0], [1], [2]], dtype="int64")
        assert_decimal(losses.SparseCategoricalCrossentropy()(y_true, IDENTITY), 0.0, 3)
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)(y_true, CONFIDENT_LOGITS)
        assert_decimal(loss, 0.0, 3)

    def test_unweighted(self) -> None:
        y_true = np.array([0, 1, 2])
        assert_decimal(losses.SparseCategoricalCrossentropy()(y_true, CCE_PRED), 0.3239, 3)
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)(y_true, CCE_LOGITS)
        assert_decimal(loss, 0.0573, 3)

    def test_scalar_weighted(self) -> None:
        y_true = np.array([[0], [1], [2]])
        loss = losses.SparseCategoricalCrossentropy()(y_true, CCE_PRED, sample_weight=2.3)
        assert_decimal(loss, 0.7449, 3)
        obj = losses.SparseCategoricalCrossentropy(from_logits=True)
        assert_decimal(obj(y_true, CCE_LOGITS, sample_weight=2.3), 0.1317, 3)

    def test_sample_weighted(self) -> None:
        y_true = np.array([[0], [1], [2]])
        loss = losses.SparseCategoricalCrossentropy()(y_true, CCE_PRED, sample_weight=CCE_WEIGHTS)
        assert_decimal(loss, 1.0696, 3)
        obj = losses.SparseCategoricalCrossentropy(from_logits=True)
        assert_decimal(obj(y_true, CCE_LOGITS, sample_weight=CCE_WEIGHTS), 0.31829, 3)

    def test_no_reduction(self) -> None:
        obj = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
        assert_all_close(obj(np.array([[0], [1], [2]]), CCE_LOGITS), (0.001822, 0.000459, 0.169846))

    def test_ignore_class(self) -> None:
        logits = np.array([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]])
        obj = losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1, reduction=None
        )
        assert_all_close(obj(np.array([[-1, 2]]), logits), [[0.0, 1.480129]])
        assert_all_close(obj(np.array([[[-1], [2]]]), logits), [[0.0, 1.480129]])

    def test_binary_segmentation(self) -> None:
        output = losses.SparseCategoricalCrossentropy()(SEGMENTATION_TRUE, SEGMENTATION_EXACT)
        assert_all_close(output, 0.0)
        expected = np.array([-np.log(0.2), -np.log(0.4)])
        output = losses.SparseCategoricalCrossentropy()(SEGMENTATION_TRUE, SEGMENTATION_OFF)
        assert_all_close(output, expected.sum() / 16.0)

    def test_binary_segmentation_different_axis(self) -> None:
        # upstream's PyTorch-backend branch (TensorFlow and JAX refuse axis=0)
        moved = np.moveaxis(SEGMENTATION_EXACT, source=2, destination=0)
        output = losses.SparseCategoricalCrossentropy(axis=0)(SEGMENTATION_TRUE, moved)
        assert_all_close(output, 0.0)
        moved = np.moveaxis(SEGMENTATION_OFF, source=2, destination=0)
        expected = np.array([-np.log(0.2), -np.log(0.4)]).sum() / 16.0
        output = losses.SparseCategoricalCrossentropy(axis=0)(SEGMENTATION_TRUE, moved)
        assert_all_close(output, expected)
        stacked_true = np.array([SEGMENTATION_TRUE] * 3)
        stacked = np.array([moved] * 3)
        assert_all_close(
            losses.SparseCategoricalCrossentropy(axis=1)(stacked_true, stacked), expected
        )

    def test_squeezes_singleton_class_dim_on_user_axis(self) -> None:
        rng = np.random.default_rng(0)
        y_true = rng.integers(0, 2, size=(2, 1, 4, 4)).astype("float32")
        y_pred = rng.random((2, 2, 4, 4)).astype("float32")
        assert losses.sparse_categorical_crossentropy(y_true, y_pred, axis=1).shape == (2, 4, 4)

    def test_multi_class_segmentation(self) -> None:
        assert_all_close(losses.SparseCategoricalCrossentropy()(MULTI_TRUE, MULTI_EXACT), 0.0)
        expected = np.array([-np.log(0.2), -np.log(0.3), -np.log(0.5)]).sum() / 16.0
        assert_all_close(losses.SparseCategoricalCrossentropy()(MULTI_TRUE, MULTI_OFF), expected)

    def test_multi_class_segmentation_different_axis(self) -> None:
        moved = np.moveaxis(MULTI_EXACT, source=2, destination=0)
        assert_all_close(losses.SparseCategoricalCrossentropy(axis=0)(MULTI_TRUE, moved), 0.0)
        expected = np.array([-np.log(0.2), -np.log(0.3), -np.log(0.5)]).sum() / 16.0
        moved = np.moveaxis(MULTI_OFF, source=2, destination=0)
        assert_all_close(losses.SparseCategoricalCrossentropy(axis=0)(MULTI_TRUE, moved), expected)
        stacked_true, stacked = np.array([MULTI_TRUE] * 3), np.array([moved] * 3)
        assert_all_close(
            losses.SparseCategoricalCrossentropy(axis=1)(stacked_true, stacked), expected
        )


FOCAL_TRUE = np.asarray([1, 0, 1, 0]).reshape([2, 2])
FOCAL_PRED = np.asarray([0.9, 0.8, 0.7, 0.2], dtype=np.float32).reshape([2, 2])
FOCAL_LOGITS_TRUE = np.array([[1, 1, 0], [0, 1, 0]], dtype="float32")
FOCAL_LOGITS = np.array([[1.5, -2.7, 2.9], [-3.8, 1.2, -4.5]])
SATURATED = np.array([[100.0, -100.0, -100.0], [-100.0, 100.0, -100.0], [-100.0, -100.0, 100.0]])


class TestBinaryFocalCrossentropy:
    def test_config(self) -> None:
        assert_class_serialization(losses.BinaryFocalCrossentropy(name="bfce"))

    def test_all_correct_unweighted(self) -> None:
        assert_decimal(losses.BinaryFocalCrossentropy(gamma=1.5)(IDENTITY, IDENTITY), 0.0, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        assert_decimal(obj(IDENTITY, SATURATED), 0.0, 3)

    def test_unweighted(self) -> None:
        assert_decimal(losses.BinaryFocalCrossentropy(gamma=2.0)(FOCAL_TRUE, FOCAL_PRED), 0.268, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True)
        assert_decimal(obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS), 0.799, 3)

    def test_scalar_weighted(self) -> None:
        obj = losses.BinaryFocalCrossentropy(gamma=2.0)
        assert_decimal(obj(FOCAL_TRUE, FOCAL_PRED, sample_weight=1.23), 0.3296, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True)
        assert_decimal(obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS, sample_weight=3.21), 2.565, 3)

    def test_sample_weighted(self) -> None:
        weights = np.array([1.2, 3.4]).reshape((2, 1))
        obj = losses.BinaryFocalCrossentropy(gamma=2.0)
        assert_decimal(obj(FOCAL_TRUE, FOCAL_PRED, sample_weight=weights), 0.34415, 3)
        obj = losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True)
        assert_decimal(obj(FOCAL_LOGITS_TRUE, FOCAL_LOGITS, sample_weight=weights), 0.95977, 3)

    def test_no_reduction(self) -> None:
        obj = losses.BinaryFocalCrossentropy(gamma=2.0, reduction=None)
        assert_all_close(obj(FOCAL_TRUE, FOCAL_PRED), (0.515547, 0.020513))


class TestCategoricalFocalCrossentropy:
    def test_config(self) -> None:
        assert_class_serialization(losses.CategoricalFocalCrossentropy(name="cfce"))

    def test_all_correct_unweighted(self) -> None:
        y_true = CCE_TRUE.astype("int64")
        obj = losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0)
        assert_decimal(obj(y_true, IDENTITY), 0.0, 3)
        loss = losses.CategoricalFocalCrossentropy(from_logits=True)(y_true, CONFIDENT_LOGITS)
        assert_decimal(loss, 0.0, 3)

    def test_unweighted(self) -> None:
        assert_decimal(losses.CategoricalFocalCrossentropy()(CCE_TRUE, CCE_PRED), 0.02059, 3)
        loss = losses.CategoricalFocalCrossentropy(from_logits=True)(CCE_TRUE, CCE_LOGITS)
        assert_decimal(loss, 0.000345, 3)

    def test_scalar_weighted(self) -> None:
        loss = losses.CategoricalFocalCrossentropy()(CCE_TRUE, CCE_PRED, sample_weight=2.3)
        assert_decimal(loss, 0.047368, 3)
        obj = losses.CategoricalFocalCrossentropy(from_logits=True)
        assert_decimal(obj(CCE_TRUE, CCE_LOGITS, sample_weight=2.3), 0.000794, 4)

    def test_sample_weighted(self) -> None:
        obj = losses.CategoricalFocalCrossentropy()
        assert_decimal(obj(CCE_TRUE, CCE_PRED, sample_weight=CCE_WEIGHTS), 0.06987, 3)
        obj = losses.CategoricalFocalCrossentropy(from_logits=True)
        assert_decimal(obj(CCE_TRUE, CCE_LOGITS, sample_weight=CCE_WEIGHTS), 0.001933, 3)

    def test_no_reduction(self) -> None:
        obj = losses.CategoricalFocalCrossentropy(from_logits=True, reduction=None)
        assert_all_close(obj(CCE_TRUE, CCE_LOGITS), (1.5096224e-09, 2.4136547e-11, 1.0360638e-03))

    def test_label_smoothing(self) -> None:
        logits, y_true = np.array([[4.9, -0.5, 2.05]]), np.array([[1, 0, 0]])
        obj = losses.CategoricalFocalCrossentropy(from_logits=True, label_smoothing=0.1)
        assert_decimal(obj(y_true, logits), 0.06685, 3)


# ----------------------------------------------------------------------------- Keras 3's own


class TestCTC:
    def test_config(self) -> None:
        assert_class_serialization(losses.CTC(name="myctc"))

    def test_correctness(self) -> None:
        logits = (np.arange(24).reshape((2, 4, 3)).astype("float32") - 12) / 100
        # the second row's 0 inside its 3 labels is a label that emits the blank
        y_true = np.array([[1, 2, 1, 0], [1, 2, 0, 2]])
        assert_all_close(losses.CTC()(y_true, logits), 2.448645)


OVERLAP_TRUE = np.array([[1, 2], [1, 2]])
OVERLAP_PRED = np.array([[4, 1], [6, 1]])
MASK_TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]])
MASK_PRED = np.array([[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]])
IMAGE_TRUE = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
IMAGE_PRED = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])


class TestDice:
    def test_config(self) -> None:
        assert_class_serialization(losses.Dice(name="mydice"))

    def test_correctness(self) -> None:
        assert_all_close(losses.Dice()(OVERLAP_TRUE, OVERLAP_PRED), -0.55555546)

    def test_binary_segmentation(self) -> None:
        assert_all_close(losses.Dice()(MASK_TRUE, MASK_PRED), 0.77777773)

    def test_binary_segmentation_with_axis(self) -> None:
        output = losses.Dice(axis=(1, 2, 3), reduction=None)(IMAGE_TRUE, IMAGE_PRED)
        assert_all_close(output, [0.5, 0.75757575])


class TestTversky:
    def test_config(self) -> None:
        assert_class_serialization(losses.Tversky(name="mytversky"))

    def test_correctness(self) -> None:
        assert_all_close(losses.Tversky()(OVERLAP_TRUE, OVERLAP_PRED), -0.55555546)

    def test_correctness_custom_coefficients(self) -> None:
        output = losses.Tversky(alpha=0.2, beta=0.8)(OVERLAP_TRUE, OVERLAP_PRED)
        assert_all_close(output, -0.29629636)

    def test_binary_segmentation(self) -> None:
        assert_all_close(losses.Tversky()(MASK_TRUE, MASK_PRED), 0.77777773)

    def test_binary_segmentation_with_axis(self) -> None:
        output = losses.Tversky(axis=(1, 2, 3), reduction=None)(IMAGE_TRUE, IMAGE_PRED)
        assert_all_close(output, [0.5, 0.75757575])

    def test_binary_segmentation_custom_coefficients(self) -> None:
        output = losses.Tversky(alpha=0.2, beta=0.8)(MASK_TRUE, MASK_PRED)
        assert_all_close(output, 0.7916667)

    def test_binary_segmentation_custom_coefficients_with_axis(self) -> None:
        output = losses.Tversky(alpha=0.2, beta=0.8, axis=(1, 2, 3), reduction=None)(
            IMAGE_TRUE, IMAGE_PRED
        )
        assert_all_close(output, [0.5, 0.7222222])


CIRCLE_TRUE = np.array([1, 1, 2, 2, 3])
CIRCLE_PRED = np.array(
    [
        [0.70014004, -0.42008403, 0.14002801, 0.56011203],
        [0.17609018, 0.70436073, -0.52827054, 0.44022545],
        [-0.34050261, 0.25537696, -0.68100522, 0.59587957],
        [0.32163376, -0.75047877, 0.53605627, -0.21442251],
        [0.51261459, -0.34174306, 0.17087153, 0.76892189],
    ]
)
REF_LABELS = np.array([1, 1, 2, 2, 3, 4])
REF_EMBEDDINGS = np.array(
    [
        [0.40824829, -0.54433105, 0.27216553, 0.68041382],
        [0.76376261, 0.10910895, -0.54554473, 0.32732684],
        [-0.74420841, 0.24806947, 0.49613894, -0.3721042],
        [0.52981294, -0.13245324, 0.79471941, -0.26490647],
        [0.54554473, -0.32732684, 0.10910895, 0.76376261],
        [-0.27216553, 0.68041382, 0.40824829, -0.54433105],
    ]
)
CIRCLE_WEIGHTS = np.array([2.0, 2.0, 1.0, 1.0, 0.5])


class TestCircle:
    def test_config(self) -> None:
        assert_class_serialization(losses.Circle(name="mycircle", gamma=80.0, margin=0.4))

    def test_correctness(self) -> None:
        loss = losses.Circle(gamma=80.0, margin=0.4)(CIRCLE_TRUE, CIRCLE_PRED)
        assert_decimal(loss, 188.3883)
        loss = losses.Circle(gamma=256, margin=0.25)(CIRCLE_TRUE, CIRCLE_PRED)
        assert_decimal(loss, 652.7617)
        loss = losses.circle(
            CIRCLE_TRUE,
            CIRCLE_PRED,
            ref_labels=REF_LABELS,
            ref_embeddings=REF_EMBEDDINGS,
            gamma=80.0,
            margin=0.4,
            remove_diagonal=False,
        )
        assert_all_close(loss, (61.5844, 94.3465, 276.9344, 90.9873, 48.8963), atol=1e-3, rtol=1e-5)

    def test_correctness_weighted(self) -> None:
        loss = losses.Circle(gamma=80.0, margin=0.4)(
            CIRCLE_TRUE, CIRCLE_PRED, sample_weight=CIRCLE_WEIGHTS
        )
        assert_decimal(loss, 244.91918)

    def test_no_reduction(self) -> None:
        loss = losses.Circle(gamma=80.0, margin=0.4, reduction=None)(REF_LABELS, REF_EMBEDDINGS)
        assert_all_close(loss, [82.9116, 36.7942, 92.4590, 52.6798, 0.0, 0.0], atol=1e-3, rtol=1e-5)

    def test_sum_reduction(self) -> None:
        loss = losses.Circle(gamma=80.0, margin=0.4, reduction="sum")(REF_LABELS, REF_EMBEDDINGS)
        assert_decimal(loss, 264.845)

    def test_mean_with_sample_weight_reduction(self) -> None:
        obj = losses.Circle(gamma=80.0, margin=0.4, reduction="mean_with_sample_weight")
        assert_decimal(obj(CIRCLE_TRUE, CIRCLE_PRED, sample_weight=CIRCLE_WEIGHTS), 163.27948)


GCE_TRUE = np.array([0, 1, 0, 1])


def _gce(p: list[float], q: float) -> float:
    return float(np.mean([(1 - np.power(x, q)) / q for x in p]))


class TestCategoricalGeneralizedCrossEntropy:
    def test_config(self) -> None:
        assert_class_serialization(losses.CategoricalGeneralizedCrossEntropy(name="gce"))
        assert_class_serialization(losses.CategoricalGeneralizedCrossEntropy(q=0.1, name="gce"))

    def test_basic_correctness_for_binary(self) -> None:
        y_pred = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]])
        output = losses.CategoricalGeneralizedCrossEntropy()(GCE_TRUE, y_pred)
        assert_all_close(output, _gce([0.7, 0.8, 0.6, 0.6], 0.5))
        output = losses.CategoricalGeneralizedCrossEntropy(q=0.8)(GCE_TRUE, y_pred)
        assert_all_close(output, _gce([0.7, 0.8, 0.6, 0.6], 0.8))

    def test_basic_correctness_for_multi_class(self) -> None:
        y_pred = np.array([[0.7, 0.3, 0.0], [0.2, 0.2, 0.6], [0.6, 0.4, 0.0], [0.2, 0.2, 0.6]])
        output = losses.CategoricalGeneralizedCrossEntropy()(GCE_TRUE, y_pred)
        assert_all_close(output, _gce([0.7, 0.2, 0.6, 0.2], 0.5))
        output = losses.CategoricalGeneralizedCrossEntropy(q=0.8)(GCE_TRUE, y_pred)
        assert_all_close(output, _gce([0.7, 0.2, 0.6, 0.2], 0.8))

    def test_binary_segmentation(self) -> None:
        obj = losses.CategoricalGeneralizedCrossEntropy(q=0.5)
        assert_all_close(obj(SEGMENTATION_TRUE, SEGMENTATION_EXACT), 0.0)
        expected = ((1 - np.power(0.2, 0.5)) / 0.5 + (1 - np.power(0.4, 0.5)) / 0.5) / 16.0
        assert_all_close(obj(SEGMENTATION_TRUE, SEGMENTATION_OFF), expected)

    def test_multi_class_segmentation(self) -> None:
        obj = losses.CategoricalGeneralizedCrossEntropy(q=0.5)
        assert_all_close(obj(MULTI_TRUE, MULTI_EXACT), 0.0)
        off = MULTI_OFF.copy()
        off[1, 0] = [1.0, 0.0, 0.0]  # upstream's second case: p = 0 for label 1 at [1, 0]
        expected = sum((1 - np.power(p, 0.5)) / 0.5 for p in (0.2, 0.0, 0.5)) / 16.0
        assert_all_close(obj(MULTI_TRUE, off), expected)
