"""The loss catalog against the real tf_keras 2.21 and Keras 3 (TensorFlow backend).

1. Every loss spec x input rank x reduction x weight shape (and masks), float32, against
   tf_keras (losskit's default rank rule) and Keras 3 (``sample_weight_rank="keras3"``):
   the same value and shape within 1e-5 relative, or an error on both sides.
2. losskit's reductions that Keras lacks (``weighted_mean``, ``sum_by_nonzero_weights``)
   against a float64 oracle built from tf_keras's unreduced losses.
3. Gradients with respect to ``y_pred`` (PyTorch and JAX autograd) against TensorFlow's.
4. Logits of +-1e4 and probabilities of exactly 0 and 1: the same values and gradients as
   tf_keras, all finite.
5. Configs written by tf_keras (new and legacy format) and Keras 3 load into the same loss.
6. The deviations ``"loss-all-masked"`` and ``"loss-label-rank"`` against both Keras versions.

The Keras side runs once per session in a subprocess (``_keras_loss_oracle.py``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import losskit
import losskit.losses as losses
from tests._helpers import assert_close
from tests.conformance._loss_cases import (
    Case,
    cases,
    extreme_cases,
    function_cases,
    payload,
    weight_variants,
)
from tests.conformance._oracle_process import run_oracle
from tests.conformance.deviations import table_rows

pytestmark = pytest.mark.tf

SCRIPT = Path(__file__).with_name("_keras_loss_oracle.py")
RTOL = 1e-5
ATOL = 1e-6  # for values that are 0 up to rounding (a zero weight, a masked step)
CASES = cases()
LIBRARIES = ("tf_keras", "keras3")
RULE = {"tf_keras": "tf_keras", "keras3": "keras3"}
MEAN_WITH_SCALAR_WEIGHT = "mean-with-scalar-weight"
ALL_MASKED = "loss-all-masked"
LABEL_RANK = "loss-label-rank"


@pytest.fixture(scope="session")
def keras_losses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_oracle(SCRIPT, payload(), tmp_path_factory, "Keras losses")


def _outcome_array(outcome: dict[str, Any]) -> np.ndarray:
    return np.asarray(outcome["value"], np.float64).reshape(outcome["shape"])


def _losskit_call(
    case: Case, reduction: str, variant: str, masked: bool, rule: str, xp: Any = np
) -> Any:
    loss = getattr(losses, case.spec.cls)(
        reduction=reduction, sample_weight_rank=rule, **case.spec.options
    )
    weight = case.weights.get(variant.removeprefix("mask+"))
    return loss(
        xp.asarray(case.y_true),
        xp.asarray(case.y_pred),
        sample_weight=None if weight is None else xp.asarray(weight),
        mask=xp.asarray(case.mask) if masked else None,
    )


def test_oracle_versions(keras_losses: dict[str, Any]) -> None:
    versions = keras_losses["versions"]
    assert versions["tf_keras"].startswith("2.21"), versions
    assert versions["keras3"].startswith("3."), versions


# ----------------------------------------------------------------------------- 1. values


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_match_keras(case: Case, library: str, keras_losses: dict[str, Any]) -> None:
    found = keras_losses["values"][case.id][library]
    mismatches = []
    for key, keras in found.items():
        reduction, variant = key.split("|")
        masked = variant.startswith("mask")
        try:
            got = np.asarray(
                _losskit_call(case, reduction, variant, masked, RULE[library]), np.float64
            )
        except (ValueError, TypeError) as error:
            if "error" not in keras:
                mismatches.append(f"{key}: losskit raised {error!r}, Keras gave {keras}")
            continue
        if "error" in keras:
            mismatches.append(f"{key}: Keras raised {keras['error']}, losskit gave {got}")
            continue
        expected = _outcome_array(keras)
        weight = case.weights.get(variant)
        agree = got.shape == expected.shape and np.allclose(got, expected, rtol=RTOL, atol=ATOL)
        if not agree and reduction == "mean_with_sample_weight" and weight is not None:
            # MEAN_WITH_SCALAR_WEIGHT: Keras 3 divides the weighted sum by the bare scalar;
            # losskit by weight * count: a scalar weights every element, so the result is
            # Keras 3's own mean without weights
            assert weight.ndim == 0, key
            assert_close(got, _outcome_array(found["mean_with_sample_weight|none"]), rtol=RTOL)
            continue
        if got.shape != expected.shape:
            mismatches.append(f"{key}: shape {got.shape}, Keras {expected.shape}")
        elif not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
            mismatches.append(f"{key}: {got.ravel()[:4]} != Keras {expected.ravel()[:4]}")
    assert not mismatches, "\n".join(mismatches)


# ----------------------------------------------------------------------------- 2. TF1 reductions


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_tf1_reductions_on_keras_losses(case: Case, keras_losses: dict[str, Any]) -> None:
    unreduced = _outcome_array(keras_losses["values"][case.id]["tf_keras"]["none|none"])
    for variant, shape, masked in weight_variants(case.rank):
        if masked or shape is None:
            continue
        weight = case.weights[variant].astype(np.float64)
        if weight.ndim == unreduced.ndim + 1:
            weight = weight[..., 0]
        elif weight.ndim == unreduced.ndim - 1:
            weight = weight[..., None]
        full = np.broadcast_to(weight, unreduced.shape)
        ignored = case.spec.options.get("ignore_class")
        if ignored is not None:  # ignored labels are masked: weight 0
            full = full * (case.y_true != ignored)
        total = float((unreduced * full).sum())
        expected = {
            "weighted_mean": total / full.sum() if full.sum() else 0.0,
            "sum_by_nonzero_weights": total / np.count_nonzero(full),
        }
        for reduction, value in expected.items():
            got = _losskit_call(case, reduction, variant, False, "tf_keras")
            assert_close(got, value, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- 3. gradients


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradients_match_tensorflow(
    case: Case, library: str, backend: str, keras_losses: dict[str, Any]
) -> None:
    keras = keras_losses["gradients"][case.id][library]
    loss = getattr(losses, case.spec.cls)(
        reduction="sum_over_batch_size", sample_weight_rank=RULE[library], **case.spec.options
    )
    if "error" in keras:  # Keras 3: [B] weights multiply the last axis of [B, T] losses
        with pytest.raises(ValueError, match="Invalid `sample_weight`"):
            loss(case.y_true, case.y_pred, sample_weight=case.weights["B"])
        return
    if backend == "torch":
        import torch

        leaf = torch.tensor(case.y_pred, requires_grad=True)
        loss(
            torch.tensor(case.y_true), leaf, sample_weight=torch.tensor(case.weights["B"])
        ).backward()
        assert leaf.grad is not None
        got = leaf.grad.numpy()
    else:
        import jax
        import jax.numpy as jnp

        y_true, weights = jnp.asarray(case.y_true), jnp.asarray(case.weights["B"])
        got = np.asarray(
            jax.jit(jax.grad(lambda p: loss(y_true, p, sample_weight=weights)))(
                jnp.asarray(case.y_pred)
            )
        )
    assert_close(got, _outcome_array(keras), rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- 4. extremes


@pytest.mark.parametrize(
    ("spec", "y_true", "y_pred"), extreme_cases(), ids=[s.id for s, _, _ in extreme_cases()]
)
def test_extreme_inputs_match_tf_keras(
    spec: Any, y_true: np.ndarray, y_pred: np.ndarray, keras_losses: dict[str, Any]
) -> None:
    import torch

    keras = keras_losses["extremes"][spec.id]["tf_keras"]
    loss = getattr(losses, spec.cls)(reduction="none", **spec.options)
    leaf = torch.tensor(y_pred, requires_grad=True)
    values = loss(torch.tensor(y_true), leaf)
    values.sum().backward()
    assert leaf.grad is not None
    got, gradient = values.detach().numpy(), leaf.grad.numpy()
    assert np.isfinite(got).all(), got
    assert np.isfinite(gradient).all(), gradient
    assert_close(got, _outcome_array(keras["value"]), rtol=RTOL, atol=ATOL)
    assert_close(gradient, _outcome_array(keras["gradient"]), rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------- 5. configs

WRITERS = ("tf_keras", "tf_keras_legacy", "keras3")


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("case", CASES[::2], ids=lambda c: c.spec.id)
def test_reads_keras_configs(case: Case, writer: str, keras_losses: dict[str, Any]) -> None:
    config = keras_losses["configs"][case.spec.id][writer]
    for identifier in (copy.deepcopy(config), json.dumps(config)):
        for load in (losses.deserialize, losses.get):
            loss = load(identifier)
            assert type(loss) is getattr(losses, case.spec.cls), (writer, loss)
            assert loss.reduction is losskit.Reduction.SUM
            mine = loss.get_config()
            for key, value in case.spec.options.items():
                if writer == "keras3" and case.spec.cls == "Huber":
                    continue  # Keras 3's Huber does not write `delta` (it reads back as 1.0)
                assert mine[key] == value, (key, mine)
            expected = getattr(losses, case.spec.cls)(reduction="sum", **case.spec.options)
            if not (writer == "keras3" and case.spec.cls == "Huber"):
                assert_close(loss(case.y_true, case.y_pred), expected(case.y_true, case.y_pred))
    round_trip = losses.deserialize(json.loads(json.dumps(losses.serialize(loss))))
    assert round_trip == loss


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("case", CASES[::2], ids=lambda c: c.spec.id)
def test_keras_reads_losskit_configs(
    case: Case, library: str, keras_losses: dict[str, Any]
) -> None:
    """losskit's configs load in tf_keras and Keras 3 into the same class with the same value."""
    loaded = keras_losses["loaded"][case.spec.id][library]
    assert "error" not in loaded, loaded
    assert loaded["class"] == case.spec.cls
    assert loaded["config"]["reduction"] == "sum"
    for key, value in case.spec.options.items():
        if library == "keras3" and case.spec.cls == "Huber":
            continue  # Keras 3's Huber takes `delta` but does not write it back
        assert loaded["config"][key] == value, (key, loaded["config"])
    expected = getattr(losses, case.spec.cls)(reduction="sum", **case.spec.options)
    assert_close(
        _outcome_array(loaded["value"]), expected(case.y_true, case.y_pred), rtol=RTOL, atol=ATOL
    )


