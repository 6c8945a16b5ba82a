"""The reference pages' examples and the gradient cases, as data for the TF subprocess.

``losskit._examples.EXAMPLES`` holds each page example's losskit computation and the number
recorded from TF 2.21; the subprocess recomputes each one the way its page writes it
(``_tf_oracle._page_examples``), keyed by ``"<page>: <name>"``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from losskit import _examples
from tests.conformance._model import TF1_KEYS, Data, array


def example_key(example: _examples.Example) -> str:
    return f"{example.page}: {example.name}"


def examples_payload() -> dict[str, Any]:
    """The pages' data and the keys of every example, for the subprocess."""
    return {
        "keys": [example_key(example) for example in _examples.EXAMPLES],
        "labels": _examples.LABELS.tolist(),
        "predictions": _examples.PREDICTIONS.tolist(),
        "sample_weight": _examples.SAMPLE_WEIGHT.tolist(),
        "kernel": _examples.KERNEL.tolist(),
        "losses": _examples.LOSSES.tolist(),
        "weights": _examples.WEIGHTS.tolist(),
        "matrix": _examples.MATRIX.tolist(),
        "row_weights": _examples.ROW_WEIGHTS.tolist(),
        "negative": list(_examples.NEG),
        "global_batch_size": _examples.GLOBAL_BATCH_SIZE,
        "num_replicas": _examples.NUM_REPLICAS,
    }


@dataclasses.dataclass(frozen=True)
class GradientCase:
    """A scalar loss whose gradients w.r.t. ``losses`` and ``weights`` are compared."""

    id: str
    api: str
    losses: Data
    weights: Data
    reduction: str | None = None
    gbs: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.api,
            "losses": self.losses.to_json(),
            "weights": self.weights.to_json(),
            "tf_reduction": TF1_KEYS.get(self.reduction or ""),
            "gbs": self.gbs,
        }


def _crossentropy() -> np.ndarray:
    """The pages' per-example losses, ``-log p[label]``, as float32."""
    picked = _examples.PREDICTIONS[np.arange(len(_examples.LABELS)), _examples.LABELS]
    return -np.log(picked)


def gradient_cases() -> list[GradientCase]:
    f32 = "float32"
    losses, weights = array(_examples.LOSSES, f32), array(_examples.WEIGHTS, f32)
    matrix, rows = array(_examples.MATRIX, f32), array(_examples.ROW_WEIGHTS, f32)
    negative = array(_examples.NEG, f32)
    cases = [
        GradientCase(f"cwl-{reduction}", "cwl", losses, weights, reduction)
        for reduction in ("sum", "sum_by_nonzero_weights", "weighted_mean", "sum_over_batch_size")
    ]
    cases += [
        GradientCase(
            "cwl-sum_by_nonzero_weights-rows", "cwl", matrix, rows, "sum_by_nonzero_weights"
        ),
        GradientCase("cwl-weighted_mean-rows", "cwl", matrix, rows, "weighted_mean"),
        GradientCase(
            "cwl-weighted_mean-zero-denominator", "cwl", losses, negative, "weighted_mean"
        ),
        GradientCase(
            "cal-page-compute_loss",
            "cal",
            array(_crossentropy(), f32),
            array(_examples.SAMPLE_WEIGHT, f32),
            gbs=_examples.GLOBAL_BATCH_SIZE,
        ),
        GradientCase("cal-default-batch", "cal", losses, weights),
        GradientCase("cal-row-weights-expanded", "cal", matrix, array([1.0, 2.0], f32)),
        GradientCase("cal-gbs-zero", "cal", losses, weights, gbs=0),
    ]
    return cases
