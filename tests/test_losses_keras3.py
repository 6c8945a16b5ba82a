"""Keras 3's losses that tf_keras lacks (CTC, Dice, Tversky, Circle, the generalized
crossentropy) on every backend: values against float64 NumPy oracles written here (the CTC's
by enumerating every alignment), every reduction with sample weights, gradients against
finite differences of the oracles, configs, names and errors.

Keras 3 itself is the oracle of ``tests/conformance/test_keras3_losses.py``.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from losskit import Reduction
from losskit import losses as L
from tests._helpers import Backend, assert_close, central_differences
from tests.test_losses import assert_round_trip

EPS = 1e-7


# ----------------------------------------------------------------------------- oracles


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _collapse(path: tuple[int, ...]) -> list[int]:
    """An alignment's label sequence: repeats merged, then blanks (0) dropped."""
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    return [c for c in merged if c != 0]


def ctc_oracle(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """-log of the summed probability of every alignment, by enumeration (C ** T paths)."""
    log_p = _log_softmax(logits.astype(np.float64))
    steps, classes = log_p.shape[1:]
    losses = []
    for row, scores in zip(labels, log_p, strict=True):
        target = [int(c) for c in row[: np.count_nonzero(row)]]
        total = -math.inf
        for path in itertools.product(range(classes), repeat=steps):
            if _collapse(path) == target:
                total = np.logaddexp(total, sum(scores[t, c] for t, c in enumerate(path)))
        losses.append(-total)
    return np.array(losses)


def dice_oracle(z: np.ndarray, p: np.ndarray, axis: Any) -> np.ndarray:
    axis = tuple(axis) if isinstance(axis, list) else axis
    return 1 - 2 * (z * p).sum(axis) / (z.sum(axis) + p.sum(axis) + EPS)


def tversky_oracle(z: np.ndarray, p: np.ndarray, alpha: float, beta: float, axis: Any) -> Any:
    axis = tuple(axis) if isinstance(axis, list) else axis
    hits = (z * p).sum(axis)
    return 1 - hits / (
        hits + alpha * (z * (1 - p)).sum(axis) + beta * ((1 - z) * p).sum(axis) + EPS
    )


def circle_oracle(
    labels: np.ndarray,
    embeddings: np.ndarray,
    gamma: float = 80.0,
    margin: float = 0.4,
    remove_diagonal: bool = True,
) -> np.ndarray:
    """Sun et al.'s Circle loss, one query at a time (Keras 3's weights and margins)."""
    losses = []
    for i in range(len(labels)):
        pull, push = [], []
        for j in range(len(labels)):
            d = max(1.0 - float(embeddings[i] @ embeddings[j]), 0.0)
            if labels[i] == labels[j]:
                if not (remove_diagonal and i == j):
                    pull.append(-gamma * max(margin + d, 0.0) * (margin - d))
            else:
                push.append(gamma * max(1 + margin - d, 0.0) * (1 - margin - d))
        if not pull or not push:
            losses.append(0.0)
            continue
        losses.append(np.logaddexp(0.0, np.logaddexp.reduce(pull) + np.logaddexp.reduce(push)))
    return np.array(losses)


def generalized_oracle(labels: np.ndarray, p: np.ndarray, q: float) -> np.ndarray:
    picked = np.take_along_axis(p, labels[..., None].astype(int), -1)[..., 0]
    return (1 - picked**q) / q


RNG = np.random.default_rng(21)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _probabilities(shape: tuple[int, ...]) -> np.ndarray:
    e = np.exp(RNG.normal(size=shape))
    return e / e.sum(-1, keepdims=True)


# name -> (class, options, function, y_true, y_pred, float64 oracle of the per-sample losses)
CASES: dict[str, tuple[Any, dict[str, Any], Callable[..., Any], np.ndarray, np.ndarray, Any]] = {
    "ctc": (
        L.CTC,
        {},
        L.ctc,
        np.array([[1, 2, 0], [2, 2, 0], [3, 1, 2], [0, 0, 0]]),  # a repeat; an empty label
        RNG.normal(size=(4, 4, 4)) * 2,  # 4 ** 4 alignments for the oracle to enumerate
        ctc_oracle,
    ),
    "dice": (
        L.Dice,
        {"axis": [1, 2]},
        L.dice,
        (RNG.random((4, 3, 5)) < 0.4) * 1.0,
        RNG.random((4, 3, 5)),
        lambda z, p: dice_oracle(z, p, (1, 2)),
    ),
    "tversky": (
        L.Tversky,
        {"alpha": 0.7, "beta": 0.2, "axis": -1},
        L.tversky,
        (RNG.random((4, 6)) < 0.5) * 1.0,
        RNG.random((4, 6)),
        lambda z, p: tversky_oracle(z, p, 0.7, 0.2, -1),
    ),
    "circle": (
        L.Circle,
        {"gamma": 4.0, "margin": 0.25},
        L.circle,
        np.array([0, 0, 1, 1, 2, 0]),  # class 2 has no positive: loss 0, masked
        _unit(RNG.normal(size=(6, 3))),
        lambda z, p: circle_oracle(z, p, gamma=4.0, margin=0.25),
    ),
    "generalized": (
        L.CategoricalGeneralizedCrossEntropy,
        {"q": 0.7},
        L.categorical_generalized_cross_entropy,
        np.array([0, 2, 1, 3]),
        _probabilities((4, 4)),
        lambda z, p: generalized_oracle(z, p, 0.7),
    ),
}


def _to(xp: Backend, value: np.ndarray, dtype: str = "float64") -> Any:
    return xp.asarray(value, "int64" if value.dtype.kind == "i" else dtype)


def _grad(xp: Backend, fn: Callable[[Any], Any], array: Any) -> np.ndarray:
    """The gradient of the scalar ``fn(array)``; jitted on JAX (CTC's loop over time steps
    costs a dispatch per operation when eager)."""
    if xp.name == "jax":
        import jax

        return np.asarray(jax.jit(jax.grad(fn))(array))
    (gradient,) = xp.grad(fn, array)
    return gradient


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("name", list(CASES))
def test_function_forms_match_float64(xp: Backend, name: str) -> None:
    _, options, function, y_true, y_pred, oracle = CASES[name]
    got = xp.run(lambda t, p: function(t, p, **options), _to(xp, y_true), _to(xp, y_pred))
    assert xp.dtype_name(got) == "float64"
    assert_close(xp.numpy(got), oracle(y_true, y_pred), rtol=1e-10, atol=1e-12)


def _expected(per: np.ndarray, weights: np.ndarray, valid: np.ndarray, reduction: str) -> Any:
    """Every reduction by hand: masked (invalid) entries weigh 0 and are not counted."""
    full = np.broadcast_to(weights, per.shape) * valid
    total = (per * full).sum()
    count = valid.sum()
    if reduction == "none":
        return per * full
    return {
        "sum": total,
        "auto": total / count if count else 0.0,
        "sum_over_batch_size": total / count if count else 0.0,
        "weighted_mean": total / full.sum(),
        "sum_by_nonzero_weights": total / np.count_nonzero(full),
        "mean_with_sample_weight": total / full.sum(),
    }[reduction]


@pytest.mark.parametrize("reduction", Reduction.all())
@pytest.mark.parametrize("name", list(CASES))
def test_every_reduction_with_sample_weights(xp: Backend, name: str, reduction: str) -> None:
    cls, options, _, y_true, y_pred, oracle = CASES[name]
    per = oracle(y_true, y_pred)
    weights = RNG.uniform(0.5, 2.0, size=per.shape)
    weights[1] = 0.0
    valid = per > 0 if name == "circle" else np.ones(per.shape, bool)  # Keras 3's mask
    loss = cls(reduction=reduction, **options)
    got = xp.run(
        lambda t, p, w: loss(t, p, sample_weight=w),
        _to(xp, y_true),
        _to(xp, y_pred),
        _to(xp, weights),
    )
    expected = _expected(per, weights, valid, reduction)
    assert tuple(got.shape) == np.shape(expected)
    assert_close(xp.numpy(got), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_and_float16_follow_y_pred(xp: Backend, name: str) -> None:
    cls, options, _, y_true, y_pred, oracle = CASES[name]
    for dtype, tolerance in (("float32", 2e-5), ("float16", 5e-3)):
        if not xp.supports(dtype):
            continue
        got = xp.run(lambda t, p: cls(**options)(t, p), _to(xp, y_true), _to(xp, y_pred, dtype))
        assert xp.dtype_name(got) == dtype
        rounded = np.asarray(xp.numpy(_to(xp, y_pred, dtype)), np.float64)
        per = oracle(y_true, rounded)
        valid = per > 0 if name == "circle" else np.ones(per.shape, bool)
        expected = _expected(per, np.ones(per.shape), valid, "auto")
        assert_close(xp.numpy(got), expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name", list(CASES))
def test_gradients_match_finite_differences(xp: Backend, name: str) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")
    cls, options, _, y_true, y_pred, oracle = CASES[name]
    per = oracle(y_true, y_pred)
    weights = RNG.uniform(0.5, 2.0, size=per.shape)
    loss = cls(reduction="sum", **options)
    y_true_array, weights_array = _to(xp, y_true), _to(xp, weights)
    gradient = _grad(
        xp, lambda p: loss(y_true_array, p, sample_weight=weights_array), _to(xp, y_pred)
    )
    numeric = central_differences(lambda p: (oracle(y_true, p) * weights).sum(), y_pred)
    assert_close(gradient, numeric, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- specifics


def test_ctc_counts_alignments_by_hand() -> None:
    # uniform over (blank, "1", "2") for 3 steps: "1 2" has 5 of the 27 alignments
    # (12b, 1b2, b12, 112, 122); "1 1" only 1b1
    logits = np.zeros((2, 3, 3))
    got = L.ctc(np.array([[1, 2], [1, 1]]), logits)
    assert_close(got, [-math.log(5 / 27), -math.log(1 / 27)], rtol=1e-12)


def test_ctc_unreachable_labels_are_infinite_with_zero_gradient(xp: Backend) -> None:
    """Row ``ctc-unreachable-labels``: three labels, or a repeated label, in two steps have
    probability 0; the reachable row keeps its value and gradient."""
    labels = np.array([[1, 2, 1], [1, 1, 0], [1, 0, 0]])
    logits = RNG.normal(size=(3, 2, 3))
    got = xp.numpy(xp.run(L.ctc, _to(xp, labels), _to(xp, logits)))
    assert np.isinf(got[:2]).all()
    assert (got[:2] > 0).all()
    assert_close(got[2], ctc_oracle(labels[2:], logits[2:])[0], rtol=1e-10)
    if xp.has_autograd:
        labels_array = _to(xp, labels)
        gradient = _grad(xp, lambda p: L.CTC(reduction="sum")(labels_array, p), _to(xp, logits))
        assert np.isfinite(gradient).all()
        assert (gradient[:2] == 0).all()


def test_ctc_traces_under_torch_compile() -> None:
    import torch

    labels = torch.tensor([[1, 2, 0], [2, 2, 0]])
    logits = torch.nn.Parameter(torch.randn(2, 6, 4, dtype=torch.float64))
    compiled = torch.compile(L.CTC(), fullgraph=True)
    value = compiled(labels, logits)
    value.backward()
    assert_close(value.detach(), ctc_oracle(labels.numpy(), logits.detach().numpy()).mean())
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()


def test_circle_with_reference_embeddings_and_diagonal() -> None:
    queries = _unit(RNG.normal(size=(3, 4)))
    references = _unit(RNG.normal(size=(5, 4)))
    labels, reference_labels = np.array([0, 1, 2]), np.array([0, 0, 1, 2, 2])
    got = L.circle(
        labels,
        queries,
        ref_labels=reference_labels,
        ref_embeddings=references,
        remove_diagonal=False,
        gamma=10.0,
    )
    expected = []
    for i in range(3):  # the oracle on the query-against-reference pairs
        pull, push = [], []
        for j in range(5):
            d = max(1.0 - float(queries[i] @ references[j]), 0.0)
            if labels[i] == reference_labels[j]:
                pull.append(-10.0 * max(0.4 + d, 0.0) * (0.4 - d))
            else:
                push.append(10.0 * max(1.4 - d, 0.0) * (0.6 - d))
        expected.append(np.logaddexp(0.0, np.logaddexp.reduce(pull) + np.logaddexp.reduce(push)))
    assert_close(got, expected, rtol=1e-12)
    # remove_diagonal drops each query's own pair from its positives: a lone class loses
    # its only positive and its loss is 0
    alone = L.circle(np.array([0, 1]), _unit(np.array([[1.0, 0.0], [0.0, 1.0]])))
    kept = L.circle(
        np.array([0, 1]), _unit(np.array([[1.0, 0.0], [0.0, 1.0]])), remove_diagonal=False
    )
    assert alone.tolist() == [0.0, 0.0]
    assert (kept > 0).all()


def test_circle_masks_zero_losses_in_the_mean() -> None:
    labels, embeddings = CASES["circle"][3], CASES["circle"][4]
    per = circle_oracle(labels, embeddings, gamma=4.0, margin=0.25)
    assert per[4] == 0.0
    assert (np.delete(per, 4) > 0).all()
    got = L.Circle(gamma=4.0, margin=0.25)(labels, embeddings)
    assert_close(got, per.sum() / 5, rtol=1e-12)  # 5 queries with a positive loss


def test_generalized_crossentropy_at_zero_probability(xp: Backend) -> None:
    # p = 0 for the label: the value is 1 / q and the gradient finite (p ** q has an
    # infinite slope at 0)
    y_pred = _to(xp, np.array([[0.0, 1.0], [0.5, 0.5]]))
    labels = _to(xp, np.array([0, 1]))
    loss = L.CategoricalGeneralizedCrossEntropy(q=0.5, reduction="none")
    assert_close(xp.numpy(xp.run(loss, labels, y_pred)), [2.0, 2 * (1 - 0.5**0.5)], rtol=1e-12)
    if xp.has_autograd:
        gradient = _grad(xp, lambda p: xp.sum(loss(labels, p)), y_pred)
        assert np.isfinite(gradient).all()


def test_generalized_crossentropy_tends_to_crossentropy_and_mae() -> None:
    labels, p = CASES["generalized"][3], CASES["generalized"][4]
    near_zero = L.categorical_generalized_cross_entropy(labels, p, q=1e-6)
    assert_close(near_zero, -np.log(np.take_along_axis(p, labels[:, None], -1)[:, 0]), rtol=1e-5)
    labels_column = L.categorical_generalized_cross_entropy(labels[:, None], p, q=0.7)
    assert_close(labels_column, generalized_oracle(labels, p, 0.7), rtol=1e-12)


def test_dice_default_axis_is_one_number_for_the_batch() -> None:
    y_true, y_pred = CASES["dice"][3], CASES["dice"][4]
    got = L.dice(y_true, y_pred)
    assert got.shape == ()
    assert_close(got, dice_oracle(y_true, y_pred, None), rtol=1e-12)
    assert_close(L.Dice(reduction="sum")(y_true, y_pred, sample_weight=2.0), 2 * got)
    # Tversky with alpha = beta = 0.5 is the Dice loss (up to where epsilon sits: 2 I / (S + 2
    # eps) against 2 I / (S + eps))
    tversky = L.tversky(y_true, y_pred, axis=[1, 2])
    assert_close(tversky, L.dice(y_true, y_pred, axis=[1, 2]), rtol=1e-6)


# ----------------------------------------------------------------------------- configs


NEW = ["CTC", "Dice", "Tversky", "Circle", "CategoricalGeneralizedCrossEntropy"]


@pytest.mark.parametrize("name", list(CASES))
def test_round_trips(name: str) -> None:
    cls, options, function, _, _, _ = CASES[name]
    assert_round_trip(cls(**options))
    assert_round_trip(cls(reduction="weighted_mean", name="custom", **options))
    assert L.deserialize(L.serialize(function)) is function
    assert L.get(function.__name__) is function


def test_get_names() -> None:
    for name in NEW:
        assert type(L.get(name)) is getattr(L, name)
    assert L.get("ctc") is L.ctc
    assert L.get("dice") is L.dice
    assert L.get("tversky") is L.tversky
    assert L.get("circle") is L.circle
    assert L.get("categorical_generalized_cross_entropy") is L.categorical_generalized_cross_entropy


def test_keras3_tuple_axis_config_is_read() -> None:
    # Keras 3 writes a tuple `axis` as {"class_name": "__tuple__", ...}
    config = {
        "module": "keras.losses",
        "class_name": "Dice",
        "config": {
            "name": "dice",
            "reduction": "sum_over_batch_size",
            "axis": {"class_name": "__tuple__", "config": {"value": [1, 2]}},
        },
        "registered_name": None,
    }
    loss = L.deserialize(json.dumps(config))
    assert loss.axis == [1, 2]
    assert loss.get_config()["axis"] == [1, 2]


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (L.CTC, {}),
        (L.Dice, {"axis": None}),
        (L.Tversky, {"alpha": 0.5, "beta": 0.5, "axis": None}),
        (L.Circle, {"gamma": 80.0, "margin": 0.4, "remove_diagonal": True}),
        (L.CategoricalGeneralizedCrossEntropy, {"q": 0.5}),
    ],
)
def test_signatures_and_attributes(cls: Any, options: dict[str, Any]) -> None:
    """Keras 3's defaults, visible in the signature and as attributes."""
    parameters = inspect.signature(cls).parameters
    assert list(parameters)[:3] == ["reduction", "name", "sample_weight_rank"]
    assert {k: p.default for k, p in parameters.items() if k in options} == options
    loss = cls()
    for key, value in options.items():
        assert getattr(loss, key) == value
    assert parameters["name"].default == loss.name == cls().get_config()["name"]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: L.ctc(np.zeros(2), np.zeros((2, 4, 3))),
            r"Invalid `y_true`: expected integer labels of shape \(2, max_label_length >= 1\)",
        ),
        (
            lambda: L.ctc(np.zeros((3, 2)), np.zeros((2, 4, 3))),
            r"Invalid `y_true`: expected integer labels of shape \(2, max_label_length >= 1\)",
        ),
        (
            lambda: L.ctc(np.zeros((2, 0)), np.zeros((2, 4, 3))),
            r"Invalid `y_true`: expected integer labels of shape \(2, max_label_length >= 1\)",
        ),
        (
            lambda: L.CTC()(np.zeros((2, 2)), np.zeros((2, 4))),
            r"Invalid `y_pred`: expected logits of shape \(batch_size, max_length, num_classes\)",
        ),
        (
            lambda: L.dice(np.zeros((2, 3)), np.zeros((2, 3)), axis=[1, -1]),
            r"Invalid `axis`: expected distinct axes of an array of rank 2, received \[1, -1\]",
        ),
        (
            lambda: L.dice(np.zeros((2, 3)), np.zeros((2, 3)), axis=2),
            r"Invalid `axis`: expected an integer in \[-2, 2\), received 2",
        ),
        (
            lambda: L.Dice(axis=1.5),
            r"Invalid `axis`: expected None, an integer or a list of distinct integers, "
            r"received 1.5",
        ),
        (
            lambda: L.Dice(axis=[1, 1]),
            r"Invalid `axis`: expected None, an integer or a list of distinct integers",
        ),
        (
            lambda: L.Dice()(np.zeros((2, 1)), np.zeros((2, 3))),
            r"Invalid `y_true`: expected masks of the shape of `y_pred` \(2, 3\), received "
            r"shape \(2, 1\)\.$",
        ),
        (
            lambda: L.Tversky(alpha=-0.1),
            r"Invalid `alpha`: expected a finite number >= 0, received -0.1",
        ),
        (
            lambda: L.tversky(np.zeros(2), np.zeros(2), beta=math.inf),
            r"Invalid `beta`: expected a finite number >= 0, received inf",
        ),
        (
            lambda: L.Circle(margin=math.nan),
            r"Invalid `margin`: expected a finite number, received nan",
        ),
        (
            lambda: L.Circle(remove_diagonal=1),
            r"Invalid `remove_diagonal`: expected True or False, received 1",
        ),
        (
            lambda: L.circle(np.zeros(3), np.zeros((3, 2, 1))),
            r"Invalid `y_pred`: expected embeddings of shape \(batch_size, dimensions\)",
        ),
        (
            lambda: L.circle(np.zeros(2), np.zeros((3, 2))),
            r"Invalid `y_true`: expected integer labels of shape \(3,\) \(or \(3, 1\)\)",
        ),
        (
            lambda: L.circle(np.zeros(3), np.zeros((3, 2)), ref_embeddings=np.zeros((4, 2))),
            r"Invalid `ref_labels`: expected labels for `ref_embeddings`, received None",
        ),
        (
            lambda: L.circle(
                np.zeros(3),
                np.zeros((3, 2)),
                ref_labels=np.zeros(3),
                ref_embeddings=np.zeros((4, 2)),
            ),
            r"Invalid `ref_labels`: expected integer labels of shape \(4,\)",
        ),
        (
            lambda: L.CategoricalGeneralizedCrossEntropy(q=1.0),
            r"Invalid `q`: expected a number in \(0, 1\), received 1.0",
        ),
        (
            lambda: L.categorical_generalized_cross_entropy(np.zeros(2), np.zeros((2, 3)), q=0),
            r"Invalid `q`: expected a number in \(0, 1\), received 0",
        ),
        (
            lambda: L.CategoricalGeneralizedCrossEntropy()(np.zeros((2, 3)), np.zeros((2, 3))),
            r"Invalid `y_true`: expected integer labels of shape \(2,\)",
        ),
    ],
)
def test_error_messages(make: Callable[[], Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
