"""losskit.jax: weight penalties over pytrees by path, activity collectors, optax masks.

Expected values are hand arithmetic written here or float64 NumPy on copies of the leaves.
"""

from __future__ import annotations

import json

import equinox as eqx
import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import losskit.jax as lj
from losskit.regularizers import L1, L1L2, L2
from tests._helpers import assert_close
from tests._page_examples import L2Regularizer, l1_reg


def f64(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float64)


# ----------------------------------------------------------------------------- the page


def dense(kernel, bias, x, regularizer):
    return lj.activity(x @ kernel + bias, regularizer)


def test_page_example() -> None:
    params = {"kernel": jnp.ones((5, 5), jnp.float32), "bias": jnp.zeros(5, jnp.float32)}

    @jax.jit
    def losses(params, x):
        _, activity = lj.Collector.wrap(dense)(params["kernel"], params["bias"], x, L2(0.01))
        return activity, lj.penalty(params, lj.Spec(kernel=L1(0.01)))

    activity, kernel = losses(params, jnp.ones((5, 5), jnp.float32) * 2.0)
    assert_close([float(a) for a in activity], [5.0], rtol=1e-6)
    assert_close(float(kernel), 0.25, rtol=1e-6)
    assert_close(float(activity[0] + kernel), 5.25, rtol=1e-6)


def test_page_custom_regularizers() -> None:
    params = {"dense": {"kernel": jnp.ones((5, 5)), "bias": jnp.zeros(5)}}
    assert_close(float(lj.penalty(params, lj.Spec(kernel=l1_reg))), 0.25, rtol=1e-12)
    assert_close(float(lj.penalty(params, lj.Spec(kernel=L2Regularizer(0.5)))), 12.5, rtol=1e-12)


# ----------------------------------------------------------------------------- selection and values


def test_raw_dict_roles_patterns_and_norms() -> None:
    rng = np.random.default_rng(0)
    tree = {
        "encoder": {"layers": [{"kernel": rng.normal(size=(3, 4)), "bias": rng.normal(size=4)}]},
        "LayerNorm_0": {"scale": rng.normal(size=4), "bias": rng.normal(size=4)},
        "head": {"kernel": rng.normal(size=(4, 2)), "bias": rng.normal(size=2)},
    }
    params = jax.tree_util.tree_map(jnp.asarray, tree)
    enc, head = tree["encoder"]["layers"][0], tree["head"]

    def check(spec, expected) -> None:
        assert_close(float(lj.penalty(params, spec)), expected, rtol=1e-12)
        jitted = jax.jit(lambda tree: lj.penalty(tree, spec))
        assert_close(float(jitted(params)), expected, rtol=1e-12)

    kernels = (enc["kernel"] ** 2).sum() + (head["kernel"] ** 2).sum()
    biases = np.abs(enc["bias"]).sum() + np.abs(head["bias"]).sum()
    check(lj.Spec(kernel=L2(0.1), bias=L1(0.2)), 0.1 * kernels + 0.2 * biases)  # norm left out
    check(lj.Spec(kernel=L2(0.1), exclude="head"), 0.1 * (enc["kernel"] ** 2).sum())
    check(lj.Spec(kernel=L2(0.1), include="encoder.*"), 0.1 * (enc["kernel"] ** 2).sum())
    norm = tree["LayerNorm_0"]
    check(lj.Spec(bias=L1(1.0), include=["LayerNorm_0"]), 0.0)  # a pattern does not admit norms
    check(lj.Spec(bias=L1(1.0), include=["LayerNorm_0"], norms=True), np.abs(norm["bias"]).sum())
    check(lj.Spec(bias=L1(1.0), exclude="*.bias"), 0.0)
    # explicit patterns: first match wins, None excludes
    patterns = {"LayerNorm_0.*": None, "*.kernel": L2(1.0), "*": L1(0.5)}
    check(patterns, kernels + 0.5 * biases)


def test_gradients_under_jit() -> None:
    rng = np.random.default_rng(1)
    tree = {"dense": {"kernel": rng.normal(size=(3, 2)), "bias": np.array([0.5, 0.0])}}
    params = jax.tree_util.tree_map(jnp.asarray, tree)
    spec = lj.Spec(kernel=L1L2(0.1, 0.2), bias=L1(0.3))
    grads = jax.jit(jax.grad(lambda p: lj.penalty(p, spec)))(params)
    kernel = tree["dense"]["kernel"]
    assert_close(grads["dense"]["kernel"], 0.1 * np.sign(kernel) + 0.4 * kernel, rtol=1e-12)
    assert_close(grads["dense"]["bias"], [0.3, 0.0], rtol=1e-12)  # subgradient 0 at 0


