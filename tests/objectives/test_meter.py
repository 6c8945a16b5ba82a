"""``LossMeter``: the logged loss is the optimized objective. On random layouts (every mode,
1-6 replicas, uneven micro-batches, padded and packed rows, empty sequences and micro-
batches) the reading equals the float64 oracle of the single-device objective, whatever
the split; the mean of micro-batch means is reported under its own name; one all-reduce
per reading, none before it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from losskit.aggregation import MODES, LossMeter, plan
from losskit.distribute import cross_replica_context, replica_context
from losskit.testing import run_replicas
from tests._helpers import Backend
from tests.aggregation import _oracle
from tests.objectives import _windows

VARIANTS = [(mode, empty) for mode in MODES for empty in (False, True)]
GROUPS, LENGTH = 3, 3.5


@st.composite
def steps(draw: st.DrawFn) -> dict:
    replicas = draw(st.integers(1, 6))
    return {
        "replicas": replicas,
        "present": [draw(st.integers(1, 4)) for _ in range(replicas)],
        "packed": draw(st.booleans()),
        "density": draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _own_aggregate(mb: dict, values: np.ndarray, mode: str, empty: bool) -> float:
    """The micro-batch's own aggregate (a layout of one piece), from the oracle."""
    c = _oracle.coefficients([[mb]], mode, count_empty=empty, max_length=LENGTH)
    return _oracle.objective(c, [[values]])


def _oracle_count(layout: list, mode: str, empty: bool) -> float | None:
    """N, S or G of the whole step, by the definitions."""
    mask_all = [mb for batches in layout for mb in batches]
    if mode == "token-sum":
        return None
    if mode == "token-mean":
        return float(sum(mb["mask"].sum() for mb in mask_all))
    c = _oracle.coefficients(layout, "seq-mean-token-sum", count_empty=empty)
    if mode.startswith("seq-"):  # S = 1 / c of any valid token
        values = np.concatenate([x.ravel() for row in c for x in row])
        live = values[values > 0]
        return float(1 / live[0]) if live.size else None
    return None  # groups: checked through the loss


@given(step=steps())
def test_the_reading_is_the_single_device_objective(step: dict) -> None:
    layout, losses = _windows.layout_and_losses(step)

    def replica(r: int, calls: list[int]) -> list:
        out = []
        for mode, empty in VARIANTS:
            meter = LossMeter(mode=mode, num_groups=GROUPS, max_length=LENGTH, count_empty=empty)
            for mb, values in zip(layout[r], losses[r], strict=True):
                meter.update(values, mb["mask"], segment_ids=mb["seg"], group_ids=mb["group"])
            before = calls[0]
            reading = meter.read()
            out.append((reading, calls[0] - before))
        return out

    results, _ = _windows.run_counted(replica, step)
    pieces = sum(step["present"])
    for index, (mode, empty) in enumerate(VARIANTS):
        label = f"{mode} count_empty={empty}"
        target = _oracle.objective(
            _oracle.coefficients(layout, mode, count_empty=empty, max_length=LENGTH), losses
        )
        naive = np.mean(
            [
                _own_aggregate(mb, values, mode, empty)
                for batches, row in zip(layout, losses, strict=True)
                for mb, values in zip(batches, row, strict=True)
            ]
        )
        count = _oracle_count(layout, mode, empty)
        for per_replica in results:
            reading, collectives = per_replica[index]
            assert collectives == (1 if step["replicas"] > 1 else 0), label
            assert reading.mode == mode
            np.testing.assert_allclose(reading.loss, target, rtol=1e-9, atol=1e-12, err_msg=label)
            np.testing.assert_allclose(
                reading.mean_of_micro_batch_means, naive, rtol=1e-9, atol=1e-12, err_msg=label
            )
            assert float(reading.updates) == pieces
            if count is not None:
                assert float(reading.count) == count, label
            if mode == "token-sum":
                assert reading.count is None


def _split(rows: np.ndarray, replicas: int, steps: int) -> list[list[np.ndarray]]:
    """The same rows cut into replicas x micro-batches of uneven sizes."""
    cuts = np.array_split(np.arange(rows.shape[0]), replicas * steps)
    pieces = [rows[c] for c in cuts]
    return [pieces[r * steps : (r + 1) * steps] for r in range(replicas)]


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean"])
def test_identical_across_replicas_and_accumulation_steps(mode: str) -> None:
    rng = np.random.default_rng(7)
    mask = rng.random((16, 6)) < np.linspace(0.1, 1.0, 16)[:, None]  # uneven rows
    losses = rng.normal(size=(16, 6))
    readings, naive = [], []
    for replicas in (1, 2, 4):
        for steps in (1, 4):
            masks, values = _split(mask, replicas, steps), _split(losses, replicas, steps)

            def replica(r: int, masks: list = masks, values: list = values) -> tuple:
                meter = LossMeter(mode=mode)
                for m, v in zip(masks[r], values[r], strict=True):
                    meter.update(v, m)
                reading = meter.read()
                return float(reading.loss), float(reading.mean_of_micro_batch_means)

            loss, mean_of_means = run_replicas(replica, replicas)[0]
            readings.append(loss)
            naive.append(mean_of_means)
    np.testing.assert_allclose(readings, readings[0], rtol=1e-12)
    assert max(naive) - min(naive) > 1e-3  # the mean of micro-batch means moves


