"""Keras 3's own tests of the ``Loss`` base class, translated to losskit.

Upstream: https://github.com/keras-team/keras, ``keras/src/losses/loss_test.py`` at commit
250b42181ce9f37df68319d8f4753ec89a349a43 (tag v3.15.1).

Keras 3 converts ``y_true`` and ``y_pred`` to float32 before ``call``, so several upstream
tests assert a float32 loss for float64 inputs: losskit keeps float64 (row
``keras3-float32-losses``); those translations assert losskit's dtype and upstream's values.
A Keras mask (``backend.set_keras_mask(y_pred, mask)``) is losskit's ``mask=`` argument, and
Keras 3's rank rule is ``sample_weight_rank="keras3"``.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from losskit import _namespace as ns
from losskit import losses
from losskit._shapes import keras3_same_rank
from tests.conformance.peers._verdicts import (
    PASSES,
    Upstream,
    assert_all_close,
    deviation,
)

UPSTREAM = Upstream(
    repository="keras-team/keras",
    path="keras/src/losses/loss_test.py",
    commit="250b42181ce9f37df68319d8f4753ec89a349a43",
    tag="v3.15.1",
)

FLOAT32 = deviation("keras3-float32-losses")

VERDICTS: dict[str, str] = {
    "LossTest.test_squeeze_or_expand": PASSES,
    "LossTest.test_reduction": FLOAT32,
    "LossTest.test_mask": FLOAT32,
    "LossTest.test_sample_weight": FLOAT32,
    "LossTest.test_mask_and_sample_weight": FLOAT32,
    "LossTest.test_mask_and_sample_weight_rank2": PASSES,
    "LossTest.test_rank_adjustment": FLOAT32,
    "LossTest.test_mixed_dtypes": PASSES,
    "LossTest.test_pickle": PASSES,
    "LossTest.test_get_method": PASSES,
    "LossTest.test_dtype_arg": FLOAT32,
    "LossTest.test_default_dtype": FLOAT32,
}


class ExampleLoss(losses.Loss):
    def call(self, y_true: Any, y_pred: Any) -> Any:
        return (y_true - y_pred) ** 2


Y_TRUE = np.array([1.0, 0.0, 1.0, 0.0])
Y_PRED = np.array([0.1, 0.2, 0.3, 0.4])
MASK = np.array([True, False, True, True])
WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
MASKED = np.sum(np.array([0.4, 0.2, 0.1]) * (np.array([1.0, 1.0, 0.0]) - [0.1, 0.3, 0.4]) ** 2)


class TestLoss:
    def test_squeeze_or_expand(self) -> None:
        xp = ns.namespace(np.ones(1))
        for first, second, expected in (
            ((3,), (3, 1), ((3, 1), (3, 1))),
            ((3, 2), (3, 2, 1), ((3, 2), (3, 2))),
        ):
            x1, x2 = keras3_same_rank(xp, np.ones(first), np.ones(second))
            assert (x1.shape, x2.shape) == expected
            x2, x1 = keras3_same_rank(xp, np.ones(second), np.ones(first))
            assert (x1.shape, x2.shape) == expected

    def test_reduction(self) -> None:
        loss = ExampleLoss(reduction=None)(Y_TRUE, Y_PRED)
        assert loss.dtype == np.float64  # Keras 3: float32
        assert_all_close((Y_TRUE - Y_PRED) ** 2, loss)
        assert_all_close(
            np.sum((Y_TRUE - Y_PRED) ** 2), ExampleLoss(reduction="sum")(Y_TRUE, Y_PRED)
        )
        loss = ExampleLoss(reduction="sum_over_batch_size")(Y_TRUE, Y_PRED)
        assert_all_close(np.sum((Y_TRUE - Y_PRED) ** 2) / 4, loss)
        with pytest.raises(ValueError, match=r"Invalid `reduction`"):
            ExampleLoss(reduction="abc")

    def test_mask(self) -> None:
        loss = ExampleLoss()(Y_TRUE, Y_PRED, mask=MASK)
        assert loss.dtype == np.float64
        masked = np.sum((np.array([1.0, 1.0, 0.0]) - [0.1, 0.3, 0.4]) ** 2)
        assert_all_close(masked / 3, loss)
        assert_all_close(ExampleLoss()(Y_TRUE, Y_PRED, mask=np.zeros(4, bool)), 0)  # no NaN

    def test_sample_weight(self) -> None:
        loss = ExampleLoss()(Y_TRUE, Y_PRED, sample_weight=WEIGHTS)
        assert loss.dtype == np.float64
        assert_all_close(np.sum(WEIGHTS * (Y_TRUE - Y_PRED) ** 2) / 4, loss)
        assert_all_close(ExampleLoss()(Y_TRUE, Y_PRED, sample_weight=np.zeros(4)), 0)

    def test_mask_and_sample_weight(self) -> None:
        loss = ExampleLoss()(Y_TRUE, Y_PRED, sample_weight=WEIGHTS, mask=MASK)
        assert loss.dtype == np.float64
        assert_all_close(MASKED / 3, loss)

    def test_mask_and_sample_weight_rank2(self) -> None:
        loss_fn = ExampleLoss()
        rank1 = loss_fn(Y_TRUE, Y_PRED, sample_weight=WEIGHTS, mask=MASK)
        tile = lambda x: np.tile(x[None], (2, 1))  # noqa: E731
        rank2 = loss_fn(tile(Y_TRUE), tile(Y_PRED), sample_weight=tile(WEIGHTS), mask=tile(MASK))
        assert_all_close(rank1, rank2)

    @pytest.mark.parametrize("uprank", ["mask", "sample_weight", "ys"])
    def test_rank_adjustment(self, uprank: str) -> None:
        y_true, y_pred, mask, weights = Y_TRUE, Y_PRED, MASK, WEIGHTS
        if uprank == "mask":
            mask = mask[:, None]
        elif uprank == "sample_weight":
            weights = weights[:, None]
        else:
            y_true, y_pred = y_true[:, None], y_pred[:, None]
        loss = ExampleLoss(sample_weight_rank="keras3")(
            y_true, y_pred, sample_weight=weights, mask=mask
        )
        assert loss.dtype == np.float64
        assert_all_close(MASKED / 3, loss)

    def test_mixed_dtypes(self) -> None:
        sample_weight = np.array([0.4, 0.3, 0.2, 0.1], dtype="float64")
        y_true = np.array([1.0, 0.0, 1.0, 0.0], dtype="int32")
        y_pred = np.array([0.1, 0.2, 0.3, 0.4], dtype="float32")
        loss = ExampleLoss()(y_true, y_pred, sample_weight=sample_weight)
        assert loss.dtype == np.float32
        assert_all_close(np.sum(sample_weight * (y_true - y_pred) ** 2) / 4, loss)

    def test_pickle(self) -> None:
        loss = pickle.loads(pickle.dumps(losses.get("mse")))
        assert loss == losses.mean_squared_error

    def test_get_method(self) -> None:
        assert losses.get("mse") == losses.mean_squared_error
        assert losses.get(None) is None
        with pytest.raises(ValueError, match="Could not interpret loss identifier: 'typo'"):
            losses.get("typo")

    def test_dtype_arg(self) -> None:
        """Keras 3's ``dtype=`` casts the inputs; losskit has no such argument: the loss has
        ``y_pred``'s dtype (float16 here, computed in float32 and rounded once)."""
        y_true = np.array([1.0, 0.0, 1.0, 0.0], dtype="float16")
        y_pred = np.array([0.1, 0.2, 0.3, 0.4], dtype="float16")
        assert ExampleLoss()(y_true, y_pred).dtype == np.float16
        with pytest.raises(TypeError, match="unexpected keyword argument 'dtype'"):
            losses.MeanSquaredError(dtype="float16")  # type: ignore[call-arg]

    def test_default_dtype(self) -> None:
        """Keras 3 defaults to its global float type; losskit has none: float32 inputs give
        a float32 loss, float16 inputs a float16 one."""
        y_true = np.array([1.0, 0.0, 1.0, 0.0], dtype="float32")
        y_pred = np.array([0.1, 0.2, 0.3, 0.4], dtype="float32")
        assert ExampleLoss()(y_true, y_pred).dtype == np.float32
        assert ExampleLoss()(y_true.astype("float16"), y_pred.astype("float16")).dtype == np.float16
