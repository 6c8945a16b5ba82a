"""Every error message, pinned: the argument, the expectation, and what was received."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import losskit
from losskit import (
    Reduction,
    compute_average_loss,
    compute_weighted_loss,
    scale_regularization_loss,
)
from losskit.distribute import cross_replica_context, replica_context


def _torch(*values, **kwargs):
    import torch

    return torch.tensor(*values, **kwargs)


def _jax(value):
    import jax.numpy as jnp

    return jnp.asarray(value)


def _in_replicas(call: Callable[[], object], replicas: int = 2) -> Callable[[], object]:
    def run() -> object:
        with replica_context(replicas):
            return call()

    return run


def _cross(call: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with cross_replica_context(2):
            return call()

    return run


ONES = np.ones(4)
M22 = np.ones((2, 2))

BAD_INPUTS = [
    # -------------------------------------------------------------- reduction
    (
        "reduction-unknown",
        lambda: compute_weighted_loss(ONES, reduction="avg"),
        ValueError,
        r"^Invalid `reduction`: expected one of 'auto', 'none', 'sum', .* received 'avg'\.$",
    ),
    (
        "reduction-typo",
        lambda: compute_weighted_loss(ONES, reduction="weighted_sums"),
        ValueError,
        r"received 'weighted_sums'\. Did you mean 'weighted_sum'\?",
    ),
    (
        "reduction-int",
        lambda: compute_weighted_loss(ONES, reduction=1),
        ValueError,
        r"Invalid `reduction`: .* received 1\.$",
    ),
    (
        "reduction-MEAN",
        lambda: Reduction.MEAN,
        AttributeError,
        r"^`Reduction.MEAN` is ambiguous: TensorFlow 1's MEAN divides by the sum of the weights",
    ),
    (
        "reduction-local-mean-replicas",
        _in_replicas(lambda: compute_weighted_loss(ONES, reduction="auto")),
        ValueError,
        r"^Invalid `reduction`: 'auto' divides by the local batch, which is wrong "
        r"inside a replica context with 2 replicas",
    ),
    (
        "reduction-local-mean-replicas-default",
        _in_replicas(lambda: compute_weighted_loss(ONES), replicas=3),
        ValueError,
        r"'sum_by_nonzero_weights' divides by the local batch, which is wrong inside a replica "
        r"context with 3 replicas",
    ),
    # -------------------------------------------------------------- losses
    (
        "losses-none",
        lambda: compute_weighted_loss(None),
        TypeError,
        r"^Invalid `losses`: expected an array, a Python number or a list of numbers, "
        r"received None\.$",
    ),
    (
        "losses-string",
        lambda: compute_weighted_loss("1.0"),
        TypeError,
        r"^Invalid `losses`: expected an array, .* received '1.0'\.$",
    ),
    (
        "losses-ragged",
        lambda: compute_weighted_loss([[1.0], [1.0, 2.0]]),
        TypeError,
        r"^Invalid `losses`: expected an array, a Python number or a list of numbers",
    ),
    (
        "losses-object",
        lambda: compute_weighted_loss([object()]),
        TypeError,
        r"^Invalid `losses`: expected numeric values, received \[<object object",
    ),
    (
        "losses-bool",
        lambda: compute_weighted_loss(np.array([True, False])),
        TypeError,
        r"^Invalid `losses`: expected an array of real floating or integer dtype, received numpy "
        r"array of shape \(2,\) and dtype bool\.$",
    ),
    (
        "losses-complex",
        lambda: compute_average_loss(np.array([1 + 1j, 2])),
        TypeError,
        r"^Invalid `per_example_loss`: expected an array of real floating or integer dtype, "
        r"received numpy array of shape \(2,\) and dtype complex128\.$",
    ),
    (
        "losses-torch-bool",
        lambda: compute_average_loss(_torch([True])),
        TypeError,
        r"Invalid `per_example_loss`: .* received torch array of shape \(1,\) and dtype torch.bool",
    ),
    (
        "losses-rank0",
        lambda: compute_average_loss(np.float64(5.0)),
        ValueError,
        r"^Invalid `per_example_loss`: expected an array of rank >= 1 \(one loss per example\), "
        r"received np\.float64\(5\.0\)\. To scale a scalar loss, use "
        r"`scale_regularization_loss`\.$",
    ),
    (
        "losses-rank0-torch",
        lambda: compute_average_loss(_torch(5.0)),
        ValueError,
        r"received torch array of shape \(\) and dtype torch.float32",
    ),
    # -------------------------------------------------------------- weights (TF1 rule)
    (
        "weights-none",
        lambda: compute_weighted_loss(ONES, None),
        TypeError,
        r"^Invalid `weights`: expected an array, a Python number or a list of numbers, "
        r"received None",
    ),
    (
        "weights-complex",
        lambda: compute_weighted_loss(ONES, np.ones(4) * 1j),
        TypeError,
        r"^Invalid `weights`: expected an array of real floating, integer or bool dtype",
    ),
    (
        "weights-rank",
        lambda: compute_weighted_loss(M22, np.ones(2)),
        ValueError,
        r"^Invalid `weights`: expected a scalar or an array of the same rank as `losses` "
        r"\(2\) with "
        r"every dimension 1 or equal to the losses' shape \(2, 2\), received shape \(2,\)\. For "
        r"per-example weights, reshape them to \(2, 1\)\.$",
    ),
    (
        "weights-dim",
        lambda: compute_weighted_loss(M22, np.ones((1, 3))),
        ValueError,
        r"received shape \(1, 3\)\.$",
    ),
    (
        "weights-larger",
        lambda: compute_weighted_loss(np.ones((1, 2)), np.ones((3, 2))),
        ValueError,
        r"losses' shape \(1, 2\), received shape \(3, 2\)",
    ),
    (
        "weights-other-library",
        lambda: compute_weighted_loss(_torch([1.0]), _jax([1.0])),
        TypeError,
        r"^Invalid `weights`: expected an array from the same library as `losses` "
        r"\(array_api_compat.torch\), received jax",
    ),
    # -------------------------------------------------------------- sample_weight (TF2 rule)
    (
        "sample-weight-squeeze",
        lambda: compute_average_loss(M22, np.ones((2, 2, 2))),
        ValueError,
        r"^Invalid `sample_weight`: with rank 3, one more than `per_example_loss` \(2\), the last "
        r"dimension must be 1 to be squeezed; received shape \(2, 2, 2\) for losses of shape "
        r"\(2, 2\)\.$",
    ),
    (
        "sample-weight-broadcast",
        lambda: compute_average_loss(np.ones((2, 3, 4)), np.ones(2)),
        ValueError,
        r"^Invalid `sample_weight`: expected a shape that broadcasts to the shape of "
        r"`per_example_loss` \(2, 3, 4\) \(after adding or removing one trailing axis\), "
        r"received shape \(2,\)\.",
    ),
    (
        "sample-weight-grows-batch",
        lambda: compute_average_loss(np.ones((1, 3)), np.ones(3)),
        ValueError,
        r"received shape \(3, 1\)\. Weights may not enlarge the losses",
    ),
    (
        "sample-weight-string",
        lambda: compute_average_loss(ONES, "heavy"),
        TypeError,
        r"^Invalid `sample_weight`: expected an array, a Python number or a list of numbers",
    ),
    # -------------------------------------------------------------- global_batch_size
    (
        "gbs-bool",
        lambda: compute_average_loss(ONES, global_batch_size=True),
        TypeError,
        r"^Invalid `global_batch_size`: expected an integer or a float, or a 0-d array of integer "
        r"or floating dtype, received True\.$",
    ),
    (
        "gbs-string",
        lambda: compute_average_loss(ONES, global_batch_size="8"),
        TypeError,
        r"^Invalid `global_batch_size`: .* received '8'\.$",
    ),
    (
        "gbs-complex",
        lambda: compute_average_loss(ONES, global_batch_size=np.complex64(2)),
        TypeError,
        r"^Invalid `global_batch_size`: expected an integer or a float",
    ),
    (
        "gbs-list",
        lambda: compute_average_loss(ONES, global_batch_size=[8]),
        ValueError,
        r"^Invalid `global_batch_size`: expected a scalar, received \[8\]\. Sum or index it down "
        r"to a single value first\.$",
    ),
    (
        "gbs-numpy-vector",
        lambda: compute_average_loss(ONES, global_batch_size=np.array([2])),
        ValueError,
        r"expected a scalar, received numpy array of shape \(1,\)",
    ),
    (
        "gbs-negative",
        lambda: compute_average_loss(ONES, global_batch_size=-1),
        ValueError,
        r"^Invalid `global_batch_size`: expected a finite number >= 0, received -1\.$",
    ),
    (
        "gbs-nan",
        lambda: compute_average_loss(ONES, global_batch_size=float("nan")),
        ValueError,
        r"expected a finite number >= 0, received nan\.",
    ),
    (
        "gbs-inf",
        lambda: compute_average_loss(ONES, global_batch_size=np.float32(np.inf)),
        ValueError,
        r"expected a finite number >= 0, received np.float32\(inf\)\.",
    ),
    (
        "gbs-torch-negative",
        lambda: compute_average_loss(_torch([1.0]), global_batch_size=_torch(-3)),
        ValueError,
        r"expected a finite number >= 0, received torch array of shape \(\)",
    ),
    (
        "gbs-torch-vector",
        lambda: compute_average_loss(_torch([1.0]), global_batch_size=_torch([3])),
        ValueError,
        r"expected a scalar, received torch array of shape \(1,\)",
    ),
    (
        "gbs-torch-bool",
        lambda: compute_average_loss(_torch([1.0]), global_batch_size=_torch(True)),
        TypeError,
        r"expected an integer or a float, or a 0-d array of integer or floating dtype, received "
        r"torch array of shape \(\) and dtype torch.bool",
    ),
    (
        "gbs-jax-negative",
        lambda: compute_average_loss(_jax([1.0]), global_batch_size=_jax(-2.0)),
        ValueError,
        r"expected a finite number >= 0, received jax",
    ),
    (
        "gbs-other-library",
        lambda: compute_average_loss(_torch([1.0]), global_batch_size=_jax(2)),
        TypeError,
        r"^Invalid `global_batch_size`: expected an array from the same library as "
        r"`per_example_loss`",
    ),
    # -------------------------------------------------------------- contexts
    (
        "cal-cross-replica",
        _cross(lambda: compute_average_loss(ONES)),
        RuntimeError,
        r"^You are calling `compute_average_loss` in cross-replica context, while it was expected "
        r"to be called in replica context\. Call it inside `losskit.distribute.replica_context"
        r"\(\.\.\.\)`, i\.e\. in the per-replica step, or pass `global_batch_size` explicitly\.$",
    ),
    (
        "srl-cross-replica",
        _cross(lambda: scale_regularization_loss(1.0)),
        RuntimeError,
        r"^You are calling `scale_regularization_loss` in cross-replica context, .* per-replica "
        r"step\.$",
    ),
    (
        "srl-none",
        lambda: scale_regularization_loss(None),
        TypeError,
        r"^Invalid `regularization_loss`: expected an array, a Python number or a list of numbers",
    ),
    (
        "srl-bool",
        lambda: scale_regularization_loss(np.array(True)),
        TypeError,
        r"^Invalid `regularization_loss`: expected an array of real floating or integer dtype",
    ),
    (
        "num-replicas",
        lambda: replica_context(0),
        ValueError,
        r"^Invalid `num_replicas`: expected a positive integer, received 0\.$",
    ),
    (
        "replica-id",
        lambda: replica_context(2, replica_id=2),
        ValueError,
        r"^Invalid `replica_id`: expected an integer in \[0, 2\) for 2 replicas, received 2\.$",
    ),
    # -------------------------------------------------------------- collections
    (
        "collections-outside",
        lambda: losskit.v1.get_losses(),
        RuntimeError,
        r"^`get_losses` needs an active loss collection: wrap the training step in "
        r"`with losskit.v1.collect_losses\(\) as losses:`\.$",
    ),
    (
        "collections-name",
        lambda: losskit.v1.LossCollections().add(1.0, ""),
        TypeError,
        r"^Invalid `collection`: expected a non-empty string, received ''\.$",
    ),
]


def test_the_table_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 30
    assert len({row[0] for row in BAD_INPUTS}) == len(BAD_INPUTS)


@pytest.mark.parametrize(
    ("call", "error", "match"), [row[1:] for row in BAD_INPUTS], ids=[row[0] for row in BAD_INPUTS]
)
def test_bad_input(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
