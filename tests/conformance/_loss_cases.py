"""The loss conformance cases: specs, generated inputs, weights, masks, reductions.

A *spec* names a loss class and its arguments the same way in tf_keras, Keras 3 and losskit
(``"CategoricalCrossentropy"`` with ``{"from_logits": True}``). Inputs are generated once,
deterministically, in float32 (labels in int32); the Keras subprocess
(``_keras_loss_oracle.py``) receives their exact values, so every side computes on the same
numbers.

Every spec runs on two input ranks (per-sample losses ``[B]`` and per-timestep losses
``[B, T]``), every reduction of the library, and every weight shape of the rank (None, a
scalar, ``[B]``, ``[B, 1]``; for ``[B, T]`` also ``[B, T]``, ``[B, T, 1]`` and a mask with and
without ``[B]`` weights).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

B, T, C = 6, 3, 5
"""Batch, time steps, classes (or features)."""


@dataclasses.dataclass(frozen=True)
class Spec:
    cls: str
    kwargs: tuple[tuple[str, Any], ...]
    inputs: str  # the generator in INPUTS
    keras3: bool = True  # Keras 3 takes these arguments too

    @property
    def id(self) -> str:
        arguments = ",".join(f"{k}={v}" for k, v in self.kwargs)
        return f"{self.cls}({arguments})[{self.inputs}]"

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.kwargs)


SPECS = (
    Spec("MeanSquaredError", (), "real"),
    Spec("MeanAbsoluteError", (), "real"),
    Spec("MeanAbsolutePercentageError", (), "real"),
    Spec("MeanSquaredLogarithmicError", (), "positive"),
    Spec("Huber", (), "real"),
    Spec("Huber", (("delta", 0.5),), "real"),
    Spec("LogCosh", (), "real"),
    Spec("CosineSimilarity", (), "real"),
    Spec("BinaryCrossentropy", (), "binary"),
    Spec("BinaryCrossentropy", (("from_logits", True), ("label_smoothing", 0.1)), "binary_logits"),
    Spec("BinaryFocalCrossentropy", (), "binary"),
    Spec(
        "BinaryFocalCrossentropy",
        (
            ("apply_class_balancing", True),
            ("alpha", 0.4),
            ("gamma", 1.5),
            ("from_logits", True),
            ("label_smoothing", 0.1),
        ),
        "binary_logits",
    ),
    Spec("CategoricalCrossentropy", (), "categorical"),
    Spec(
        "CategoricalCrossentropy",
        (("from_logits", True), ("label_smoothing", 0.2)),
        "categorical_logits",
    ),
    Spec("CategoricalFocalCrossentropy", (), "categorical"),
    Spec(
        "CategoricalFocalCrossentropy",
        (("alpha", 0.5), ("gamma", 3.0), ("from_logits", True)),
        "categorical_logits",
    ),
    Spec("SparseCategoricalCrossentropy", (), "sparse"),
    Spec("SparseCategoricalCrossentropy", (("from_logits", True),), "sparse_logits"),
    Spec(
        "SparseCategoricalCrossentropy",
        (("from_logits", True), ("ignore_class", 0)),
        "sparse_logits",
    ),
    Spec("Hinge", (), "signed"),
    Spec("Hinge", (), "binary_labels"),
    Spec("SquaredHinge", (), "signed"),
    Spec("CategoricalHinge", (), "categorical_scores"),
    Spec("KLDivergence", (), "distributions"),
    Spec("Poisson", (), "counts"),
)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def inputs(kind: str, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) of ``kind`` with ``y_pred`` of ``shape`` (last axis: classes)."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=shape)
    onehot = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    if kind == "real":
        return rng.normal(size=shape) * 2.0, normal * 2.0
    if kind == "positive":
        return rng.exponential(size=shape), rng.exponential(size=shape)
    if kind == "counts":
        return rng.poisson(2.0, size=shape).astype(float), rng.exponential(2.0, size=shape)
    if kind == "binary":
        return (rng.random(size=shape) < 0.5).astype(float), rng.uniform(0.02, 0.98, size=shape)
    if kind == "binary_logits":
        return (rng.random(size=shape) < 0.5).astype(float), normal * 3.0
    if kind == "categorical":
        return onehot, _softmax(normal * 2.0)
    if kind in ("categorical_logits", "categorical_scores"):
        return onehot, normal * 3.0
    if kind == "sparse":
        return rng.integers(0, shape[-1], size=shape[:-1]).astype(float), _softmax(normal * 2.0)
    if kind == "sparse_logits":
        return rng.integers(0, shape[-1], size=shape[:-1]).astype(float), normal * 3.0
    if kind == "signed":
        return np.where(rng.random(size=shape) < 0.5, -1.0, 1.0), normal
    if kind == "binary_labels":
        return (rng.random(size=shape) < 0.5).astype(float), normal
    if kind == "distributions":
        return _softmax(rng.normal(size=shape)), _softmax(normal)
    raise ValueError(kind)


EXTREMES: dict[str, tuple[list[Any], list[Any]]] = {
    # kind -> (y_true, y_pred): logits of +-1e4 and 0, probabilities of exactly 0 and 1
    "binary": ([[0.0, 1.0, 0.0, 1.0]], [[0.0, 1.0, 1.0, 0.0]]),
    "binary_logits": ([[0.0, 1.0, 0.0, 1.0, 0.5]], [[-1e4, 1e4, 1e4, -1e4, 0.0]]),
    "categorical": ([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),
    "categorical_logits": (
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
        [[-1e4, 1e4, 0.0], [-1e4, 1e4, 0.0]],
    ),
    "sparse": ([1.0, 0.0], [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),
    "sparse_logits": ([1.0, 0.0], [[-1e4, 1e4, 0.0], [-1e4, 1e4, 0.0]]),
    "distributions": ([[0.0, 1.0, 0.0]], [[0.5, 0.5, 0.0]]),
    "counts": ([[0.0, 3.0, 1.0]], [[0.0, 1.0, 0.0]]),
    "real": ([[0.0, 0.0, 1e4]], [[1e4, -1e4, -1e4]]),
}


TF_KERAS_REDUCTIONS = ("auto", "none", "sum", "sum_over_batch_size")
KERAS3_REDUCTIONS = ("sum_over_batch_size", "none", "sum", "mean", "mean_with_sample_weight")


def weight_variants(rank: int) -> tuple[tuple[str, tuple[int, ...] | None, bool], ...]:
    """(id, sample_weight shape or None, masked) for per-element losses of ``rank``."""
    common: tuple[tuple[str, tuple[int, ...] | None, bool], ...] = (
        ("none", None, False),
        ("scalar", (), False),
        ("B", (B,), False),
        ("B1", (B, 1), False),
    )
    if rank == 1:
        return common
    return (
        *common,
        ("BT", (B, T), False),
        ("BT1", (B, T, 1), False),
        ("mask", None, True),
        ("mask+B", (B,), True),
    )


@dataclasses.dataclass(frozen=True)
class Case:
    """One spec on one input rank: its arrays; the reductions and weights run inside."""

    spec: Spec
    rank: int  # rank of the per-element losses: 1 ([B]) or 2 ([B, T])
    y_true: np.ndarray
    y_pred: np.ndarray
    weights: dict[str, np.ndarray]
    mask: np.ndarray

    @property
    def id(self) -> str:
        return f"{self.spec.id}@rank{self.rank}"


def _sparse(spec: Spec) -> bool:
    return spec.cls == "SparseCategoricalCrossentropy"


def make_case(spec: Spec, rank: int, index: int) -> Case:
    shape = (B, C) if rank == 1 else (B, T, C)
    y_true, y_pred = inputs(spec.inputs, shape, seed=1000 + 10 * index + rank)
    if spec.options.get("ignore_class") == 0:
        y_true[0] = 0  # an ignored row (every step of it, for rank 2)
    rng = np.random.default_rng(77 + rank)
    losses_shape = shape[:-1]
    weights = {}
    for name, weight_shape, _ in weight_variants(rank):
        if weight_shape is None:
            continue
        values = rng.uniform(0.0, 2.0, size=weight_shape)
        if values.ndim:
            values.reshape(-1)[::4] = 0.0  # some zero weights
        weights[name] = values.astype(np.float32)
    mask = rng.random(size=losses_shape) < 0.7
    mask.reshape(-1)[0] = False
    dtype = np.int32 if _sparse(spec) else np.float32
    return Case(spec, rank, y_true.astype(dtype), y_pred.astype(np.float32), weights, mask)


def cases() -> list[Case]:
    return [make_case(spec, rank, i) for i, spec in enumerate(SPECS) for rank in (1, 2)]


def extreme_cases() -> list[tuple[Spec, np.ndarray, np.ndarray]]:
    """Each spec whose inputs have an extreme form, on those inputs (float32)."""
    found = []
    for spec in SPECS:
        if spec.inputs not in EXTREMES:
            continue
        y_true, y_pred = EXTREMES[spec.inputs]
        dtype = np.int32 if _sparse(spec) else np.float32
        found.append((spec, np.asarray(y_true, dtype), np.asarray(y_pred, np.float32)))
    return found


FUNCTIONS = {
    "MeanSquaredError": "mean_squared_error",
    "MeanAbsoluteError": "mean_absolute_error",
    "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
    "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error",
    "Huber": "huber",
    "LogCosh": "log_cosh",
    "CosineSimilarity": "cosine_similarity",
    "BinaryCrossentropy": "binary_crossentropy",
    "BinaryFocalCrossentropy": "binary_focal_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "Hinge": "hinge",
    "SquaredHinge": "squared_hinge",
    "CategoricalHinge": "categorical_hinge",
    "KLDivergence": "kl_divergence",
    "Poisson": "poisson",
}
"""The function form of each class (the same name in tf_keras, Keras 3 and losskit)."""

TAKES_AXIS = frozenset(
    {
        "CosineSimilarity",
        "BinaryCrossentropy",
        "BinaryFocalCrossentropy",
        "CategoricalCrossentropy",
        "CategoricalFocalCrossentropy",
    }
)
AXIS_SPECS = (
    *(spec for spec in SPECS if spec.cls in TAKES_AXIS),
    Spec("SparseCategoricalCrossentropy", (("from_logits", True),), "sparse_logits"),
)


def function_cases() -> list[tuple[str, str, dict[str, Any], np.ndarray, np.ndarray]]:
    """(id, function name, options, y_true, y_pred): every spec's function form on rank-3
    inputs, and the specs with an ``axis`` option with the class axis in the middle
    (``axis=1``, inputs ``[B, C, T]``)."""
    found = []
    for index, spec in enumerate(SPECS):
        y_true, y_pred = make_case(spec, 2, index).y_true, make_case(spec, 2, index).y_pred
        found.append((spec.id, FUNCTIONS[spec.cls], spec.options, y_true, y_pred))
    for index, spec in enumerate(AXIS_SPECS):
        case = make_case(spec, 2, 100 + index)
        y_pred = np.ascontiguousarray(np.moveaxis(case.y_pred, -1, 1))
        y_true = (
            case.y_true if _sparse(spec) else np.ascontiguousarray(np.moveaxis(case.y_true, -1, 1))
        )
        options = {**spec.options, "axis": 1}
        found.append((spec.id + "@axis1", FUNCTIONS[spec.cls], options, y_true, y_pred))
    return found


def _array(value: np.ndarray) -> dict[str, Any]:
    return {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.ravel().tolist()}


def losskit_configs() -> dict[str, Any]:
    """losskit's Keras-format configs of every spec (``reduction="sum"``, which both Keras
    versions accept), for Keras to load."""
    import losskit.losses

    return {
        spec.id: losskit.losses.serialize(
            getattr(losskit.losses, spec.cls)(reduction="sum", **spec.options)
        )
        for spec in SPECS
    }


def payload() -> dict[str, Any]:
    """What ``_keras_loss_oracle.py`` computes."""
    return {
        "losskit_configs": losskit_configs(),
        "cases": [
            {
                "id": case.id,
                "class": case.spec.cls,
                "kwargs": case.spec.options,
                "keras3": case.spec.keras3,
                "y_true": _array(case.y_true),
                "y_pred": _array(case.y_pred),
                "weights": {name: _array(w) for name, w in case.weights.items()},
                "mask": _array(case.mask),
                "variants": [[n, m] for n, _, m in weight_variants(case.rank)],
            }
            for case in cases()
        ],
        "extremes": [
            {
                "id": spec.id,
                "class": spec.cls,
                "kwargs": spec.options,
                "y_true": _array(y_true),
                "y_pred": _array(y_pred),
            }
            for spec, y_true, y_pred in extreme_cases()
        ],
        "configs": [{"id": spec.id, "class": spec.cls, "kwargs": spec.options} for spec in SPECS],
        "functions": [
            {
                "id": case_id,
                "function": name,
                "kwargs": options,
                "y_true": _array(y_true),
                "y_pred": _array(y_pred),
            }
            for case_id, name, options, y_true, y_pred in function_cases()
        ],
    }
