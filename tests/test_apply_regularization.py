"""apply_regularization: one penalty over many arrays, fused, against float64 NumPy."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from losskit.regularizers import (
    L1,
    L1L2,
    L2,
    OrthogonalRegularizer,
    apply_regularization,
)
from tests._helpers import Backend, assert_close

SHAPES = {"embedding": (70000,), "kernel": (33, 17), "bias": (17,), "zeros": (4, 3), "scalar": ()}
"""70000 > one 64K block: the blocked paths take a head and a tail."""


def parameters(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {name: rng.normal(size=shape) * 0.1 for name, shape in SHAPES.items()}
    values["zeros"] = np.zeros(SHAPES["zeros"])
    return values


def oracle(params: dict[str, np.ndarray], l1: float, l2: float) -> float:
    return sum(l1 * np.abs(v).sum() + l2 * (v**2).sum() for v in params.values())


@pytest.mark.parametrize(
    ("regularizer", "l1", "l2"),
    [(L2(0.01), 0.0, 0.01), (L1(0.03), 0.03, 0.0), (L1L2(0.02, 0.05), 0.02, 0.05)],
    ids=["L2", "L1", "L1L2"],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_float64(xp: Backend, regularizer, l1, l2, dtype) -> None:
    params = parameters()
    arrays = {name: xp.asarray(value, dtype) for name, value in params.items()}
    got = xp.run(apply_regularization, regularizer, arrays)
    assert xp.dtype_name(got) == dtype
    rounded = {name: xp.numpy(array).astype(np.float64) for name, array in arrays.items()}
    assert_close(xp.numpy(got), oracle(rounded, l1, l2), rtol=2e-6 if dtype == "float32" else 1e-12)


def test_lists_tuples_and_a_single_array(xp: Backend) -> None:
    params = parameters()
    leaves = [xp.asarray(value) for value in params.values()]
    expected = oracle(params, 0.0, 0.5)
    assert_close(xp.numpy(apply_regularization(L2(0.5), leaves)), expected, rtol=1e-12)
    assert_close(
        xp.numpy(apply_regularization("l2", (leaves[0], [leaves[1:]]))),
        oracle(params, 0.0, 0.01),
        rtol=1e-12,
    )
    single = apply_regularization(L2(0.5), leaves[1])
    assert_close(xp.numpy(single), 0.5 * (params["kernel"] ** 2).sum(), rtol=1e-12)


def test_a_mapping_of_regularizers(xp: Backend) -> None:
    params = {
        "dense": {"kernel": np.ones((5, 5)), "bias": np.ones(5)},
        "head": {"kernel": np.full((5, 2), 2.0), "bias": np.ones(2)},
        "norm": {"scale": np.ones(5)},
    }
    arrays = {k: {n: xp.asarray(v) for n, v in group.items()} for k, group in params.items()}
    spec = {
        "dense": {"kernel": L1(0.01), "bias": None},
        "head": "l2",  # a whole sub-tree
        "norm": None,
    }
    got = apply_regularization(spec, arrays)
    # 0.01 * 25 + 0.01 * (40 + 2)
    assert_close(xp.numpy(got), 0.25 + 0.42, rtol=1e-12)


def test_other_regularizers_and_functions_mix_in(xp: Backend) -> None:
    params = {"w": xp.asarray(np.eye(3) + 0.5), "v": xp.asarray([3.0, -4.0])}
    orthogonal = OrthogonalRegularizer(1.0)

    def custom(x):
        return 2.0 * xp.sum(x)

    got = apply_regularization({"w": orthogonal, "v": custom}, params)
    expected = float(xp.numpy(orthogonal(params["w"]))) + 2.0 * (3.0 - 4.0)
    assert_close(xp.numpy(got), expected, rtol=1e-12)


def test_mixed_dtypes_promote(xp: Backend) -> None:
    arrays = [xp.asarray([1.0, 2.0], "float32"), xp.asarray([3.0], "float64")]
    got = apply_regularization(L2(1.0), arrays)
    assert xp.dtype_name(got) == "float64"
    assert_close(xp.numpy(got), 14.0)


def test_low_precision_totals_are_float32(xp: Backend) -> None:
    if not xp.supports("float16"):
        pytest.skip("no float16")
    arrays = [xp.asarray(np.full((1024,), 300.0), "float16")] * 2
    got = apply_regularization(L2(1e-3), arrays)  # 184320: beyond float16's 65504
    assert xp.dtype_name(got) == "float32"
    assert_close(xp.numpy(got), 2 * 1e-3 * 300.0**2 * 1024, rtol=1e-6)


def test_nothing_regularized_is_zero(xp: Backend) -> None:
    assert apply_regularization({"a": None}, {"a": xp.asarray([1.0])}) == 0.0
    assert apply_regularization(L2(), []) == 0.0


@pytest.mark.parametrize("regularizer", [L2(0.1), L1(0.1), L1L2(0.1, 0.2)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_empty_arrays_add_nothing(xp: Backend, regularizer, dtype) -> None:
    """An empty parameter adds 0 (NumPy's answer), alone or beside others, with a gradient."""
    empty = xp.asarray(np.zeros(0), dtype)
    assert_close(xp.numpy(apply_regularization({"w": regularizer}, {"w": empty})), 0.0)
    l1, l2 = getattr(regularizer, "l1", 0.0), getattr(regularizer, "l2", 0.0)
    both = [empty, xp.asarray([1.0, -2.0], dtype)]
    assert_close(xp.numpy(apply_regularization(regularizer, both)), l1 * 3 + l2 * 5, rtol=1e-6)
    if xp.has_autograd:
        grads = xp.grad(lambda e, w: apply_regularization(regularizer, [e, w]), *both)
        assert grads[0].shape == (0,)
        expected = l1 * np.array([1.0, -1.0]) + 2 * l2 * np.array([1.0, -2.0])
        assert_close(grads[1], expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("regularizer", "gradient"),
    [
        (L2(0.3), lambda x: 0.6 * x),
        (L1(0.2), lambda x: 0.2 * np.sign(x)),
        (L1L2(0.2, 0.3), lambda x: 0.2 * np.sign(x) + 0.6 * x),
    ],
    ids=["L2", "L1", "L1L2"],
)
def test_gradients_are_closed_form(xp: Backend, regularizer, gradient) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    params = parameters(1)
    names = list(params)

    def total(*arrays):
        return apply_regularization(regularizer, dict(zip(names, arrays, strict=True)))

    grads = xp.grad(total, *(xp.asarray(params[name]) for name in names))
    for name, grad in zip(names, grads, strict=True):
        assert np.all(np.isfinite(grad)), name  # zeros: no NaN from a norm's 1/|x|
        assert_close(grad, gradient(params[name]), rtol=1e-12, atol=1e-15)


def test_jax_pytrees() -> None:
    import jax
    import jax.numpy as jnp

    @jax.tree_util.register_pytree_node_class
    class Linear:
        def __init__(self, kernel, bias):
            self.kernel, self.bias = kernel, bias

        def tree_flatten(self):
            return (self.kernel, self.bias), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    model = {"layer": Linear(jnp.ones((3, 2)), jnp.full((2,), 2.0))}
    assert_close(apply_regularization(L2(0.5), model), 0.5 * (6 + 8))
    grad = jax.grad(lambda m: apply_regularization(L2(0.5), m))(model)
    assert_close(grad["layer"].kernel, np.ones((3, 2)))
    jitted = jax.jit(lambda m: apply_regularization(L1(1.0), m))
    assert_close(jitted(model), 6 + 4)


def test_namedtuples_are_tuples() -> None:
    Params = collections.namedtuple("Params", ["w", "b"])
    assert_close(apply_regularization(L1(1.0), Params(np.ones(3), -np.ones(2))), 5.0)


def test_torch_compile_fullgraph() -> None:
    import torch

    weights = [torch.randn(1000, requires_grad=True), torch.randn(7, 3, requires_grad=True)]
    compiled = torch.compile(lambda ws: apply_regularization(L1L2(0.1, 0.2), ws), fullgraph=True)
    got = compiled(weights)
    got.backward()
    expected = sum(0.1 * w.detach().abs().sum() + 0.2 * (w.detach() ** 2).sum() for w in weights)
    assert_close(got.detach().numpy(), expected.numpy(), rtol=1e-5)
    assert_close(
        weights[1].grad.numpy(),
        (0.1 * weights[1].detach().sign() + 0.4 * weights[1].detach()).numpy(),
        rtol=1e-6,
    )


def test_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"Invalid `regularizer`: the mapping goes deeper than `weights` at "
        r"weights\['a'\]",
    ):
        apply_regularization({"a": {"b": L2()}}, {"a": np.ones(2)})
    with pytest.raises(
        TypeError,
        match=r"Invalid `weights`: expected an array or a dict, list or tuple of arrays, "
        r"received 'x' at weights\['a'\]",
    ):
        apply_regularization(L2(), {"a": "x"})
    with pytest.raises(ValueError, match=r"Could not interpret regularizer identifier: 'nope'"):
        apply_regularization("nope", [np.ones(2)])
    import jax.numpy as jnp
    import torch

    with pytest.raises(TypeError, match=r"from the same library"):
        apply_regularization(L2(), [torch.ones(2), jnp.ones(2)])
    with pytest.raises(TypeError, match=r"Invalid `weights`: expected an array of real floating"):
        apply_regularization(L2(), [np.array([True])])


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16", "bfloat16"])
def test_integer_and_low_precision_parameters(xp: Backend, dtype) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    # 70000 entries of 4: sum x**2 = 1.12e6, beyond float16; integers reduce in float
    arrays = [xp.asarray(np.full((70000,), 4.0), dtype), xp.asarray(np.full((3, 2), 2.0), dtype)]
    got = apply_regularization(L1L2(0.5, 0.25), arrays)
    expected = 0.5 * (70000 * 4 + 6 * 2) + 0.25 * (70000 * 16 + 6 * 4)
    assert_close(xp.numpy(got), expected, rtol=1e-6)