def test_the_train_reading_is_the_planned_objective() -> None:
    masks = [np.array([[1, 1, 0], [1, 0, 0]]), np.array([[1, 1, 1]])]
    losses = [np.array([[2.0, 4.0, 7.0], [6.0, 1.0, 1.0]]), np.array([[3.0, 3.0, 6.0]])]
    p = plan(masks, mode="seq-mean-token-mean")
    meter = LossMeter(mode="seq-mean-token-mean")
    for _k, (m, v) in enumerate(zip(masks, losses, strict=True)):
        meter.update(v, m)
    planned = sum(float(p.unscaled_loss(v, k)) for k, v in enumerate(losses))
    assert float(meter.read().loss) == pytest.approx(planned, rel=1e-15)
    assert planned == pytest.approx((3.0 + 6.0 + 4.0) / 3)


def test_update_and_read_on_every_library_without_host_reads(xp: Backend) -> None:
    def run(l1: object, m1: object, l2: object, m2: object) -> tuple:
        meter = LossMeter(mode="token-mean")
        meter.update(l1, m1)
        meter.update(l2, m2)
        meter.add(xp.asarray(10.0), xp.asarray(2.0))  # a pair computed elsewhere
        reading = meter.read()
        return reading.loss, reading.mean_of_micro_batch_means, reading.count

    loss, means, count = xp.run(  # jitted under JAX: nothing is read on the host
        run,
        xp.asarray([[1.0, 3.0, 9.0]]),
        xp.asarray([[True, True, False]]),
        xp.asarray([[8.0, 5.0]], dtype="float32"),
        xp.asarray([[1, 0]]),
    )
    assert float(xp.numpy(loss)) == pytest.approx((4.0 + 8.0 + 10.0) / 5)
    assert float(xp.numpy(means)) == pytest.approx((2.0 + 8.0 + 5.0) / 3)
    assert float(xp.numpy(count)) == 5.0


def test_the_meter_runs_under_torch_compile() -> None:
    def read(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        meter = LossMeter(mode="token-mean")
        meter.update(values, mask)
        meter.update(values * 2, mask)
        return meter.read().loss

    compiled = torch.compile(read, fullgraph=True, backend="eager")
    values = torch.tensor([[1.0, 2.0, 3.0]])
    assert float(compiled(values, torch.tensor([[1, 1, 0]]))) == pytest.approx(4.5 / 2)


def test_losses_are_detached_and_the_reading_names_its_statistics() -> None:
    x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    meter = LossMeter(mode="token-sum")
    meter.update(x * 3, torch.ones(1, 2))
    reading = meter.read()
    assert not reading.loss.requires_grad
    assert reading.as_dict() == {
        "loss (token-sum)": reading.loss,
        "mean of micro-batch means (token-sum)": reading.mean_of_micro_batch_means,
    }
    meter.reset()
    with pytest.raises(RuntimeError, match=r"LossMeter.read: nothing to read"):
        meter.read()
    assert repr(meter) == "LossMeter(mode='token-sum')"


# ----------------------------------------------------------------------------- errors


def test_meter_errors() -> None:
    with pytest.raises(ValueError, match=r"Invalid `num_groups`"):
        LossMeter(mode="group-token-mean")
    with pytest.raises(ValueError, match=r"Invalid `max_length`"):
        LossMeter(mode="seq-mean-token-sum-norm")
    with pytest.raises(ValueError, match=r"Invalid `mode`"):
        LossMeter(mode="average")
    grouped = LossMeter(mode="group-seq-mean", num_groups=2)
    with pytest.raises(ValueError, match=r"Invalid `weighted_sum`: .* through `update`"):
        grouped.add(1.0, 2.0)
    with pytest.raises(ValueError, match=r"Invalid `group_ids`"):
        grouped.update(np.ones((1, 2)), np.ones((1, 2)))
    meter = LossMeter(mode="token-mean")
    with pytest.raises(ValueError, match=r"Invalid `count`: expected N or S, received None"):
        meter.add(1.0)
    with pytest.raises(ValueError, match=r"Invalid `count`: expected None \(token-sum"):
        LossMeter(mode="token-sum").add(1.0, 2.0)
    with pytest.raises(ValueError, match=r"Invalid `weighted_sum`: expected a 0-d array"):
        meter.add(np.ones(2), 2.0)
    meter.update(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(TypeError, match=r"Invalid `mask`: expected an array of .*numpy, as"):
        meter.update(torch.ones(1, 2), torch.ones(1, 2))
    with pytest.raises(TypeError, match=r"Invalid `weighted_sum`: expected an array of .*numpy"):
        meter.add(torch.tensor(1.0), torch.tensor(2.0))
    with cross_replica_context(2), pytest.raises(RuntimeError, match=r"cross-replica context"):
        meter.read()
    with replica_context(2), pytest.raises(RuntimeError, match=r"LossMeter.read: the context"):
        meter.read()
