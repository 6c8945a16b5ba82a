"""The reference pages' examples and the gradient cases, as data for the TF subprocess.

``tests._page_examples.EXAMPLES`` holds each page example's losskit computation and the number
recorded from TF 2.21; the subprocess recomputes each one the way its page writes it
(``_tf_oracle._page_examples``), keyed by ``"<page>: <name>"``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tests import _page_examples as page_examples
from tests.conformance._model import TF1_KEYS, Data, array


def example_key(example: page_examples.Example) -> str:
    return f"{example.page}: {example.name}"


def examples_payload() -> dict[str, Any]:
    """The pages' data and the keys of every example, for the subprocess."""
    return {
        "keys": [example_key(example) for example in page_examples.EXAMPLES],
        "labels": page_examples.LABELS.tolist(),
        "predictions": page_examples.PREDICTIONS.tolist(),
        "sample_weight": page_examples.SAMPLE_WEIGHT.tolist(),
        "kernel": page_examples.KERNEL.tolist(),
        "losses": page_examples.LOSSES.tolist(),
        "weights": page_examples.WEIGHTS.tolist(),
        "matrix": page_examples.MATRIX.tolist(),
        "row_weights": page_examples.ROW_WEIGHTS.tolist(),
        "negative": list(page_examples.NEG),
        "global_batch_size": page_examples.GLOBAL_BATCH_SIZE,
        "num_replicas": page_examples.NUM_REPLICAS,
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
    picked = page_examples.PREDICTIONS[np.arange(len(page_examples.LABELS)), page_examples.LABELS]
    return -np.log(picked)


def gradient_cases() -> list[GradientCase]:
    f32 = "float32"
    losses, weights = array(page_examples.LOSSES, f32), array(page_examples.WEIGHTS, f32)
    matrix, rows = array(page_examples.MATRIX, f32), array(page_examples.ROW_WEIGHTS, f32)
    negative = array(page_examples.NEG, f32)
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
            array(page_examples.SAMPLE_WEIGHT, f32),
            gbs=page_examples.GLOBAL_BATCH_SIZE,
        ),
        GradientCase("cal-default-batch", "cal", losses, weights),
        GradientCase("cal-row-weights-expanded", "cal", matrix, array([1.0, 2.0], f32)),
        GradientCase("cal-gbs-zero", "cal", losses, weights, gbs=0),
    ]
    return cases
