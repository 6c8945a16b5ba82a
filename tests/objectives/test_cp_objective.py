"""A multi-term objective under context parallelism and tensor-parallel replicas, simulated
in one process (``run_replicas(..., sequence_shards=)``; tensor replicas as data groups of
their own). On random layouts of one global batch (R in {1, 2, 4} data replicas, CP in
{1, 2} shards per sequence, TP in {1, 2} tensor replicas, K in {1, 4} accumulation steps
with partial windows, padded and packed rows, sum and mean engines), every term's effective
coefficient on every token is its coefficient times the single-device weight: the same on
every layout. Per window: one all-reduce on the combining group and one on the sequence
group for the counts of every term (three sequence-mode terms included), plus one on the
combining group per micro-step for micro-batch load-balancing counts. With the tensor
replicas inside the group, every term weighs half its coefficient on a summing engine; an
averaging engine's doubled scale makes up for it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit.objectives import Objective, Term
from tests.objectives import _cp, _windows

COEFFICIENTS = {
    "ce": 1.0, "z": 0.3, "nll": 0.7, "seq": 0.4, "prompt": 0.2, "lbl": 0.01, "lbm": 0.05,
    "l2": 0.5,
}  # fmt: skip
OBJECTIVE = Objective(
    [
        Term("ce", "token-mean"),
        Term("z", "token-mean", coefficient=COEFFICIENTS["z"]),
        Term("nll", "seq-mean-token-mean", coefficient=COEFFICIENTS["nll"], mask="positive"),
        Term("seq", "seq-mean-token-sum", coefficient=COEFFICIENTS["seq"], count_empty=True),
        Term("prompt", "group-seq-mean", coefficient=COEFFICIENTS["prompt"]),
        Term("lbl", "global-batch", coefficient=COEFFICIENTS["lbl"], top_k=1),
        Term("lbm", "global-batch", coefficient=COEFFICIENTS["lbm"], top_k=1, counts="micro-batch"),
        Term("l2", "step", coefficient=COEFFICIENTS["l2"]),
    ]
)
PER_TOKEN = {  # term -> (mode, options) of its single-device weights
    "ce": ("token-mean", {}),
    "z": ("token-mean", {}),
    "nll": ("seq-mean-token-mean", {"positive": True}),
    "seq": ("seq-mean-token-sum", {"count_empty": True}),
    "prompt": ("group-seq-mean", {}),
}


@st.composite
def layouts(draw: st.DrawFn) -> dict[str, Any]:
    data, shards = draw(st.sampled_from([1, 2, 4])), draw(st.sampled_from([1, 2]))
    steps = draw(st.sampled_from([1, 4]))
    return {
        "data": data,
        "shards": shards,
        "replicas": data * shards,  # every rank of the engine's (data x context) group
        "tensor": draw(st.sampled_from([1, 2])),
        "steps": steps,
        "present": draw(st.integers(1, steps)),  # fewer: a partial window
        **_cp.draw_rows_and_engine(draw),
    }


def _window(step: dict[str, Any]) -> _cp.Window:
    batch = _cp.rows(step["seed"], step["rows"], packed=step["packed"], density=step["density"])
    return _cp.cut(batch, [step["present"]] * step["data"], step["shards"], seed=step["seed"])


def _leaf(values: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.nan_to_num(values, posinf=0, neginf=0), requires_grad=True)


def _replica_gradients(window: _cp.Window, losses: list, r: int, calls: list[int]) -> tuple:
    """Rank r's window: the plan (collectives counted), then per micro-batch the gradient
    of its value with respect to every term's input."""
    t = torch.as_tensor
    mine, positive, expert = (
        window.sharded[r],
        window.carried("positive")[r],
        window.carried("expert")[r],
    )
    counts = [_cp.expert_counts(e, mb["mask"]) for e, mb in zip(expert, mine, strict=True)]
    p = OBJECTIVE.plan(
        {"tokens": [t(mb["mask"]) for mb in mine], "positive": [t(m) for m in positive]},
        segment_ids=None if mine[0]["seg"] is None else [t(mb["seg"]) for mb in mine],
        group_ids=[t(mb["group"]) for mb in mine],
        num_groups=_cp.GROUPS,
        expert_counts=t(sum(counts)),
    )  # fmt: skip
    planned = list(calls)
    out = []
    for k, loss in enumerate(losses[r]):
        inputs = {name: _leaf(loss + shift) for shift, name in enumerate(PER_TOKEN)}
        for name in ("lbl", "lbm"):
            inputs[name] = torch.rand(_cp.LAYERS, _cp.EXPERTS, dtype=torch.float64)
            inputs[name].requires_grad_()
        inputs["l2"] = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
        value = p.loss(k, **dict(inputs, lbm=(inputs["lbm"], t(counts[k]))))
        grads = torch.autograd.grad(value, list(inputs.values()))
        out.append({name: g.numpy() for name, g in zip(inputs, grads, strict=True)})
    later = [calls[0] - planned[0], calls[1] - planned[1]]
    return out, planned, later