# ----------------------------------------------------------------------------- 5b. functions


@pytest.mark.parametrize(
    ("case_id", "name", "options", "y_true", "y_pred"),
    function_cases(),
    ids=[c[0] for c in function_cases()],
)
def test_function_forms_match_keras(
    case_id: str,
    name: str,
    options: dict[str, Any],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    keras_losses: dict[str, Any],
) -> None:
    """Function forms (per-sample losses), also with the class axis in the middle."""
    got = np.asarray(getattr(losses, name)(y_true, y_pred, **options), np.float64)
    for library in LIBRARIES:
        keras = keras_losses["functions"][case_id][library]
        if library == "keras3" and "error" in keras and options.get("axis") == 1:
            # Keras 3's TensorFlow backend computes softmax crossentropies along the last axis
            assert "Only axis=-1 is currently supported" in keras["message"], keras
            continue
        assert "error" not in keras, (library, keras)
        expected = _outcome_array(keras)
        smoothed_softmax = name == "categorical_crossentropy" and options.get("label_smoothing")
        if library == "keras3" and options.get("axis") == 1 and smoothed_softmax:
            # Keras 3 smooths with the size of the *last* axis as the class count, whatever
            # `axis` is (tf_keras and losskit: the class axis); float64 oracle of its formula
            smoothing = options["label_smoothing"]
            smoothed = y_true * (1 - smoothing) + smoothing / y_true.shape[-1]
            logits = y_pred.astype(np.float64)
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            assert_close(expected, -(smoothed * log_p).sum(axis=1), rtol=RTOL)
            continue
        assert got.shape == expected.shape, (library, got.shape, expected.shape)
        assert_close(got, expected, rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- 6. deviations


def test_rows_exist() -> None:
    rows = table_rows()
    for name in (ALL_MASKED, LABEL_RANK, MEAN_WITH_SCALAR_WEIGHT):
        assert name in rows, name


def test_all_masked_batch_is_zero(keras_losses: dict[str, Any]) -> None:
    """The deviation "loss-all-masked": tf_keras divides 0 by 0 valid entries (NaN);
    losskit gives 0, as Keras 3 does."""
    probes = {library: keras_losses["probes"][library] for library in LIBRARIES}
    for name in ("all_ignored", "all_masked"):
        assert np.isnan(probes["tf_keras"][name]["value"][0]), probes["tf_keras"][name]
        assert probes["keras3"][name]["value"][0] == 0.0, probes["keras3"][name]
    scores = np.array([[1.0, 2.0], [0.5, 0.0], [3.0, 1.0]], np.float32)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    assert float(loss(np.array([0, 0, 0]), scores)) == 0.0
    masked = losses.MeanSquaredError()(
        np.zeros((2, 2)), np.array([[1.0, 2.0], [3.0, 4.0]]), mask=np.zeros(2, bool)
    )
    assert float(masked) == 0.0


def test_label_rank_follows_keras3(keras_losses: dict[str, Any]) -> None:
    """The deviation "loss-label-rank": y_true [B] against y_pred [B, 1] with [B] weights
    raises in tf_keras (it squeezes y_pred to one scalar loss); losskit, like Keras 3,
    expands y_true and weights each sample."""
    tf_keras = keras_losses["probes"]["tf_keras"]["label_rank"]
    assert tf_keras["error"] == "InvalidArgumentError", tf_keras
    keras3 = keras_losses["probes"]["keras3"]["label_rank"]["value"][0]
    got = losses.MeanSquaredError()(
        np.array([0.0, 1.0, 2.0]), np.array([[1.0], [1.0], [0.0]]), sample_weight=[1.0, 0.0, 3.0]
    )
    assert_close(got, (1.0 * 1 + 0.0 * 0 + 3.0 * 4) / 3, rtol=1e-12)
    assert_close(got, keras3, rtol=1e-6)
