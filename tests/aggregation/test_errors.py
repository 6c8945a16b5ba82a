"""Every error of losskit.aggregation names the argument, the expectation and what it got."""

from __future__ import annotations

import numpy as np
import pytest

from losskit.aggregation import aggregate, plan, resolve_mode
from losskit.distribute import cross_replica_context, replica_context

MASK = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
SEG = np.array([[0, 0, 1], [0, 2, 2]])
LOSSES = np.ones((2, 3))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"mode": "average"},
            ValueError,
            r"Invalid `mode`: expected a canonical mode \('token-mean', 'token-sum', "
            r"'seq-mean-token-mean', 'seq-mean-token-sum', 'seq-mean-token-sum-norm', "
            r"'group-token-mean', 'group-seq-mean'\) or a framework alias "
            r"'<framework>:<name>' with a framework in .*, received 'average'",
        ),
        (
            {"mode": "token_mean"},
            ValueError,
            r"Invalid `mode`: 'token_mean' is a framework's name; give it with its framework "
            r"prefix: 'verl:token-mean' \(token-mean\), .* or the canonical 'token-mean'\.",
        ),
        (
            {"mode": None},
            ValueError,
            r"Invalid `mode`: expected a mode name \(a string\), received None",
        ),
        (
            {"mode": "group-token-mean", "num_groups": 2},
            ValueError,
            r"Invalid `group_ids`: expected a list of group ids for mode 'group-token-mean', "
            r"received None",
        ),
        (
            {"mode": "group-seq-mean", "group_ids": [np.array([0, 1])]},
            ValueError,
            r"Invalid `num_groups`: expected the number of groups \(the same on every replica\) "
            r"for mode 'group-seq-mean', received None",
        ),
        (
            {"mode": "group-seq-mean", "group_ids": [np.array([0, 1])], "num_groups": 0},
            ValueError,
            r"Invalid `num_groups`: expected a positive integer, received 0",
        ),
        (
            {"mode": "group-token-mean", "group_ids": [np.array([0.0, 1.0])], "num_groups": 2},
            TypeError,
            r"Invalid `group_ids\[0\]`: expected an array of integer dtype, received numpy "
            r"array of shape \(2,\) and dtype float64",
        ),
        (
            {"mode": "group-token-mean", "group_ids": [np.array([0, 3])], "num_groups": 3},
            ValueError,
            r"Invalid `group_ids\[0\]`: expected integers in \[0, 3\) \(`num_groups`\), "
            r"received numpy array of shape \(2,\) and dtype int64. It holds values from 0 to 3",
        ),
        (
            {"mode": "group-seq-mean", "group_ids": [np.array([-1, 0])], "num_groups": 3},
            ValueError,
            r"Invalid `group_ids\[0\]`: expected integers in \[0, 3\).* from -1 to 0",
        ),
        (
            {"mode": "group-seq-mean", "group_ids": [np.array([0, 1, 1])], "num_groups": 3},
            ValueError,
            r"Invalid `group_ids\[0\]`: expected an array of shape \(2,\) \(to match the mask\), "
            r"received numpy array of shape \(3,\)",
        ),
        (
            {
                "mode": "group-seq-mean",
                "segment_ids": [SEG],
                "group_ids": [np.array([[0, 0, 1], [1, 1, 2]])],  # (1, 2) has groups 1 and 2
                "num_groups": 3,
            },
            ValueError,
            r"Invalid `group_ids\[0\]`: expected one group per sequence \(constant over each "
            r"\(row, segment id\)\), received numpy array .* A packed sequence has tokens in two",
        ),
        (
            {"mode": "seq-mean-token-sum-norm"},
            ValueError,
            r"Invalid `max_length`: expected a positive number \(the constant L of "
            r"seq-mean-token-sum-norm\), received None",
        ),
        (
            {"mode": "seq-mean-token-sum-norm", "max_length": 0},
            ValueError,
            r"Invalid `max_length`: expected a positive, finite int or float, received 0",
        ),
        (
            {"mode": "seq-mean-token-sum-norm", "max_length": -4.0},
            ValueError,
            r"Invalid `max_length`: expected a positive, finite int or float, received -4.0",
        ),
        (
            {"mode": "seq-mean-token-sum-norm", "max_length": True},
            ValueError,
            r"Invalid `max_length`: expected a positive, finite int or float, received True",
        ),
        (
            {"mode": "seq-mean-token-mean", "segment_ids": [SEG[:, :2]]},
            ValueError,
            r"Invalid `segment_ids\[0\]`: expected an array of shape \(2, 3\) \(to match the "
            r"mask\), received numpy array of shape \(2, 2\)",
        ),
        (
            {"mode": "seq-mean-token-mean", "segment_ids": [SEG + 1]},
            ValueError,
            r"Invalid `segment_ids\[0\]`: expected integers in \[0, 3\) \(row length\), received "
            r"numpy array of shape \(2, 3\) and dtype int64. It holds values from 1 to 3",
        ),
        (
            {"mode": "seq-mean-token-mean", "segment_ids": [SEG - 1]},
            ValueError,
            r"Invalid `segment_ids\[0\]`: expected integers in \[0, 3\).* from -1 to 1",
        ),
        (
            {"mode": "seq-mean-token-mean", "segment_ids": [SEG.astype(np.float32)]},
            TypeError,
            r"Invalid `segment_ids\[0\]`: expected an array of integer dtype",
        ),
        (
            {"mode": "token-mean", "segment_ids": [SEG, SEG]},
            ValueError,
            r"Invalid `segment_ids`: expected a list of 1 arrays \(one per entry of `masks`\), "
            r"received 'a list of 2'",
        ),
        (
            {"mode": "group-token-mean", "group_ids": [], "num_groups": 2},
            ValueError,
            r"Invalid `group_ids`: expected a list of 1 arrays \(one per entry of `masks`\), "
            r"received 'a list of 0'",
        ),
        (
            {"mode": "token-mean", "segment_ids": SEG},
            ValueError,
            r"Invalid `segment_ids`: expected a list of 1 arrays \(one per entry of `masks`\), "
            r"received numpy array of shape \(2, 3\)",
        ),
        (
            {"mode": "token-mean", "count_empty": 1},
            TypeError,
            r"Invalid `count_empty`: expected True, False or None, received 1",
        ),
    ],
)
def test_plan_argument_errors(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        plan([MASK], **kwargs)


@pytest.mark.parametrize(
    ("masks", "error", "message"),
    [
        (
            MASK,
            TypeError,
            r"Invalid `masks`: expected a non-empty list of \[B, T\] masks \(one per "
            r"micro-batch\), received numpy array of shape \(2, 3\)",
        ),
        ([], TypeError, r"Invalid `masks`: expected a non-empty list of \[B, T\] masks"),
        (
            [MASK[0]],
            ValueError,
            r"Invalid `masks\[0\]`: expected a \[B, T\] mask \(one row per sequence or packed "
            r"row\), received numpy array of shape \(3,\)",
        ),
        (
            [MASK, np.array([[1.0, -1.0]])],
            ValueError,
            r"Invalid `masks\[1\]`: expected a bool mask or 0/1 numbers, received numpy array "
            r"of shape \(1, 2\) and dtype float64. It holds values from -1.0 to 1.0",
        ),
        (
            [np.array([[0.5, 1.0]])],
            ValueError,
            r"Invalid `masks\[0\]`: expected a bool mask or 0/1 numbers, .* from 0.5 to 1.0",
        ),
        (
            [np.array([[np.nan, 1.0]])],
            ValueError,
            r"Invalid `masks\[0\]`: expected a bool mask or 0/1 numbers",
        ),
        (
            [np.array([[1 + 0j]])],
            TypeError,
            r"Invalid `masks\[0\]`: expected an array of real floating, integer or bool dtype",
        ),
    ],
)
def test_mask_errors(masks, error, message) -> None:
    with pytest.raises(error, match=message):
        plan(masks, mode="token-mean")


def test_negative_mask_under_torch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"Invalid `masks\[0\]`: .* from -1.0 to 0.0"):
        plan([torch.tensor([[0.0, -1.0]])], mode="seq-mean-token-mean")