def _expected(window: _cp.Window, present: int) -> tuple[dict[str, list], np.ndarray, list]:
    """Every per-token term's single-device weights on each rank's tokens; the load
    balancing weights of the window and of each micro-step's global batch."""
    weights = {}
    for name, (mode, options) in PER_TOKEN.items():
        positive = bool(options.get("positive"))
        empty = bool(options.get("count_empty"))
        weights[name] = window.coefficients(mode, positive=positive, count_empty=empty)
    ranks, expert = range(len(window.sharded)), window.carried("expert")

    def counts(r: int, k: int) -> np.ndarray:
        return _cp.expert_counts(expert[r][k], window.sharded[r][k]["mask"])

    total = sum(counts(r, k) for r in ranks for k in range(present))
    micro = [_cp.balance_weights(sum(counts(r, k) for r in ranks)) for k in range(present)]
    return weights, _cp.balance_weights(total), micro


@settings(max_examples=150, deadline=None)
@given(step=layouts())
def test_every_term_weighs_its_coefficient_on_every_parallel_layout(step: dict) -> None:
    window = _window(step)
    losses = window.carried("loss")

    def replica(r: int, calls: list[int]) -> tuple:
        return _replica_gradients(window, losses, r, calls)

    per_tensor, division = _cp.run_tensor_replicas(replica, step, step["tensor"])
    weights, window_weights, micro_weights = _expected(window, step["present"])
    K, many, split = step["present"], step["replicas"] > 1, step["shards"] > 1
    for results in per_tensor:  # every tensor replica: the same effective coefficients
        penalty = 0.0
        for r, (per_step, planned, later) in enumerate(results):
            # one all-reduce of every term's counts; one on the sequence group for the
            # per-sequence counts of nll, seq and prompt together
            assert planned == [int(many), int(split)]
            assert later == [K * many, 0]  # micro-batch load balancing, per micro-step
            for k, grads in enumerate(per_step):
                expected = {name: target[r][k] for name, target in weights.items()}
                expected |= {"lbl": window_weights, "lbm": micro_weights[k] / K}
                penalty += _windows.effective_weights(grads, division, expected, COEFFICIENTS)
        assert penalty == pytest.approx(COEFFICIENTS["l2"], rel=1e-12)  # once per step


@pytest.mark.parametrize("gradients", ["sum", "mean"])
def test_tensor_replicas_inside_the_group(gradients: str) -> None:
    # the naive group: the world, tensor replicas counted as data (Megatron #5047's
    # aux-loss scaled by the tensor size). The engine combines over the data x context
    # ranks only: every count is doubled; a summing engine leaves every term at half its
    # coefficient, an averaging one doubles the scale and makes up for it
    step = {"data": 2, "shards": 2, "replicas": 4, "steps": 2, "present": 2, "rows": 8,
            "packed": True, "density": 0.8, "gradients": gradients, "accumulation": "sum",
            "seed": 5}  # fmt: skip
    window = _window(step)
    losses = window.carried("loss")
    naive = _cp.naive_tensor_group(
        lambda r: _replica_gradients(window, losses, r, [0, 0])[0], step, tensor=2
    )
    weights, window_weights, micro_weights = _expected(window, step["present"])
    division = 1.0 if gradients == "sum" else 1 / 4  # the engine's: the 4 data x context ranks
    strength = 0.5 if gradients == "sum" else 1.0
    penalty = 0.0
    for rank, per_step in enumerate(naive):  # rank (d * 2 + t) * 2 + c
        d, t, c = rank // 4, rank // 2 % 2, rank % 2
        r = d * 2 + c
        for k, grads in enumerate(per_step):
            expected = {name: target[r][k] for name, target in weights.items()}
            expected |= {"lbl": window_weights, "lbm": micro_weights[k] / 2}
            found = _windows.effective_weights(
                grads, division, expected, COEFFICIENTS, strength=strength
            )
            penalty += found * (t == 0)  # over one tensor coordinate
    assert penalty == pytest.approx(strength * COEFFICIENTS["l2"], rel=1e-12)
    assert any(np.any(weights["ce"][r][k]) for r in range(4) for k in range(2))
