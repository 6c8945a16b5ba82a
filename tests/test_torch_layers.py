"""losskit.torch: Keras's kernel / bias / activity regularizers on PyTorch modules.

Expected values are hand arithmetic written here or float64 NumPy on copies of the weights.
"""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import losskit
import losskit.torch as lt
from losskit.regularizers import L1, L1L2, L2, Regularizer
from tests._helpers import assert_close


def dense(units_in: int = 5, units_out: int = 5, *, bias: bool = True) -> nn.Linear:
    layer = nn.Linear(units_in, units_out, bias=bias)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        if bias:
            layer.bias.zero_()
    return layer


def values(found: list[torch.Tensor]) -> list[float]:
    return [float(loss.detach().double()) for loss in found]


def f64(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


# ----------------------------------------------------------------------------- the page


def test_page_example_dense_layer() -> None:
    layer = dense()
    lt.regularize(layer, kernel=L1(0.01), activity=L2(0.01))
    layer(torch.ones(5, 5) * 2.0)
    found = lt.losses(layer)
    # activity: output 10 everywhere, 0.01 * 25 * 100 / batch 5 = 5; kernel: 0.01 * 25
    assert_close(values(found), [5.0, 0.25], rtol=1e-6)
    assert_close(float(lt.penalty(layer).detach()), 5.25, rtol=1e-6)


def test_page_example_custom_function() -> None:
    def l1_reg(weight_matrix: torch.Tensor) -> torch.Tensor:
        return 0.01 * torch.sum(torch.abs(weight_matrix))

    layer = dense()
    lt.regularize(layer, kernel=l1_reg)
    layer(torch.ones(5, 5))
    assert_close(values(lt.losses(layer)), [0.25], rtol=1e-6)


def test_page_example_custom_class() -> None:
    @losskit.register_serializable(package="TorchLayers", name="l2")
    class L2Regularizer(Regularizer):
        def __init__(self, l2: float = 0.0) -> None:
            self.l2 = l2

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return self.l2 * torch.sum(torch.square(x))

        def get_config(self) -> dict[str, float]:
            return {"l2": float(self.l2)}

    layer = dense()
    rule = lt.regularize(layer, kernel=L2Regularizer(l2=0.5))
    layer(torch.ones(5, 5))
    assert_close(values(lt.losses(layer)), [12.5], rtol=1e-6)
    # the attachment's config names the registered class and reads back
    rule.remove()
    again = lt.Regularization.from_config(layer, json.loads(json.dumps(rule.get_config())))
    assert type(again.kernel).__name__ == "L2Regularizer"
    assert_close(values(lt.losses(layer)), [12.5], rtol=1e-6)


# ----------------------------------------------------------------------------- values and gradients


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
        self.norm = nn.LayerNorm(3)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.encoder(x)))


def mlp(seed: int = 0, dtype: torch.dtype = torch.float64) -> MLP:
    torch.manual_seed(seed)
    model = MLP().to(dtype)
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.uniform_(-0.5, 0.5)
    return model


def test_values_and_gradients_against_float64() -> None:
    model = mlp()
    lt.regularize(model, kernel=L2(0.03), bias=L1(0.02))
    lt.regularize(model, activity=L1L2(0.1, 0.2), include=["encoder.0", "head"])
    x = torch.randn(7, 4, dtype=torch.float64)
    model(x)
    hidden = f64(model.encoder[0](x))
    output = f64(model(x))  # the second forward replaces the records
    found = lt.losses(model)
    weights = {name: f64(p) for name, p in model.named_parameters()}
    kernels = ["encoder.0.weight", "encoder.2.weight", "head.weight"]
    biases = ["encoder.0.bias", "encoder.2.bias", "head.bias"]

    def activity(y: np.ndarray) -> float:
        return (0.1 * np.abs(y).sum() + 0.2 * (y**2).sum()) / y.shape[0]

    expected = [
        activity(hidden),
        activity(output),
        0.03 * sum((weights[k] ** 2).sum() for k in kernels),
        0.02 * sum(np.abs(weights[b]).sum() for b in biases),
    ]
    assert_close(values(found), expected, rtol=1e-12)
    total = lt.penalty(model, activity=False)
    total.backward()
    for name, parameter in model.named_parameters():
        grad = np.zeros_like(weights[name])
        if name in kernels:
            grad = 2 * 0.03 * weights[name]
        elif name in biases:
            grad = 0.02 * np.sign(weights[name])
        got = np.zeros_like(grad) if parameter.grad is None else f64(parameter.grad)
        assert_close(got, grad, rtol=1e-12, atol=1e-15)


