"""The examples of the five reference pages, written once against any array namespace.

The pages' training-loop snippets leave the data open; these fix it: four examples, three
classes, predicted probabilities ``PREDICTIONS``, integer ``LABELS``, ``SAMPLE_WEIGHT``, a
global batch of 8 over 2 replicas, and a small weight matrix ``KERNEL`` for the penalty.
Each :class:`Example` holds the number TensorFlow 2.21 gives (float32) and ``run(xp)``, the
same computation with losskit on namespace ``xp``.

Checked three ways: ``tests/test_page_examples.py`` runs every example on each ``xp`` backend
against the recorded number; the conformance suite recomputes the recorded numbers with the
live TensorFlow and tf_keras (``conformance/test_pages.py``,
``conformance/test_keras_regularizers.py``); ``docs/examples.md`` and
``docs/regularizers.md`` show them as doctests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from losskit import (
    Reduction,
    compute_average_loss,
    compute_weighted_loss,
    scale_regularization_loss,
)
from losskit.distribute import replica_context
from losskit.regularizers import L1, L1L2, L2, Regularizer

LABELS = np.array([0, 1, 2, 1])
PREDICTIONS = np.array(
    [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5], [0.3, 0.4, 0.3]], dtype=np.float32
)
SAMPLE_WEIGHT = np.array([1.0, 0.5, 2.0, 1.0], dtype=np.float32)
GLOBAL_BATCH_SIZE = 8
NUM_REPLICAS = 2
KERNEL = np.array([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]], dtype=np.float32)
LOSSES = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
WEIGHTS = np.array([1.0, 0.0, 2.0, 0.0], dtype=np.float32)
MATRIX = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
ROW_WEIGHTS = np.array([[1.0], [0.0]], dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class Example:
    """One page example: ``run(xp)`` computes it with losskit on namespace ``xp``."""

    page: str
    name: str
    code: str
    tensorflow: float | tuple[float, ...] | str
    run: Callable[[Any], Any]


def per_example_crossentropy(xp: Any) -> Any:
    """``sparse_categorical_crossentropy(LABELS, PREDICTIONS)`` = ``-log p[label]``."""
    from losskit.losses import sparse_categorical_crossentropy

    return sparse_categorical_crossentropy(xp.asarray(LABELS), xp.asarray(PREDICTIONS))


def _categorical_crossentropy(reduction: Reduction) -> Callable[[Any], Any]:
    """The Reduction page's ``CategoricalCrossentropy(reduction=...)(one_hot, predictions)``."""

    def run(xp: Any) -> Any:
        from losskit.losses import CategoricalCrossentropy

        one_hot = np.eye(PREDICTIONS.shape[1], dtype=np.float32)[LABELS]
        loss = CategoricalCrossentropy(reduction=reduction)
        return loss(xp.asarray(one_hot), xp.asarray(PREDICTIONS))

    return run


def _l2_loss(xp: Any, x: Any) -> Any:
    """``tf.nn.l2_loss``: half the sum of squares."""
    return xp.sum(x * x) / 2


def _page_compute_loss(xp: Any) -> Any:
    with replica_context(NUM_REPLICAS):
        return compute_average_loss(
            per_example_crossentropy(xp),
            sample_weight=xp.asarray(SAMPLE_WEIGHT),
            global_batch_size=GLOBAL_BATCH_SIZE,
        )


def _page_regularized_loss(xp: Any) -> Any:
    with replica_context(NUM_REPLICAS):
        loss = compute_average_loss(
            per_example_crossentropy(xp),
            sample_weight=xp.asarray(SAMPLE_WEIGHT),
            global_batch_size=GLOBAL_BATCH_SIZE,
        )
        return loss + scale_regularization_loss(_l2_loss(xp, xp.asarray(KERNEL)))


def _page_penalty(xp: Any) -> Any:
    with replica_context(NUM_REPLICAS):
        return scale_regularization_loss(_l2_loss(xp, xp.asarray(KERNEL)))


def _default_batch(xp: Any) -> Any:
    with replica_context(NUM_REPLICAS):
        return compute_average_loss(xp.asarray(LOSSES))


def _manual_scaling(xp: Any) -> Any:
    return xp.sum(per_example_crossentropy(xp)) * (1.0 / GLOBAL_BATCH_SIZE)


def _auto_in_replica_context(xp: Any) -> Any:
    with replica_context(NUM_REPLICAS):
        return _categorical_crossentropy(Reduction.AUTO)(xp)


