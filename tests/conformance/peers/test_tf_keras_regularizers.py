"""tf-keras's own regularizers tests, translated to losskit.

Upstream: https://github.com/keras-team/tf-keras, ``tf_keras/regularizers_test.py`` at
commit 631ed411d9e55e40b1ecaae7b046bba14752f46e (tag v2.21.0).

Keras's ``Dense(units, kernel_regularizer=...)`` becomes ``torch.nn.Linear`` with
``losskit.torch.regularize(layer, kernel=...)``, ``model.losses`` becomes
``losskit.torch.losses(model)`` and ``model.fit`` one SGD epoch. Parametrized upstream
methods are parametrized the same way here.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from losskit import losses, regularizers
from tests.conformance.peers._verdicts import (
    PASSES,
    Upstream,
    assert_all_close,
    deviation,
    not_applicable,
)

torch = pytest.importorskip("torch")
import losskit.torch  # noqa: E402  (after torch)

UPSTREAM = Upstream(
    repository="keras-team/tf-keras",
    path="tf_keras/regularizers_test.py",
    commit="631ed411d9e55e40b1ecaae7b046bba14752f46e",
    tag="v2.21.0",
)

VERDICTS: dict[str, str] = {
    "KerasRegularizersTest.test_kernel_regularization": PASSES,
    "KerasRegularizersTest.test_bias_regularization": PASSES,
    "KerasRegularizersTest.test_activity_regularization": PASSES,
    "KerasRegularizersTest.test_zero_regularization": PASSES,
    "KerasRegularizersTest.test_custom_regularizer_saving": PASSES,
    "KerasRegularizersTest.test_regularization_shared_layer": PASSES,
    "KerasRegularizersTest.test_regularization_shared_model": not_applicable(
        "counts the losses Keras's functional models track through nested models and "
        "model.add_loss; PyTorch modules have no such graph"
    ),
    "KerasRegularizersTest.test_regularization_shared_layer_in_different_models": deviation(
        "layer-losses-grouped"
    ),
    "KerasRegularizersTest.test_deserialization_error": PASSES,
    "KerasRegularizersTest.test_default_value_when_init_with_none": PASSES,
    "KerasRegularizersTest.test_orthogonal_regularizer": PASSES,
}

DATA_DIM, NUM_CLASSES = 5, 2


def regularizer_fn_tensor(x: Any) -> Any:
    return torch.tensor(0.0)


def regularizer_fn_scalar(x: Any) -> Any:
    return 0.0


class RegularizerTensor(regularizers.Regularizer):
    def __call__(self, x: Any) -> Any:
        return torch.tensor(0.0)


class RegularizerScalar(regularizers.Regularizer):
    def __call__(self, x: Any) -> Any:
        return 0.0


REGULARIZERS = {
    "l1": regularizers.l1(),
    "l2": regularizers.l2(),
    "l1_l2": regularizers.l1_l2(),
    "l2_zero": regularizers.l2(0.0),
    "function_tensor": regularizer_fn_tensor,
    "function_scalar": regularizer_fn_scalar,
    "lambda_tensor": lambda x: torch.tensor(0.0),
    "lambda_scalar": lambda x: 0.0,
    "regularizer_base_class": regularizers.Regularizer(),
    "regularizer_custom_class_tensor": RegularizerTensor(),
    "regularizer_custom_class_scalar": RegularizerScalar(),
}


def _data() -> tuple[Any, Any]:
    """10 samples of DATA_DIM features, one-hot targets of NUM_CLASSES classes."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, NUM_CLASSES, size=10)
    centers = rng.normal(size=(NUM_CLASSES, DATA_DIM))
    x = centers[labels] + rng.normal(size=(10, DATA_DIM))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(np.eye(NUM_CLASSES)[labels])