def test_weight_penalties_follow_the_current_values() -> None:
    layer = dense()
    lt.regularize(layer, kernel=L1(0.01))
    assert_close(values(lt.losses(layer)), [0.25], rtol=1e-6)
    with torch.no_grad():
        layer.weight.mul_(2.0)
    assert_close(values(lt.losses(layer)), [0.5], rtol=1e-6)  # the doc example's 0.5


def test_activity_gradient_reaches_the_input() -> None:
    layer = dense(3, 2, bias=False)
    lt.regularize(layer, activity=L2(0.5))
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]], dtype=torch.float64)
    x.requires_grad_(True)
    layer.double()(x)
    (loss,) = lt.losses(layer, weights=False)
    loss.backward()
    # y = x @ ones(3, 2): y_ij = sum_k x_ik; d/dx 0.5 * sum y^2 / 2 = 0.5 * 2 * y_i. * 2 / 2
    row_sums = f64(x).sum(axis=1, keepdims=True)
    assert_close(f64(x.grad), np.repeat(row_sums * 2 * 0.5 * 2 / 2, 3, axis=1), rtol=1e-12)


# ----------------------------------------------------------------------------- selection


def test_roles_and_norms() -> None:
    model = mlp()
    rule = lt.regularize(model, kernel="l2", bias="l1")
    assert rule.names == {
        "kernel": ["encoder.0.weight", "encoder.2.weight", "head.weight"],
        "bias": ["encoder.0.bias", "encoder.2.bias", "head.bias"],
        "activity": [],
    }
    rule.remove()
    # a norm layer is regularized only when include names its type, or with norms=True
    rule = lt.regularize(model, kernel="l2", include=[nn.LayerNorm])
    assert rule.names["kernel"] == ["norm.weight"]
    rule.remove()
    with pytest.raises(ValueError, match=r"Invalid `include`: expected selectors that leave"):
        lt.regularize(model, kernel="l2", include=["norm.*"])  # a glob does not bring it in
    rule = lt.regularize(model, kernel="l2", bias="l2", include=["norm.*"], norms=True)
    assert rule.names["kernel"] == ["norm.weight"]
    assert rule.names["bias"] == ["norm.bias"]
    rule.remove()
    every = lt.regularize(model, kernel="l2", norms=True).names["kernel"]
    assert every == ["encoder.0.weight", "encoder.2.weight", "norm.weight", "head.weight"]


def test_patterns_and_types() -> None:
    model = mlp()
    rule = lt.regularize(model, kernel="l2", bias="l2", include=["encoder.*.weight"])
    assert rule.names["kernel"] == ["encoder.0.weight", "encoder.2.weight"]
    assert rule.names["bias"] == []
    rule.remove()
    rule = lt.regularize(model, kernel="l2", bias="l2", exclude=["*.bias", "encoder.2"])
    assert rule.names["kernel"] == ["encoder.0.weight", "head.weight"]
    assert rule.names["bias"] == []
    rule.remove()
    # "*.bias" also selects the bias of a bare layer (no prefix)
    layer = nn.Linear(2, 2)
    assert lt.regularize(layer, kernel="l2", bias="l2", exclude="*.bias").names["bias"] == []
    rule = lt.regularize(model, kernel="l2", activity="l2", include=nn.Linear, exclude=["head"])
    assert rule.names["activity"] == ["encoder.0", "encoder.2"]
    assert rule.names["kernel"] == ["encoder.0.weight", "encoder.2.weight"]


def test_recurrent_and_attention_names() -> None:
    model = nn.ModuleDict({"rnn": nn.LSTM(3, 4), "attention": nn.MultiheadAttention(4, 2)})
    rule = lt.regularize(model, kernel="l2", bias="l1")
    assert sorted(rule.names["kernel"]) == [
        "attention.in_proj_weight",
        "attention.out_proj.weight",
        "rnn.weight_hh_l0",
        "rnn.weight_ih_l0",
    ]
    assert sorted(rule.names["bias"]) == [
        "attention.in_proj_bias",
        "attention.out_proj.bias",
        "rnn.bias_hh_l0",
        "rnn.bias_ih_l0",
    ]


def test_frozen_parameters_are_not_regularized() -> None:
    # Keras 3's rule (tf_keras regularizes non-trainable weights too): see the docs
    layer = dense()
    lt.regularize(layer, kernel=L1(0.01), bias=L2(1.0))
    with torch.no_grad():
        layer.bias.fill_(1.0)
    assert_close(values(lt.losses(layer)), [0.25, 5.0], rtol=1e-6)
    layer.weight.requires_grad_(False)
    assert_close(values(lt.losses(layer)), [5.0], rtol=1e-6)
    layer.requires_grad_(False)
    assert lt.losses(layer) == []
    layer.requires_grad_(True)  # unfreezing brings the penalties back
    assert len(lt.losses(layer)) == 2


