"""Regularizers on every backend: the page's examples, dtypes, gradients, validation."""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import losskit
from losskit.regularizers import (
    L1,
    L1L2,
    L2,
    OrthogonalRegularizer,
    Regularizer,
    l1,
    l1_l2,
    l2,
    orthogonal_regularizer,
)
from tests._helpers import TOLERANCE, Backend, assert_close

A = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])


def orthogonal_oracle(x: np.ndarray, factor: float, mode: str) -> float:
    """Mean absolute cosine over unordered pairs of rows (or columns), in float64."""
    vectors = np.asarray(x, np.float64)
    if mode == "columns":
        vectors = vectors.T
    n = vectors.shape[0]
    if n < 2:
        return 0.0
    norms = np.linalg.norm(vectors, axis=1)
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            if norms[i] > 0 and norms[j] > 0:
                total += abs(vectors[i] @ vectors[j]) / (norms[i] * norms[j])
    return factor * total / (n * (n - 1) / 2)


# ------------------------------------------------------------------ the page's examples


def test_directly_calling_a_regularizer(xp: Backend) -> None:
    # regularizer = L2(2.); regularizer(ones((5, 5))) == 50.0
    got = xp.run(L2(2.0), xp.asarray(np.ones((5, 5)), "float32"))
    assert xp.dtype_name(got) == "float32"
    assert_close(xp.numpy(got), 50.0)


def test_available_penalties(xp: Backend) -> None:
    x = xp.asarray(np.ones((5, 5)) * 2.0)
    assert_close(xp.numpy(xp.run(L1(0.3), x)), 0.3 * 50)
    assert_close(xp.numpy(xp.run(L2(0.1), x)), 0.1 * 100)
    assert_close(xp.numpy(xp.run(L1L2(l1=0.01, l2=0.01), x)), 1.5)


def test_custom_function_regularizer(xp: Backend) -> None:
    @losskit.register_serializable(package="Custom", name="l1")
    def l1_reg(weight_matrix):
        namespace = array_api_compat.array_namespace(weight_matrix)
        return 0.01 * namespace.sum(namespace.abs(weight_matrix))

    assert losskit.regularizers.get("Custom>l1") is l1_reg
    assert_close(xp.numpy(l1_reg(xp.asarray(np.ones((5, 5))))), 0.25)


def test_custom_class_regularizer(xp: Backend) -> None:
    @losskit.register_serializable(package="Custom", name="l2")
    class L2Regularizer(Regularizer):
        def __init__(self, l2=0.0):
            self.l2 = l2

        def __call__(self, x):
            return self.l2 * xp.sum(xp.square(x))

        def get_config(self):
            return {"l2": float(self.l2)}

    regularizer = losskit.regularizers.deserialize(
        losskit.regularizers.serialize(L2Regularizer(l2=0.5))
    )
    assert isinstance(regularizer, L2Regularizer)
    assert_close(xp.numpy(regularizer(xp.asarray(np.ones((5, 5))))), 12.5)


# ------------------------------------------------------------------ formulas and dtypes


@pytest.mark.parametrize(
    ("regularizer", "oracle"),
    [
        (L1(0.3), lambda x: 0.3 * np.abs(x).sum()),
        (L2(0.1), lambda x: 0.1 * (x**2).sum()),
        (L1L2(0.2, 0.05), lambda x: 0.2 * np.abs(x).sum() + 0.05 * (x**2).sum()),
        (L1L2(0.0, 0.05), lambda x: 0.05 * (x**2).sum()),
        (L1L2(0.2, 0.0), lambda x: 0.2 * np.abs(x).sum()),
    ],
    ids=["L1", "L2", "L1L2", "L1L2-l2-only", "L1L2-l1-only"],
)
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4), (2, 3, 4)])
def test_penalties_match_float64(xp: Backend, regularizer, oracle, shape) -> None:
    x = np.random.default_rng(5).normal(size=shape)
    got = xp.run(regularizer, xp.asarray(x))
    assert tuple(got.shape) == ()
    assert xp.dtype_name(got) == "float64"
    assert_close(xp.numpy(got), oracle(x), rtol=1e-12)