def _fit(model: Any, x: Any, y: Any, loss: Any, batch_size: int, lr: float = 0.01) -> None:
    """One epoch of SGD on loss(y, model(x)) + the model's penalties; all finite."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for start in range(0, len(x), batch_size):
        optimizer.zero_grad()
        output = model(x[start : start + batch_size])
        total = loss(y[start : start + batch_size], output) + losskit.torch.penalty(model)
        total.backward()
        optimizer.step()
        assert torch.isfinite(total)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def _softmax_model(**regularizer: Any) -> Any:
    layer = torch.nn.Linear(DATA_DIM, NUM_CLASSES)
    losskit.torch.regularize(layer, **regularizer)
    return torch.nn.Sequential(layer, torch.nn.Softmax(dim=-1)), layer


class TestKerasRegularizers:
    @pytest.mark.parametrize("name", list(REGULARIZERS))
    def test_kernel_regularization(self, name: str) -> None:
        self._check(kernel=REGULARIZERS[name])

    @pytest.mark.parametrize("name", list(REGULARIZERS))
    def test_bias_regularization(self, name: str) -> None:
        self._check(bias=REGULARIZERS[name])

    @pytest.mark.parametrize("name", list(REGULARIZERS))
    def test_activity_regularization(self, name: str) -> None:
        self._check(activity=REGULARIZERS[name])

    def _check(self, **regularizer: Any) -> None:
        x, y = _data()
        model, layer = _softmax_model(**regularizer)
        model(x)  # Keras counts the activity loss of the model's build call
        assert len(losskit.torch.losses(layer)) == 1
        _fit(model, x, y, losses.CategoricalCrossentropy(), batch_size=10)

    def test_zero_regularization(self) -> None:
        # upstream only fits (it can fail by raising); here the zero penalty must also
        # leave training exactly as without a regularizer
        x, y = torch.ones(10, 10), torch.ones(10, 3)
        torch.manual_seed(0)
        model = torch.nn.Linear(10, 3)
        plain = torch.nn.Linear(10, 3)
        plain.load_state_dict(model.state_dict())
        losskit.torch.regularize(model, kernel=regularizers.l2(0))
        assert float(losskit.torch.penalty(model).detach()) == 0.0
        _fit(model, x, y, losses.MeanSquaredError(), batch_size=5)
        _fit(plain, x, y, losses.MeanSquaredError(), batch_size=5)
        for mine, theirs in zip(model.parameters(), plain.parameters(), strict=True):
            assert torch.equal(mine, theirs)

    def test_custom_regularizer_saving(self) -> None:
        def my_regularizer(weights: Any) -> Any:
            return torch.sum(torch.abs(weights))

        model = torch.nn.Linear(10, 1)
        rule = losskit.torch.regularize(model, kernel=my_regularizer)
        # Keras writes the function's name and reads it back from custom_objects
        config = json.loads(json.dumps({"kernel": my_regularizer.__name__}))
        again = regularizers.get(
            config["kernel"], custom_objects={"my_regularizer": my_regularizer}
        )
        assert again is my_regularizer
        assert rule.kernel is my_regularizer

    @pytest.mark.parametrize("name", ["l1", "l2", "l1_l2"])
    def test_regularization_shared_layer(self, name: str) -> None:
        """One layer applied to both inputs of a model: one weight penalty, and one activity
        penalty per call (upstream's count of 5 adds the model's two ``add_loss`` terms,
        which PyTorch code adds to its loss itself)."""
        regularizer = REGULARIZERS[name]

        class TwoInputs(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.dense = torch.nn.Linear(DATA_DIM, NUM_CLASSES)

            def forward(self, input_1: Any, input_2: Any) -> Any:
                return (self.dense(input_1) + self.dense(input_2)) / 2

        model = TwoInputs()
        losskit.torch.regularize(model, kernel=regularizer, activity=regularizer, include="dense")
        model(torch.randn(4, DATA_DIM), torch.randn(4, DATA_DIM))
        assert len(losskit.torch.losses(model)) == 3

    def test_deserialization_error(self) -> None:
        with pytest.raises(ValueError, match="Could not interpret regularizer"):
            regularizers.get(0)

    @pytest.mark.parametrize(
        ("regularizer", "expected_value"),
        [
            (regularizers.l1(l1=None), 0.01),
            (regularizers.l2(l2=None), 0.01),
            (regularizers.l1_l2(l1=None, l2=None), 0.0),
        ],
        ids=["l1", "l2", "l1_l2"],
    )
    def test_default_value_when_init_with_none(
        self, regularizer: Any, expected_value: float
    ) -> None:
        if hasattr(regularizer, "l1"):
            assert_all_close(regularizer.l1, expected_value)
        if hasattr(regularizer, "l2"):
            assert_all_close(regularizer.l2, expected_value)

    def test_orthogonal_regularizer(self) -> None:
        factor = 0.1
        reg_rows = regularizers.OrthogonalRegularizer(factor=factor, mode="rows")
        reg_cols = regularizers.OrthogonalRegularizer(factor=factor, mode="columns")
        inputs = np.array([[1, 1, 1, 1], [2, 0, 0, 0], [0, 0, 3, 1]], np.float32)
        rows = inputs / np.linalg.norm(inputs, axis=1, keepdims=True)
        cols = inputs / np.linalg.norm(inputs, axis=0, keepdims=True)
        rows_pairs = [rows[i] @ rows[j] for i in range(3) for j in range(i + 1, 3)]
        col_pairs = [cols[:, i] @ cols[:, j] for i in range(4) for j in range(i + 1, 4)]
        assert_all_close(reg_rows(inputs), factor * sum(rows_pairs) / 3)
        assert_all_close(reg_cols(inputs), factor * sum(col_pairs) / 6)
        with pytest.raises(ValueError, match="expected a rank-2 array"):
            reg_rows(np.array([1, 1], np.float32))
        assert reg_cols.get_config() == {"factor": factor, "mode": "columns"}
        # usage in a model: Keras's Dense(4) kernel is [3, 4]; nn.Linear(3, 4)'s weight is
        # [4, 3], so Keras's "rows" is "columns" here (row `torch-kernel-layout`)
        model = torch.nn.Linear(3, 4)
        rule = losskit.torch.regularize(model, kernel=reg_cols)
        rng = np.random.default_rng(2)
        x = torch.tensor(rng.random((16, 3)), dtype=torch.float32)
        y = torch.tensor(rng.random((16, 4)), dtype=torch.float32)
        _fit(model, x, y, losses.MeanSquaredError(), batch_size=16)
        # the attachment round-trips through its config, and the model computes the same
        inputs3 = torch.tensor([[1, 1, 1], [2, 0, 0], [0, 0, 3]], dtype=torch.float32)
        outputs = model(inputs3)
        config, weights = json.dumps(rule.get_config()), model.state_dict()
        rebuilt = torch.nn.Linear(3, 4)
        rebuilt.load_state_dict(weights)
        # Regularization.from_config where it exists (losskit.torch.from_config moves there)
        from_config = getattr(losskit.torch.Regularization, "from_config", None)
        again = (from_config or losskit.torch.from_config)(rebuilt, config)
        assert again.kernel == reg_cols
        assert_all_close(rebuilt(inputs3), outputs, atol=1e-5)
        assert_all_close(losskit.torch.penalty(rebuilt), losskit.torch.penalty(model))
