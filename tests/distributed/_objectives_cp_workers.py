"""Rank code of ``test_objectives_cp_gloo.py``: data 2 x context 2 on 4 gloo processes
(ranks ``2 d + c``; DDP over the flattened data x context group, the context pairs as
sequence groups). For each case, one window of a tiny softmax token model:

* a planned multi-term objective (token-mean CE + a seq-mean-token-mean term + z-loss + an
  L2 penalty), with losskit's contexts and naively without the sequence group, and loss
  meters of the CE (token-mean) and of the seq-mean term beside it;
* a deferred objective (seq-mean-token-mean + seq-mean-token-sum, the penalty after the
  scaling) and a deferred window of a mode that needs only S;

each with the groups of its all-reduces recorded. Module-level, so that
``losskit.testing.run_processes`` can pickle it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.distributed import _parallel_data as data
from tests.distributed._parallel_workers import _renumbered, counting_collectives

STEPS, VOCAB, L2, MAX_LENGTH = 3, 4, 0.01, 8.0
CASES = [(0, False, 3), (1, True, 2)]  # seed, packed, micro-batches (2: a partial window)
PLANNED = {"ce": ("token-mean", 1.0), "kl": ("seq-mean-token-mean", 0.3), "z": ("token-mean", 0.1)}
DEFERRED = {"ce": ("seq-mean-token-mean", 1.0), "kl": ("seq-mean-token-sum", -0.05)}
S_ONLY = "seq-mean-token-sum-norm"  # the deferred window of one mode (on the CE)
METERS = ("ce", "kl")  # the meters: each planned term's loss under its mode


def labels(y: np.ndarray) -> np.ndarray:
    """Integer labels from the case's per-token targets (elementwise: they travel with
    their columns)."""
    return (np.floor(np.abs(y) * 2).astype(np.int64)) % VOCAB


def initial_weight() -> np.ndarray:
    return np.random.default_rng(42).normal(size=(VOCAB, data.FEATURES)) / 2


def token_terms(torch: Any, logits: Any, y: Any) -> dict[str, Any]:
    """Per token: cross-entropy, a KL to the uniform distribution, z = logsumexp^2."""
    lse = torch.logsumexp(logits, dim=-1)
    ce = lse - torch.gather(logits, -1, y[..., None])[..., 0]
    return {"ce": ce, "kl": lse - logits.mean(-1), "z": lse**2}


def objective(spec: dict[str, tuple[str, float]]) -> Any:
    from losskit.objectives import Objective, Term

    found = [Term(name, mode, coefficient=c) for name, (mode, c) in spec.items()]
    return Objective([*found, Term("l2", "step", coefficient=L2)])


def run(rank: int, world: int) -> list[dict[str, Any]]:
    from torch.distributed.device_mesh import init_device_mesh

    assert world == 4
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("data", "inner"))
    groups = {
        "sequence": mesh["inner"].get_group(),
        "combining": mesh["data", "inner"]._flatten().get_group(),
    }
    return [_case(rank, groups, *case) for case in CASES]


def _case(rank: int, groups: dict[str, Any], seed: int, packed: bool, present: int) -> dict:
    import torch

    case = data.cp_case(seed, packed, present)
    window = [
        {
            "mask": torch.as_tensor(mb["mask"]),
            "seg": None if mb["seg"] is None else torch.as_tensor(mb["seg"]),
            "x": torch.as_tensor(case["x_shards"][rank][k]),
            "y": torch.as_tensor(labels(case["y_shards"][rank][k])),
        }
        for k, mb in enumerate(case["sharded"][rank])
    ]
    names = {id(groups["sequence"]): "sequence", id(groups["combining"]): "combining"}

    def named(calls: list[Any]) -> list[str]:
        return [names.get(id(group), repr(group)) for group in calls]

    found: dict[str, Any] = {"calls": {}}
    with_group = {"process_group": groups["combining"], "sequence_group": groups["sequence"]}
    for setup in ("losskit", "naive"):
        if setup == "losskit":
            mine, context = window, with_group
        else:  # no sequence group: each shard numbers its own segments 0, 1, ...
            context = {"process_group": groups["combining"]}
            mine = (
                [{**mb, "seg": _renumbered(torch, mb["seg"])} for mb in window]
                if packed
                else window
            )
        grad, meters, calls = _planned(torch, mine, context, groups["combining"])
        found[f"planned {setup}"], found[f"meters {setup}"] = grad, meters
        found["calls"][f"planned {setup}"] = {key: named(value) for key, value in calls.items()}
    for kind in ("objective", "mode"):
        grad, calls = _deferred(torch, window, with_group, groups["combining"], kind)
        found[f"deferred {kind}"] = grad
        found["calls"][f"deferred {kind}"] = [named(step) for step in calls]
    return found


def _ddp(torch: Any, group: Any) -> tuple[Any, Any]:
    from torch.nn.parallel import DistributedDataParallel

    model = torch.nn.Linear(data.FEATURES, VOCAB, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(initial_weight()))
    return model, DistributedDataParallel(model, process_group=group)


def _window(
    torch: Any, ddp: Any, window: list[dict[str, Any]], value: Callable[[int, dict], Any]
) -> None:
    """``backward`` on ``value(k, terms)`` for every micro-batch; DDP syncs on the last."""
    for k, mb in enumerate(window):
        last = k == len(window) - 1
        with contextlib.nullcontext() if last else ddp.no_sync():
            value(k, token_terms(torch, ddp(mb["x"]), mb["y"])).backward()


def _planned(torch: Any, window: list[dict], context: dict, group: Any) -> tuple:
    """The planned objective's gradient (DDP's mean over the 4 ranks), the meters'
    readings, and the all-reduces of the plan and of the meters."""
    from losskit.aggregation import LossMeter
    from losskit.distribute import torch_context

    model, ddp = _ddp(torch, group)
    meters = {name: LossMeter(mode=PLANNED[name][0]) for name in METERS}
    calls: dict[str, list[Any]] = {"meter updates": []}
    packed = window[0]["seg"] is not None
    with torch_context(**context, accumulation_steps=STEPS):
        p, calls["plan"] = counting_collectives(
            objective(PLANNED).plan,
            [mb["mask"] for mb in window],
            segment_ids=[mb["seg"] for mb in window] if packed else None,
        )

        def value(k: int, terms: dict[str, Any]) -> Any:
            mb = window[k]
            for name, meter in meters.items():
                _, found = counting_collectives(
                    meter.update, terms[name], mb["mask"], segment_ids=mb["seg"]
                )
                calls["meter updates"] += found
            return p.loss(k, **terms, l2=(model.weight**2).sum())

        _window(torch, ddp, window, value)
        readings, calls["meter reads"] = counting_collectives(
            lambda: {name: float(meter.read().loss) for name, meter in meters.items()}
        )
    return model.weight.grad.numpy().copy(), readings, calls


def _deferred(torch: Any, window: list[dict], context: dict, group: Any, kind: str) -> tuple:
    """A deferred window's gradient (scaled after DDP's mean; the penalty after it) and
    each micro-step's all-reduces (the last entry: the window's end)."""
    from losskit.aggregation import deferred_plan
    from losskit.distribute import torch_context

    model, ddp = _ddp(torch, group)
    calls: list[list[Any]] = []
    with torch_context(**context, accumulation_steps=STEPS):
        if kind == "objective":
            opened = objective(DEFERRED).deferred()
        else:
            opened = deferred_plan(mode=S_ONLY, max_length=MAX_LENGTH)

        def value(k: int, terms: dict[str, Any]) -> Any:
            mb, ce = window[k], terms["ce"]
            if kind == "objective":
                step = lambda: opened.loss(mb["mask"], segment_ids=mb["seg"], ce=ce, kl=terms["kl"])  # noqa: E731
            else:
                step = lambda: opened.loss(ce, mb["mask"], segment_ids=mb["seg"])  # noqa: E731
            loss, found = counting_collectives(step)
            calls.append(found)
            return loss

        _window(torch, ddp, window, value)
        _, found = counting_collectives(opened.scale_gradients, model.parameters())
        calls.append(found)
    if kind == "objective":
        opened.step_loss(l2=(model.weight**2).sum()).backward()  # after the scaling
    return model.weight.grad.numpy().copy(), calls
