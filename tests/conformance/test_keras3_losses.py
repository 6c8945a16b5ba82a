"""Keras 3's losses that tf_keras lacks (CTC, Dice, Tversky, Circle, the generalized
crossentropy) against the real Keras 3 (TensorFlow backend), and the rows of
``docs/deviations.md`` where losskit differs from Keras 3:

1. every spec x reduction x weight shape (and Keras masks), float32, with
   ``sample_weight_rank="keras3"``: the same value and shape within 1e-5 relative, or an error
   on both sides (except the rows ``"mean-with-scalar-weight"`` and
   ``"keras3-weights-enlarge-loss"``);
2. gradients with respect to ``y_pred`` (PyTorch and JAX autograd) against TensorFlow's;
3. the function forms; configs written by Keras 3 load into the same loss, and losskit's
   configs load into Keras 3;
4. every loss name and alias of Keras 3 and tf_keras resolves in ``losskit.losses.get``;
5. the probes of the rows ``"keras3-binary-crossentropy-clipping"``,
   ``"keras3-binary-crossentropy-shapes"``, ``"keras3-float32-losses"``,
   ``"ctc-unreachable-labels"`` and ``"generalized-crossentropy-label-column"``.

Keras 3 runs once per session in a subprocess (``_keras3_loss_oracle.py``).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import losskit
import losskit.losses as losses
from tests._helpers import assert_close, central_differences
from tests.conformance._keras3_loss_cases import FUNCTIONS, Case, cases, payload, probes
from tests.conformance._oracle_process import run_oracle
from tests.conformance.deviations import table_rows

pytestmark = pytest.mark.tf

SCRIPT = Path(__file__).with_name("_keras3_loss_oracle.py")
RTOL = 1e-5
ATOL = 1e-6
CASES = cases()
MEAN_WITH_SCALAR_WEIGHT = "mean-with-scalar-weight"
WEIGHTS_ENLARGE = "keras3-weights-enlarge-loss"
BINARY_CLIPPING = "keras3-binary-crossentropy-clipping"
BINARY_SHAPES = "keras3-binary-crossentropy-shapes"
FLOAT32 = "keras3-float32-losses"
CTC_UNREACHABLE = "ctc-unreachable-labels"
CTC_ZERO_LABEL = "ctc-zero-label-gradient"
LABEL_COLUMN = "generalized-crossentropy-label-column"

NOT_LOSSES = {
    "LossFunctionWrapper": "Keras 3's base of its built-in classes (losskit's is private)",
    "deserialize": "tf_keras's get() finds any callable of its module, helpers included",
    "deserialize_keras_object": "the same: a serialization helper, not a loss",
    "get": "the same: the lookup function itself",
    "is_categorical_crossentropy": "the same: a predicate on losses",
    "keras_export": "the same: the API-export decorator",
    "serialize": "the same: a serialization helper",
    "serialize_keras_object": "the same: a serialization helper",
}
"""Names tf_keras's or Keras 3's ``get`` resolves that are not losses, with the reason."""


@pytest.fixture(scope="session")
def keras3_losses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_oracle(SCRIPT, payload(), tmp_path_factory, "Keras 3 losses")


def _array(outcome: dict[str, Any]) -> np.ndarray:
    return np.asarray(outcome["value"], np.float64).reshape(outcome["shape"])


def _loss(case: Case, reduction: str) -> Any:
    cls = getattr(losses, case.spec.cls)
    return cls(reduction=reduction, sample_weight_rank="keras3", **case.spec.options)


def test_oracle_versions(keras3_losses: dict[str, Any]) -> None:
    assert keras3_losses["versions"]["keras3"].startswith("3."), keras3_losses["versions"]


def test_rows_exist() -> None:
    rows = table_rows()
    for name in (WEIGHTS_ENLARGE, BINARY_CLIPPING, BINARY_SHAPES, FLOAT32, CTC_UNREACHABLE):
        assert name in rows, name
    for name in (CTC_ZERO_LABEL, "keras3-config-options"):
        assert name in rows, name
    assert LABEL_COLUMN in rows


# ----------------------------------------------------------------------------- 1. values


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_match_keras3(case: Case, keras3_losses: dict[str, Any]) -> None:
    mismatches = []
    found = keras3_losses["values"][case.id]
    for key, keras in found.items():
        reduction, variant = key.split("|")
        weight = case.weights.get(variant.removeprefix("mask+"))
        mask = case.mask if variant.startswith("mask") else None
        try:
            got = np.asarray(
                _loss(case, reduction)(case.y_true, case.y_pred, sample_weight=weight, mask=mask),
                np.float64,
            )
        except ValueError as error:
            enlarging = case.mask.ndim == 0 and weight is not None and weight.ndim == 1
            if "error" in keras or (enlarging and "may not enlarge the losses" in str(error)):
                # WEIGHTS_ENLARGE: one loss for the batch and [B] weights; Keras 3 multiplies
                # the scalar into a [B] vector and reduces that
                continue
            mismatches.append(f"{key}: losskit raised {error!r}, Keras 3 gave {keras}")
            continue
        if "error" in keras:
            mismatches.append(f"{key}: Keras 3 raised {keras['error']}, losskit gave {got}")
            continue
        expected = _array(keras)
        agree = got.shape == expected.shape and np.allclose(got, expected, rtol=RTOL, atol=ATOL)
        if not agree and reduction == "mean_with_sample_weight" and weight is not None:
            # MEAN_WITH_SCALAR_WEIGHT: a scalar weights every element in losskit
            assert weight.ndim == 0, key
            assert_close(got, _array(found["mean_with_sample_weight|none"]), rtol=RTOL)
            continue
        if not agree:
            mismatches.append(f"{key}: {got.ravel()[:4]} {got.shape} != {expected.ravel()[:4]}")
    assert not mismatches, "\n".join(mismatches)


def test_weights_that_enlarge_one_loss_are_refused(keras3_losses: dict[str, Any]) -> None:
    """The row "keras3-weights-enlarge-loss": Dice's one loss for the batch with [3] weights;
    Keras 3 gives mean(w) * loss, losskit raises."""
    probe = keras3_losses["probes"]["weights_enlarge"]["keras3"]
    one_loss = 1 - 2 * 6.0 / (12.0 + 6.0 + 1e-7)
    assert_close(_array(probe), 2.0 * one_loss, rtol=1e-6)  # mean of [1, 2, 3] is 2
    with pytest.raises(ValueError, match=r"Weights may not enlarge the losses"):
        losses.Dice(sample_weight_rank="keras3")(
            np.ones((3, 4)), np.full((3, 4), 0.5), sample_weight=np.array([1.0, 2.0, 3.0])
        )
    assert_close(losses.Dice()(np.ones((3, 4)), np.full((3, 4), 0.5)), one_loss, rtol=1e-12)


# ----------------------------------------------------------------------------- 2. gradients


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradients_match_tensorflow(
    case: Case, backend: str, keras3_losses: dict[str, Any]
) -> None:
    keras = keras3_losses["gradients"][case.id]
    assert "error" not in keras, keras
    loss = _loss(case, "sum_over_batch_size")
    weight = case.weights.get("B1", case.weights["scalar"])
    if backend == "torch":
        import torch

        leaf = torch.tensor(case.y_pred, requires_grad=True)
        loss(torch.tensor(case.y_true), leaf, sample_weight=torch.tensor(weight)).backward()
        assert leaf.grad is not None
        got = leaf.grad.numpy()
    else:
        import jax
        import jax.numpy as jnp

        y_true, weights = jnp.asarray(case.y_true), jnp.asarray(weight)
        got = np.asarray(
            jax.jit(jax.grad(lambda p: loss(y_true, p, sample_weight=weights)))(
                jnp.asarray(case.y_pred)
            )
        )
    expected = _array(keras)
    if case.spec.cls == "CTC":
        got, expected = _ctc_zero_label_rows(case, weight, got, expected)
    assert_close(got, expected, rtol=1e-4, atol=1e-6)


def _ctc_zero_label_rows(
    case: Case, weight: np.ndarray, got: np.ndarray, tensorflow: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The row "ctc-zero-label-gradient": for a label sequence with a 0 inside (a label that
    emits the blank), TensorFlow's gradient leaves that state's occupancy out, so it is not
    the derivative of its own loss (whose value losskit matches). Those rows are checked
    against central differences of the loss instead; the others against TensorFlow."""
    lengths = np.count_nonzero(case.y_true, axis=1)
    inside = np.array([0 in row[:n] for row, n in zip(case.y_true, lengths, strict=True)])
    assert inside.any(), "the CTC case must have a 0 inside a label sequence"
    loss = losses.CTC(reduction="sum_over_batch_size")
    scales = weight.astype(np.float64).ravel() / len(lengths)  # d(SOBS loss) / d(row's loss)
    for row in np.flatnonzero(inside):
        labels, sample = case.y_true[row : row + 1], case.y_pred[row : row + 1].astype(np.float64)
        numeric = central_differences(lambda p, t=labels: float(loss(t, p)), sample) * scales[row]
        assert_close(got[row : row + 1], numeric, rtol=1e-4, atol=1e-6)
        assert not np.allclose(tensorflow[row], got[row], rtol=1e-4, atol=1e-6)
    return got[~inside], tensorflow[~inside]


