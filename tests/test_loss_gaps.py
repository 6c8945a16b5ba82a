"""The gaps the peers' own test suites found (issue 14, items 2-6), and the declarative form
of the built-in loss classes (issue 11): their signatures, attributes and configs.

Expected values are float64 NumPy formulas or hand arithmetic written here.
"""

from __future__ import annotations

import inspect
import json
import warnings
from typing import Any

import numpy as np
import pytest

from losskit import losses as L
from losskit.reduction import Reduction
from tests._helpers import Backend, assert_close, central_differences

EPS = 1e-7

# ----------------------------------------------------------------------------- 2. one class

ONE_CLASS = r"expected `y_pred` of shape \(batch_size, num_classes\) with num_classes > 1"


@pytest.mark.parametrize(
    "call",
    [
        lambda t, p: L.categorical_crossentropy(t, p),
        lambda t, p: L.CategoricalCrossentropy()(t, p),
        lambda t, p: L.categorical_focal_crossentropy(t, p),
        lambda t, p: L.CategoricalFocalCrossentropy(from_logits=True)(t, p),
    ],
    ids=["cce", "CCE", "focal", "Focal"],
)
def test_one_class_warns_as_keras_does(call: Any) -> None:
    """Both Keras versions warn (SyntaxWarning) when y_pred has one class; the warning points
    at the caller's line."""
    with pytest.warns(SyntaxWarning, match=ONE_CLASS) as record:
        call(np.ones((3, 1)), np.full((3, 1), 0.5))
    assert record[0].filename == __file__
    with warnings.catch_warnings():  # two classes: no warning
        warnings.simplefilter("error")
        call(np.eye(2)[[0, 1, 1]], np.full((3, 2), 0.5))


def test_one_class_along_the_class_axis() -> None:
    y_true, y_pred = np.ones((2, 1, 4)), np.full((2, 1, 4), 0.5)
    with pytest.warns(SyntaxWarning, match=r"along axis 1, received shape \(2, 1, 4\)"):
        L.categorical_crossentropy(y_true, y_pred, axis=1)


# ----------------------------------------------------------------------------- 3. attributes


def test_focal_losses_expose_their_options() -> None:
    binary = L.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5)
    assert (binary.apply_class_balancing, binary.alpha, binary.gamma) == (True, 0.4, 1.5)
    default = L.BinaryFocalCrossentropy()
    assert (default.apply_class_balancing, default.alpha, default.gamma) == (False, 0.25, 2.0)
    categorical = L.CategoricalFocalCrossentropy(alpha=0.5, gamma=3.0, from_logits=True)
    assert (categorical.alpha, categorical.gamma, categorical.from_logits) == (0.5, 3.0, True)
    again = L.CategoricalFocalCrossentropy.from_config(categorical.get_config())
    assert (again.alpha, again.gamma) == (0.5, 3.0)


# ----------------------------------------------------------------------------- 4. class alpha


def _focal_oracle(z: np.ndarray, logits: np.ndarray, alpha: np.ndarray, gamma: float) -> Any:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    p = np.clip(e / e.sum(-1, keepdims=True), EPS, 1 - EPS)
    return (-alpha * (1 - p) ** gamma * z * np.log(p)).sum(-1)


def test_per_class_alpha(xp: Backend) -> None:
    rng = np.random.default_rng(4)
    y_true = np.eye(3)[rng.integers(0, 3, size=5)]
    logits = rng.normal(size=(5, 3)) * 2
    alpha = [0.25, 0.5, 0.75]
    loss = L.CategoricalFocalCrossentropy(alpha=alpha, from_logits=True, reduction="none")
    got = xp.run(loss, xp.asarray(y_true), xp.asarray(logits))
    assert_close(xp.numpy(got), _focal_oracle(y_true, logits, np.array(alpha), 2.0), rtol=1e-10)
    if xp.has_autograd:
        (gradient,) = xp.grad(lambda p: xp.sum(loss(xp.asarray(y_true), p)), xp.asarray(logits))
        assert np.isfinite(gradient).all()
        numeric = central_differences(
            lambda p: _focal_oracle(y_true, p, np.array(alpha), 2.0).sum(), logits
        )
        assert_close(gradient, numeric, rtol=1e-5, atol=1e-8)


