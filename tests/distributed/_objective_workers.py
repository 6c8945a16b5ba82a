"""What each rank of the gloo job of ``test_objectives_gloo.py`` runs: deferred normalization
of a per-token regression under DDP, a multi-term MoE objective under DDP, and loss meters;
each with losskit and with the naive per-micro-batch formula.

Module-level, so that ``losskit.testing.run_processes`` can pickle it to spawned ranks.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tests.distributed._aggregation_workers import FEATURES, WEIGHT, step_data
from tests.distributed._torch_workers import counting_all_reduces
from tests.objectives import _moe

STEPS, L2, MAX_LENGTH = 3, 0.05, 6.0
# rank r's micro-batch rows (from the aggregation test's step): uneven, an empty micro-batch,
# windows of 3, 2 and 1 micro-batches for accumulation_steps=3 (partial windows; DDP syncs on
# each rank's last micro-step)
WINDOWS = (3, 2, 1)
MOE_ROWS = [[3, 2, 4], [1, 0, 3], [2, 5]]
MOE_FSDP_ROWS = [[3, 2, 4], [1, 0, 3], [2, 5, 1]]  # FSDP2: as many micro-steps everywhere
FSDP_WINDOWS = (2, 2, 2)
"""FSDP2 all-gathers in every forward: every rank runs as many micro-steps (a partial
window of 2 of 3 here; rank 1's first micro-batch is empty)."""


def regression_data(
    seed: int, packed: bool, world: int = 3, windows: tuple[int, ...] = WINDOWS
) -> dict[str, Any]:
    """The aggregation test's step (``layout[r][k]``, features and targets per token), cut
    to each rank's micro-batches: by default windows of 3, 2 and 1 for
    accumulation_steps=3."""
    data = step_data(seed, packed, STEPS, world)
    return {key: [value[r][: windows[r]] for r in range(world)] for key, value in data.items()}


def _linear(torch: Any) -> Any:
    model = torch.nn.Linear(FEATURES, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(WEIGHT))
    return model


class _Wrapped:
    """The model under DDP or FSDP2 (``fully_shard``, averaging like DDP): the forward,
    the gradient sync of micro-step k, and the parameters' whole gradient."""

    def __init__(self, model: Any, engine: str) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.model, self.engine = model, engine
        if engine == "ddp":
            self.forward = DistributedDataParallel(model)
        else:
            from torch.distributed.fsdp import fully_shard

            self.forward = fully_shard(model)

    def sync(self, last: bool) -> Any:
        if self.engine == "ddp":
            return contextlib.nullcontext() if last else self.forward.no_sync()
        self.forward.set_requires_gradient_sync(last)
        return contextlib.nullcontext()

    def weight_penalty(self, factor: float) -> Any:
        """``factor * |w|^2``, a step-level term added after the scaling; under FSDP2
        through ``losskit.torch.penalty``, which penalizes this rank's shard (each rank's
        shard gets its own gradient, outside the engine's reduce-scatter)."""
        if self.engine == "fsdp2":
            import losskit.torch
            from losskit.regularizers import L2 as Penalty

            losskit.torch.regularize(self.model, kernel=Penalty(factor))
            return losskit.torch.penalty(self.model, activity=False)
        return factor * (self.model.weight**2).sum()

    def weight_grad(self) -> Any:
        return _whole(self.model.weight.grad).numpy().copy()


def _deferred_case(
    rank: int, world: int, case: dict[str, Any], engine: str = "ddp"
) -> dict[str, Any]:
    """One window under DDP or FSDP2: losskit's deferred window, and the naive mean of
    micro-batch means; then the L2 penalty added after the scaling."""
    import torch

    from losskit.aggregation import LossMeter, aggregate, deferred_plan
    from losskit.distribute import torch_context

    windows = WINDOWS if engine == "ddp" else FSDP_WINDOWS
    data = regression_data(case["seed"], case["packed"], world, windows)
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
        wrapped = _Wrapped(model, engine)
        meter = LossMeter(**options)
        # the naive code aggregates each micro-batch locally: no engine context
        context = torch_context(accumulation_steps=STEPS)  # DDP and FSDP2: mean over ranks
        with context if method == "losskit" else contextlib.nullcontext():
            window = deferred_plan(**options) if method == "losskit" else None
            for k, mb in enumerate(mine):
                with wrapped.sync(k == len(mine) - 1):
                    per_token = (wrapped.forward(mb["x"]).squeeze(-1) - mb["y"]) ** 2
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
        wrapped.weight_penalty(L2).backward()  # a step-level term, after the scaling
        out[method] = wrapped.weight_grad()
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


def _moe_case(rank: int, world: int, seed: int, engine: str = "ddp") -> dict[str, Any]:
    """The multi-term objective (CE + z-loss + global-batch load balancing + L2) under DDP
    or FSDP2, with losskit's objective and with per-micro-batch means."""
    import torch

    from losskit.aggregation import LossMeter
    from losskit.distribute import torch_context

    data = _moe.step_data(seed, MOE_ROWS if engine == "ddp" else MOE_FSDP_ROWS)
    window = _moe.tensors(torch, data, rank)
    out: dict[str, Any] = {}
    for method in ("losskit", "naive"):
        model = _moe_model(torch)
        wrapped = _Wrapped(model, engine)
        # after wrapping: FSDP2 puts sharded parameters in the module's place
        params = {"out": model.out, "router": model.router}
        meter = LossMeter(mode="token-mean")
        collectives: list[int] = []

        def make_plan(masks: list[Any], counts: Any, collectives: list = collectives) -> Any:
            plan, calls = counting_all_reduces(_moe.objective().plan, masks, expert_counts=counts)
            collectives.append(calls)
            return plan

        def sync(k: int, wrapped: Any = wrapped, last: int = len(window) - 1) -> Any:
            return wrapped.sync(k == last)

        with torch_context(accumulation_steps=STEPS):
            _moe.run_window(
                torch, params, window, method, model=wrapped.forward, sync=sync,
                make_plan=make_plan,
                observe=lambda result, mb, meter=meter: meter.update(result["ce"], mb["mask"]),
            )  # fmt: skip
            reading = meter.read()
        out[method] = {name: _whole(p.grad).numpy().copy() for name, p in params.items()}
        out["train_loss"] = float(reading.loss)
        if collectives:
            out["collectives"] = collectives[0]
    return out


def _whole(grad: Any) -> Any:
    """A gradient, gathered if FSDP2 sharded it."""
    return grad.full_tensor() if hasattr(grad, "full_tensor") else grad


def run(
    rank: int, world: int, cases: list[dict[str, Any]], moe_seed: int, fsdp_cases: list[int]
) -> dict[str, Any]:
    """Every deferred case, then the MoE objective, then the deferred cases ``fsdp_cases``
    and the MoE objective under FSDP2: one job, one start-up."""
    return {
        "deferred": [_deferred_case(rank, world, case) for case in cases],
        "moe": _moe_case(rank, world, moe_seed),
        "fsdp2 deferred": [_deferred_case(rank, world, cases[i], "fsdp2") for i in fsdp_cases],
        "fsdp2 moe": _moe_case(rank, world, moe_seed, "fsdp2"),
    }
