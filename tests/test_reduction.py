"""The Reduction enum: values, aliases, validation, and AUTO's resolution."""

from __future__ import annotations

import json

import pytest

from losskit import Reduction
from losskit.reduction import resolve


def test_tf_v2_values() -> None:
    # tf.keras.losses.Reduction's class members, from the reference page
    assert Reduction.AUTO == "auto"
    assert Reduction.NONE == "none"
    assert Reduction.SUM == "sum"
    assert Reduction.SUM_OVER_BATCH_SIZE == "sum_over_batch_size"


def test_all_lists_each_reduction_once() -> None:
    assert Reduction.all() == (
        "auto",
        "none",
        "sum",
        "sum_over_batch_size",
        "weighted_mean",
        "sum_by_nonzero_weights",
        "mean_with_sample_weight",
    )


def test_nonzero_alias_is_the_same_member() -> None:
    assert Reduction.SUM_OVER_NONZERO_WEIGHTS is Reduction.SUM_BY_NONZERO_WEIGHTS


KEYS = {
    # TF1 value strings keep their meaning
    "none": Reduction.NONE,
    "weighted_sum": Reduction.SUM,
    "weighted_mean": Reduction.WEIGHTED_MEAN,
    "weighted_sum_over_batch_size": Reduction.SUM_OVER_BATCH_SIZE,
    "weighted_sum_by_nonzero_weights": Reduction.SUM_BY_NONZERO_WEIGHTS,
    # TF1's enum member name SUM_OVER_NONZERO_WEIGHTS, as a key
    "sum_over_nonzero_weights": Reduction.SUM_BY_NONZERO_WEIGHTS,
    "sum_by_nonzero_weights": Reduction.SUM_BY_NONZERO_WEIGHTS,
    # Keras 3: "mean" is the mean over elements, None is no reduction
    "mean": Reduction.SUM_OVER_BATCH_SIZE,
    None: Reduction.NONE,
    "mean_with_sample_weight": Reduction.MEAN_WITH_SAMPLE_WEIGHT,
    # tf.keras v2
    "auto": Reduction.AUTO,
    "sum": Reduction.SUM,
    "sum_over_batch_size": Reduction.SUM_OVER_BATCH_SIZE,
}
"""Every key a reduction may be given as, and the member it means."""


@pytest.mark.parametrize(("key", "member"), [*KEYS.items(), (Reduction.SUM, Reduction.SUM)])
def test_validate_accepts_every_original_key(key, member) -> None:
    assert Reduction.validate(key) is member
    assert Reduction(key) is member


@pytest.mark.parametrize("key", ["avg", "SUM", "Mean", "", 3, 1.0, ["sum"]])
def test_validate_lists_the_valid_keys(key) -> None:
    with pytest.raises(ValueError, match=r"Invalid `reduction`: expected one of 'auto', 'none'"):
        Reduction.validate(key)


def test_validate_suggests_a_close_key() -> None:
    with pytest.raises(
        ValueError, match=r"received 'sum_over_batch'\. Did you mean 'sum_over_batch_size'\?"
    ):
        Reduction.validate("sum_over_batch")


def test_mean_attribute_is_refused_as_ambiguous() -> None:
    with pytest.raises(
        AttributeError, match=r"`Reduction.MEAN` is ambiguous.*WEIGHTED_MEAN.*SUM_OVER_BATCH_SIZE"
    ):
        Reduction.MEAN  # noqa: B018


def test_unknown_attribute_lists_members() -> None:
    with pytest.raises(
        AttributeError, match=r"`Reduction` has no member 'AVERAGE'; the members are AUTO"
    ):
        Reduction.AVERAGE  # noqa: B018


def test_members_are_json_strings() -> None:
    assert json.loads(json.dumps({"reduction": Reduction.WEIGHTED_MEAN})) == {
        "reduction": "weighted_mean"
    }
    assert str(Reduction.SUM_OVER_BATCH_SIZE) == "sum_over_batch_size"


def test_accepted_keys_are_exactly_the_known_ones() -> None:
    accepted = Reduction.accepted_keys()
    assert len(accepted) == len(set(accepted)), f"a key is listed twice: {accepted}"
    assert set(accepted) == set(KEYS)
    assert {key: Reduction.validate(key) for key in accepted} == KEYS


@pytest.mark.parametrize("member", list(Reduction))
def test_divides(member) -> None:
    assert member.divides == (member not in (Reduction.NONE, Reduction.SUM))


def test_auto_resolves_to_sum_over_batch_size_on_one_replica() -> None:
    assert resolve("auto", num_replicas=1) is Reduction.SUM_OVER_BATCH_SIZE
    assert resolve("weighted_mean", num_replicas=1) is Reduction.WEIGHTED_MEAN


@pytest.mark.parametrize("key", ["auto", "sum_over_batch_size", "mean", "weighted_mean"])
def test_dividing_reductions_refused_with_replicas(key) -> None:
    with pytest.raises(
        ValueError, match=r"divides by the local batch.*Use `Reduction.SUM` or `Reduction.NONE`"
    ):
        resolve(key, num_replicas=3)


def test_invalid_key_reported_before_replica_check() -> None:
    with pytest.raises(ValueError, match=r"expected one of"):
        resolve("avg", num_replicas=3)
