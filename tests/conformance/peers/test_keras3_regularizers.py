"""Keras 3's own regularizers tests, translated to losskit.

Upstream: https://github.com/keras-team/keras, ``keras/src/regularizers/regularizers_test.py``
at commit 250b42181ce9f37df68319d8f4753ec89a349a43 (tag v3.15.1).

``ValidateFloatArgTest`` tests Keras's private ``validate_float_arg(value, name)``; its
counterpart is losskit's private ``check_factor(name, value, default)``, which every
regularizer's constructor calls.
"""

from __future__ import annotations

import numpy as np
import pytest

from losskit import regularizers
from losskit.regularizers._base import check_factor
from tests.conformance.peers._verdicts import (
    PASSES,
    Upstream,
    assert_all_close,
    assert_almost_equal,
    assert_class_serialization,
    not_applicable,
)

UPSTREAM = Upstream(
    repository="keras-team/keras",
    path="keras/src/regularizers/regularizers_test.py",
    commit="250b42181ce9f37df68319d8f4753ec89a349a43",
    tag="v3.15.1",
)

_REGULARIZERS = [
    "test_config",
    "test_l1",
    "test_l2",
    "test_l1_l2",
    "test_orthogonal_regularizer",
    "test_get_method",
    "test_l1l2_get_config",
    "test_orthogonal_regularizer_mode_validation",
    "test_orthogonal_regularizer_input_rank_validation",
    "test_orthogonal_regularizer_get_config",
    "test_l1_with_zero_weights",
    "test_l1_with_negative_weights",
    "test_l1_zero_coefficient",
    "test_l2_with_zero_weights",
    "test_l2_zero_coefficient",
    "test_l2_is_larger_than_l1_for_large_weights",
    "test_l2_is_smaller_than_l1_for_small_weights",
    "test_l1l2_zero_coefficients",
    "test_l1l2_only_l1",
    "test_l1l2_only_l2",
    "test_l1l2_with_zero_weights",
]
_VALIDATE = [
    "test_validate_float_with_valid_args",
    "test_validate_float_with_invalid_types",
    "test_validate_float_with_nan",
    "test_validate_float_with_inf",
    "test_validate_float_with_negative_number",
    "test_validate_float_with_zero",
    "test_validate_float_with_very_small_positive",
    "test_validate_float_returns_float_type",
    "test_validate_float_with_large_positive",
    "test_validate_float_with_negative_float",
    "test_validate_float_with_none",
    "test_validate_float_with_list",
]

VERDICTS: dict[str, str] = {
    **{f"RegularizersTest.{name}": PASSES for name in _REGULARIZERS},
    **{f"ValidateFloatArgTest.{name}": PASSES for name in _VALIDATE},
    "ValidateFloatArgTest.test_validate_float_with_none": not_applicable(
        "Keras's helper refuses None and its callers map None to the default first; "
        "losskit's one check does both (L1(None) is L1(0.01) in both)"
    ),
}

RNG = np.random.default_rng(3)


def _random() -> np.ndarray:
    return RNG.random((4, 4)).astype(np.float32)


