"""What each rank of the gloo job of ``test_objectives_gloo.py`` runs: deferred normalization
of a per-token regression under DDP, a multi-term MoE objective under DDP, and loss meters;
each with losskit and with the naive per-micro-batch formula.

Module-level, so that ``losskit.testing.run_processes`` can pickle it to spawned ranks.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tests.distributed._aggregation_workers import FEATURES, ROWS, WEIGHT, step_data
from tests.distributed._torch_workers import counting_all_reduces
from tests.objectives import _moe

STEPS, L2, MAX_LENGTH = 3, 0.05, 6.0
# rank r's micro-batch rows (from the aggregation test's step): uneven, an empty micro-batch,
# windows of 3, 2 and 1 micro-batches for accumulation_steps=3 (partial windows; DDP syncs on
# each rank's last micro-step)
REGRESSION_ROWS = [row[:count] for row, count in zip(ROWS, (3, 2, 1), strict=True)]
MOE_ROWS = [[3, 2, 4], [1, 0, 3], [2, 5]]


def regression_data(seed: int, packed: bool, world: int = 3) -> dict[str, Any]:
    """The aggregation test's step (``layout[r][k]``, features and targets per token), cut
    to each rank's micro-batches: windows of 3, 2 and 1 for accumulation_steps=3."""
    data = step_data(seed, packed, STEPS, world)
    counts = [len(rows) for rows in REGRESSION_ROWS]
    return {key: [value[r][: counts[r]] for r in range(world)] for key, value in data.items()}


def _linear(torch: Any) -> Any:
    model = torch.nn.Linear(FEATURES, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(WEIGHT))
    return model


def _deferred_case(rank: int, world: int, case: dict[str, Any]) -> dict[str, Any]:
    """One window under DDP: losskit's deferred window, and the naive mean of micro-batch
    means; then the L2 penalty added after the scaling."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from losskit.aggregation import LossMeter, aggregate, deferred_plan
    from losskit.distribute import torch_context

    data = regression_data(case["seed"], case["packed"], world)
    mine = [
        {
            "mask": torch.as_tensor(mb["mask"]),
            "seg": None if mb["seg"] is None else torch.as_tensor(mb["seg"]),
            "x": torch.as_tensor(data["x"][rank][k]),
            "y": torch.as_tensor(data["y"][rank][k]),
        }
        for k, mb in enumerate(data["layout"][rank])
    ]
    options = {"mode": case["mode"], "max_length": MAX_LENGTH, "count_empty": case["empty"]}
    out: dict[str, Any] = {}
    for method in ("losskit", "naive"):
        model = _linear(torch)
        ddp = DistributedDataParallel(model)
        meter = LossMeter(**options)
        # the naive code aggregates each micro-batch locally: no engine context
        engine = torch_context(accumulation_steps=STEPS)  # DDP: mean over ranks
        with engine if method == "losskit" else contextlib.nullcontext():
            window = deferred_plan(**options) if method == "losskit" else None
            for k, mb in enumerate(mine):
                last = k == len(mine) - 1
                with contextlib.nullcontext() if last else ddp.no_sync():
                    per_token = (ddp(mb["x"]).squeeze(-1) - mb["y"]) ** 2
                    meter.update(per_token, mb["mask"], segment_ids=mb["seg"])
                    if window is not None:  # backward on the micro-step's sum
                        window.loss(per_token, mb["mask"], segment_ids=mb["seg"]).backward()
                    else:  # the usual code: this micro-batch's own aggregate / micro-steps
                        loss = aggregate(per_token, mb["mask"], segment_ids=mb["seg"], **options)
                        (loss / len(mine)).backward()
            if window is not None:
                _, calls = counting_all_reduces(window.scale_gradients, model.parameters())
                out["collectives"] = calls
        with torch_context(accumulation_steps=STEPS):
            reading, meter_calls = counting_all_reduces(meter.read)
        (L2 * (model.weight**2).sum()).backward()  # a step-level term, after the scaling
        out[method] = model.weight.grad.numpy().copy()
        out["meter"] = (float(reading.loss), float(reading.mean_of_micro_batch_means))
        out["meter_collectives"] = meter_calls
    return out


def _moe_model(torch: Any) -> Any:
    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            params = _moe.parameters(torch)
            self.out = torch.nn.Parameter(params["out"])
            self.router = torch.nn.Parameter(params["router"])

        def forward(self, x: Any, y: Any) -> Any:
            return _moe.forward(torch, {"out": self.out, "router": self.router}, x, y)

    return Model()


def _moe_case(rank: int, world: int, seed: int) -> dict[str, Any]:
    """The multi-term objective (CE + z-loss + global-batch load balancing + L2) under DDP,
    with losskit's objective and with per-micro-batch means."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from losskit.aggregation import LossMeter
    from losskit.distribute import torch_context

    data = _moe.step_data(seed, MOE_ROWS)
    window = _moe.tensors(torch, data, rank)
    out: dict[str, Any] = {}
    for method in ("losskit", "naive"):
        model = _moe_model(torch)
        ddp = DistributedDataParallel(model)
        params = {"out": model.out, "router": model.router}
        meter = LossMeter(mode="token-mean")
        collectives: list[int] = []

        def make_plan(masks: list[Any], counts: Any, collectives: list = collectives) -> Any:
            plan, calls = counting_all_reduces(_moe.objective().plan, masks, expert_counts=counts)
            collectives.append(calls)
            return plan

        def sync(k: int, ddp: Any = ddp, last: int = len(window) - 1) -> Any:
            return contextlib.nullcontext() if k == last else ddp.no_sync()

        with torch_context(accumulation_steps=STEPS):
            _moe.run_window(
                torch, params, window, method, model=ddp, sync=sync, make_plan=make_plan,
                observe=lambda result, mb, meter=meter: meter.update(result["ce"], mb["mask"]),
            )  # fmt: skip
            reading = meter.read()
        out[method] = {name: p.grad.numpy().copy() for name, p in params.items()}
        out["train_loss"] = float(reading.loss)
        if collectives:
            out["collectives"] = collectives[0]
    return out


def run(rank: int, world: int, cases: list[dict[str, Any]], moe_seed: int) -> dict[str, Any]:
    """Every deferred case, then the MoE objective: one job, one start-up."""
    return {
        "deferred": [_deferred_case(rank, world, case) for case in cases],
        "moe": _moe_case(rank, world, moe_seed),
    }