def test_loss_errors() -> None:
    p = plan([MASK, MASK], mode="token-mean")
    with pytest.raises(
        ValueError,
        match=r"Invalid `per_token_loss`: expected an array of the shape of masks\[1\], "
        r"\(2, 3\), received numpy array of shape \(3, 2\)",
    ):
        p.loss(np.ones((3, 2)), 1)
    with pytest.raises(
        IndexError,
        match=r"Invalid `micro_batch`: expected an integer in \[0, 2\) \(the index of a mask "
        r"given to `plan`\), received 2",
    ):
        p.loss(LOSSES, 2)
    with pytest.raises(IndexError, match=r"Invalid `micro_batch`: .* received -1"):
        p.weights(-1)
    with pytest.raises(IndexError, match=r"Invalid `micro_batch`: .* received True"):
        p.unscaled_loss(LOSSES, True)
    with pytest.raises(
        TypeError, match=r"Invalid `per_token_loss`: expected an array of real floating or"
    ):
        p.loss(np.ones((2, 3), dtype=bool), 0)
    with pytest.raises(
        ValueError, match=r"Invalid `per_token_loss`: expected an array of the shape of masks\[0\]"
    ):
        aggregate(np.ones(3), MASK, mode="token-sum")


def test_arrays_of_two_libraries() -> None:
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match=r"Invalid `segment_ids\[0\]`: expected an array from"):
        plan(
            [torch.ones((1, 2), dtype=torch.bool)],
            mode="token-mean",
            segment_ids=[jnp.zeros((1, 2), int)],
        )
    p = plan([torch.ones((1, 2), dtype=torch.bool)], mode="token-mean")
    with pytest.raises(TypeError, match=r"Invalid `per_token_loss`: expected an array of"):
        p.loss(jnp.ones((1, 2)), 0)


def test_context_errors() -> None:
    with (
        replica_context(2, accumulation_steps=1, all_reduce=lambda v: v),
        pytest.raises(
            ValueError,
            match=r"Invalid `masks`: expected at most accumulation_steps=1 arrays, received "
            r"'2 arrays'. Pass the micro-batches of one optimizer step.",
        ),
    ):
        plan([MASK, MASK], mode="token-mean")
    with (
        replica_context(2),
        pytest.raises(RuntimeError, match=r"plan: the context \(replica_context, 2 replicas\)"),
    ):
        plan([MASK], mode="token-mean")
    with (
        cross_replica_context(2),
        pytest.raises(RuntimeError, match=r"You are calling `plan` in cross-replica context"),
    ):
        plan([MASK], mode="token-mean")


def test_resolve_mode_lists_the_known_names() -> None:
    assert resolve_mode("group-seq-mean") == "group-seq-mean"
    with pytest.raises(ValueError, match=r"expected a canonical mode \('token-mean', .*'nope'"):
        resolve_mode("nope")
    with pytest.raises(ValueError, match=r"'dapo' is a framework's name; .* 'trl:dapo'"):
        resolve_mode("dapo")