class TestRegularizers:
    def test_config(self) -> None:
        for reg in (
            regularizers.L1(0.1),
            regularizers.L2(0.1),
            regularizers.L1L2(l1=0.1, l2=0.2),
            regularizers.OrthogonalRegularizer(factor=0.1, mode="rows"),
        ):
            assert_class_serialization(reg, regularizers)

    def test_l1(self) -> None:
        value = _random()
        assert_all_close(regularizers.L1(0.1)(value), 0.1 * np.sum(np.abs(value)))

    def test_l2(self) -> None:
        value = _random()
        assert_all_close(regularizers.L2(0.1)(value), 0.1 * np.sum(np.square(value)))

    def test_l1_l2(self) -> None:
        value = _random()
        expected = 0.1 * np.sum(np.abs(value)) + 0.2 * np.sum(np.square(value))
        assert_all_close(regularizers.L1L2(l1=0.1, l2=0.2)(value), expected)

    def test_orthogonal_regularizer(self) -> None:
        value = _random()
        y = regularizers.OrthogonalRegularizer(factor=0.1, mode="rows")(value)
        inputs = value / np.linalg.norm(value, axis=1, keepdims=True)
        off_diagonal = np.abs(np.dot(inputs, inputs.T) * (1.0 - np.eye(4)))
        assert_all_close(y, 0.1 * 0.5 * np.sum(off_diagonal) / (4.0 * 3.0 / 2.0))

    def test_get_method(self) -> None:
        assert isinstance(regularizers.get("l1l2"), regularizers.L1L2)
        assert isinstance(regularizers.get("l1"), regularizers.L1)
        assert isinstance(regularizers.get("l2"), regularizers.L2)
        orthogonal = regularizers.get("orthogonal_regularizer")
        assert isinstance(orthogonal, regularizers.OrthogonalRegularizer)
        assert regularizers.get(None) is None
        with pytest.raises(ValueError, match="Could not interpret regularizer identifier"):
            regularizers.get("typo")

    def test_l1l2_get_config(self) -> None:
        reg = regularizers.L1L2(l1=0.01, l2=0.02)
        config = reg.get_config()
        assert_all_close(config["l1"], 0.01)
        assert_all_close(config["l2"], 0.02)
        reg_from_config = regularizers.L1L2.from_config(config)
        assert reg_from_config.get_config() == config
        assert_all_close(reg_from_config.l1, 0.01)
        assert_all_close(reg_from_config.l2, 0.02)

    def test_orthogonal_regularizer_mode_validation(self) -> None:
        with pytest.raises(
            ValueError,
            match=r"Invalid `mode`: expected one of 'rows', 'columns', received 'invalid_mode'",
        ):
            regularizers.OrthogonalRegularizer(factor=0.01, mode="invalid_mode")

    def test_orthogonal_regularizer_input_rank_validation(self) -> None:
        value = RNG.random((4, 4, 4)).astype(np.float32)
        with pytest.raises(
            ValueError, match=r"expected a rank-2 array .* received .* shape \(4, 4, 4\)"
        ):
            regularizers.OrthogonalRegularizer(factor=0.1)(value)

    def test_orthogonal_regularizer_get_config(self) -> None:
        regularizer = regularizers.OrthogonalRegularizer(factor=0.01, mode="columns")
        config = regularizer.get_config()
        assert_almost_equal(config["factor"], 0.01, 7)
        assert config["mode"] == "columns"
        again = regularizers.OrthogonalRegularizer.from_config(config).get_config()
        assert_almost_equal(again["factor"], 0.01, 7)
        assert again["mode"] == "columns"

    def test_l1_with_zero_weights(self) -> None:
        assert_all_close(regularizers.L1(0.1)(np.zeros((4, 4), np.float32)), 0.0)

    def test_l1_with_negative_weights(self) -> None:
        ones = np.ones((4, 4), dtype=np.float32)
        assert_all_close(regularizers.L1(0.1)(ones), regularizers.L1(0.1)(-ones))

    def test_l1_zero_coefficient(self) -> None:
        assert_all_close(regularizers.L1(0.0)(_random()), 0.0)

    def test_l2_with_zero_weights(self) -> None:
        assert_all_close(regularizers.L2(0.1)(np.zeros((4, 4), np.float32)), 0.0)

    def test_l2_zero_coefficient(self) -> None:
        assert_all_close(regularizers.L2(0.0)(_random()), 0.0)

    def test_l2_is_larger_than_l1_for_large_weights(self) -> None:
        value = np.ones((4, 4), dtype=np.float32) * 10.0
        assert float(regularizers.L2(1.0)(value)) > float(regularizers.L1(1.0)(value))

    def test_l2_is_smaller_than_l1_for_small_weights(self) -> None:
        value = np.ones((4, 4), dtype=np.float32) * 0.1
        assert float(regularizers.L2(1.0)(value)) < float(regularizers.L1(1.0)(value))

    def test_l1l2_zero_coefficients(self) -> None:
        assert_all_close(regularizers.L1L2(l1=0.0, l2=0.0)(_random()), 0.0)

    def test_l1l2_only_l1(self) -> None:
        value = _random()
        assert_all_close(regularizers.L1L2(l1=0.1, l2=0.0)(value), regularizers.L1(0.1)(value))

    def test_l1l2_only_l2(self) -> None:
        value = _random()
        assert_all_close(regularizers.L1L2(l1=0.0, l2=0.1)(value), regularizers.L2(0.1)(value))

    def test_l1l2_with_zero_weights(self) -> None:
        assert_all_close(regularizers.L1L2(l1=0.1, l2=0.2)(np.zeros((4, 4), np.float32)), 0.0)


# (the wording of "finite and >= 0" is being unified; the pattern takes both)
INVALID = r"Invalid `test`: expected a (non-negative, finite number|finite number >= 0)"


class TestValidateFloatArg:
    def test_validate_float_with_valid_args(self) -> None:
        assert check_factor("test", 1, 0.0) == 1.0
        assert check_factor("test", 1.0, 0.0) == 1.0

    def test_validate_float_with_invalid_types(self) -> None:
        with pytest.raises(ValueError, match=INVALID):
            check_factor("test", "not_a_number", 0.0)

    def test_validate_float_with_nan(self) -> None:
        with pytest.raises(ValueError, match=INVALID):
            check_factor("test", float("nan"), 0.0)

    def test_validate_float_with_inf(self) -> None:
        for value in (float("inf"), -float("inf")):
            with pytest.raises(ValueError, match=INVALID):
                check_factor("test", value, 0.0)

    def test_validate_float_with_negative_number(self) -> None:
        with pytest.raises(ValueError, match=INVALID):
            check_factor("test", -1, 0.0)

    def test_validate_float_with_zero(self) -> None:
        assert check_factor("test", 0, 1.0) == 0.0
        assert check_factor("test", 0.0, 1.0) == 0.0

    def test_validate_float_with_very_small_positive(self) -> None:
        assert_almost_equal(check_factor("test", 1e-10, 0.0), 1e-10)

    def test_validate_float_returns_float_type(self) -> None:
        assert isinstance(check_factor("test", 1, 0.0), float)
        assert isinstance(check_factor("test", 1.0, 0.0), float)

    def test_validate_float_with_large_positive(self) -> None:
        assert_almost_equal(check_factor("test", 1e6, 0.0), 1e6)

    def test_validate_float_with_negative_float(self) -> None:
        with pytest.raises(ValueError, match=INVALID):
            check_factor("test", -0.001, 0.0)

    def test_validate_float_with_list(self) -> None:
        with pytest.raises(ValueError, match=INVALID):
            check_factor("test", [0.1], 0.0)