def test_tied_parameters_are_penalized_once() -> None:
    embedding = nn.Embedding(4, 3)
    head = nn.Linear(3, 4, bias=False)
    head.weight = embedding.weight
    model = nn.ModuleList([embedding, head])
    lt.regularize(model, kernel=L2(1.0))
    (loss,) = lt.losses(model)
    assert_close(float(loss.detach()), (f64(embedding.weight) ** 2).sum(), rtol=1e-6)


# ------------------------------------------------------------------- Keras's clearing rules


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = dense(3, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.inner(x))


def test_a_submodule_called_twice_contributes_twice() -> None:
    model = Twice()
    lt.regularize(model, activity=L1(1.0), include=["inner"])
    model(torch.ones(2, 3))
    # first call: each output 3, sum 18 / 2 = 9; second: 9 each, 54 / 2 = 27
    assert_close(values(lt.losses(model)), [9.0, 27.0], rtol=1e-6)
    model(torch.ones(2, 3))  # the next outermost forward replaces, not adds
    assert_close(values(lt.losses(model)), [9.0, 27.0], rtol=1e-6)
    model.inner(torch.ones(4, 3))  # called on its own: its own outermost forward
    assert_close(values(lt.losses(model)), [9.0], rtol=1e-6)


def test_batch_size_is_the_outputs_first_dimension() -> None:
    layer = dense(3, 2, bias=False)
    lt.regularize(layer, activity=L1(1.0))
    layer(torch.ones(2, 5, 3))  # sum |y| = 2 * 5 * 2 * 3 = 60, / 2
    assert_close(values(lt.losses(layer)), [30.0], rtol=1e-6)
    layer(torch.ones(0, 3))  # an empty batch adds 0, not NaN (divide_no_nan)
    assert values(lt.losses(layer)) == [0.0]


class Pair(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return x, 2 * x, x.sum()


def test_one_loss_per_output_tensor() -> None:
    module = Pair()
    lt.regularize(module, activity=L1(1.0))
    module(torch.ones(2, 3))
    # [x, 2x] as on the reference page; a 0-d output is not divided (Keras 3)
    assert_close(values(lt.losses(module)), [3.0, 6.0, 6.0], rtol=1e-6)


class Failing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = dense(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 3:
            raise RuntimeError("boom")
        return self.inner(x)


def test_an_exception_in_forward_does_not_stop_clearing() -> None:
    model = Failing()
    lt.regularize(model, activity=L1(1.0), include=["inner"])
    with pytest.raises(RuntimeError, match="boom"):
        model(torch.ones(3, 2))
    model(torch.ones(1, 2))
    model(torch.ones(1, 2))
    assert_close(values(lt.losses(model)), [4.0], rtol=1e-6)


# ------------------------------------------------------------------ attaching and detaching


def test_the_module_stays_the_same() -> None:
    model = mlp()
    x = torch.randn(3, 4, dtype=torch.float64)
    before, keys = model(x), list(model.state_dict())
    rule = lt.regularize(model, kernel="l2", activity="l1")
    assert type(model) is MLP
    assert list(model.state_dict()) == keys
    assert torch.equal(model(x), before)
    rule.remove()
    for module in model.modules():
        assert not module._forward_hooks
        assert not module._forward_pre_hooks
        assert "_losskit_regularization" not in module.__dict__
    assert lt.losses(model) == []


def test_attaching_twice_replaces_and_removing_restores() -> None:
    layer = dense()
    first = lt.regularize(layer, kernel=L1(0.01), activity=L2(0.01))
    second = lt.regularize(layer, kernel=L2(1.0))
    layer(torch.ones(5, 5) * 2.0)
    assert_close(values(lt.losses(layer)), [5.0, 25.0], rtol=1e-6)  # one kernel penalty
    assert lt.Regularization.attached(layer) == [first, second]
    second.remove()
    second.remove()  # twice: nothing more happens
    assert_close(values(lt.losses(layer)), [5.0, 0.25], rtol=1e-6)
    first.remove()
    assert lt.Regularization.attached(layer) == []


def test_deepcopy_and_pickle_carry_the_attachment() -> None:
    model = mlp()
    rule = lt.regularize(model, kernel=L2(0.5), activity=L1(0.1))
    x = torch.randn(3, 4, dtype=torch.float64)
    model(x)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert lt.losses(twin, weights=False) == []  # records are not copied
        twin(x)
        assert_close(values(lt.losses(twin)), values(lt.losses(model)), rtol=1e-12)
        (copied,) = lt.Regularization.attached(twin)
        assert copied is not rule
        assert copied.module is twin
        copied.remove()
        assert lt.losses(twin) == []
    assert len(lt.losses(model)) == 2  # the original keeps its attachment


# ----------------------------------------------------------------------------- config


def test_config_round_trip() -> None:
    model = mlp()
    rule = lt.regularize(
        model,
        kernel=L2(0.3),
        bias=L1L2(0.1, 0.2),
        activity="l1",
        include=["encoder.*", nn.LayerNorm],
        exclude="*.2.*",
    )
    config = rule.get_config()
    assert config == {
        "kernel": {
            "module": "keras.regularizers",
            "class_name": "L2",
            "config": {"l2": 0.3},
            "registered_name": None,
        },
        "bias": {
            "module": "keras.regularizers",
            "class_name": "L1L2",
            "config": {"l1": 0.1, "l2": 0.2},
            "registered_name": None,
        },
        "activity": {
            "module": "keras.regularizers",
            "class_name": "L1",
            "config": {"l1": 0.01},
            "registered_name": None,
        },
        "include": ["encoder.*", {"type": "torch.nn.modules.normalization.LayerNorm"}],
        "exclude": ["*.2.*"],
        "norms": False,
    }
    names = rule.names
    rule.remove()
    again = lt.Regularization.from_config(model, json.dumps(config))
    assert again.names == names
    assert again.get_config() == config


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        ([1], TypeError, r"Invalid `config`: expected a dict with keys among"),
        ({"kernel": "l2", "layers": []}, TypeError, r"Invalid `config`: expected a dict"),
        ("{not json", ValueError, r"Invalid `config`: expected JSON text"),
        ({"kernel": 3}, TypeError, r"Invalid `kernel`: expected a regularizer config"),
        ({"kernel": "l2", "include": "x"}, TypeError, r"Invalid `include`: expected a list"),
        ({"kernel": "l2", "exclude": [{"type": 1}]}, TypeError, r"Invalid `exclude`: expected"),
        ({"kernel": {"class_name": "Nope", "config": {}}}, ValueError, r"Nope"),
        ({"kernel": "l2", "norms": "yes"}, TypeError, r"Invalid `norms`: expected True or False"),
    ],
)
def test_config_errors(config, error, match) -> None:
    with pytest.raises(error, match=match):
        lt.Regularization.from_config(nn.Linear(2, 2), config)