def test_flax_linen() -> None:
    model = linen.Sequential([linen.Dense(4), linen.LayerNorm(), linen.Dense(2)])
    variables = model.init(jax.random.key(0), jnp.ones((1, 3)))
    params = variables["params"]
    spec = lj.Spec(kernel=L2(0.01))
    kernels = [f64(params[f"layers_{i}"]["kernel"]) for i in (0, 2)]
    expected = 0.01 * sum((k**2).sum() for k in kernels)
    assert_close(float(lj.penalty(variables, spec)), expected, rtol=1e-6)
    mask = lj.decay_mask(params, spec)
    assert mask["layers_0"] == {"kernel": True, "bias": False}
    assert mask["layers_1"] == {"scale": False, "bias": False}


class NnxModel(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.dense = nnx.Linear(3, 4, rngs=rngs)
        self.norm = nnx.BatchNorm(4, rngs=rngs)
        self.head = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        return self.head(lj.activity(self.norm(self.dense(x)), L1(0.1)))


def test_flax_nnx() -> None:
    model = NnxModel(nnx.Rngs(0))
    spec = lj.Spec(kernel=L2(0.5), bias=L2(0.5))
    weights = [model.dense.kernel, model.dense.bias, model.head.kernel, model.head.bias]
    expected = 0.5 * sum((f64(w[...]) ** 2).sum() for w in weights)
    assert_close(float(lj.penalty(model, spec)), expected, rtol=1e-6)
    state = nnx.state(model, nnx.Param)
    assert_close(float(lj.penalty(state, spec)), expected, rtol=1e-6)
    grads = jax.jit(jax.grad(lambda s: lj.penalty(s, spec)))(state)
    assert_close(grads["dense"]["kernel"][...], f64(model.dense.kernel[...]), rtol=1e-6)
    assert_close(grads["norm"]["scale"][...], 0.0)  # the BatchNorm is left out

    @nnx.jit
    def step(model, x):
        def loss(model):
            with lj.Collector() as collector:
                y = model(x)
            return y.mean() + collector.total() + lj.penalty(model, spec)

        return nnx.value_and_grad(loss)(model)

    value, _ = step(model, jnp.ones((2, 3), jnp.float32))
    assert np.isfinite(float(value))


def test_equinox() -> None:
    model = eqx.nn.MLP(3, 2, 4, 1, key=jax.random.key(0))
    spec = lj.Spec(kernel=L2(0.1), bias=L1(0.2))
    layers = model.layers
    expected = 0.1 * sum((f64(layer.weight) ** 2).sum() for layer in layers) + 0.2 * sum(
        np.abs(f64(layer.bias)).sum() for layer in layers
    )
    assert_close(float(lj.penalty(model, spec)), expected, rtol=1e-6)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: lj.penalty(m, spec)))(model)
    assert_close(grads.layers[1].weight, 0.2 * f64(layers[1].weight), rtol=1e-6)
    mask = lj.decay_mask(model, lj.Spec(kernel="l2", exclude="layers.1"))
    assert mask.layers[0].weight is True
    assert mask.layers[0].bias is False
    assert mask.layers[1].weight is False
    assert mask.activation is False  # a function, not a parameter


def test_optax_mask_decays_only_the_selection() -> None:
    params = {
        "dense": {"kernel": jnp.full((2, 2), 2.0), "bias": jnp.ones(2)},
        "LayerNorm_0": {"scale": jnp.ones(2)},
    }
    mask = lj.decay_mask(params, lj.Spec(kernel=L2(0.01)))
    optimizer = optax.adamw(0.1, weight_decay=0.5, mask=mask)
    state = optimizer.init(params)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, _ = optimizer.update(zeros, state, params)
    new = optax.apply_updates(params, updates)
    assert_close(new["dense"]["kernel"], np.full((2, 2), 2.0 * (1 - 0.1 * 0.5)), rtol=1e-6)
    assert_close(new["dense"]["bias"], np.ones(2), rtol=1e-12)
    assert_close(new["LayerNorm_0"]["scale"], np.ones(2), rtol=1e-12)


# ----------------------------------------------------------------------------- activity


