"""Deferred windows and loss meters under context parallelism, simulated in one process
(``run_replicas(..., sequence_shards=)``).

* Deferred windows (every post-hoc mode and ``count_empty``; a deferred objective whose
  terms need :math:`n_i`, and one whose terms need only S) on random layouts: 1-3 data
  replicas with their own window lengths, 1, 2 or 4 shards per sequence, padded and packed
  rows, sum and mean engines. The scaled gradients equal the float64 oracle's weights and
  the planned mode's; per window one all-reduce on the combining group (none for
  token-sum) and on the sequence group one per micro-step for ``seq-mean-token-mean``,
  one at the window's end for the modes that need only S (none for padded rows with
  ``count_empty``), none for the token modes.
* Meters: the same global batch cut into R in {1, 2, 4} data replicas, CP in {1, 2}
  shards and K in {1, 4} micro-batches reads the same objective, the oracle's (every mode
  and ``count_empty``); collectives per update and per reading counted.
* The errors of a split: a meter updated under one split and read under another, pairs of
  sequence modes, a context without a sequence all-reduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit.aggregation import MODES, LossMeter, deferred_plan, plan
from losskit.aggregation._deferred import POST_HOC_MODES
from losskit.distribute import replica_context
from losskit.objectives import Objective, Term
from losskit.testing import run_replicas
from tests.aggregation import _oracle
from tests.objectives import _cp, _windows

LENGTH = 4.0  # max_length L
OBJECTIVES = {  # name -> its per-token terms (name, mode, coefficient); the first counts
    "n_i": (
        [("pg", "seq-mean-token-mean", 1.0), ("entropy", "seq-mean-token-sum", -0.01),
         ("kl", "seq-mean-token-mean", 0.1)]
    ),
    "S only": [("a", "seq-mean-token-sum", 1.0), ("b", "seq-mean-token-sum-norm", 0.5)],
}  # fmt: skip


def _objective(terms: list[tuple[str, str, float]]) -> Objective:
    found = [Term(n, m, coefficient=c, max_length=LENGTH if m.endswith("norm") else None)
             for n, m, c in terms]  # fmt: skip
    return Objective([*found, Term("l2", "step", coefficient=0.5)])


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    data, shards = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 4]))
    steps = draw(st.integers(1, 4))
    return {
        "data": data,
        "shards": shards,
        "replicas": data * shards,
        "steps": steps,
        # each data replica its own window length (the shards of a group share it)
        "present": [draw(st.integers(1, steps)) for _ in range(data)],
        **_cp.draw_rows_and_engine(draw),
    }


def _torch(value: np.ndarray | None) -> torch.Tensor | None:
    return None if value is None else torch.as_tensor(value)


def _sequence_calls(mode: str, empty: bool, packed: bool, shards: int, micro_steps: int) -> int:
    """The deferred window's all-reduces on the sequence group."""
    if shards == 1 or not mode.startswith("seq-"):
        return 0
    if mode == "seq-mean-token-mean":
        return micro_steps  # each micro-step's n_i, before its backward
    return 0 if empty and not packed else 1  # S, at the window's end


def _deferred_mode(mine: list, losses: list, options: dict, calls: list[int]) -> tuple:
    """One rank's deferred window of one mode: its scaled per-token gradients, the planned
    weights for the same masks, and the window's collectives."""
    before = list(calls)
    window = deferred_plan(**options)
    grads = []
    for mb, values in zip(mine, losses, strict=True):
        x = torch.tensor(values, requires_grad=True)
        loss = window.loss(x, torch.as_tensor(mb["mask"]), segment_ids=_torch(mb["seg"]))
        grads.append(torch.autograd.grad(loss, x)[0])
    window.scale_gradients(grads)
    collectives = [calls[0] - before[0], calls[1] - before[1]]
    segments = None if mine[0]["seg"] is None else [mb["seg"] for mb in mine]
    planned = plan([mb["mask"] for mb in mine], segment_ids=segments, **options)
    weights = [planned.weights(k) for k in range(len(mine))]
    return [g.numpy() for g in grads], weights, collectives


