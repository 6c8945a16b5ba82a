"""losskit.v1's loss collections: recorded only inside collect_losses(), per block, per thread.

(The deprecated top-level names, ``losskit.add_loss`` and the rest, are tested in
test_deprecations.py.)"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from losskit import v1
from losskit.v1 import (
    LOSSES,
    REGULARIZATION_LOSSES,
    Reduction,
    add_loss,
    clear_losses,
    collect_losses,
    compute_weighted_loss,
    get_losses,
    get_total_loss,
)
from tests._helpers import Backend, assert_close


def test_nothing_is_recorded_outside_a_block() -> None:
    compute_weighted_loss(np.ones(3))  # TF eager ignores loss_collection too
    with collect_losses() as store:
        pass
    assert len(store) == 0


def test_compute_weighted_loss_records_in_its_collection(xp: Backend) -> None:
    with collect_losses() as store:
        first = compute_weighted_loss(xp.asarray([1.0, 3.0]), reduction=Reduction.SUM)
        second = compute_weighted_loss(xp.asarray([2.0]), loss_collection="aux")
        compute_weighted_loss(xp.asarray([5.0]), loss_collection=None)
    assert store.get() == [first]
    assert store.get("aux") == [second]
    assert store.names() == (LOSSES, "aux")
    assert_close(xp.numpy(store.total()), 4.0)
    assert_close(xp.numpy(store.total(LOSSES, "aux")), 6.0)


def test_total_sums_non_scalar_entries_and_keeps_gradients(xp: Backend) -> None:
    if not xp.has_autograd:
        pytest.skip("no autograd")

    def step(losses):
        with collect_losses():
            compute_weighted_loss(losses, reduction=Reduction.NONE)
            add_loss(losses[0] * 2, REGULARIZATION_LOSSES)
            return get_total_loss()

    (grad,) = xp.grad(step, xp.asarray([1.0, 2.0, 3.0]))
    assert_close(grad, [3.0, 1.0, 1.0])


def test_module_functions_use_the_innermost_block() -> None:
    with collect_losses() as outer:
        add_loss(np.float64(1.0))
        with collect_losses() as inner:
            add_loss(np.float64(2.0))
            add_loss(np.float64(0.5), REGULARIZATION_LOSSES)
            assert [float(v) for v in get_losses()] == [2.0]
            assert float(get_total_loss()) == 2.5
            assert float(get_total_loss(add_regularization_losses=False)) == 2.0
            clear_losses(REGULARIZATION_LOSSES)
            assert float(get_total_loss()) == 2.0
            clear_losses()
            assert get_losses() == []
        assert [float(v) for v in get_losses()] == [1.0]
    assert len(inner) == 0
    assert len(outer) == 1


def test_empty_total_is_zero() -> None:
    with collect_losses() as store:
        assert store.total() == 0.0
        assert get_total_loss() == 0.0


def test_add_loss_returns_its_argument() -> None:
    value = np.array(3.0)
    with collect_losses():
        assert add_loss(value) is value


@pytest.mark.parametrize(
    "call",
    [lambda: add_loss(1.0), get_losses, get_total_loss, clear_losses],
    ids=["add_loss", "get_losses", "get_total_loss", "clear_losses"],
)
def test_module_functions_need_a_block(call) -> None:
    with pytest.raises(RuntimeError, match=r"needs an active loss collection.*collect_losses"):
        call()


@pytest.mark.parametrize("name", ["", 3, None])
def test_collection_names_are_strings(name) -> None:
    with (
        collect_losses() as store,
        pytest.raises(TypeError, match=r"Invalid `collection`: expected a non-empty string"),
    ):
        store.add(1.0, name)


def test_total_refuses_mixed_libraries() -> None:
    import torch

    with collect_losses() as store:
        store.add(torch.tensor(1.0))
        store.add(losskit_jax_scalar())
    with pytest.raises(TypeError, match=r"from the same library"):
        store.total()


def losskit_jax_scalar():
    import jax.numpy as jnp

    return jnp.asarray(2.0)


def test_blocks_are_per_thread() -> None:
    recorded = []

    def worker() -> None:
        compute_weighted_loss(np.ones(2))
        recorded.append(True)

    with collect_losses() as store:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert recorded == [True]
    assert len(store) == 0


def test_repr_counts() -> None:
    with collect_losses() as store:
        add_loss(1.0)
        add_loss(2.0, "aux")
    assert repr(store) == "LossCollections({'losses': 1, 'aux': 1})"
    assert v1.LossCollections is type(store)