# ----------------------------------------------------------------------------- errors


def test_argument_errors() -> None:
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"Invalid `module`: expected a torch.nn.Module, received"):
        lt.regularize("model", kernel="l2")
    with pytest.raises(TypeError, match=r"Invalid `module`: expected a torch.nn.Module"):
        lt.losses(object())
    with pytest.raises(TypeError, match=r"Invalid `module`: expected a torch.nn.Module"):
        lt.Regularization.from_config(None, {})
    with pytest.raises(TypeError, match=r"Invalid `module`: expected a torch.nn.Module"):
        lt.Regularization.attached([layer])
    with pytest.raises(TypeError, match=r"Invalid `module`: expected a torch.nn.Module"):
        lt.param_groups(3)
    with pytest.raises(ValueError, match=r"Invalid `kernel, bias, activity`: expected at least"):
        lt.regularize(layer)
    with pytest.raises(
        ValueError, match=r"Invalid `kernel`: expected a regularizer, a regularizer"
    ):
        lt.regularize(layer, kernel="l3")
    with pytest.raises(ValueError, match=r"Invalid `activity`: expected a regularizer"):
        lt.regularize(layer, activity=5)
    with pytest.raises(TypeError, match=r"Invalid `include`: expected pattern strings or module"):
        lt.regularize(layer, kernel="l2", include=["*.weight", 3])
    with pytest.raises(TypeError, match=r"Invalid `exclude`: expected a pattern string, a module"):
        lt.regularize(layer, kernel="l2", exclude=3)
    with pytest.raises(ValueError, match=r"Invalid `include`: expected non-empty pattern"):
        lt.regularize(layer, kernel="l2", include=[""])
    with pytest.raises(ValueError, match=r"Invalid `include`: expected selectors that leave"):
        lt.regularize(layer, kernel="l2", include=["encoder.*"])
    with pytest.raises(ValueError, match=r"Invalid `exclude`: expected selectors that leave"):
        lt.regularize(layer, kernel="l2", exclude=[nn.Linear])
    with pytest.raises(ValueError, match=r"Invalid `module`: expected a module with weight or"):
        lt.regularize(nn.ReLU(), kernel="l2")
    assert lt.Regularization.attached(layer) == []  # a failed call attaches nothing
    assert not layer._forward_hooks