def test_float64_factor_is_not_rounded(xp: Backend) -> None:
    # Keras: L2(0.1)(f64[1, 2]) == 0.5000000074505806 (factor rounded to float32)
    assert_close(xp.numpy(xp.run(L2(0.1), xp.asarray([1.0, 2.0]))), 0.5, rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("regularizer", [L1(0.01), L2(0.001), L1L2(0.01, 0.001)], ids=repr)
def test_low_precision_accumulates_in_float32(xp: Backend, dtype, regularizer) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    # 512 entries of 300: 300**2 * 512 = 46e6 overflows float16 (Keras: inf); the penalty fits
    x = xp.asarray(np.full((512,), 300.0), dtype)
    got = xp.run(regularizer, x)
    assert xp.dtype_name(got) == dtype
    expected = {"L1": 0.01 * 300 * 512, "L2": 0.001 * 300**2 * 512}
    name = repr(regularizer).split("(")[0]
    value = expected.get(name, expected["L1"] + 0.001 * 300**2 * 512)
    assert_close(xp.numpy(got), value, rtol=TOLERANCE[dtype])


@pytest.mark.parametrize(("dtype", "float_dtype"), [("int32", "float64"), ("int8", "float32")])
def test_integer_inputs_give_floats(xp: Backend, dtype, float_dtype) -> None:
    got = xp.run(L2(0.1), xp.asarray([1, 2], dtype))  # Keras 3: 0 (factor cast to int)
    assert xp.dtype_name(got) == float_dtype
    assert_close(xp.numpy(got), 0.5, rtol=1e-7)


def test_zero_factors(xp: Backend) -> None:
    x = xp.asarray([np.inf, 1.0])
    assert_close(xp.numpy(xp.run(L1L2(0.0, 0.0), x)), 0.0)  # L1L2 skips zero terms
    assert np.isnan(xp.numpy(xp.run(L2(0.0), x)))  # L2 multiplies: 0 * inf


@pytest.mark.parametrize("regularizer", [L1(0.3), L2(0.2), L1L2(0.3, 0.2)], ids=repr)
def test_gradients(xp: Backend, regularizer) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    x = np.array([[1.5, -2.0, 0.0], [0.25, -0.5, 0.0]])  # zeros: subgradient 0, on JAX too
    (grad,) = xp.grad(regularizer, xp.asarray(x))
    config = regularizer.get_config()
    expected = config.get("l1", 0.0) * np.sign(x) + 2 * config.get("l2", 0.0) * x
    assert_close(grad, expected)


# ------------------------------------------------------------------ orthogonal


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize(
    "matrix",
    [
        A,
        np.eye(3),
        np.ones((3, 3)),
        np.array([[1.0, 2.0], [0.0, 0.0], [-3.0, 1.0]]),
        np.random.default_rng(2).normal(size=(5, 4)),
        np.ones((1, 3)),
        np.ones((3, 1)),
        np.zeros((0, 3)),
    ],
    ids=["A", "eye", "ones", "zero-row", "random", "one-row", "one-column", "empty"],
)
def test_orthogonal_matches_float64(xp: Backend, matrix, mode) -> None:
    got = xp.run(OrthogonalRegularizer(0.7, mode=mode), xp.asarray(matrix))
    assert_close(xp.numpy(got), orthogonal_oracle(matrix, 0.7, mode), rtol=1e-12, atol=1e-15)


def test_orthogonal_keras_examples(xp: Backend) -> None:
    # docs/tf-semantics.md 4.4: rows 0.4714045226573944, columns 0.3162277638912201 (float32)
    a = xp.asarray(A, "float32")
    assert_close(xp.numpy(xp.run(OrthogonalRegularizer(1.0), a)), 0.4714045226573944, rtol=1e-6)
    columns = OrthogonalRegularizer(1.0, mode="columns")
    assert_close(xp.numpy(xp.run(columns, a)), 0.3162277638912201, rtol=1e-6)


def test_orthogonal_gradient_is_finite_with_a_zero_row(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    matrix = np.array([[1.0, 2.0], [0.0, 0.0], [-3.0, 1.0]])
    (grad,) = xp.grad(OrthogonalRegularizer(1.0), xp.asarray(matrix))
    assert np.all(np.isfinite(grad))
    # numerical check of the non-zero rows
    eps = 1e-6
    numeric = np.zeros_like(matrix)
    for index in [(0, 0), (0, 1), (2, 0), (2, 1)]:
        up, down = matrix.copy(), matrix.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (
            orthogonal_oracle(up, 1.0, "rows") - orthogonal_oracle(down, 1.0, "rows")
        ) / (2 * eps)
    assert_close(grad[[0, 2]], numeric[[0, 2]], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("shape", [(3,), (2, 2, 2), ()])
def test_orthogonal_needs_rank_2(shape) -> None:
    with pytest.raises(
        ValueError, match=r"Invalid `x`: expected a rank-2 array for OrthogonalRegularizer"
    ):
        OrthogonalRegularizer()(np.ones(shape))


# ------------------------------------------------------------------ construction


def test_defaults_and_aliases() -> None:
    assert L1().l1 == 0.01
    assert L2().l2 == 0.01
    assert L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert (l1, l2, orthogonal_regularizer) == (L1, L2, OrthogonalRegularizer)
    assert l1_l2() == L1L2(0.01, 0.01)  # tf_keras's function (Keras 3: the class, 0/0)
    assert L1(None).l1 == 0.01
    assert L1L2(None, None) == L1L2(0.0, 0.0)
    assert OrthogonalRegularizer().get_config() == {"factor": 0.01, "mode": "rows"}


def test_legacy_l_keyword() -> None:
    assert L1(l=0.3) == L1(0.3)
    assert L2(l=0.3) == L2(0.3)


def test_numpy_factors_are_numbers() -> None:
    assert L2(np.float32(0.5)).l2 == 0.5
    assert L1(np.int64(2)).l1 == 2.0


@pytest.mark.parametrize(
    ("make", "argument", "value"),
    [
        (lambda: L1(-0.1), "l1", "-0.1"),
        (lambda: L2(float("nan")), "l2", "nan"),
        (lambda: L2(float("inf")), "l2", "inf"),
        (lambda: L1L2(l1="0.1"), "l1", "'0.1'"),
        (lambda: L1L2(l2=-1), "l2", "-1"),
        (lambda: L2(True), "l2", "True"),
        (lambda: OrthogonalRegularizer(-2.0), "factor", "-2.0"),
        (lambda: L1([0.1]), "l1", r"\[0.1\]"),
    ],
)
def test_invalid_factors(make, argument, value) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^Invalid `{argument}`: expected a finite number >= 0, "
        rf"received {value}\.$",
    ):
        make()


def test_invalid_mode() -> None:
    with pytest.raises(
        ValueError, match=r"^Invalid `mode`: expected one of 'rows', 'columns', received 'diag'\.$"
    ):
        OrthogonalRegularizer(1.0, "diag")


def test_base_regularizer() -> None:
    assert Regularizer()(np.ones(3)) == 0.0
    with pytest.raises(NotImplementedError, match=r"Regularizer does not implement get_config\(\)"):
        Regularizer().get_config()
    assert repr(Regularizer()) == "Regularizer()"


def test_equality_and_hash() -> None:
    assert L2(0.1) == L2(0.1)
    assert L2(0.1) != L2(0.2)
    assert L2(0.1) != L1(0.1)
    assert len({L2(0.1), L2(0.1), L1(0.1)}) == 2
    assert (
        repr(OrthogonalRegularizer(0.5, "columns"))
        == "OrthogonalRegularizer(factor=0.5, mode='columns')"
    )


def test_bad_inputs() -> None:
    with pytest.raises(
        TypeError, match=r"Invalid `x`: expected an array of real floating or integer dtype"
    ):
        L2()(np.array([True]))
    with pytest.raises(TypeError, match=r"Invalid `x`: expected an array, a Python number"):
        L1()(None)