# ----------------------------------------------------------------------------- 3. functions


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_function_forms_match_keras3(case: Case, keras3_losses: dict[str, Any]) -> None:
    keras = keras3_losses["functions"][case.id]
    assert "error" not in keras, keras
    got = np.asarray(
        getattr(losses, FUNCTIONS[case.spec.cls])(case.y_true, case.y_pred, **case.spec.options),
        np.float64,
    )
    expected = _array(keras)
    assert got.shape == expected.shape
    assert_close(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reads_keras3_configs(case: Case, keras3_losses: dict[str, Any]) -> None:
    config = keras3_losses["configs"][case.id]
    expected = getattr(losses, case.spec.cls)(reduction="sum", **case.spec.options)
    for identifier in (copy.deepcopy(config), json.dumps(config)):
        for load in (losses.deserialize, losses.get):
            loss = load(identifier)
            assert type(loss) is type(expected), loss
            assert loss.reduction is losskit.Reduction.SUM
            assert loss == expected, (loss, expected)
    assert_close(loss(case.y_true, case.y_pred), expected(case.y_true, case.y_pred))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_keras3_reads_losskit_configs(case: Case, keras3_losses: dict[str, Any]) -> None:
    loaded = keras3_losses["loaded"][case.id]
    if case.spec.cls == "CategoricalGeneralizedCrossEntropy":
        # Keras 3.15 leaves the class out of its deserialization table: its deserialize()
        # returns the class name as a string for losskit's config and for its own alike
        assert loaded["message"] == "deserialize returned 'CategoricalGeneralizedCrossEntropy'"
        assert keras3_losses["loaded_own"][case.id] == loaded
        return
    assert "error" not in loaded, loaded
    assert "error" not in keras3_losses["loaded_own"][case.id]
    assert loaded["class"] == case.spec.cls
    assert loaded["config"]["reduction"] == "sum"
    for key, value in case.spec.options.items():
        assert loaded["config"][key] == value, (key, loaded["config"])
    expected = getattr(losses, case.spec.cls)(reduction="sum", **case.spec.options)
    assert_close(_array(loaded["value"]), expected(case.y_true, case.y_pred), rtol=RTOL, atol=ATOL)


# ----------------------------------------------------------------------------- 4. names


@pytest.mark.parametrize("library", ["keras3", "tf_keras"])
def test_every_keras_loss_name_resolves(library: str, keras3_losses: dict[str, Any]) -> None:
    names = keras3_losses["aliases"][library]
    assert len(names) > 40, names
    missing = []
    for name in names:
        if name in NOT_LOSSES or name == "Loss":
            continue
        try:
            found = losses.get(name)
        except ValueError:
            missing.append(name)
            continue
        assert callable(found), name
    assert not missing, f"{library} names losskit.losses.get does not resolve: {missing}"
    assert losses.get("Loss") == losses.Loss()


# ----------------------------------------------------------------------------- 5. probes


def _probe(name: str, keras3_losses: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    found = keras3_losses["probes"][name]
    spec = probes()[name]
    t = np.asarray(spec["y_true"]["values"]).reshape(spec["y_true"]["shape"])
    p = np.asarray(spec["y_pred"]["values"], spec["y_pred"]["dtype"]).reshape(
        spec["y_pred"]["shape"]
    )
    return found, (t.astype(spec["y_true"]["dtype"]), p, spec.get("kwargs", {}))


def test_binary_crossentropy_clipping_follows_tf_keras(keras3_losses: dict[str, Any]) -> None:
    """Row "keras3-binary-crossentropy-clipping": tf_keras (and losskit) take log(p + 1e-7)
    of probabilities clipped to [1e-7, 1 - 1e-7], Keras 3 log(p)."""
    found, (t, p, _) = _probe("binary_clipping", keras3_losses)
    got = losses.binary_crossentropy(t, p)
    assert_close(got, _array(found["tf_keras"]), rtol=RTOL)
    one = np.float32(1.0)
    q = np.clip(p, np.float32(1e-7), one - np.float32(1e-7))  # Keras 3's formula, in float32
    keras3 = -(t * np.log(q) + (one - t) * np.log(one - q)).mean(-1)
    assert_close(_array(found["keras3"]), keras3, rtol=1e-5)
    assert not np.allclose(_array(found["keras3"]), got, rtol=1e-3)


def test_binary_crossentropy_broadcasts_as_tf_keras(keras3_losses: dict[str, Any]) -> None:
    """Row "keras3-binary-crossentropy-shapes": [3, 1] targets against [3, 3] probabilities
    broadcast in tf_keras (and losskit); Keras 3 raises."""
    found, (t, p, _) = _probe("binary_shapes", keras3_losses)
    assert found["keras3"]["error"] == "ValueError", found["keras3"]
    assert "must have the same shape" in found["keras3"]["message"]
    got = losses.binary_crossentropy(t, p)
    assert_close(got, _array(found["tf_keras"]), rtol=RTOL)
    expected = -(t * np.log(0.3 + 1e-7) + (1 - t) * np.log(0.7 + 1e-7)).mean(-1)
    assert_close(got, expected, rtol=1e-6)


def test_float64_inputs_stay_float64(keras3_losses: dict[str, Any]) -> None:
    """Row "keras3-float32-losses": Keras 3's classes compute in float32 whatever the inputs'
    dtype; tf_keras and losskit keep float64."""
    found, (t, p, _) = _probe("float64_inputs", keras3_losses)
    assert found["keras3"]["dtype"] == "float32", found["keras3"]
    assert found["tf_keras"]["dtype"] == "float64", found["tf_keras"]
    got = losses.MeanSquaredError()(t, p)
    assert got.dtype == np.float64
    assert_close(got, (0.01 + 0.04 + 0.09 + 0.16) / 4, rtol=1e-15)
    assert_close(got, _array(found["tf_keras"]), rtol=1e-15)
    assert not np.array_equal(got, _array(found["keras3"]))  # float32 rounding


def test_ctc_unreachable_labels_are_infinite(keras3_losses: dict[str, Any]) -> None:
    """Row "ctc-unreachable-labels": three labels, or a repeated label, in two steps have no
    alignment; Keras 3 on TensorFlow returns a finite number, losskit inf."""
    found, (t, p, _) = _probe("ctc_unreachable", keras3_losses)
    keras3 = _array(found["keras3"])
    assert np.isfinite(keras3).all(), keras3
    assert (keras3[:2] > 100).all(), keras3
    got = losses.ctc(t, p)
    assert got[:2].tolist() == [math.inf, math.inf]
    assert_close(got[2], keras3[2], rtol=RTOL)  # "1" in two uniform steps: -log(3/9)
    assert_close(got[2], -math.log(3 / 9), rtol=1e-6)


def test_generalized_crossentropy_label_column(keras3_losses: dict[str, Any]) -> None:
    """Row "generalized-crossentropy-label-column": labels of shape [B, 1] (Keras 3's
    docstring allows them) give Keras 3 a [B, B] result; losskit one loss per sample."""
    found, (t, p, kwargs) = _probe("generalized_label_column", keras3_losses)
    assert found["keras3"]["shape"] == [4, 4], found["keras3"]
    got = losses.categorical_generalized_cross_entropy(t, p, **kwargs)
    expected = (1 - np.sqrt(np.take_along_axis(p.astype(np.float64), t, -1)[:, 0])) / 0.5
    assert_close(got, expected, rtol=1e-6)
    assert_close(_array(found["keras3"]).diagonal(), expected, rtol=1e-6)