def test_many_small_tensors_of_every_rank(xp: Backend) -> None:
    # biases, norm scales, small kernels: concatenated into one kernel call
    rng = np.random.default_rng(4)
    shapes = [(3,), (2, 5), (4, 1, 3), (), (7,), (1, 1), (0,)] * 20
    params = [rng.normal(size=shape) for shape in shapes]
    got = apply_regularization(L1L2(0.1, 0.3), [xp.asarray(p) for p in params])
    expected = sum(0.1 * np.abs(p).sum() + 0.3 * (p**2).sum() for p in params)
    assert_close(xp.numpy(got), expected, rtol=1e-12)


def test_constant_parameters_stay_accurate(xp: Backend) -> None:
    # constant values are the worst case for SIMD-lane accumulation in long float32 rows
    arrays = [
        xp.asarray(np.full((2048, 2048), 0.0123), "float32"),
        xp.asarray(np.full((70001,), 3.3), "float32"),
    ]
    got = apply_regularization(L1L2(1.0, 1.0), arrays)
    values = [
        np.full((2048, 2048), np.float32(0.0123), np.float64),
        np.full((70001,), np.float32(3.3), np.float64),
    ]
    expected = sum(np.abs(v).sum() + (v**2).sum() for v in values)
    assert_close(xp.numpy(got), expected, rtol=1e-5)