def _cwl(losses: np.ndarray, weights: Any, reduction: Reduction) -> Callable[[Any], Any]:
    def run(xp: Any) -> Any:
        w = weights if isinstance(weights, float) else xp.asarray(weights)
        return compute_weighted_loss(xp.asarray(losses), w, reduction=reduction)

    return run


PAGE_REDUCTION = "tf.keras.losses.Reduction"
PAGE_AVERAGE = "tf.nn.compute_average_loss"
PAGE_SCALE = "tf.nn.scale_regularization_loss"
PAGE_WEIGHTED = "tf.compat.v1.losses.compute_weighted_loss"

CCE = 'CategoricalCrossentropy(reduction="{}")(one_hot(labels), predictions)'
NEG = [-1.0, 1.0, 0.0, 0.0]

EXAMPLES: tuple[Example, ...] = (
    Example(
        PAGE_REDUCTION,
        "NONE",
        CCE.format("none"),
        (0.35667497, 0.22314355, 0.6931472, 0.9162907),
        _categorical_crossentropy(Reduction.NONE),
    ),
    Example(
        PAGE_REDUCTION,
        "SUM",
        CCE.format("sum"),
        2.1892564,
        _categorical_crossentropy(Reduction.SUM),
    ),
    Example(
        PAGE_REDUCTION,
        "SUM_OVER_BATCH_SIZE",
        CCE.format("sum_over_batch_size"),
        0.5473141,
        _categorical_crossentropy(Reduction.SUM_OVER_BATCH_SIZE),
    ),
    Example(
        PAGE_REDUCTION,
        "AUTO",
        CCE.format("auto"),
        0.5473141,
        _categorical_crossentropy(Reduction.AUTO),
    ),
    Example(
        PAGE_REDUCTION,
        "AUTO, 2 replicas",
        "strategy.run(lambda: CategoricalCrossentropy()(...))",
        "ValueError",
        _auto_in_replica_context,
    ),
    Example(
        PAGE_REDUCTION,
        "global batch by hand",
        "tf.reduce_sum(loss_object(labels, predictions)) * (1. / global_batch_size)",
        0.27365705,
        _manual_scaling,
    ),
    Example(
        PAGE_REDUCTION,
        "global batch",
        "compute_average_loss(per_example_loss, global_batch_size=8)",
        0.27365705,
        lambda xp: compute_average_loss(per_example_crossentropy(xp), global_batch_size=8),
    ),
    Example(
        PAGE_AVERAGE,
        "compute_loss",
        "compute_average_loss(per_example_loss, sample_weight, global_batch_size=8)",
        0.34635398,
        _page_compute_loss,
    ),
    Example(
        PAGE_AVERAGE,
        "default batch",
        "strategy.run(lambda: compute_average_loss([1., 2., 3., 4.]))",
        1.25,
        _default_batch,
    ),
    Example(
        PAGE_SCALE,
        "penalty",
        "scale_regularization_loss(tf.nn.l2_loss(weights))",
        1.9375,
        _page_penalty,
    ),
    Example(
        PAGE_SCALE,
        "compute_loss",
        "loss += scale_regularization_loss(tf.nn.l2_loss(weights))",
        2.283854,
        _page_regularized_loss,
    ),
    Example(
        PAGE_WEIGHTED,
        "NONE",
        "losses=[1,2,3,4], weights=[1,0,2,0]",
        (1.0, 0.0, 6.0, 0.0),
        _cwl(LOSSES, WEIGHTS, Reduction.NONE),
    ),
    Example(PAGE_WEIGHTED, "SUM", "same", 7.0, _cwl(LOSSES, WEIGHTS, Reduction.SUM)),
    Example(
        PAGE_WEIGHTED, "MEAN", "same", 2.3333333, _cwl(LOSSES, WEIGHTS, Reduction.WEIGHTED_MEAN)
    ),
    Example(
        PAGE_WEIGHTED,
        "SUM_OVER_BATCH_SIZE",
        "same",
        1.75,
        _cwl(LOSSES, WEIGHTS, Reduction.SUM_OVER_BATCH_SIZE),
    ),
    Example(
        PAGE_WEIGHTED,
        "SUM_BY_NONZERO_WEIGHTS",
        "same (the default)",
        3.5,
        _cwl(LOSSES, WEIGHTS, Reduction.SUM_BY_NONZERO_WEIGHTS),
    ),
    Example(
        PAGE_WEIGHTED,
        "MEAN, weights sum to 0",
        "weights=[-1,1,0,0]",
        0.0,
        _cwl(LOSSES, np.array(NEG, np.float32), Reduction.WEIGHTED_MEAN),
    ),
    Example(
        PAGE_WEIGHTED,
        "SUM_BY_NONZERO_WEIGHTS, negative",
        "weights=[-1,1,0,0]",
        0.5,
        _cwl(LOSSES, np.array(NEG, np.float32), Reduction.SUM_BY_NONZERO_WEIGHTS),
    ),
    Example(
        PAGE_WEIGHTED,
        "scalar weight 0",
        "weights=0.",
        0.0,
        _cwl(LOSSES, 0.0, Reduction.SUM_BY_NONZERO_WEIGHTS),
    ),
    Example(
        PAGE_WEIGHTED,
        "per-row weights",
        "losses=[[1,2],[3,4]], weights=[[1],[0]]",
        1.5,
        _cwl(MATRIX, ROW_WEIGHTS, Reduction.SUM_BY_NONZERO_WEIGHTS),
    ),
    Example(
        PAGE_WEIGHTED,
        "per-row weights, SUM_OVER_BATCH_SIZE",
        "same",
        0.75,
        _cwl(MATRIX, ROW_WEIGHTS, Reduction.SUM_OVER_BATCH_SIZE),
    ),
    Example(
        PAGE_WEIGHTED,
        "rank mismatch",
        "losses=[[1,2],[3,4]], weights=[1,0]",
        "ValueError",
        _cwl(MATRIX, np.array([1.0, 0.0], np.float32), Reduction.SUM_BY_NONZERO_WEIGHTS),
    ),
)


