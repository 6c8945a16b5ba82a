"""Functions that run on each rank of a real gloo job for the aggregation tests; also the
step data, built identically on every rank and in the test (from a seed).

Module-level, so that ``losskit.testing.run_processes`` can pickle them to spawned ranks.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from tests.aggregation import _layouts
from tests.distributed._torch_workers import counting_all_reduces

FEATURES, GROUPS, MAX_LENGTH = 3, 5, 8.0
WEIGHT = np.array([[0.5, -0.25, 0.125]])
# Rows of rank r's micro-batch k: uneven, with an empty [0, T] micro-batch on rank 1.
ROWS = [[4, 1, 2], [0, 3, 1], [2, 2, 3]]


def step_data(seed: int, packed: bool, present: int, world: int = 3) -> dict[str, Any]:
    """The step's layout (``layout[r][k]``) and token features/targets, per micro-batch.
    Group ids are global prompt indices drawn for every sequence: groups span ranks and
    micro-batches."""
    rng = np.random.default_rng(seed)
    layout, x, y = [], [], []
    for r in range(world):
        batches, xs, ys = [], [], []
        for k in range(present):
            rows, length = ROWS[r][k], int(rng.integers(3, 7))
            batches.append(
                _layouts.micro_batch(
                    rng, rows, length, packed=packed, num_groups=GROUPS, density=0.7
                )
            )
            xs.append(rng.normal(size=(rows, length, FEATURES)))
            ys.append(rng.normal(size=(rows, length)))
        layout.append(batches)
        x.append(xs)
        y.append(ys)
    return {"layout": layout, "x": x, "y": y}


def _variants() -> list[tuple[str, bool]]:
    from losskit.aggregation import MODES

    return [(mode, count_empty) for mode in MODES for count_empty in (False, True)]


def ddp_gradients(rank: int, world: int, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each case and variant: the DDP-combined gradient of the Linear weight with
    losskit's plan, with the naive per-micro-batch formula, and the number of
    ``dist.all_reduce`` calls the plan made."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from losskit.aggregation import aggregate, plan
    from losskit.distribute import torch_context

    out = []
    for case in cases:
        data = step_data(case["seed"], case["packed"], case["present"], world)
        mine = data["layout"][rank]
        tensors = [
            {
                "mask": torch.as_tensor(mb["mask"]),
                "seg": None if mb["seg"] is None else torch.as_tensor(mb["seg"]),
                "group": torch.as_tensor(mb["group"]),
                "x": torch.as_tensor(data["x"][rank][k]),
                "y": torch.as_tensor(data["y"][rank][k]),
            }
            for k, mb in enumerate(mine)
        ]
        result: dict[str, Any] = {"losskit": [], "naive": [], "collectives": []}
        for mode, count_empty in _variants():
            options = {
                "mode": mode,
                "num_groups": GROUPS,
                "max_length": MAX_LENGTH,
                "count_empty": count_empty,
            }
            for method in ("losskit", "naive"):
                model = torch.nn.Linear(FEATURES, 1, bias=False, dtype=torch.float64)
                with torch.no_grad():
                    model.weight.copy_(torch.as_tensor(WEIGHT))
                ddp = DistributedDataParallel(model)
                if method == "losskit":
                    with torch_context(accumulation_steps=case["steps"]):  # DDP: mean
                        p, calls = counting_all_reduces(
                            plan,
                            [t["mask"] for t in tensors],
                            segment_ids=[t["seg"] for t in tensors] if case["packed"] else None,
                            group_ids=[t["group"] for t in tensors],
                            **options,
                        )
                    result["collectives"].append(calls)
                for k, t in enumerate(tensors):
                    last = k == len(tensors) - 1
                    with contextlib.nullcontext() if last else ddp.no_sync():
                        per_token = (ddp(t["x"]).squeeze(-1) - t["y"]) ** 2
                        if method == "losskit":
                            loss = p.loss(per_token, k)
                        else:  # the usual code: this micro-batch's own aggregate / K
                            loss = aggregate(
                                per_token,
                                t["mask"],
                                segment_ids=t["seg"],
                                group_ids=t["group"],
                                **options,
                            ) / len(tensors)
                        loss.backward()
                result[method].append(model.weight.grad.numpy().copy())
        out.append(result)
    return out