def _deferred_objective(name: str, mine: list, losses: list, calls: list[int]) -> tuple:
    """One rank's deferred objective: each term's scaled gradients, the step term's
    gradient (added after the scaling), the planned objective's, and the collectives."""
    terms = OBJECTIVES[name]
    objective = _objective(terms)
    before = list(calls)
    window = objective.deferred()
    found: list[dict[str, torch.Tensor]] = []
    for mb, values in zip(mine, losses, strict=True):
        leaves = {n: torch.tensor(values + i, requires_grad=True) for i, (n, _, _) in
                  enumerate(terms)}  # fmt: skip
        loss = window.loss(torch.as_tensor(mb["mask"]), segment_ids=_torch(mb["seg"]), **leaves)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        found.append(dict(zip(leaves, grads, strict=True)))
    window.scale_gradients([g for grads in found for g in grads.values()])  # in place
    penalty = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    (step_grad,) = torch.autograd.grad(window.step_loss(l2=penalty), penalty)
    collectives = [calls[0] - before[0], calls[1] - before[1]]
    return [{n: g.numpy() for n, g in f.items()} for f in found], float(step_grad), collectives


@settings(max_examples=80, deadline=None)
@given(step=windows())
def test_deferred_windows_equal_the_plan_and_the_oracle_under_a_split(step: dict) -> None:
    batch = _cp.rows(step["seed"], step["rows"], packed=step["packed"], density=step["density"])
    window = _cp.cut(batch, step["present"], step["shards"], seed=step["seed"])
    losses = window.carried("loss")
    variants = [(mode, empty) for mode in POST_HOC_MODES for empty in (False, True)]

    def replica(r: int, calls: list[int]) -> tuple:
        mine, values = window.sharded[r], [np.nan_to_num(v, posinf=0, neginf=0) for v in losses[r]]
        modes = [
            _deferred_mode(mine, values, {"mode": m, "max_length": LENGTH, "count_empty": e}, calls)
            for m, e in variants
        ]
        objectives = {name: _deferred_objective(name, mine, values, calls) for name in OBJECTIVES}
        return modes, objectives

    results, division = _windows.run_counted(replica, step)
    many = step["replicas"] > 1
    for index, (mode, empty) in enumerate(variants):
        label = f"{mode} count_empty={empty}"
        oracle = window.coefficients(mode, count_empty=empty, max_length=LENGTH)
        for r, (modes, _) in enumerate(results):
            grads, weights, collectives = modes[index]
            micro_steps = step["present"][r // step["shards"]]
            sequence = _sequence_calls(mode, empty, step["packed"], step["shards"], micro_steps)
            assert collectives == [int(many and mode != "token-sum"), sequence], label
            for k, expected in enumerate(oracle[r]):
                np.testing.assert_allclose(
                    division * grads[k], expected, rtol=1e-12, atol=1e-15, err_msg=label
                )
                np.testing.assert_allclose(grads[k], weights[k], rtol=1e-12, atol=1e-15)
    for name, terms in OBJECTIVES.items():
        oracles = {
            n: window.coefficients(m, max_length=LENGTH) for n, m, _ in terms
        }  # fmt: skip
        for r, (_, objectives) in enumerate(results):
            found, step_grad, collectives = objectives[name]
            micro_steps = step["present"][r // step["shards"]]
            split = step["shards"] > 1
            # every term's n_i in one all-reduce per micro-step; S alone at the end
            sequence = (micro_steps if name == "n_i" else 1) if split else 0
            assert collectives == [int(many), sequence], name
            assert step_grad == 0.5  # at full strength, after the scaling
            for k, grads in enumerate(found):
                for n, _, coefficient in terms:
                    np.testing.assert_allclose(
                        division * grads[n], coefficient * oracles[n][r][k],
                        rtol=1e-12, atol=1e-15, err_msg=f"{name} {n}",
                    )  # fmt: skip


# ----------------------------------------------------------------------------- meters

LAYOUTS = [(d, c, k) for d in (1, 2, 4) for c in (1, 2) for k in (1, 4)]
METER_VARIANTS = [(mode, empty) for mode in MODES for empty in (False, True)]


def _readings(batch: dict, data: int, shards: int, steps: int, seed: int) -> list:
    """Every rank's meter readings (every mode) of the batch cut into ``data`` replicas x
    ``steps`` micro-batches x ``shards`` shards, and their collectives."""
    window = _cp.cut(batch, [steps] * data, shards, seed=seed)
    losses = window.carried("loss")

    def replica(r: int, calls: list[int]) -> list:
        out = []
        for mode, empty in METER_VARIANTS:
            options = {"num_groups": _cp.GROUPS, "max_length": LENGTH, "count_empty": empty}
            meter = LossMeter(mode=mode, **options)
            before = list(calls)
            for mb, values in zip(window.sharded[r], losses[r], strict=True):
                meter.update(values, mb["mask"], segment_ids=mb["seg"], group_ids=mb["group"])
            updated = [calls[0] - before[0], calls[1] - before[1]]
            before = list(calls)
            reading = meter.read()
            out.append((reading, updated, [calls[0] - before[0], calls[1] - before[1]]))
        return out

    step = {"replicas": data * shards, "shards": shards}
    return _windows.run_counted(replica, step)[0]


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 12),
    packed=st.booleans(),
    density=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_meters_read_the_same_objective_for_every_r_cp_and_k(
    seed: int, rows: int, packed: bool, density: float
) -> None:
    batch = _cp.rows(seed, rows, packed=packed, density=density)
    whole = [[batch]]  # one device, one micro-batch
    targets = [
        _oracle.objective(
            _oracle.coefficients(whole, mode, count_empty=empty, max_length=LENGTH),
            [[batch["loss"]]],
        )
        for mode, empty in METER_VARIANTS
    ]
    readings: dict[int, list[float]] = {index: [] for index in range(len(METER_VARIANTS))}
    for data, shards, steps in LAYOUTS:
        found = _readings(batch, data, shards, steps, seed)
        for index, (mode, empty) in enumerate(METER_VARIANTS):
            label = f"{mode} {empty} R={data} CP={shards} K={steps}"
            sequences = mode in ("group-seq-mean",) or mode.startswith("seq-")
            for reading, updated, read in (per_rank[index] for per_rank in found):
                # one sequence all-reduce per update for the modes that need n_i or S
                assert updated == [0, steps * (shards > 1 and sequences)], label
                assert read == [int(data * shards > 1), 0], label
                assert float(reading.updates) == data * steps, label
                assert (reading.mean_of_micro_batch_means is None) == (shards > 1), label
                readings[index].append(float(reading.loss))
    for index, target in enumerate(targets):
        found = np.array(readings[index])
        np.testing.assert_allclose(found, target, rtol=1e-12, atol=1e-14)
        assert np.ptp(found) <= 1e-12 * max(1.0, abs(target)), METER_VARIANTS[index]


# ----------------------------------------------------------------------------- errors


def _split_context(**options: Any) -> Any:
    defaults = {"all_reduce": lambda x: 2 * x, "sequence_all_reduce": lambda x: 2 * x}
    return replica_context(2, sequence_shards=2, **{**defaults, **options})


def test_a_meter_is_read_under_the_split_it_was_updated_under() -> None:
    mask = np.ones((1, 2))
    meter = LossMeter(mode="seq-mean-token-mean")
    with _split_context():
        meter.update(np.ones((1, 2)), mask)
        assert meter.read().as_dict().keys() == {"loss (seq-mean-token-mean)"}
    with pytest.raises(
        RuntimeError,
        match=r"LossMeter.read: the meter's updates split each sequence over 2 rank\(s\), "
        r"this context over 1\. Update and read a meter in the same engine context",
    ):
        meter.read()
    with pytest.raises(RuntimeError, match=r"LossMeter.update: the meter's updates split"):
        meter.update(np.ones((1, 2)), mask)
    meter.reset()  # forgets the split too
    meter.update(np.ones((1, 2)), mask)
    with _split_context(), pytest.raises(RuntimeError, match=r"split each sequence over 1"):
        meter.read()
    tokens = LossMeter(mode="token-mean")
    tokens.add(1.0, 2.0)
    with _split_context(), pytest.raises(RuntimeError, match=r"LossMeter.add: the meter's"):
        tokens.add(1.0, 2.0)


def test_pairs_of_sequence_modes_are_refused_under_a_split() -> None:
    with (
        _split_context(),
        pytest.raises(
            ValueError,
            match=r"Invalid `weighted_sum`: expected per-token losses through `update` for "
            r"mode 'seq-mean-token-sum' under context parallelism \(sequences split over 2 "
            r"ranks\), .* `update` sums them over it and counts each sequence once",
        ),
    ):
        LossMeter(mode="seq-mean-token-sum").add(1.0, 1.0)

    def shard(c: int) -> tuple:  # each shard adds its sum and tokens
        tokens = LossMeter(mode="token-mean")
        tokens.add(np.array([6.0, 9.0][c]), np.array([3.0, 1.0][c]))
        reading = tokens.read()
        return float(reading.loss), float(reading.updates), reading.mean_of_micro_batch_means

    # (6 + 9) / (3 + 1) tokens; one micro-batch split over the two shards
    assert run_replicas(shard, 2, sequence_shards=2) == [(3.75, 1.0, None)] * 2


def test_a_split_without_a_sequence_all_reduce_names_the_caller() -> None:
    mask = np.ones((1, 2))
    with replica_context(2, all_reduce=lambda x: 2 * x, sequence_shards=2):
        window = deferred_plan(mode="seq-mean-token-mean")
        with pytest.raises(
            RuntimeError,
            match=r"deferred_plan: the context \(replica_context, sequences split over 2 "
            r"replicas\) has no sequence all-reduce",
        ):
            window.loss(np.ones((1, 2)), mask)
        window = Objective([Term("a", "seq-mean-token-sum")]).deferred()
        window.loss(mask, a=np.ones((1, 2)))  # S alone: summed at the window's end
        with pytest.raises(RuntimeError, match=r"Objective.deferred: the context .* no sequence"):
            window.finish()
        with pytest.raises(RuntimeError, match=r"LossMeter.update: the context .* no sequence"):
            LossMeter(mode="group-seq-mean", num_groups=1).update(
                np.ones((1, 2)), mask, group_ids=np.zeros(1, int)
            )
        with pytest.raises(RuntimeError, match=r"Objective.plan: the context .* no sequence"):
            Objective([Term("a", "seq-mean-token-mean")]).plan([mask])
        LossMeter(mode="token-mean").update(np.ones((1, 2)), mask)  # tokens: no group needed


def test_packed_ids_reach_the_whole_row_in_every_window() -> None:
    mask, ids = np.ones((1, 2), bool), [np.array([[3, 3]])]  # beyond a shard of 2 columns
    with _split_context():
        Objective([Term("a", "seq-mean-token-mean")]).plan([mask], segment_ids=ids)
        deferred_plan(mode="seq-mean-token-mean").loss(np.ones((1, 2)), mask, segment_ids=ids[0])
        LossMeter(mode="seq-mean-token-sum").update(np.ones((1, 2)), mask, segment_ids=ids[0])
    with pytest.raises(ValueError, match=r"Invalid `segment_ids\[0\]`: .*\(row length\)"):
        Objective([Term("a", "seq-mean-token-mean")]).plan([mask], segment_ids=ids)