# ----------------------------------------------------------------------------- optimizer groups


def test_param_groups_for_decoupled_decay() -> None:
    model = mlp(dtype=torch.float32)
    lt.regularize(model, kernel=L2(0.05))
    groups = lt.param_groups(model)
    assert [group["weight_decay"] for group in groups] == [0.1, 0.0]
    decayed = {id(p) for p in groups[0]["params"]}
    assert decayed == {
        id(model.encoder[0].weight),
        id(model.encoder[2].weight),
        id(model.head.weight),
    }
    assert len(groups[1]["params"]) == len(list(model.parameters())) - 3
    assert [g["weight_decay"] for g in lt.param_groups(model, weight_decay=0.3)] == [0.3, 0.0]
    # AdamW's decoupled decay on the kernels only: with zero gradients only decay moves them
    optimizer = torch.optim.AdamW(lt.param_groups(model, weight_decay=0.5), lr=0.1)
    before = {name: f64(p) for name, p in model.named_parameters()}
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    for name, parameter in model.named_parameters():
        factor = 1 - 0.1 * 0.5 if name.endswith("weight") and "norm" not in name else 1.0
        assert_close(f64(parameter), before[name] * factor, rtol=1e-6)


def test_param_groups_errors() -> None:
    model = mlp()
    lt.regularize(model, kernel=L1(0.05))
    with pytest.raises(ValueError, match=r"Invalid `weight_decay`: expected a number when"):
        lt.param_groups(model)
    with pytest.raises(ValueError, match=r"Invalid `weight_decay`: expected a finite number >= 0"):
        lt.param_groups(model, weight_decay=-1.0)
    assert lt.param_groups(model, weight_decay=0.1)[0]["weight_decay"] == 0.1


# ----------------------------------------------------------------------------- compile, autocast


def _step(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    for parameter in model.parameters():
        parameter.grad = None
    loss = model(x).square().mean() + lt.penalty(model)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def test_torch_compile_matches_eager() -> None:
    model = mlp(dtype=torch.float32)
    lt.regularize(
        model, kernel=L2(0.01), bias=L1(0.01), activity=L1L2(0.01, 0.02), include=nn.Linear
    )
    x = torch.randn(5, 4)
    eager_loss, eager_grads = _step(model, x)
    compiled = torch.compile(model, fullgraph=True)
    for _ in range(2):  # the second call runs the cached graph
        loss, grads = _step(compiled, x)
        assert len(lt.losses(compiled)) == 5  # 3 activity records, 2 weight groups
        assert_close(loss, eager_loss, rtol=1e-6)
        for got, expected in zip(grads, eager_grads, strict=True):
            assert_close(got, expected, rtol=1e-5, atol=1e-7)


def test_cpu_bfloat16_autocast() -> None:
    model = mlp(dtype=torch.float32)
    lt.regularize(model, kernel=L2(0.01), activity=L2(0.01), include=["head"])
    x = torch.randn(6, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(x)
        found = lt.losses(model)
    assert output.dtype == torch.bfloat16
    activity, kernel = found
    assert activity.dtype == torch.bfloat16  # Keras: the activity loss has the output's dtype
    assert kernel.dtype == torch.float32  # and the weight penalty the variable's
    y = f64(output)
    assert_close(float(activity.detach().float()), 0.01 * (y**2).sum() / 6, rtol=8e-3)
    # include=["head"] selects the head's output and its own weight
    assert_close(float(kernel.detach()), 0.01 * (f64(model.head.weight) ** 2).sum(), rtol=1e-6)


def test_torch_compile_of_the_whole_step() -> None:
    # forward, losskit.torch.penalty and the loss in one fullgraph-compiled function
    model = mlp(dtype=torch.float32)
    activity = L1L2(0.01, 0.02)
    lt.regularize(model, kernel=L2(0.01), bias=L1(0.01), activity=activity, include=nn.Linear)
    x = torch.randn(5, 4)

    def loss_fn(inputs: torch.Tensor) -> torch.Tensor:
        return model(inputs).square().mean() + lt.penalty(model)

    eager_loss, eager_grads = _step(model, x)
    compiled = torch.compile(loss_fn, fullgraph=True)
    for _ in range(2):
        for parameter in model.parameters():
            parameter.grad = None
        loss = compiled(x)
        loss.backward()
        assert_close(loss.detach(), eager_loss, rtol=1e-6)
        for parameter, expected in zip(model.parameters(), eager_grads, strict=True):
            assert_close(parameter.grad, expected, rtol=1e-5, atol=1e-7)
