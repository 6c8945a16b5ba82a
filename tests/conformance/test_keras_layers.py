"""losskit.torch's and losskit.jax's layer regularizers against real tf_keras 2.21 / Keras 3.

``Dense`` and ``Conv2D`` with every regularizer kind as kernel, bias and activity
regularizer: the same float32 weights and inputs on both sides (PyTorch layouts are Keras's
transposed), ``layer.losses`` and the gradients of their sum with respect to the kernel, the
bias and the input. The Keras side runs in one subprocess (``_keras_layer_oracle.py``).
JAX computes the same layers on Keras's layouts (``x @ kernel``, ``conv_general_dilated``
with HWIO kernels) with ``losskit.jax.penalty`` and an activity collector.

Where losskit differs, the case names the row of docs/deviations.md:
``"layer-losses-grouped"`` (one weight loss per regularizer, not per weight: equal sums),
``"non-trainable-weights"`` (Keras 3's rule: frozen weights are not regularized; tf_keras
regularizes them), ``"torch-kernel-layout"`` (regularizers see PyTorch's ``[out, in]``
layout: Keras's ``OrthogonalRegularizer(mode="rows")`` on a Dense kernel is
``mode="columns"`` on ``nn.Linear.weight``), ``"activity-scalar-output"`` (a 0-d output's
activity penalty is not divided, Keras 3's rule; tf_keras raises).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import losskit.torch as lt
from losskit.regularizers import L1, L1L2, L2, OrthogonalRegularizer
from tests._helpers import assert_close
from tests.conformance._keras_cases import L2Regularizer, l1_reg, register_customs
from tests.conformance._oracle_process import run_oracle
from tests.conformance.deviations import table_rows

pytestmark = pytest.mark.tf

SCRIPT = Path(__file__).with_name("_keras_layer_oracle.py")
LIBRARIES = ("tf_keras", "keras3")
GROUPED = "layer-losses-grouped"
NON_TRAINABLE = "non-trainable-weights"
LAYOUT = "torch-kernel-layout"
SCALAR = "activity-scalar-output"
RTOL, ATOL = 2e-5, 1e-6

KINDS: dict[str, dict[str, Any]] = {
    "L1": {"class": "L1", "kwargs": {"l1": 0.05}},
    "L2": {"class": "L2", "kwargs": {"l2": 0.07}},
    "L1L2": {"class": "L1L2", "kwargs": {"l1": 0.03, "l2": 0.04}},
    "Orthogonal": {"class": "OrthogonalRegularizer", "kwargs": {"factor": 0.5}},
    "l1_reg": {"class": "l1_reg", "kwargs": {}},
    "L2Regularizer": {"class": "L2Regularizer", "kwargs": {"l2": 0.5}},
}


@dataclasses.dataclass
class LayerCase:
    id: str
    layer: str
    kernel: np.ndarray  # Keras layout
    bias: np.ndarray
    x: np.ndarray  # Keras layout (NHWC)
    kernel_regularizer: str | None
    bias_regularizer: str | None
    activity_regularizer: str | None
    trainable: bool = True

    def to_json(self) -> dict[str, Any]:
        def data(a: np.ndarray) -> dict[str, Any]:
            return {"shape": list(a.shape), "values": a.astype(np.float64).ravel().tolist()}

        def spec(kind: str | None) -> Any:
            return None if kind is None else KINDS[kind]

        return {
            "id": self.id,
            "layer": self.layer,
            "kernel": data(self.kernel),
            "bias": data(self.bias),
            "x": data(self.x),
            "kernel_regularizer": spec(self.kernel_regularizer),
            "bias_regularizer": spec(self.bias_regularizer),
            "activity_regularizer": spec(self.activity_regularizer),
            "trainable": self.trainable,
        }


def _cases() -> list[LayerCase]:
    rng = np.random.default_rng(4)

    def f32(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32)

    cases = [
        LayerCase(
            "page",
            "dense",
            np.ones((5, 5), np.float32),
            np.zeros(5, np.float32),
            np.full((5, 5), 2.0, np.float32),
            "L1_page",
            None,
            "L2_page",
        )
    ]
    for kind in KINDS:
        orthogonal = kind == "Orthogonal"
        cases.append(
            LayerCase(
                f"dense-{kind}",
                "dense",
                f32(4, 3),
                f32(3),
                f32(6, 4),
                kind,
                None if orthogonal else kind,
                kind,
            )
        )
        if not orthogonal:  # Keras's OrthogonalRegularizer takes rank-2 inputs only
            cases.append(
                LayerCase(
                    f"conv2d-{kind}",
                    "conv2d",
                    f32(2, 2, 2, 3),
                    f32(3),
                    f32(2, 5, 4, 2),
                    kind,
                    kind,
                    kind,
                )
            )
    cases.append(
        LayerCase("dense-frozen", "dense", f32(4, 3), f32(3), f32(6, 4), "L2", "L1", None, False)
    )
    return cases


CASES = _cases()
SCALAR_CASE = LayerCase(
    "sum", "sum", np.zeros((1, 1)), np.zeros(1), np.ones((4, 3), np.float32), None, None, "L1_one"
)
KINDS["L1_page"] = {"class": "L1", "kwargs": {"l1": 0.01}}  # after the loop over kinds
KINDS["L2_page"] = {"class": "L2", "kwargs": {"l2": 0.01}}
KINDS["L1_one"] = {"class": "L1", "kwargs": {"l1": 1.0}}


@pytest.fixture(scope="module")
def keras_layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    payload = {"cases": [case.to_json() for case in [*CASES, SCALAR_CASE]]}
    return run_oracle(SCRIPT, payload, tmp_path_factory, "Keras layers")


def _regularizer(kind: str | None, *, kernel_of_dense: bool = False) -> Any:
    if kind is None:
        return None
    spec = KINDS[kind]
    if spec["class"] == "l1_reg":
        return l1_reg
    if spec["class"] == "L2Regularizer":
        return L2Regularizer(**spec["kwargs"])
    if spec["class"] == "OrthogonalRegularizer":
        # "torch-kernel-layout": nn.Linear.weight is the Keras kernel transposed
        return OrthogonalRegularizer(
            mode="columns" if kernel_of_dense else "rows", **spec["kwargs"]
        )
    return {"L1": L1, "L2": L2, "L1L2": L1L2}[spec["class"]](**spec["kwargs"])


def _torch_layer(case: LayerCase) -> tuple[nn.Module, torch.Tensor]:
    if case.layer == "dense":
        layer: nn.Module = nn.Linear(*case.kernel.shape)
        weight = case.kernel.T
        x = case.x
    else:
        kh, kw, cin, cout = case.kernel.shape
        layer = nn.Conv2d(cin, cout, (kh, kw))
        weight = case.kernel.transpose(3, 2, 0, 1)
        x = case.x.transpose(0, 3, 1, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
        layer.bias.copy_(torch.from_numpy(case.bias))
    return layer, torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)


def _to_keras_layout(
    case: LayerCase, weight_grad: np.ndarray, x_grad: np.ndarray
) -> tuple[Any, Any]:
    if case.layer == "dense":
        return weight_grad.T, x_grad
    return weight_grad.transpose(2, 3, 1, 0), x_grad.transpose(0, 2, 3, 1)


def _grad(tensor: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape) if tensor.grad is None else tensor.grad.double().numpy()


@pytest.fixture(autouse=True)
def _customs() -> None:
    register_customs()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("library", LIBRARIES)
def test_layer_losses_and_gradients(case: LayerCase, library: str, keras_layers) -> None:
    keras = keras_layers["cases"][library][case.id]
    assert "error" not in keras, keras
    layer, x = _torch_layer(case)
    lt.regularize(
        layer,
        kernel=_regularizer(case.kernel_regularizer, kernel_of_dense=case.layer == "dense"),
        bias=_regularizer(case.bias_regularizer),
        activity=_regularizer(case.activity_regularizer),
    )
    if not case.trainable:
        layer.requires_grad_(False)
    layer(x)
    activity = [float(v.detach()) for v in lt.losses(layer, weights=False)]
    weights = [float(v.detach()) for v in lt.losses(layer, activity=False)]
    expected = list(keras["losses"])
    if not case.trainable and library == "tf_keras":
        # "non-trainable-weights": tf_keras regularizes frozen weights, Keras 3 and losskit not
        assert len(expected) == 2
        assert weights == []
        return
    n_activity = 1 if case.activity_regularizer else 0
    assert_close(activity, expected[:n_activity], rtol=RTOL)
    keras_weights = expected[n_activity:]
    assert_close(sum(weights), sum(keras_weights), rtol=RTOL, atol=ATOL)
    same = case.kernel_regularizer == case.bias_regularizer and case.kernel_regularizer in (
        "L1",
        "L2",
        "L1L2",
        "l1_reg",  # one function object
    )
    if same:  # "layer-losses-grouped": one entry for the shared regularizer
        assert (len(weights), len(keras_weights)) == (1, 2)
    else:
        assert_close(weights, keras_weights, rtol=RTOL, atol=ATOL)
    total = lt.penalty(layer)
    if not total.requires_grad:
        assert keras["grads"]["kernel"] is None
        return
    total.backward()
    weight_grad, x_grad = _to_keras_layout(
        case, _grad(layer.weight, tuple(layer.weight.shape)), x.grad.double().numpy()
    )
    assert_close(weight_grad, keras["grads"]["kernel"], rtol=RTOL, atol=ATOL)
    assert_close(_grad(layer.bias, case.bias.shape), keras["grads"]["bias"], rtol=RTOL, atol=ATOL)
    if case.activity_regularizer:
        assert_close(x_grad, keras["grads"]["x"], rtol=RTOL, atol=ATOL)


def test_page_example_sums_to_5_25(keras_layers) -> None:
    for library in LIBRARIES:
        assert_close(keras_layers["cases"][library]["page"]["losses"], [5.0, 0.25], rtol=1e-6)


class _Sum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum()


def test_activity_of_a_scalar_output(keras_layers) -> None:
    # "activity-scalar-output": Keras 3 does not divide a 0-d output's penalty; tf_keras
    # raises (its batch size is dimension 0 of a 0-d tensor)
    tf_keras = keras_layers["cases"]["tf_keras"]["sum"]
    assert tf_keras["error"] == "InvalidArgumentError", tf_keras
    keras3 = keras_layers["cases"]["keras3"]["sum"]["losses"]
    module = _Sum()
    lt.regularize(module, activity=L1(1.0))
    module(torch.ones(4, 3))
    assert_close([float(loss) for loss in lt.losses(module)], keras3, rtol=1e-6)
    assert_close(keras3, [12.0], rtol=1e-6)


def test_deviation_rows_exist() -> None:
    rows = table_rows()
    for name in (GROUPED, NON_TRAINABLE, LAYOUT, SCALAR):
        assert name in rows, name


# ----------------------------------------------------------------------------- JAX


def _jax_regularizer(kind: str | None) -> Any:
    """JAX sees Keras's layouts (flax, equinox): the same regularizers as Keras."""
    if kind is None:
        return None
    spec = KINDS[kind]
    if spec["class"] == "l1_reg":
        return l1_reg
    if spec["class"] == "L2Regularizer":
        return L2Regularizer(**spec["kwargs"])
    if spec["class"] == "OrthogonalRegularizer":
        return OrthogonalRegularizer(**spec["kwargs"])
    return {"L1": L1, "L2": L2, "L1L2": L1L2}[spec["class"]](**spec["kwargs"])


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_jax_layer_losses_and_gradients(case: LayerCase, keras_layers) -> None:
    import jax
    import jax.numpy as jnp

    import losskit.jax as lj

    library = "keras3" if not case.trainable else "tf_keras"  # frozen: leave them out
    keras = keras_layers["cases"][library][case.id]
    kernel_reg = _jax_regularizer(case.kernel_regularizer)
    bias_reg = _jax_regularizer(case.bias_regularizer)
    activity_reg = _jax_regularizer(case.activity_regularizer)
    spec = lj.Spec(patterns={"kernel": kernel_reg, "bias": bias_reg})

    def layer(params: dict[str, Any], x: Any) -> Any:
        if case.layer == "dense":
            y = x @ params["kernel"] + params["bias"]
        else:
            y = jax.lax.conv_general_dilated(
                x, params["kernel"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            y = y + params["bias"]
        return lj.activity(y, activity_reg) if activity_reg is not None else y

    def total(params: dict[str, Any], x: Any) -> Any:
        _, activity = lj.Collector.wrap(layer)(params, x)
        weights = lj.penalty(params, spec) if case.trainable else 0.0
        return sum(activity, start=weights)

    params = {"kernel": jnp.asarray(case.kernel), "bias": jnp.asarray(case.bias)}
    x = jnp.asarray(case.x)
    value, grads = jax.jit(jax.value_and_grad(total, argnums=(0, 1)))(params, x)
    assert_close(float(value), sum(keras["losses"]), rtol=RTOL, atol=ATOL)
    if not keras["losses"]:
        return
    (param_grads, x_grad) = grads
    assert_close(param_grads["kernel"], keras["grads"]["kernel"], rtol=RTOL, atol=ATOL)
    assert_close(param_grads["bias"], keras["grads"]["bias"], rtol=RTOL, atol=ATOL)
    if case.activity_regularizer:
        assert_close(x_grad, keras["grads"]["x"], rtol=RTOL, atol=ATOL)
