"""losskit.v1 against the real ``tf.compat.v1.losses`` (TensorFlow 2.21, eager).

1. Every function spec x input rank x weight variant x reduction key (the default, TF1's five
   keys, and ``"sum"`` which TF1 refuses), float32, on NumPy: the same value, shape and dtype
   within float32 rounding, or an error on both sides. A subset runs on PyTorch and JAX.
2. Gradients with respect to predictions (logits) and weights, PyTorch and JAX autograd,
   against TensorFlow's.
3. The deviations of ``docs/deviations.md`` that concern losskit.v1, each against the real
   TensorFlow: ``"v1-float32-inputs"``, ``"v1-pairwise-scalar-weight"``,
   ``"v1-option-checks"``, ``"sparse-label-values"`` and ``"eager-loss-collections"``.

The TensorFlow side runs once per session in a subprocess (``_v1_tf_oracle.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from losskit import v1
from tests import _v1_formulas as formulas
from tests._helpers import assert_close
from tests.conformance._oracle_process import run_oracle
from tests.conformance._v1_cases import (
    GRADIENT_REDUCTIONS,
    GRADIENT_WEIGHTS,
    Case,
    cases,
    gradient_cases,
    payload,
)
from tests.conformance.deviations import table_rows

pytestmark = pytest.mark.tf

SCRIPT = Path(__file__).with_name("_v1_tf_oracle.py")
CASES = cases()
RTOL, ATOL = 2e-5, 1e-6
FLOAT32_INPUTS = "v1-float32-inputs"
PAIRWISE_SCALAR = "v1-pairwise-scalar-weight"
OPTION_CHECKS = "v1-option-checks"
SPARSE_LABELS = "sparse-label-values"
COLLECTIONS = "eager-loss-collections"
SCALAR_VARIANTS = ("omitted", "python", "zero", "numpy-scalar", "0-d")
LOSS_FUNCTIONS = (
    "absolute_difference",
    "cosine_distance",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_pairwise_squared_error",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
)


@pytest.fixture(scope="session")
def tf_v1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_oracle(SCRIPT, payload(), tmp_path_factory, "tf.compat.v1.losses")


def _array(outcome: dict[str, Any]) -> np.ndarray:
    return np.asarray([float(v) for v in outcome["value"]], np.float64).reshape(outcome["shape"])


def _call(case: Case, variant: str, reduction: str | None, xp: Any = np) -> Any:
    kwargs = dict(case.spec.kwargs)
    weight = case.weights[variant]
    if weight is not None:
        kwargs["weights"] = xp.asarray(weight) if isinstance(weight, np.ndarray) else weight
    if reduction is not None:
        kwargs["reduction"] = reduction
    fn = getattr(v1, case.spec.function)
    return fn(xp.asarray(case.labels), xp.asarray(case.predictions), **kwargs)


def _pairwise_scalar(case: Case, variant: str) -> bool:
    """Deviation "v1-pairwise-scalar-weight": eager TF counts the whole batch in n_b."""
    return case.spec.function == "mean_pairwise_squared_error" and variant in SCALAR_VARIANTS


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach()
    return np.asarray(value, np.float64)


def _compare(case: Case, key: str, got: Any, tf: dict[str, Any]) -> str | None:
    """None if losskit's ``got`` (or its error) agrees with TensorFlow's outcome ``tf``."""
    if isinstance(got, Exception):
        return None if "error" in tf else f"{key}: losskit raised {got!r}, TF gave {tf}"
    if "error" in tf:
        return f"{key}: TF raised {tf['error']}: {tf['message'][:120]}, losskit gave {got}"
    value, expected = _numpy(got), _array(tf)
    if value.shape != expected.shape:
        return f"{key}: shape {value.shape}, TF {expected.shape}"
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    if not np.allclose(value, expected, rtol=RTOL, atol=ATOL * scale):
        return f"{key}: {value.ravel()[:4]} != TF {expected.ravel()[:4]}"
    return None


def _run(case: Case, variant: str, reduction: str | None, xp: Any = np) -> Any:
    try:
        return _call(case, variant, reduction, xp)
    except (ValueError, TypeError) as error:
        return error


def test_oracle_version(tf_v1: dict[str, Any]) -> None:
    assert tf_v1["versions"]["tensorflow"].startswith("2.21"), tf_v1["versions"]
    assert set(tf_v1["values"]) == {case.id for case in CASES}


def test_the_cases_cover_every_function_reduction_and_weight() -> None:
    functions = {case.spec.function for case in CASES}
    assert functions == set(LOSS_FUNCTIONS)
    assert set(LOSS_FUNCTIONS) <= set(v1.__all__)
    assert {r for case in CASES for r in case.reductions} >= {None, *formulas.REDUCTIONS, "sum"}
    variants = {v for case in CASES for v in case.weights}
    assert variants >= {*SCALAR_VARIANTS, "ones", "per-example", "full", "wrong-rank"}


# ----------------------------------------------------------------------------- 1. values


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_match_tensorflow(case: Case, tf_v1: dict[str, Any]) -> None:
    found = tf_v1["values"][case.id]
    mismatches = []
    for key, tf in found.items():
        variant, reduction = key.split("|")
        reduction_key = None if reduction == "default" else reduction
        got = _run(case, variant, reduction_key)
        if _pairwise_scalar(case, variant) and not isinstance(got, Exception):
            # the deviation: losskit equals TensorFlow's graph mode, and the formula
            graph = tf_v1["graph"][case.id][variant]
            problem = _compare(case, key + " (graph)", got, graph)
            weight = case.weights[variant]
            expected = formulas.pairwise(
                case.labels, case.predictions, 1.0 if weight is None else weight
            )
            assert_close(got, expected, rtol=1e-5, atol=1e-6)
        else:
            problem = _compare(case, key, got, tf)
        if problem:
            mismatches.append(problem)
            continue
        if not isinstance(got, Exception):
            _check_dtype(case, got, tf, mismatches, key)
    assert not mismatches, "\n".join(mismatches)


def _check_dtype(case: Case, got: Any, tf: dict[str, Any], mismatches: list[str], key: str) -> None:
    if case.dtype == "float32":
        if str(got.dtype) != tf["dtype"]:
            mismatches.append(f"{key}: dtype {got.dtype}, TF {tf['dtype']}")
        return
    # "v1-float32-inputs": float64 in, float64 out, on the float64 formulas; TF rounded
    # through float32 (regression losses even return float32)
    assert got.dtype == np.float64, key
    variant, reduction = key.split("|")
    weight = case.weights[variant]
    weight = 1.0 if weight is None else weight
    if case.spec.function == "mean_pairwise_squared_error":
        expected: Any = formulas.pairwise(case.labels, case.predictions, weight)
    else:
        terms = formulas.terms(
            case.spec.function, case.labels, case.predictions, **case.spec.kwargs
        )
        if np.ndim(weight) == terms.ndim + 1:  # sparse: TF squeezes [B, ..., 1] weights
            weight = np.asarray(weight)[..., 0]
        expected = formulas.reduce(
            terms,
            weight,
            "weighted_sum_by_nonzero_weights" if reduction == "default" else reduction,
        )
    assert_close(got, expected, rtol=1e-12, atol=1e-14)


SUBSET = [case for case in CASES if case.rank == 2 and case.dtype == "float32"]


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("case", SUBSET, ids=lambda c: c.id)
def test_values_on_frameworks(case: Case, backend: str, tf_v1: dict[str, Any]) -> None:
    import importlib

    xp = importlib.import_module("torch" if backend == "torch" else "jax.numpy")
    mismatches = []
    for key, tf in tf_v1["values"][case.id].items():
        variant, reduction = key.split("|")
        if variant not in ("per-example", "full", "python") or _pairwise_scalar(case, variant):
            continue
        got = _run(case, variant, None if reduction == "default" else reduction, xp)
        problem = _compare(case, key, got, tf)
        if problem:
            mismatches.append(problem)
    assert not mismatches, "\n".join(mismatches)


# ----------------------------------------------------------------------------- 2. gradients


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("case", gradient_cases(), ids=lambda c: c.id)
def test_gradients_match_tensorflow(case: Case, backend: str, tf_v1: dict[str, Any]) -> None:
    expected = tf_v1["gradients"][case.id]
    for key, tf in expected.items():
        variant, reduction = key.split("|")
        assert variant in GRADIENT_WEIGHTS
        assert reduction in (*GRADIENT_REDUCTIONS, "default")
        r = None if reduction == "default" else reduction
        if "error" in tf:  # weights TF1 refuses for this loss (e.g. [B, 1] for softmax)
            with pytest.raises(ValueError, match=r"Invalid `weights`"):
                _call(case, variant, r)
            continue
        d_predictions, d_weights = _gradients(case, variant, r, backend)
        assert_close(d_predictions, _array(tf["predictions"]), rtol=1e-5, atol=1e-6)
        assert_close(d_weights, _array(tf["weights"]), rtol=1e-5, atol=1e-6)


def _gradients(case: Case, variant: str, reduction: str | None, backend: str) -> tuple[Any, Any]:
    kwargs = dict(case.spec.kwargs)
    if reduction is not None:
        kwargs["reduction"] = reduction
    fn = getattr(v1, case.spec.function)
    if backend == "torch":
        import torch

        predictions = torch.tensor(case.predictions, requires_grad=True)
        weights = torch.tensor(case.weights[variant], dtype=torch.float32, requires_grad=True)
        fn(torch.tensor(case.labels), predictions, weights=weights, **kwargs).backward()
        assert predictions.grad is not None
        assert weights.grad is not None
        return predictions.grad.numpy(), weights.grad.numpy()
    import jax
    import jax.numpy as jnp

    labels = jnp.asarray(case.labels)
    grads = jax.jit(jax.grad(lambda p, w: fn(labels, p, weights=w, **kwargs), argnums=(0, 1)))(
        jnp.asarray(case.predictions), jnp.asarray(case.weights[variant], jnp.float32)
    )
    return np.asarray(grads[0]), np.asarray(grads[1])


# ----------------------------------------------------------------------------- 3. deviations


def test_rows_exist() -> None:
    rows = table_rows()
    for name in (FLOAT32_INPUTS, PAIRWISE_SCALAR, OPTION_CHECKS, SPARSE_LABELS, COLLECTIONS):
        assert name in rows, name


def test_float32_inputs(tf_v1: dict[str, Any]) -> None:
    """The deviation "v1-float32-inputs": TensorFlow 1 casts regression inputs to float32
    (float64 and int32 in, float32 out) and reduces crossentropies through float32."""
    probes = tf_v1["probes"]
    assert probes["mse_float64"]["dtype"] == "float32"
    assert probes["mse_float64"]["value"][0] != (0.3 - 0.1) ** 2
    got = v1.mean_squared_error(np.array([0.1]), np.array([0.3]))
    assert got.dtype == np.float64
    assert float(got) == (0.3 - 0.1) ** 2
    assert probes["absolute_int32"]["dtype"] == "float32"
    absolute = v1.absolute_difference(np.array([1, 9], np.int32), np.array([4, 8], np.int32))
    assert absolute.dtype == np.float64
    assert float(absolute) == 2.0
    sigmoid = probes["sigmoid_float64"]
    assert sigmoid["dtype"] == "float64"
    labels, logits = np.array([[1.0, 0.0]]), np.array([[0.1, -0.2]])
    ours = v1.sigmoid_cross_entropy(labels, logits, reduction=v1.Reduction.SUM)
    exact = formulas.terms("sigmoid_cross_entropy", labels, logits).sum()
    assert_close(ours, exact, rtol=1e-15)
    assert sigmoid["value"][0] != float(ours)  # TF: rounded through float32
    assert_close(sigmoid["value"][0], exact, rtol=1e-7)


def test_pairwise_scalar_weight(tf_v1: dict[str, Any]) -> None:
    """The deviation "v1-pairwise-scalar-weight": eager TF with a scalar weight divides by the
    batch's element count; its graph mode (and array weights) by the example's, as losskit."""
    probes = tf_v1["probes"]
    assert_close(probes["pairwise_eager"]["value"][0], 2 / 3, rtol=1e-6)
    assert_close(probes["pairwise_graph"]["value"][0], 4 / 3, rtol=1e-6)
    assert_close(probes["pairwise_array_weights"]["value"][0], 4 / 3, rtol=1e-6)
    labels = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]])
    preds = np.array([[1.0, 2.0, 4.0], [4.0, 5.0, 6.0]])
    assert_close(v1.mean_pairwise_squared_error(labels, preds), 4 / 3, rtol=1e-12)
    assert_close(formulas.pairwise_by_pairs(labels, preds, np.ones(2)), 4 / 3, rtol=1e-12)


def test_option_checks(tf_v1: dict[str, Any]) -> None:
    """The deviation "v1-option-checks": TF ignores a negative label smoothing, applies one
    above 1, returns a negative Huber loss for delta < 0 and NaN for epsilon < 0, and reads
    axis=True as 1; losskit raises a ValueError for each."""
    probes = tf_v1["probes"]
    assert probes["smoothing_negative"]["value"] == probes["smoothing_none"]["value"]
    assert probes["smoothing_two"]["value"][0] > probes["smoothing_none"]["value"][0]
    assert probes["huber_negative_delta"]["value"][0] == -2.0
    assert probes["log_negative_epsilon"]["value"][0] == "nan"
    assert probes["cosine_bool_axis"]["value"][0] == 0.5
    labels01, logits = np.array([[1.0, 0.0]]), np.array([[1.0, -2.0]])
    for smoothing in (-0.5, 2.0):
        with pytest.raises(ValueError, match=r"Invalid `label_smoothing`"):
            v1.sigmoid_cross_entropy(labels01, logits, label_smoothing=smoothing)
    with pytest.raises(ValueError, match=r"Invalid `delta`"):
        v1.huber_loss(np.ones(2), np.ones(2), delta=-1.0)
    with pytest.raises(ValueError, match=r"Invalid `epsilon`"):
        v1.log_loss(np.ones(2), np.ones(2), epsilon=-0.5)
    with pytest.raises(ValueError, match=r"Invalid `axis`"):
        v1.cosine_distance(np.eye(2), np.eye(2), axis=True)


def test_sparse_label_values(tf_v1: dict[str, Any]) -> None:
    """The deviation "sparse-label-values": TF refuses labels outside [0, classes) on CPU and
    labels other than int32/int64; losskit refuses out-of-range NumPy labels (a free check)
    and takes any integer dtype."""
    probes = tf_v1["probes"]
    for name in ("sparse_out_of_range", "sparse_negative", "sparse_int8_labels"):
        assert probes[name]["error"] == "InvalidArgumentError", probes[name]
    scores = np.array([[0.1, -0.2, 0.0], [1.0, 2.0, 3.0]], np.float32)
    for labels in ([0, 3], [0, -1]):
        with pytest.raises(ValueError, match=r"Invalid `labels`: expected class indices"):
            v1.sparse_softmax_cross_entropy(np.array(labels), scores)
    int8 = v1.sparse_softmax_cross_entropy(np.array([0, 1], np.int8), scores)
    assert_close(int8, v1.sparse_softmax_cross_entropy(np.array([0, 1]), scores), rtol=0)


def test_eager_loss_collections(tf_v1: dict[str, Any]) -> None:
    """The deviation "eager-loss-collections": eager TF records nothing (and its
    get_total_loss of nothing raises); losskit.v1 records inside collect_losses()."""
    probes = tf_v1["probes"]
    assert probes["losses_after_call"]["value"] == [0.0]
    assert probes["total_of_nothing"]["error"] == "ValueError"
    with v1.collect_losses() as store:
        assert v1.get_total_loss() == 0.0
        v1.mean_squared_error(np.zeros(2), np.ones(2))
    assert len(store.get()) == 1