PAGE_REGULARIZER = "tf.keras.regularizers.Regularizer"


def _ones(xp: Any) -> Any:
    return xp.asarray(np.ones((5, 5), dtype=np.float32))


def _twos(xp: Any) -> Any:
    return xp.asarray(np.ones((5, 5), dtype=np.float32) * 2.0)


def l1_reg(weight_matrix: Any) -> Any:
    """The page's custom function regularizer: ``0.01 * sum(abs(w))``, on any library."""
    xp = array_api_compat.array_namespace(weight_matrix)
    return 0.01 * xp.sum(xp.abs(weight_matrix))


class L2Regularizer(Regularizer):
    """The page's custom class regularizer: ``l2 * sum(x**2)``, on any library."""

    def __init__(self, l2: float = 0.0) -> None:
        self.l2 = l2

    def __call__(self, x: Any) -> Any:
        xp = array_api_compat.array_namespace(x)
        return self.l2 * xp.sum(xp.square(x))

    def get_config(self) -> dict[str, Any]:
        return {"l2": float(self.l2)}


def _dense_layer(xp: Any) -> Any:
    """The page's Dense example composed by hand (layer penalties are not in losskit yet):
    L1(0.01) on the ones kernel, plus L2(0.01) of the output divided by the batch size."""
    kernel, inputs = _ones(xp), _twos(xp)
    outputs = inputs @ kernel  # zero bias
    return L1(0.01)(kernel) + L2(0.01)(outputs) / inputs.shape[0]


REGULARIZER_EXAMPLES: tuple[Example, ...] = (
    Example(
        PAGE_REGULARIZER,
        "dense layer",
        "Dense(5, kernel_regularizer=L1(0.01), activity_regularizer=L2(0.01))(ones*2).losses",
        5.25,
        _dense_layer,
    ),
    Example(
        PAGE_REGULARIZER,
        "L2(2.) on ones",
        "L2(2.)(ones((5, 5)))",
        50.0,
        lambda xp: L2(2.0)(_ones(xp)),
    ),
    Example(
        PAGE_REGULARIZER,
        "l1_reg kernel",
        "l1_reg(ones((5, 5)))",
        0.25,
        lambda xp: l1_reg(_ones(xp)),
    ),
    Example(
        PAGE_REGULARIZER,
        "L2Regularizer kernel",
        "L2Regularizer(l2=0.5)(ones((5, 5)))",
        12.5,
        lambda xp: L2Regularizer(l2=0.5)(_ones(xp)),
    ),
    Example(
        PAGE_REGULARIZER,
        "L1(0.3)",
        "L1(0.3)(ones((5, 5)) * 2)",
        15.0,
        lambda xp: L1(0.3)(_twos(xp)),
    ),
    Example(
        PAGE_REGULARIZER,
        "L2(0.1)",
        "L2(0.1)(ones((5, 5)) * 2)",
        10.0,
        lambda xp: L2(0.1)(_twos(xp)),
    ),
    Example(
        PAGE_REGULARIZER,
        "L1L2(0.01, 0.01)",
        "L1L2(l1=0.01, l2=0.01)(ones((5, 5)) * 2)",
        1.5,
        lambda xp: L1L2(l1=0.01, l2=0.01)(_twos(xp)),
    ),
)
"""The Regularizer page's examples."""
