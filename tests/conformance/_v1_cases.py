"""The conformance cases of losskit.v1 against ``tf.compat.v1.losses``.

Every function spec runs on two or three input ranks, with every weight variant of its
losses' shape (omitted, a Python float, 0.0, a NumPy scalar, a 0-d array, all-ones of the
losses' rank, per example with a zero, the full shape with zeros, a per-example vector of
the wrong rank, which TensorFlow 1 refuses) and every TF1 reduction key (plus ``"sum"``,
which TensorFlow 1 refuses). Inputs are generated once, deterministically, in float32 (so
both sides compute on the same numbers); the TensorFlow subprocess
(``_v1_tf_oracle.py``) receives their exact values.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np

from tests._v1_formulas import REDUCTIONS

B, T, C = 4, 3, 5
"""Batch, time steps, classes (or features)."""


@dataclasses.dataclass(frozen=True)
class Spec:
    """A ``tf.compat.v1.losses`` function and its options (the same keywords in losskit)."""

    function: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        arguments = ",".join(f"{k}={v}" for k, v in self.options)
        return f"{self.function}({arguments})"

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)


SPECS = (
    Spec("absolute_difference"),
    Spec("mean_squared_error"),
    Spec("huber_loss"),
    Spec("huber_loss", (("delta", 0.5),)),
    Spec("log_loss"),
    Spec("log_loss", (("epsilon", 1e-3),)),
    Spec("hinge_loss"),
    Spec("cosine_distance", (("axis", -1),)),
    Spec("sigmoid_cross_entropy"),
    Spec("sigmoid_cross_entropy", (("label_smoothing", 0.2),)),
    Spec("softmax_cross_entropy"),
    Spec("softmax_cross_entropy", (("label_smoothing", 0.1),)),
    Spec("sparse_softmax_cross_entropy"),
    Spec("mean_pairwise_squared_error"),
)

CLASS_AXIS = ("softmax_cross_entropy", "sparse_softmax_cross_entropy")


@dataclasses.dataclass(frozen=True)
class Case:
    spec: Spec
    rank: int  # of labels (the logits of a class-axis loss have one more)
    labels: np.ndarray
    predictions: np.ndarray
    weights: dict[str, Any]  # variant -> a value (Python number, NumPy scalar or array)
    dtype: str = "float32"

    @property
    def id(self) -> str:
        return f"{self.spec.id}@rank{self.rank}-{self.dtype}"

    @property
    def reductions(self) -> tuple[str | None, ...]:
        """The ``reduction=`` values to run: None is the default (omitted)."""
        if self.spec.function == "mean_pairwise_squared_error":
            return (None,)
        return (None, *REDUCTIONS, "sum")

    @property
    def losses_shape(self) -> tuple[int, ...]:
        if self.spec.function == "cosine_distance":
            return (*self.labels.shape[:-1], 1)
        return tuple(self.labels.shape)


def _inputs(function: str, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[Any, Any]:
    normal = rng.normal(size=shape)
    if function in ("log_loss", "hinge_loss", "sigmoid_cross_entropy"):
        labels = rng.integers(0, 2, size=shape).astype(np.float64)
        if function == "log_loss":
            return labels, rng.uniform(0.02, 0.98, size=shape)
        return labels, 3 * normal
    if function == "cosine_distance":
        other = rng.normal(size=shape)
        unit = np.linalg.norm(normal, axis=-1, keepdims=True)
        return normal / unit, other / np.linalg.norm(other, axis=-1, keepdims=True)
    if function == "softmax_cross_entropy":
        logits = 3 * rng.normal(size=(*shape, C))
        return np.eye(C)[rng.integers(0, C, size=shape)], logits
    if function == "sparse_softmax_cross_entropy":
        return rng.integers(0, C, size=shape), 3 * rng.normal(size=(*shape, C))
    return normal, rng.normal(size=shape)


def weight_variants(shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, Any]:
    """Every weight variant for losses of ``shape``; "wrong-rank" is refused by TF1."""
    per_example = np.array([1.5, 0.0, 2.0, 0.5])[: shape[0]].reshape(
        (shape[0],) + (1,) * (len(shape) - 1)
    )
    full = rng.choice([0.0, 0.5, 1.0, 3.0], size=shape)
    variants: dict[str, Any] = {
        "omitted": None,
        "python": 2.5,
        "zero": 0.0,
        "numpy-scalar": np.float32(0.75),
        "0-d": np.asarray(1.25),
        "ones": np.ones((1,) * len(shape)),
        "per-example": per_example,
        "full": full,
    }
    if len(shape) > 1:
        variants["wrong-rank"] = np.array([1.0, 2.0, 0.0, 1.0])[: shape[0]]
    return variants


def _round(value: np.ndarray, dtype: str) -> np.ndarray:
    if value.dtype.kind == "f":
        return value.astype(dtype)
    return value.astype(np.int32)


def make_case(spec: Spec, rank: int, dtype: str = "float32") -> Case:
    rng = np.random.default_rng(zlib.crc32(f"{spec.id}@{rank}".encode()))
    if spec.function == "cosine_distance":  # vectors of C along the last axis
        shape: tuple[int, ...] = (B, C) if rank == 2 else (B, T, C)
    else:
        shape = (B, T, 2)[:rank]
    labels, predictions = _inputs(spec.function, shape, rng)
    case = Case(spec, rank, _round(labels, dtype), _round(predictions, dtype), {}, dtype)
    weights = weight_variants(case.losses_shape, rng)
    if spec.function == "sparse_softmax_cross_entropy":  # TF squeezes [B, ..., 1] weights
        weights["per-example-extra-axis"] = np.expand_dims(weights["per-example"], -1)
    return dataclasses.replace(case, weights=weights)


def cases() -> list[Case]:
    found = []
    for spec in SPECS:
        ranks = (2, 3) if spec.function == "cosine_distance" else (1, 2, 3)
        found.extend(make_case(spec, rank) for rank in ranks)
    # float64 inputs: TensorFlow 1 rounds through float32 (deviation v1-float32-inputs)
    found.extend(make_case(spec, 2, "float64") for spec in SPECS[::3])
    return found


def gradient_cases() -> list[Case]:
    """Rank-2 float32 cases, for gradients with respect to predictions/logits and weights."""
    return [case for case in cases() if case.rank == 2 and case.dtype == "float32"]


GRADIENT_WEIGHTS = ("per-example", "full")
GRADIENT_REDUCTIONS = ("weighted_sum", "weighted_mean", "weighted_sum_by_nonzero_weights")


def _array(value: Any) -> dict[str, Any]:
    array = np.asarray(value)
    return {
        "values": array.astype(np.float64).ravel().tolist(),
        "shape": list(array.shape),
        "dtype": str(array.dtype),
    }


def _weights_json(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, float):
        return {"kind": "python", "value": value}
    if isinstance(value, np.generic):
        return {"kind": "numpy-scalar", "value": float(value), "dtype": str(value.dtype)}
    return {"kind": "array", **_array(value)}


def payload() -> dict[str, Any]:
    return {
        "cases": [
            {
                "id": case.id,
                "function": case.spec.function,
                "options": case.spec.kwargs,
                "labels": _array(case.labels),
                "predictions": _array(case.predictions),
                "weights": {name: _weights_json(w) for name, w in case.weights.items()},
                "reductions": list(case.reductions),
            }
            for case in cases()
        ],
        "gradients": {
            "weights": list(GRADIENT_WEIGHTS),
            "reductions": list(GRADIENT_REDUCTIONS),
            "ids": [case.id for case in gradient_cases()],
        },
    }
