"""Every error of losskit.v1, message pinned: where TensorFlow 1 raises, losskit raises too.

Each row names the upstream situation it mirrors (TensorFlow's own tests in
``tests/conformance/peers/test_tf_v1_losses.py`` raise on the same inputs) or the
deviation it belongs to (``docs/deviations.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from losskit import v1

X = np.ones((2, 3))
LOGITS = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
WEIGHTS_HINT = r"For per-example weights, reshape them to \(2, 1\)\.$"
REDUCTION_KEYS = (
    r"^Invalid `reduction`: expected one of TensorFlow 1's keys 'none', 'weighted_sum', "
    r"'weighted_sum_over_batch_size', 'weighted_mean', 'weighted_sum_by_nonzero_weights' "
    r"\(the values of `losskit\.v1\.Reduction`\) or a `losskit\.Reduction` member, "
)
NO_SCOPE = (
    r"^Invalid `scope`: expected None \(losskit's collections hold eager arrays, which have "
    r"no graph name scope\), received "
)

BAD_INPUTS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    # -------------------------------------------------------------- None (TF: ValueError)
    (
        "labels-none",
        lambda: v1.mean_squared_error(None, X),
        ValueError,
        r"^Invalid `labels`: expected an array, received None\.$",
    ),
    (
        "predictions-none",
        lambda: v1.absolute_difference(X, None),
        ValueError,
        r"^Invalid `predictions`: expected an array, received None\.$",
    ),
    (
        "multi-class-labels-none",
        lambda: v1.sigmoid_cross_entropy(None, X),
        ValueError,
        r"^Invalid `multi_class_labels`: expected an array",
    ),
    (
        "logits-none",
        lambda: v1.softmax_cross_entropy(X, None),
        ValueError,
        r"^Invalid `logits`: expected an array, received None\.$",
    ),
    (
        "weights-none",
        lambda: v1.mean_squared_error(X, X, weights=None),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array \(1\.0 for no weighting\), received "
        r"None\.$",
    ),
    (
        "cwl-weights-none",
        lambda: v1.compute_weighted_loss(X, None),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array",
    ),
    (
        "pairwise-weights-none",
        lambda: v1.mean_pairwise_squared_error(X, X, None),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array",
    ),
    # -------------------------------------------------------------- shapes (TF: ValueError)
    (
        "predictions-shape",
        lambda: v1.mean_squared_error(X, np.ones((2, 1))),
        ValueError,
        r"^Invalid `predictions`: expected the shape of `labels` \(2, 3\), received shape \(2, "
        r"1\)\.$",
    ),
    (
        "hinge-shape",
        lambda: v1.hinge_loss(np.array([0.0, 1.0]), np.array([[-1.0], [2.1]])),
        ValueError,
        r"^Invalid `logits`: expected the shape of `labels` \(2,\), received shape \(2, 1\)\.$",
    ),
    (
        "sigmoid-shape",
        lambda: v1.sigmoid_cross_entropy(np.ones((3, 2)), X),
        ValueError,
        r"^Invalid `logits`: expected the shape of `multi_class_labels` \(3, 2\), received shape "
        r"\(2, 3\)\.$",
    ),
    (
        "softmax-shape",
        lambda: v1.softmax_cross_entropy(np.ones((2, 2)), X),
        ValueError,
        r"^Invalid `logits`: expected the shape of `onehot_labels` \(2, 2\)",
    ),
    (
        "weights-rank",
        lambda: v1.mean_squared_error(X, X, weights=np.ones(2)),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array of the same rank as `losses` \(2\) "
        r"with every dimension 1 or equal to the losses' shape \(2, 3\), received shape \(2,\)\. "
        + WEIGHTS_HINT,
    ),
    (
        "weights-dimension",
        lambda: v1.log_loss(X / 2, X / 2, weights=np.ones((2, 4))),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array of the same rank as `losses` \(2\)",
    ),
    (
        "softmax-weights-per-class",
        lambda: v1.softmax_cross_entropy(np.eye(3), np.eye(3), weights=np.ones((3, 3))),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array of the same rank as `losses` \(1\)",
    ),
    (
        "pairwise-weights-rank",
        lambda: v1.mean_pairwise_squared_error(X, X, np.ones(2)),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array of the same rank as `labels` \(2\)",
    ),
    (
        "pairwise-scalar-inputs",
        lambda: v1.mean_pairwise_squared_error(np.array(1.0), np.array(2.0)),
        ValueError,
        r"^Invalid `predictions`: expected an array with a batch axis \(rank >= 1\), received "
        r"array\(2\.\)\.$",
    ),
    (
        "softmax-scalar-logits",
        lambda: v1.softmax_cross_entropy(np.array(1.0), np.array(1.0)),
        ValueError,
        r"^Invalid `logits`: expected an array with a class axis \(rank >= 1\), received "
        r"array\(1\.\)\.$",
    ),
    (
        "sparse-scalar-logits",
        lambda: v1.sparse_softmax_cross_entropy(np.array(0), np.array(1.0)),
        ValueError,
        r"^Invalid `logits`: expected an array with a class axis",
    ),
    (
        "sparse-labels-size",
        lambda: v1.sparse_softmax_cross_entropy(np.array([[0], [1], [2]]), LOGITS),
        ValueError,
        r"^Invalid `labels`: expected the shape of `logits` \(2, 3\) without its class axis \(or "
        r"with it of size 1\), received shape \(3,\)\.$",
    ),
    (
        "sparse-labels-rank",
        lambda: v1.sparse_softmax_cross_entropy(np.array([[0, 1], [2, 1]]), LOGITS),
        ValueError,
        r"received shape \(2, 2\)\.$",
    ),
    (
        "sparse-weights-squeeze",
        lambda: v1.sparse_softmax_cross_entropy(np.array([0, 1]), LOGITS, np.ones((2, 3))),
        ValueError,
        r"^Invalid `weights`: with rank 2, one more than `labels` \(1\), the last dimension must "
        r"be 1 to be squeezed; received shape \(2, 3\) for labels of shape \(2,\)\.$",
    ),
    (
        "sparse-weights-size",
        lambda: v1.sparse_softmax_cross_entropy(np.array([0, 1]), LOGITS, np.ones(4)),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array of the same rank as `losses` \(1\) "
        r"with every dimension 1 or equal to the losses' shape \(2,\), received shape \(4,\)\.$",
    ),
    (
        "sparse-label-range",
        lambda: v1.sparse_softmax_cross_entropy(np.array([0, 3]), LOGITS),
        ValueError,
        r"^Invalid `labels`: expected class indices in \[0, 3\), received a label 3\.$",
    ),
    (
        "sparse-label-negative",
        lambda: v1.sparse_softmax_cross_entropy(np.array([-1, 0]), LOGITS),
        ValueError,
        r"^Invalid `labels`: expected class indices in \[0, 3\), received a label -1\.$",
    ),
    # ------------------------------------ dtypes (TF: InvalidArgumentError; deviation error-types)
    (
        "sigmoid-integer-logits",
        lambda: v1.sigmoid_cross_entropy(X, np.ones((2, 3), int)),
        TypeError,
        r"^Invalid `logits`: expected an array of real floating dtype, received numpy array of "
        r"shape \(2, 3\) and dtype int64\.$",
    ),
    (
        "sparse-float-labels",
        lambda: v1.sparse_softmax_cross_entropy(np.array([0.0, 1.0]), LOGITS),
        TypeError,
        r"^Invalid `labels`: expected an array of integer class indices, received numpy array of "
        r"shape \(2,\) and dtype float64\.$",
    ),
    (
        "sparse-bool-labels",
        lambda: v1.sparse_softmax_cross_entropy(np.array([True, False]), LOGITS),
        TypeError,
        r"^Invalid `labels`: expected an array of integer class indices",
    ),
    (
        "bool-predictions",
        lambda: v1.absolute_difference(X, X > 0),
        TypeError,
        r"^Invalid `predictions`: expected an array of real floating or integer dtype",
    ),
    (
        "complex-labels",
        lambda: v1.absolute_difference(np.array([1j, 1j]), np.ones(2)),
        TypeError,
        r"^Invalid `labels`: expected an array of real floating, integer or bool dtype",
    ),
    (
        "string-predictions",
        lambda: v1.mean_squared_error(np.ones(1), np.array(["a"])),
        TypeError,
        r"^Invalid `predictions`: expected an array of real floating or integer dtype, received "
        r"numpy array of shape \(1,\) and dtype <U1\.$",
    ),
    # -------------------------------------------------------------- reduction (TF: ValueError)
    (
        "reduction-keras",
        lambda: v1.mean_squared_error(X, X, reduction="sum"),
        ValueError,
        REDUCTION_KEYS
        + r"received 'sum'\. TensorFlow 1 spells 'sum' as 'weighted_sum' \(`Reduction\.SUM`\)\.$",
    ),
    (
        "reduction-mean",
        lambda: v1.huber_loss(X, X, reduction="mean"),
        ValueError,
        REDUCTION_KEYS
        + r"received 'mean'\. TensorFlow 1 spells 'mean' as 'weighted_sum_over_batch_size' "
        r"\(`Reduction\.SUM_OVER_BATCH_SIZE`\)\.$",
    ),
    (
        "reduction-keras3-only",
        lambda: v1.compute_weighted_loss(X, reduction="mean_with_sample_weight"),
        ValueError,
        r"received 'mean_with_sample_weight'\. 'mean_with_sample_weight' has no TensorFlow 1 "
        r"name: pass `losskit\.Reduction\.MEAN_WITH_SAMPLE_WEIGHT`\.$",
    ),
    (
        "reduction-unknown",
        lambda: v1.Reduction.validate("avg"),
        ValueError,
        REDUCTION_KEYS + r"received 'avg'\.$",
    ),
    (
        "reduction-type",
        lambda: v1.log_loss(X / 2, X / 2, reduction=3),
        ValueError,
        REDUCTION_KEYS + r"received 3\.$",
    ),
    # -------------------------------------------------- options (deviation v1-option-checks)
    (
        "delta-negative",
        lambda: v1.huber_loss(X, X, delta=-1.0),
        ValueError,
        r"^Invalid `delta`: expected a finite number >= 0, received -1\.0\.$",
    ),
    (
        "epsilon-nan",
        lambda: v1.log_loss(X / 2, X / 2, epsilon=float("nan")),
        ValueError,
        r"^Invalid `epsilon`: expected a finite number >= 0, received nan\.$",
    ),
    (
        "smoothing-negative",
        lambda: v1.sigmoid_cross_entropy(X, X, label_smoothing=-0.1),
        ValueError,
        r"^Invalid `label_smoothing`: expected a number in \[0, 1\], received -0\.1\.$",
    ),
    (
        "smoothing-above-one",
        lambda: v1.softmax_cross_entropy(X, X, label_smoothing=1.5),
        ValueError,
        r"^Invalid `label_smoothing`: expected a number in \[0, 1\], received 1\.5\.$",
    ),
    # ----------------------------------- cosine axis (TF: ValueError / InvalidArgumentError)
    (
        "axis-missing",
        lambda: v1.cosine_distance(X, X),
        ValueError,
        r"^Invalid `axis`: expected an axis \(or axes\) of the inputs, received None\.$",
    ),
    (
        "axis-and-dim",
        lambda: v1.cosine_distance(X, X, axis=1, dim=1),
        ValueError,
        r"^Invalid `axis`: give `axis` or its old name `dim`, not both\.$",
    ),
    (
        "axis-bool",
        lambda: v1.cosine_distance(X, X, axis=True),
        ValueError,
        r"^Invalid `axis`: expected an integer or a sequence of integers, received True\.$",
    ),
    (
        "axis-range",
        lambda: v1.cosine_distance(X, X, axis=2),
        ValueError,
        r"^Invalid `axis`: expected an integer in \[-2, 2\), received 2\.$",
    ),
    (
        "axis-repeated",
        lambda: v1.cosine_distance(X, X, axis=[1, -1]),
        ValueError,
        r"^Invalid `axis`: expected distinct axes, received \[1, -1\]\.$",
    ),
    (
        "cosine-scalar-inputs",
        lambda: v1.cosine_distance(np.array(1.0), np.array(1.0), axis=0),
        ValueError,
        r"^Invalid `predictions`: expected an array with an axis \(rank >= 1\)",
    ),
    # -------------------------------------------------------------- collections
    (
        "get-losses-scope",
        lambda: _in_block(lambda: v1.get_losses("tower_1")),
        ValueError,
        NO_SCOPE + r"'tower_1'\. To read another collection, pass `loss_collection=\.\.\.`\.$",
    ),
    (
        "get-total-loss-scope",
        lambda: _in_block(lambda: v1.get_total_loss(scope="s")),
        ValueError,
        NO_SCOPE + r"'s'\.$",
    ),
    (
        "regularization-losses-scope",
        lambda: _in_block(lambda: v1.get_regularization_losses("s")),
        ValueError,
        NO_SCOPE + r"'s'\.$",
    ),
    (
        "regularization-loss-scope",
        lambda: _in_block(lambda: v1.get_regularization_loss("s")),
        ValueError,
        NO_SCOPE + r"'s'\.$",
    ),
    (
        "add-loss-outside",
        lambda: v1.add_loss(1.0),
        RuntimeError,
        r"^`add_loss` needs an active loss collection: wrap the training step in `with "
        r"losskit\.v1\.collect_losses\(\) as losses:`\.$",
    ),
    (
        "regularization-loss-outside",
        lambda: v1.get_regularization_loss(),
        RuntimeError,
        r"^`get_regularization_loss` needs an active loss collection",
    ),
    (
        "regularization-losses-outside",
        lambda: v1.get_regularization_losses(),
        RuntimeError,
        r"^`get_regularization_losses` needs an active loss collection",
    ),
]


def _in_block(call: Callable[[], Any]) -> Any:
    with v1.collect_losses():
        return call()


@pytest.mark.parametrize(
    ("call", "error", "match"), [row[1:] for row in BAD_INPUTS], ids=[row[0] for row in BAD_INPUTS]
)
def test_bad_input(call: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_ids_are_unique() -> None:
    assert len({row[0] for row in BAD_INPUTS}) == len(BAD_INPUTS)


def test_add_loss_without_a_collection_needs_no_block() -> None:
    """TensorFlow 1's ``add_loss(loss, loss_collection=None)`` adds nowhere."""
    value = np.array(1.0)
    assert v1.add_loss(value, None) is value


def test_scope_is_accepted_and_ignored_by_the_loss_functions() -> None:
    assert float(v1.mean_squared_error(X, 2 * X, scope="tower_0")) == 1.0
    assert float(v1.compute_weighted_loss(X, 1.0, "tower_0")) == 1.0
