"""Moved names keep working as deprecated aliases: TF1's loss collections moved to losskit.v1.

The eight top-level names (and ``losskit.loss_collections.*``) warn with a message naming
``losskit.v1.<name>`` and behave as before, old signatures included. TF1's recording is
``losskit.v1.compute_weighted_loss``'s; for one release the core
``losskit.compute_weighted_loss`` still records into an active block, with a warning, so
that old code keeps its numbers.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

import losskit
from losskit import v1
from tests._helpers import assert_close

MOVED = (
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "LossCollections",
    "add_loss",
    "clear_losses",
    "collect_losses",
    "get_losses",
    "get_total_loss",
)


@pytest.mark.parametrize("module", ["losskit", "losskit.loss_collections"])
@pytest.mark.parametrize("name", MOVED)
def test_old_names_warn_and_name_the_new_one(module: str, name: str) -> None:
    old = importlib.import_module(module)
    with pytest.warns(
        DeprecationWarning,
        match=rf"^`{module}\.{name}` is deprecated and will be removed in a future release; "
        rf"use `losskit\.v1\.{name}` instead\.$",
    ):
        found = getattr(old, name)
    if name in ("add_loss", "get_losses"):  # kept with their old signatures (below)
        assert callable(found)
    else:
        assert found is getattr(v1, name)


def test_from_import_warns() -> None:
    with pytest.warns(DeprecationWarning, match=r"use `losskit\.v1\.collect_losses`"):
        from losskit import collect_losses  # noqa: F401


def test_moved_names_are_not_public_any_more() -> None:
    for name in MOVED:
        assert name not in losskit.__all__
        assert name in v1.__all__


def test_other_missing_attributes_still_raise() -> None:
    with pytest.raises(AttributeError, match=r"module 'losskit' has no attribute 'nope'"):
        losskit.nope  # noqa: B018
    with pytest.raises(AttributeError, match=r"'losskit.loss_collections' has no attribute 'x'"):
        importlib.import_module("losskit.loss_collections").x  # noqa: B018


def _old(name: str) -> object:
    with pytest.warns(DeprecationWarning, match=rf"use `losskit\.v1\.{name}`"):
        return getattr(losskit, name)


def test_the_old_names_behave_as_before() -> None:
    """The pre-v1 API, old signatures included: add_loss(loss, collection=...),
    get_losses(collection), get_total_loss(add_regularization_losses=...)."""
    collect_losses, add_loss, get_losses = (
        _old("collect_losses"),
        _old("add_loss"),
        _old("get_losses"),
    )
    get_total_loss, clear_losses = _old("get_total_loss"), _old("clear_losses")
    regularization = _old("REGULARIZATION_LOSSES")
    with collect_losses() as store:
        add_loss(np.array(2.0))
        add_loss(np.array(0.5), collection=regularization)
        add_loss(np.array(7.0), "aux")
        assert [float(v) for v in get_losses("aux")] == [7.0]
        assert float(get_total_loss()) == 2.5
        assert float(get_total_loss(add_regularization_losses=False)) == 2.0
        clear_losses("aux")
        assert get_losses("aux") == []
    assert isinstance(store, _old("LossCollections"))
    assert store.get(_old("LOSSES"))[0] == 2.0


def test_old_block_records_what_v1_functions_compute() -> None:
    """``losskit.collect_losses`` is ``losskit.v1.collect_losses``: TF1's recording, reached
    through losskit.v1, lands in a block opened with the old name."""
    with _old("collect_losses")() as store:
        v1.compute_weighted_loss(np.array([1.0, 3.0]), reduction=v1.Reduction.SUM)
        v1.mean_squared_error(np.array([0.0]), np.array([2.0]))
    assert [float(v) for v in store.get()] == [4.0, 4.0]


# ----------------------------------------------------------------------------- recording


def test_core_compute_weighted_loss_records_nothing_outside_a_block() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and warns about nothing
        loss = losskit.compute_weighted_loss(np.array([1.0, 3.0]), reduction="sum")
    assert float(loss) == 4.0


_STILL_RECORDS = (
    r"^Recording by `losskit\.compute_weighted_loss` into loss collections is deprecated and "
    r"will be removed in a future release: it computes only; use "
    r"`losskit\.v1\.compute_weighted_loss` \(which records\) inside "
    r"`losskit\.v1\.collect_losses\(\)`\.$"
)


def test_old_code_keeps_its_numbers_for_one_release() -> None:
    """The pre-v1 program: the core function inside the old block; recorded as before
    (LOSSES by default, a named collection, nothing for None), with a warning."""
    collect_losses, get_total_loss = _old("collect_losses"), _old("get_total_loss")
    with collect_losses() as store:
        with pytest.warns(DeprecationWarning, match=_STILL_RECORDS):
            losskit.compute_weighted_loss(np.array([1.0, 3.0]), reduction="sum")
        with pytest.warns(DeprecationWarning, match=_STILL_RECORDS):
            losskit.compute_weighted_loss(np.array([2.0]), loss_collection="aux")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            losskit.compute_weighted_loss(np.array([5.0]), loss_collection=None)
        assert float(get_total_loss()) == 4.0
    assert [float(v) for v in store.get("aux")] == [2.0]
    assert len(store) == 2


def test_core_loss_collection_outside_a_block_is_deprecated_and_ignored() -> None:
    with pytest.warns(
        DeprecationWarning,
        match=r"^`loss_collection` of `losskit\.compute_weighted_loss` is deprecated and "
        r"ignored: the function computes only \(the loss is not recorded in 'aux'\)\. To "
        r"record into TensorFlow 1 loss collections, call "
        r"`losskit\.v1\.compute_weighted_loss\(\.\.\., loss_collection=\.\.\.\)`",
    ):
        loss = losskit.compute_weighted_loss(np.array([1.0, 3.0]), loss_collection="aux")
    assert_close(loss, 2.0)


def test_loss_classes_never_record() -> None:
    with v1.collect_losses() as store, warnings.catch_warnings():
        warnings.simplefilter("error")
        losskit.losses.MeanSquaredError()(np.array([0.0]), np.array([2.0]))
    assert len(store) == 0


def test_the_old_recording_is_reachable_through_v1() -> None:
    """What ``losskit.compute_weighted_loss`` recorded before (LOSSES by default, a named
    collection, nothing for None), ``losskit.v1.compute_weighted_loss`` records now."""
    losses = np.array([1.0, 2.0, 3.0, 4.0])
    with v1.collect_losses() as store:
        first = v1.compute_weighted_loss(losses)
        second = v1.compute_weighted_loss(losses, loss_collection="aux")
        v1.compute_weighted_loss(losses, loss_collection=None)
    assert store.get() == [first]
    assert store.get("aux") == [second]
    assert_close(first, losskit.compute_weighted_loss(losses), rtol=0)
