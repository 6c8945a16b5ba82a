"""Cases for Keras 3's losses that tf_keras lacks, and probes of where Keras 3 and losskit differ.

Inputs are generated once, deterministically, in float32 (labels in int32); the Keras 3
subprocess (``_keras3_loss_oracle.py``) receives their exact values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tests.conformance._loss_cases import Spec, _array, _softmax

B, T, C, D, H, W = 6, 5, 4, 3, 3, 4
"""Batch, time steps (CTC; steps of the generalized crossentropy), classes, embedding size,
mask height and width."""

REDUCTIONS = ("sum_over_batch_size", "none", "sum", "mean", "mean_with_sample_weight")


FUNCTIONS = {
    "CTC": "ctc",
    "Dice": "dice",
    "Tversky": "tversky",
    "Circle": "circle",
    "CategoricalGeneralizedCrossEntropy": "categorical_generalized_cross_entropy",
}
"""The function form of each class (the same name in Keras 3 and losskit)."""

SPECS = (
    Spec("CTC", (), "ctc"),
    Spec("Dice", (), "masks"),
    Spec("Dice", (("axis", [1, 2]),), "masks"),
    Spec("Tversky", (), "masks"),
    Spec("Tversky", (("alpha", 0.7), ("beta", 0.3), ("axis", [1, 2])), "masks"),
    Spec("Circle", (), "embeddings"),
    Spec(
        "Circle",
        (("gamma", 8.0), ("margin", 0.25), ("remove_diagonal", False)),
        "embeddings",
    ),
    Spec(
        "CategoricalGeneralizedCrossEntropy",
        (),
        "probabilities",
    ),
    Spec(
        "CategoricalGeneralizedCrossEntropy",
        (("q", 0.8),),
        "sequence_probabilities",
    ),
)


def inputs(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "ctc":  # labels 1..C-1 padded with 0; some of length 0, 1 and 3, a repeat,
        # and a 0 inside the labels (a label that emits the blank)
        labels = rng.integers(1, C, size=(B, 3))
        labels[0] = [2, 2, 0]
        labels[1] = [1, 0, 0]
        labels[2] = [0, 0, 0]
        labels[3] = [1, 0, 2]
        return labels, rng.normal(size=(B, T, C)) * 2.0
    if kind == "masks":
        return (rng.random(size=(B, H, W)) < 0.4).astype(float), rng.random(size=(B, H, W))
    if kind == "embeddings":
        embeddings = rng.normal(size=(B, D))
        labels = np.array([0, 1, 0, 2, 1, 0])  # class 2 alone: no positive, loss 0
        return labels, embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
    if kind == "probabilities":
        return rng.integers(0, C, size=B), _softmax(rng.normal(size=(B, C)) * 2)
    if kind == "sequence_probabilities":
        return rng.integers(0, C, size=(B, T)), _softmax(rng.normal(size=(B, T, C)) * 2)
    raise ValueError(kind)


def losses_shape(spec: Spec) -> tuple[int, ...]:
    if spec.cls in ("Dice", "Tversky") and "axis" not in spec.options:
        return ()
    if spec.inputs == "sequence_probabilities":
        return (B, T)
    return (B,)


def weight_variants(shape: tuple[int, ...]) -> tuple[tuple[str, tuple[int, ...] | None, bool], ...]:
    """(id, sample_weight shape or None, masked) for per-sample losses of ``shape``."""
    if shape == ():  # one loss for the batch: [B] weights would enlarge it
        return (("none", None, False), ("scalar", (), False), ("B", (B,), False))
    common: tuple[tuple[str, tuple[int, ...] | None, bool], ...] = (
        ("none", None, False),
        ("scalar", (), False),
        ("B", (B,), False),
        ("B1", (B, 1), False),
        ("mask", None, True),
        ("mask+B", (B,), True),
    )
    if len(shape) == 1:
        return common
    return (*common[:4], ("BT", (B, T), False), ("BT1", (B, T, 1), False))


@dataclasses.dataclass(frozen=True)
class Case:
    spec: Spec
    y_true: np.ndarray
    y_pred: np.ndarray
    weights: dict[str, np.ndarray]
    mask: np.ndarray

    @property
    def id(self) -> str:
        return self.spec.id


def make_case(spec: Spec, index: int) -> Case:
    y_true, y_pred = inputs(spec.inputs, seed=3000 + index)
    rng = np.random.default_rng(91 + index)
    shape = losses_shape(spec)
    weights = {}
    for name, weight_shape, _ in weight_variants(shape):
        if weight_shape is None:
            continue
        values = rng.uniform(0.0, 2.0, size=weight_shape)
        if values.ndim:
            values.reshape(-1)[::4] = 0.0
        weights[name] = values.astype(np.float32)
    mask = rng.random(size=shape) < 0.7
    if mask.ndim:
        mask.reshape(-1)[1] = False
    dtype = np.float32 if y_true.dtype.kind == "f" else np.int32
    return Case(spec, y_true.astype(dtype), y_pred.astype(np.float32), weights, mask)


def cases() -> list[Case]:
    return [make_case(spec, index) for index, spec in enumerate(SPECS)]


def probes() -> dict[str, dict[str, Any]]:
    """Inputs where Keras 3 and losskit differ: each is a row of docs/deviations.md."""
    return {
        # tf_keras takes log(p + eps), Keras 3 log(p) of the clipped probabilities
        "binary_clipping": {
            "function": "binary_crossentropy",
            "y_true": _array(np.array([[0.0, 1.0, 0.0, 1.0]], np.float32)),
            "y_pred": _array(np.array([[0.0, 0.0, 1.0, 0.5]], np.float32)),
        },
        # [3, 1] targets against [3, 3] probabilities: tf_keras broadcasts, Keras 3 raises
        "binary_shapes": {
            "function": "binary_crossentropy",
            "y_true": _array(np.array([[1.0], [0.0], [1.0]], np.float32)),
            "y_pred": _array(np.full((3, 3), 0.3, np.float32)),
        },
        # float64 inputs: Keras 3's classes compute and return float32
        "float64_inputs": {
            "class": "MeanSquaredError",
            "y_true": _array(np.zeros((2, 2), np.float64)),
            "y_pred": _array(np.array([[0.1, 0.2], [0.3, 0.4]], np.float64)),
        },
        # three labels, or a repeated label, in two time steps: no alignment
        "ctc_unreachable": {
            "function": "ctc",
            "y_true": _array(np.array([[1, 2, 1], [1, 1, 0], [1, 0, 0]], np.int32)),
            "y_pred": _array(np.zeros((3, 2, 3), np.float32)),
        },
        # labels of shape [B, 1]: Keras 3's one-hot gives [B, 1, C], broadcast to [B, B]
        "generalized_label_column": {
            "function": "categorical_generalized_cross_entropy",
            "kwargs": {"q": 0.5},
            "y_true": _array(np.array([[0], [1], [0], [1]], np.int32)),
            "y_pred": _array(
                np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]], np.float32)
            ),
        },
        # one Dice loss for the batch, [B] weights: Keras 3 multiplies the scalar into [B]
        "weights_enlarge": {
            "class": "Dice",
            "y_true": _array(np.ones((3, 4), np.float32)),
            "y_pred": _array(np.full((3, 4), 0.5, np.float32)),
            "sample_weight": _array(np.array([1.0, 2.0, 3.0], np.float32)),
        },
    }


def payload() -> dict[str, Any]:
    """What ``_keras3_loss_oracle.py`` computes."""
    import losskit.losses

    return {
        "reductions": list(REDUCTIONS),
        "cases": [
            {
                "id": case.id,
                "class": case.spec.cls,
                "function": FUNCTIONS[case.spec.cls],
                "kwargs": case.spec.options,
                "y_true": _array(case.y_true),
                "y_pred": _array(case.y_pred),
                "weights": {name: _array(w) for name, w in case.weights.items()},
                "mask": _array(case.mask),
                "variants": [[n, m] for n, _, m in weight_variants(losses_shape(case.spec))],
                "losskit_config": losskit.losses.serialize(
                    getattr(losskit.losses, case.spec.cls)(reduction="sum", **case.spec.options)
                ),
            }
            for case in cases()
        ],
        "probes": probes(),
    }