def test_torch_without_gradients_and_under_no_grad() -> None:
    import torch

    weights = [torch.full((100000,), 0.5), torch.ones(3, 3, requires_grad=True)]
    plain = apply_regularization(L2(1.0), weights[:1])
    assert plain.grad_fn is None
    assert_close(plain.numpy(), 25000.0)
    with torch.no_grad():
        assert apply_regularization(L2(1.0), weights).grad_fn is None
    assert apply_regularization(L2(1.0), weights).grad_fn is not None


def test_torch_compile_fullgraph_on_parameters() -> None:
    """nn.Parameter (not only plain tensors) traces: no `type(x).__module__` reads."""
    import torch

    torch._dynamo.reset()
    layer = torch.nn.Linear(4, 3)
    compiled = torch.compile(lambda ps: apply_regularization(L1L2(0.01, 0.02), ps), fullgraph=True)
    got = compiled(list(layer.parameters()))
    got.backward()
    w = layer.weight.detach().double().numpy()
    b = layer.bias.detach().double().numpy()
    expected = sum(0.01 * np.abs(a).sum() + 0.02 * (a * a).sum() for a in (w, b))
    assert float(got.detach()) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(
        layer.weight.grad.double().numpy(), 0.01 * np.sign(w) + 0.04 * w, rtol=1e-6
    )
    torch._dynamo.reset()