def test_activity_rules() -> None:
    with lj.Collector() as outer:
        lj.activity(jnp.ones((2, 5, 3)), L1(1.0))  # 30 / 2
        with lj.Collector() as inner:
            lj.activity(jnp.ones((4, 3)), L1(1.0))  # the innermost collector: 12 / 4
        lj.activity(jnp.ones((0, 3)), L1(1.0))  # empty batch: 0, not NaN
        lj.activity(jnp.asarray(3.0), L1(1.0))  # 0-d: not divided (Keras 3)
    assert_close([float(v) for v in outer.losses], [15.0, 0.0, 3.0], rtol=1e-12)
    assert_close([float(v) for v in inner.losses], [3.0], rtol=1e-12)
    y = lj.activity(jnp.ones(3), "l2")  # no collector: nothing recorded, x returned
    assert y.shape == (3,)


def test_activity_gradient_under_jit() -> None:
    def loss(kernel, x):
        with lj.Collector() as collector:
            lj.activity(x @ kernel, L2(0.5))
        return collector.total()

    x = jnp.asarray([[1.0, 2.0], [3.0, -1.0]])
    kernel = jnp.asarray([[1.0], [2.0]])
    grad = jax.jit(jax.grad(loss))(kernel, x)
    y = f64(x) @ f64(kernel)  # d/dK 0.5 * sum(y^2) / 2 = 0.5 * x^T y
    assert_close(grad, 0.5 * f64(x).T @ y, rtol=1e-12)


# ----------------------------------------------------------------------------- config and errors


def test_config_round_trip() -> None:
    spec = lj.Spec(kernel=L2(0.3), bias=L1L2(0.1, 0.2), include=["encoder.*"], exclude="*.norm.*")
    config = json.loads(json.dumps(spec.get_config()))
    assert config["include"] == ["encoder.*"]
    assert config["kernel"]["config"] == {"l2": 0.3}
    again = lj.Spec.from_config(json.dumps(config))
    assert again.get_config() == config
    patterns = lj.Spec(patterns={"*.bias": None, "*": L1(0.5)})
    back = lj.Spec.from_config(json.dumps(patterns.get_config()))
    assert back.patterns == {"*.bias": None, "*": L1(0.5)}
    assert back.regularizer_for("a.bias") is None


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"Invalid `kernel, bias, patterns`: expected at least"):
        lj.Spec()
    with pytest.raises(ValueError, match=r"Invalid `kernel`: expected a regularizer, a"):
        lj.Spec(kernel="l3")
    with pytest.raises(TypeError, match=r"Invalid `include`: expected pattern strings"):
        lj.Spec(kernel="l2", include=["a", 1])
    with pytest.raises(TypeError, match=r"Invalid `patterns`: expected a mapping from pattern"):
        lj.Spec(patterns={1: "l2"})
    with pytest.raises(ValueError, match=r"Invalid `patterns`: expected None when `kernel`"):
        lj.Spec(kernel="l2", patterns={"*": "l1"})
    with pytest.raises(TypeError, match=r"Invalid `spec`: expected a losskit.jax.Spec"):
        lj.penalty({}, "l2")
    with pytest.raises(ValueError, match=r"Invalid `regularizer`: expected a regularizer"):
        lj.activity(jnp.ones(2), None)
    with pytest.raises(TypeError, match=r"Invalid `config`: expected a dict with keys among"):
        lj.Spec.from_config({"layers": []})
    with pytest.raises(ValueError, match=r"Invalid `config`: expected JSON text"):
        lj.Spec.from_config("{")
    with pytest.raises(TypeError, match=r"Invalid `patterns`: expected a list of \[pattern"):
        lj.Spec.from_config({"patterns": {"*": "l1"}})
    with pytest.raises(TypeError, match=r"Invalid `kernel`: expected a regularizer config"):
        lj.Spec.from_config({"kernel": 3})
    with pytest.raises(TypeError, match=r"Invalid `norms`: expected True or False"):
        lj.Spec(kernel="l2", norms=1)


def test_nnx_optimizer_with_the_mask() -> None:
    model = NnxModel(nnx.Rngs(0))
    mask = lj.decay_mask(model, lj.Spec(kernel=L2(0.01)))
    optimizer = nnx.Optimizer(model, optax.adamw(0.1, weight_decay=0.5, mask=mask), wrt=nnx.Param)
    kernel, bias, scale = (
        f64(v[...]) for v in (model.dense.kernel, model.dense.bias, model.norm.scale)
    )
    optimizer.update(model, jax.tree_util.tree_map(jnp.zeros_like, nnx.state(model, nnx.Param)))
    assert_close(model.dense.kernel[...], kernel * (1 - 0.1 * 0.5), rtol=1e-6)
    assert_close(model.dense.bias[...], bias, rtol=1e-12)
    assert_close(model.norm.scale[...], scale, rtol=1e-12)
