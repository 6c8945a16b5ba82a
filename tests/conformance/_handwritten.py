"""Hand-written cases: docs/tf-semantics.md section 6, and one or more cases per deviation row.

Also the cases that pinned differences no row explained (see ``deviations.KNOWN_MISMATCHES``),
kept as regression cases now that losskit matches TensorFlow on them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from tests.conformance._model import (
    NONE,
    TF1_KEYS,
    Case,
    Data,
    array,
    literal,
    python,
)


def _f32(value: Any) -> Data:
    return literal(value, "float32")


def _i32(value: Any) -> Data:
    return literal(value, "int32")


def _value(value: Any, dtype: str, shape: Sequence[int] = ()) -> dict[str, Any]:
    return {"value": value, "dtype": dtype, "shape": list(shape)}


def _raises(error: str, match: str) -> dict[str, Any]:
    return {"raises": error, "match": match}


L4 = [1.0, 2.0, 3.0, 4.0]
W4 = [1.0, 0.0, 2.0, 0.0]
NAN = float("nan")
INF = float("inf")


def _semantics_cases() -> Iterator[Case]:
    """docs/tf-semantics.md section 6, the cases about compute_average_loss (``cal_*``),
    scale_regularization_loss (``srl_*``) and TF1 compute_weighted_loss (``v1_*``).

    The inputs are the section's Python literals; TensorFlow gets them as written (so its
    messages are the recorded ones), losskit gets arrays of the dtype TensorFlow converts
    them to. ``expect_tf`` is the recorded TF 2.21 result.
    """

    def cal(name: str, losses: Data, expect: dict[str, Any], **kw: Any) -> Case:
        return Case(f"s6-{name}", "cal", "tf.nn", losses, expect_tf=expect, **kw)

    def srl(name: str, losses: Data, expect: dict[str, Any], **kw: Any) -> Case:
        return Case(f"s6-{name}", "srl", "tf.nn", losses, expect_tf=expect, **kw)

    def v1(
        name: str,
        losses: Data,
        expect: dict[str, Any],
        key: str = "sum_by_nonzero_weights",
        **kw: Any,
    ) -> Case:
        return Case(
            f"s6-{name}",
            "cwl",
            "tf1",
            losses,
            reduction=key,
            tf_reduction=TF1_KEYS[key],
            expect_tf=expect,
            **kw,
        )

    yield cal("cal_basic", _f32(L4), _value(2.5, "float32"))
    yield cal("cal_sw_vec", _f32(L4), _value(1.75, "float32"), weights=_f32(W4))
    yield cal(
        "cal_sw_col_squeezed",
        _f32(L4),
        _value(1.75, "float32"),
        weights=_f32([[1.0], [0.0], [2.0], [0.0]]),
    )
    yield cal(
        "cal_rank2_sw_batch_expanded",
        _f32([[1.0, 2.0], [3.0, 4.0]]),
        _value(8.5, "float32"),
        weights=_f32([1.0, 2.0]),
    )
    yield cal(
        "cal_quirk_expand_then_broadcast",
        _f32([[1.0, 2.0, 3.0]]),
        _value(12.0, "float32"),
        weights=_f32([1.0, 2.0, 3.0]),
        error_arg="sample_weight",
    )
    yield cal(
        "cal_sw_rank_diff2_trailing_broadcast_error",
        array(np.ones((2, 3, 4)), "float32"),
        _raises("InvalidArgumentError", "Incompatible shapes: [2,3,4] vs. [2]"),
        weights=_f32([1.0, 3.0]),
        error_arg="sample_weight",
    )
    yield cal(
        "cal_sw_cannot_squeeze",
        _f32([1.0, 2.0, 3.0]),
        _raises("InvalidArgumentError", "Can not squeeze dim[1], expected a dimension of 1, got 3"),
        weights=_f32([[1.0, 2.0, 3.0]]),
        error_arg="sample_weight",
    )
    yield cal("cal_empty", array(np.zeros((0,)), "float32"), _value(0.0, "float32"))
    yield cal("cal_gbs_zero", _f32([1.0, 2.0]), _value(0.0, "float32"), gbs=python(0))
    yield cal(
        "cal_gbs_bool",
        _f32([1.0, 2.0]),
        _raises(
            "TypeError",
            'global_batch_size must be an integer.. Expected "x" to be '
            "integer type. Found: tensor of dtype <dtype: 'bool'>",
        ),
        gbs=python(True),
        error_arg="global_batch_size",
    )
    yield cal(
        "cal_gbs_negative",
        _f32([1.0, 2.0]),
        _raises(
            "InvalidArgumentError",
            "global_batch_size must be non-negative.. Condition "
            "x >= 0 did not hold element-wise: x (shape=() dtype=int32) = -1",
        ),
        gbs=python(-1),
        error_arg="global_batch_size",
    )
    yield cal("cal_int32_to_float64", _i32([1, 2, 3]), _value(2.0, "float64"))
    yield cal(
        "cal_int32_sw_truncates",
        _i32([1, 2, 3]),
        _value(0.6666666666666666, "float64"),
        weights=_f32([0.5, 0.5, 0.5]),
    )
    yield cal("cal_bf16", array(L4, "bfloat16"), _value(2.5, "bfloat16"), backends=("torch", "jax"))
    yield cal(
        "cal_f64_no_sw_exact",
        array([0.1, 0.2, 0.3], "float64"),
        _value(0.20000000000000004, "float64"),
    )
    yield cal("cal_sw_nan", _f32([1.0, 2.0]), _value(NAN, "float32"), weights=_f32([NAN, 1.0]))
    yield cal(
        "cal_inf_times_zero_weight",
        _f32([INF, 2.0]),
        _value(NAN, "float32"),
        weights=_f32([0.0, 1.0]),
    )
    yield cal(
        "cal_2replicas_replica_ctx",
        array(L4, "float32"),
        _value(1.25, "float32"),
        context="replica",
        replicas=2,
    )
    yield cal(
        "cal_cross_replica_ctx",
        _f32([1.0, 2.0]),
        _raises(
            "RuntimeError",
            "You are calling `compute_average_loss` in cross replica "
            "context, while it was expected to be called in replica context.",
        ),
        context="cross",
        replicas=2,
        error_arg="compute_average_loss",
    )
    yield srl("srl_scalar", _f32(2.0), _value(2.0, "float32"))
    yield srl("srl_int_to_float64", _i32(3), _value(3.0, "float64"))
    yield srl("srl_empty", array(np.zeros((0,)), "float32"), _value(0.0, "float32"))
    yield srl(
        "srl_2replicas",
        array(4.0, "float32"),
        _value(2.0, "float32"),
        context="replica",
        replicas=2,
    )
    yield v1(
        "v1_none", _f32(L4), _value([1.0, 0.0, 6.0, 0.0], "float32", [4]), "none", weights=_f32(W4)
    )
    yield v1(
        "v1_mean",
        _f32(L4),
        _value(2.3333332538604736, "float32"),
        "weighted_mean",
        weights=_f32(W4),
    )
    yield v1("v1_sbnz_default", _f32(L4), _value(3.5, "float32"), weights=_f32(W4))
    yield v1("v1_sbnz_scalar_zero_weight", _f32(L4), _value(0.0, "float32"), weights=python(0.0))
    yield v1(
        "v1_mean_weights_sum_to_zero",
        _f32(L4),
        _value(0.0, "float32"),
        "weighted_mean",
        weights=_f32([-1.0, 1.0, 0.0, 0.0]),
    )
    yield v1(
        "v1_sbnz_nan_weight", _f32(L4), _value(NAN, "float32"), weights=_f32([NAN, 1.0, 1.0, 1.0])
    )
    yield v1(
        "v1_sobs_col_weights",
        _f32([[1.0, 2.0], [3.0, 4.0]]),
        _value(0.75, "float32"),
        "sum_over_batch_size",
        weights=_f32([[1.0], [0.0]]),
    )
    yield v1(
        "v1_rank_mismatch",
        _f32([[1.0, 2.0], [3.0, 4.0]]),
        _raises(
            "ValueError",
            "weights can not be broadcast to values. values.rank=2. "
            "weights.rank=1. values.shape=(2, 2). weights.shape=(2,). Received "
            "weights=[1. 0.], values=[[1. ",
        ),
        weights=_f32([1.0, 0.0]),
        error_arg="weights",
    )
    yield v1(
        "v1_scalar_losses",
        _f32(5.0),
        _value(10.0, "float32"),
        "sum_over_batch_size",
        weights=python(2.0),
    )
    yield v1("v1_int_result_truncated", _i32([1, 2]), _value(1, "int32"))
    yield v1("v1_f16", array(L4, "float16"), _value(2.5, "float16"), "weighted_mean")
    yield v1(
        "v1_weights_none",
        _f32([1.0, 2.0]),
        _raises(
            "ValueError",
            "Attempt to convert a value (None) with an unsupported type "
            "(<class 'NoneType'>) to a Tensor.",
        ),
        weights=NONE,
        error_arg="weights",
    )


def _deviation_cases() -> Iterator[Case]:
    """Small cases aimed at one deviation row (or one known difference) each."""
    f32, f64 = "float32", "float64"
    # float32-rounding: the row's own example, and TF1's float32 cast of float64 losses
    yield Case(
        "h-cal-f64-sw-rounding",
        "cal",
        "tf.nn",
        array([0.1, 0.2, 0.3], f64),
        array([1.0, 1.0, 1.0], f64),
    )
    yield Case(
        "h-cwl-f64-rounding",
        "cwl",
        "tf1",
        array([0.1, 0.2, 0.3], f64),
        reduction="sum",
        tf_reduction="weighted_sum",
    )
    # integer-truncation: the row's examples
    yield Case(
        "h-cwl-int32-truncated",
        "cwl",
        "tf1",
        array([1, 2], "int32"),
        reduction="sum_by_nonzero_weights",
        tf_reduction=TF1_KEYS["sum_by_nonzero_weights"],
    )
    yield Case(
        "h-cal-int32-sw-truncated",
        "cal",
        "tf.nn",
        array([1, 2, 3], "int32"),
        array([0.5, 0.5, 0.5], f32),
    )
    # integer-overflow: int8 sums wrap in TensorFlow (also srl), and int8 gbs casts wrap
    yield Case("h-cal-int8-overflow", "cal", "tf.nn", array([100, 100], "int8"))
    yield Case("h-srl-int8-overflow", "srl", "tf.nn", array([100, 100, 100], "int8"))
    yield Case("h-cal-int32-overflow", "cal", "tf.nn", array([2**31 - 1, 2**31 - 1], "int32"))
    yield Case("h-cal-int8-gbs-300", "cal", "tf.nn", array([10, 20], "int8"), gbs=python(300))
    # low-precision-accumulation: float16 sums overflow past 65504, gbs 70000 becomes inf
    yield Case("h-cal-f16-sum-overflow", "cal", "tf.nn", array(np.full(4096, 30.0), "float16"))
    yield Case(
        "h-cal-f16-gbs-70000",
        "cal",
        "tf.nn",
        array(np.full(8, 1000.0), "float16"),
        gbs=python(70000),
    )
    yield Case(
        "h-srl-f16-overflow",
        "srl",
        "tf.nn",
        array(np.full(3, 30000.0), "float16"),
        context="replica",
        replicas=2,
    )
    yield Case(
        "h-cal-bf16-long-sum",
        "cal",
        "tf.nn",
        array(np.full(1000, 1.1), "bfloat16"),
        backends=("torch", "jax"),
    )
    # batch-growing-weights: the row's example
    yield Case(
        "h-cal-growing-batch",
        "cal",
        "tf.nn",
        array([[1.0, 2.0, 3.0]], f32),
        array([1.0, 2.0, 3.0], f32),
        error_arg="sample_weight",
    )
    # float-global-batch-size
    yield Case("h-cal-gbs-float", "cal", "tf.nn", array([1.0, 2.0], f32), gbs=python(3.0))
    # python-values: NumPy's float64 and int64 instead of TensorFlow's float32 and int32
    yield Case("h-cal-python-floats", "cal", "tf.nn", python([0.1, 0.2, 0.3]), backends=("numpy",))
    yield Case(
        "h-cwl-python-floats",
        "cwl",
        "tf1",
        python([[0.1, 0.7], [0.2, 0.3]]),
        python([[1.0], [0.5]]),
        reduction="weighted_mean",
        tf_reduction="weighted_mean",
        backends=("numpy",),
    )
    yield Case("h-srl-python-float", "srl", "tf.nn", python(0.1), backends=("numpy",))
    yield Case("h-srl-python-int", "srl", "tf.nn", python([1, 2, 3]), backends=("numpy",))
    # complex-losses
    c64 = array([1 + 1j, 2.0], "complex64")
    yield Case("h-cal-complex", "cal", "tf.nn", c64, error_arg="per_example_loss")
    yield Case(
        "h-cal-complex-sw",
        "cal",
        "tf.nn",
        c64,
        array([1.0, 1.0], f32),
        error_arg="per_example_loss",
    )
    yield Case(
        "h-srl-complex",
        "srl",
        "tf.nn",
        array([1 + 2j, 3.0], "complex128"),
        error_arg="regularization_loss",
    )
    yield Case(
        "h-cwl-complex",
        "cwl",
        "tf1",
        c64,
        reduction="sum",
        tf_reduction="weighted_sum",
        error_arg="losses",
    )
    # distributed-local-means: the page's AUTO case, on TF1's MEAN
    yield Case(
        "h-cwl-mean-replica2",
        "cwl",
        "tf1",
        array(L4, f32),
        array(W4, f32),
        reduction="weighted_mean",
        tf_reduction="weighted_mean",
        context="replica",
        replicas=2,
        error_arg="reduction",
    )
    # reduction-keys: keys TF1 refuses but losskit reads as tf.keras / Keras 3 do
    for key in ("sum", "mean", "auto", "sum_over_batch_size"):
        yield Case(
            f"h-cwl-key-{key}",
            "cwl",
            "tf1",
            array(L4, f32),
            array(W4, f32),
            reduction=key,
            tf_reduction=key,
        )
    yield Case(
        "h-cwl-key-none-object",
        "cwl",
        "tf1",
        array(L4, f32),
        array(W4, f32),
        reduction=None,
        tf_reduction=None,
    )
    yield Case(
        "h-cwl-key-typo",
        "cwl",
        "tf1",
        array(L4, f32),
        array(W4, f32),
        reduction="weighted_summ",
        tf_reduction="weighted_summ",
        error_arg="reduction",
    )
    # error-types: None and bool inputs
    yield Case(
        "h-cwl-weights-none",
        "cwl",
        "tf1",
        array(L4, f32),
        NONE,
        reduction="sum",
        tf_reduction="weighted_sum",
        error_arg="weights",
    )
    yield Case("h-cal-losses-none", "cal", "tf.nn", NONE, error_arg="per_example_loss")
    yield Case("h-srl-none", "srl", "tf.nn", NONE, error_arg="regularization_loss")
    yield Case(
        "h-cal-bool-losses", "cal", "tf.nn", array([1, 0, 1], "bool"), error_arg="per_example_loss"
    )
    yield Case(
        "h-srl-bool", "srl", "tf.nn", array([True, False], "bool"), error_arg="regularization_loss"
    )
    yield Case(
        "h-cwl-bool-losses",
        "cwl",
        "tf1",
        array([True, False, True], "bool"),
        reduction="sum",
        tf_reduction="weighted_sum",
        error_arg="losses",
    )
    # traced-batch-size-check: a negative gbs array inside jax.jit is used as given
    yield Case(
        "h-cal-traced-negative-gbs",
        "cal",
        "tf.nn",
        array([1.0, 2.0, 3.0], f32),
        gbs=Data("traced", "int32", (), (-2,)),
        backends=("jax",),
    )
    # eager-loss-collections: TF ignores `loss_collection` eagerly; losskit records it
    yield Case(
        "h-collections-eager",
        "collections",
        "tf1",
        array(L4, f32),
        array(W4, f32),
        reduction="sum",
        tf_reduction="weighted_sum",
    )
    # Weighting overflow: TF multiplies first, so [3e38, 3e38] * 0.5 sums to 3e38.
    big = array([[3e38, 3e38]], f32)
    yield Case(
        "h-cwl-f32-scalar-weight-no-overflow",
        "cwl",
        "tf1",
        big,
        array(0.5, f32),
        reduction="sum",
        tf_reduction="weighted_sum",
    )
    yield Case(
        "h-cwl-f32-row-weight-no-overflow",
        "cwl",
        "tf1",
        big,
        array([[0.5]], f32),
        reduction="sum",
        tf_reduction="weighted_sum",
    )
    yield Case("h-cal-f32-row-weight-no-overflow", "cal", "tf.nn", big, array([0.25], f32))
    # Keras 3's mean_with_sample_weight without weights is the mean over the elements.
    yield Case(
        "h-cwl-mean_with_sample_weight-no-weights",
        "cwl",
        "keras3",
        array(L4, f32),
        reduction="mean_with_sample_weight",
        tf_reduction="mean_with_sample_weight",
    )
    # mean-with-scalar-weight: Keras 3 divides by the bare scalar (a sum); losskit by w * n
    for name, weight in (("python", python(2.0)), ("0d", array(2.0, f32))):
        yield Case(
            f"h-cwl-mean_with_sample_weight-scalar-{name}",
            "cwl",
            "keras3",
            array(L4, f32),
            weight,
            reduction="mean_with_sample_weight",
            tf_reduction="mean_with_sample_weight",
        )
    yield Case(
        "h-cwl-f32-full-weight-no-overflow",
        "cwl",
        "tf1",
        big,
        array([[0.5, 0.5]], f32),
        reduction="sum",
        tf_reduction="weighted_sum",
    )
    # ... and an empty batch times a NaN weight is an empty sum (0), 0 * inf is NaN.
    yield Case(
        "h-cwl-empty-nan-scalar-weight",
        "cwl",
        "tf1",
        array(np.zeros((0,)), f32),
        array(NAN, f32),
        reduction="sum",
        tf_reduction="weighted_sum",
    )
    yield Case(
        "h-cwl-zero-loss-inf-weight",
        "cwl",
        "tf1",
        array([0.0, 1.0], f32),
        array(INF, f32),
        reduction="sum",
        tf_reduction="weighted_sum",
    )
    yield Case(  # the same with a Python-number weight (losskit's separate scalar path)
        "h-cal-empty-nan-python-weight",
        "cal",
        "tf.nn",
        array(np.zeros((0, 2)), f32),
        python(NAN),
        gbs=python(4),
    )


def handwritten_cases() -> list[Case]:
    return [*_semantics_cases(), *_deviation_cases()]