def test_per_class_alpha_along_axis_1() -> None:
    rng = np.random.default_rng(5)
    y_true = np.moveaxis(np.eye(3)[rng.integers(0, 3, size=(2, 4))], -1, 1)  # [B, C, T]
    logits = rng.normal(size=(2, 3, 4))
    alpha = [0.1, 1.0, 3.0]  # inverse class frequencies may exceed 1
    got = L.categorical_focal_crossentropy(y_true, logits, alpha=alpha, from_logits=True, axis=1)
    expected = _focal_oracle(
        np.moveaxis(y_true, 1, -1), np.moveaxis(logits, 1, -1), np.array(alpha), 2.0
    )
    assert_close(got, expected, rtol=1e-10)


def test_per_class_alpha_config_round_trip() -> None:
    loss = L.CategoricalFocalCrossentropy(alpha=[0.25, 0.5, 0.75], gamma=1.0)
    config = json.loads(json.dumps(L.serialize(loss)))
    assert config["config"]["alpha"] == [0.25, 0.5, 0.75]
    again = L.deserialize(config)
    assert again == loss
    assert again.alpha == [0.25, 0.5, 0.75]
    assert L.CategoricalFocalCrossentropy(alpha=(0.25, 0.5, 0.75), gamma=1.0) == loss  # a tuple


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: L.CategoricalFocalCrossentropy(alpha=[0.5, -1.0]),
            r"Invalid `alpha`: expected a number in \[0, 1\] or a list of finite numbers >= 0, "
            r"received \[0.5, -1.0\]",
        ),
        (
            lambda: L.CategoricalFocalCrossentropy(alpha=[]),
            r"Invalid `alpha`: expected a number in \[0, 1\] or a list of finite numbers >= 0, "
            r"received \[\]",
        ),
        (
            lambda: L.CategoricalFocalCrossentropy(alpha=1.5),
            r"Invalid `alpha`: expected a number in \[0, 1\], received 1.5",
        ),
        (
            lambda: L.CategoricalFocalCrossentropy(alpha=[0.2, 0.8])(np.eye(3), np.eye(3)),
            r"Invalid `alpha`: expected a number or one weight per class \(3, the size of axis "
            r"1 of `y_pred`\), received \[0.2, 0.8\]",
        ),
        (
            lambda: L.BinaryFocalCrossentropy(alpha=[0.2, 0.8]),
            r"Invalid `alpha`: expected a number in \[0, 1\], received \[0.2, 0.8\]",
        ),
    ],
)
def test_alpha_errors(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------------- 5. aliases


@pytest.mark.parametrize(
    ("alias", "function"),
    [
        ("bce", L.binary_crossentropy),
        ("BCE", L.binary_crossentropy),
        ("huber_loss", L.huber),
        ("kld", L.kl_divergence),
        ("logcosh", L.log_cosh),
    ],
)
def test_keras_aliases(alias: str, function: Any) -> None:
    """tf_keras's and Keras 3's aliases (the complete lists, read from both packages, are
    checked in tests/conformance/test_keras3_losses.py)."""
    assert L.get(alias) is function
    assert L.deserialize(alias) is function
    assert L.serialize(L.get(alias))["config"] == function.__name__


# ----------------------------------------------------------------------------- 6. dtype


class Difference(L.Loss):
    """``call`` in NumPy: int32 - float32 promotes to float64."""

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return np.mean(np.abs(y_pred - y_true), axis=-1)


class Widened(L.Loss):
    """``call`` that computes in float64 whatever it is given (any backend)."""

    def call(self, y_true: Any, y_pred: Any) -> Any:
        import array_api_compat

        xp = array_api_compat.array_namespace(y_pred)
        wide = xp.astype(y_pred, xp.float64) - xp.astype(y_true, xp.float64)
        return xp.sum(wide * wide, axis=-1)


def test_custom_loss_returns_y_pred_dtype_after_promotion() -> None:
    y_true = np.array([[1, 2], [3, 4]], np.int32)
    y_pred = np.array([[1.5, 2.0], [2.0, 5.0]], np.float32)
    assert Difference().call(y_true, y_pred).dtype == np.float64  # NumPy promotes
    for reduction in ("auto", "sum", "none", "weighted_mean"):
        got = Difference(reduction=reduction)(y_true, y_pred, sample_weight=[1.0, 3.0])
        assert got.dtype == np.float32, reduction
    assert_close(Difference(reduction="sum")(y_true, y_pred), 0.25 + 1.0, rtol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_custom_loss_dtype_on_every_backend(xp: Backend, dtype: str) -> None:
    if not xp.supports(dtype):
        pytest.skip(f"{xp.name} has no {dtype}")
    y_true = np.array([[0.0, 1.0], [2.0, 2.0]])
    y_pred = np.array([[1.0, 1.0], [2.0, 0.0]])
    got = xp.run(Widened(), xp.asarray(y_true, dtype), xp.asarray(y_pred, dtype))
    assert xp.dtype_name(got) == dtype
    assert_close(xp.numpy(got), (1.0 + 4.0) / 2, rtol=1e-3)


# ----------------------------------------------------------------------------- declarations

CLASSES = [
    getattr(L, name)
    for name in L.__all__
    if inspect.isclass(getattr(L, name)) and getattr(L, name) is not L.Loss
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_signatures_are_explicit_and_typed(cls: Any) -> None:
    """Every option is a keyword-only parameter with its type and default (what ``help`` and
    IDEs show), the defaults are what the class uses, and every option is an attribute."""
    parameters = inspect.signature(cls).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert all(p.annotation is not inspect.Parameter.empty for p in parameters.values())
    assert parameters["reduction"].default is Reduction.AUTO
    assert parameters["sample_weight_rank"].default == "tf_keras"
    loss = cls()
    assert loss.name == parameters["name"].default
    config = loss.get_config()
    for key, parameter in parameters.items():
        if key in ("reduction", "name", "sample_weight_rank"):
            continue
        assert getattr(loss, key) == parameter.default, key
        if not (cls is L.SparseCategoricalCrossentropy and key == "axis"):
            assert config[key] == parameter.default, key


def test_configs_of_the_built_ins_are_unchanged() -> None:
    """The configs as the explicit constructors wrote them before the declarative base."""
    assert L.Huber(delta=2.0, reduction="sum").get_config() == {
        "reduction": "sum",
        "name": "huber_loss",
        "delta": 2.0,
    }
    assert L.BinaryFocalCrossentropy(sample_weight_rank="keras3").get_config() == {
        "reduction": "auto",
        "name": "binary_focal_crossentropy",
        "sample_weight_rank": "keras3",
        "from_logits": False,
        "label_smoothing": 0.0,
        "axis": -1,
        "apply_class_balancing": False,
        "alpha": 0.25,
        "gamma": 2.0,
    }
    assert L.SparseCategoricalCrossentropy(ignore_class=-1).get_config() == {
        "reduction": "auto",
        "name": "sparse_categorical_crossentropy",
        "from_logits": False,
        "ignore_class": -1,
    }
    assert L.KLDivergence().get_config() == {"reduction": "auto", "name": "kl_divergence"}


def test_unknown_and_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'deltas'"):
        L.Huber(deltas=2.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"takes 1 positional argument but 2 were given"):
        L.Huber(2.0)  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'fn_kwargs'"):
        L.deserialize({"class_name": "Huber", "config": {"fn_kwargs": {}}})


def test_subclassing_a_built_in_keeps_its_options() -> None:
    class Scaled(L.Huber):
        def call(self, y_true: Any, y_pred: Any) -> Any:
            return 2.0 * super().call(y_true, y_pred)

    loss = Scaled(delta=0.5, reduction="sum")
    assert loss.delta == 0.5
    assert loss.name == "huber_loss"
    # per-sample Huber of 0.5 and 3.0 errors with delta 0.5: 0.125 and 1.375, doubled
    assert_close(loss(np.zeros((2, 1)), np.array([[0.5], [3.0]])), 2 * (0.125 + 1.375))


# ----------------------------------------------------------------------------- masks


class Squared(L.Loss):
    """Per-element squared errors, with any array library's operators."""

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return (y_true - y_pred) ** 2


def test_keras3_rank_rule_with_a_column_mask_and_row_weights(xp: Backend) -> None:
    """Keras 3's LossTest.test_rank_adjustment: [4] losses, [4] weights and a [4, 1] mask. The
    mask's rank fix-up gives the losses a trailing axis; the weights must follow (they were
    broadcast to [4, 4], a 4x too large denominator, before)."""
    y_true, y_pred = np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.1, 0.2, 0.3, 0.4])
    weights = np.array([0.4, 0.3, 0.2, 0.1])
    mask = np.array([[True], [False], [True], [True]])
    loss = Squared(sample_weight_rank="keras3")
    got = xp.run(
        lambda t, p, w, m: loss(t, p, sample_weight=w, mask=m),
        xp.asarray(y_true),
        xp.asarray(y_pred),
        xp.asarray(weights),
        xp.asarray(mask),
    )
    kept = [0, 2, 3]
    expected = np.sum(weights[kept] * ((y_true - y_pred) ** 2)[kept]) / 3
    assert tuple(got.shape) == ()
    assert_close(xp.numpy(got), expected, rtol=1e-12)
