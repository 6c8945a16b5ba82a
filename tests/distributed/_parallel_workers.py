"""Rank code of the parallel-layout gloo test: one launch of 4 processes runs

* context parallelism, data 2 x context 2 (ranks ``2 d + c``): every aggregation mode,
  padded and packed, under DDP and FSDP2 over the flattened data x context group and a
  summing engine; ``global_denominator``, ``compute_average_loss``; the naive setups;
  the collectives of each window; ``check_layout`` on good and bad layouts;
* tensor parallelism, data 2 x tensor 2 (ranks ``2 d + t``): a column- then row-parallel
  two-layer model whose loss is replicated over the tensor ranks;
* pipeline parallelism, data 2 x stages 2 (ranks ``2 d + s``): ``torch.distributed.
  pipelining`` schedules with the loss on the last stage.

Module-level, so that ``losskit.testing.run_processes`` can pickle it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from tests.distributed import _parallel_data as data

CP_CASES = [(0, False, 3), (1, True, 3), (2, False, 2), (3, True, 2)]  # seed, packed, present
STEPS = 3  # accumulation_steps: present < STEPS is a partial last window


def run(rank: int, world: int) -> dict[str, Any]:
    from torch.distributed.device_mesh import init_device_mesh

    assert world == 4
    # a [data, inner] mesh: the inner groups {0, 1}, {2, 3}; the data groups {0, 2}, {1, 3};
    # the flattened data x inner group, over which DDP and FSDP2 combine the CP gradients
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("data", "inner"))
    flat = mesh["data", "inner"]._flatten()
    groups = {
        "inner": mesh["inner"].get_group(),
        "data": mesh["data"].get_group(),
        "combining": flat.get_group(),
        "combining mesh": flat,
    }
    return {
        "cp": context_parallel(rank, groups),
        "checks": layout_checks(rank, groups),
        "tp": tensor_parallel(rank, groups),
        "pp": pipeline_parallel(rank, groups),
    }


# --------------------------------------------------------------------- context parallel


def _tensors(case: dict[str, Any], rank: int) -> list[dict[str, Any]]:
    import torch

    def tensor(value: Any) -> Any:
        return None if value is None else torch.as_tensor(value)

    return [
        {
            "mask": tensor(mb["mask"]),
            "seg": tensor(mb["seg"]),
            "group": tensor(mb["group"]),
            "x": tensor(case["x_shards"][rank][k]),
            "y": tensor(case["y_shards"][rank][k]),
        }
        for k, mb in enumerate(case["sharded"][rank])
    ]


def _linear(torch: Any) -> Any:
    model = torch.nn.Linear(data.FEATURES, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(data.W)[None, :])
    return model


def counting_collectives(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
    """``fn(*args, **kwargs)`` and the ``group`` of every ``dist.all_reduce`` it made."""
    import torch.distributed as dist

    groups: list[Any] = []
    original = dist.all_reduce

    def counting(tensor: Any, *rest: Any, **options: Any) -> Any:
        groups.append(options.get("group"))
        return original(tensor, *rest, **options)

    dist.all_reduce = counting
    try:
        return fn(*args, **kwargs), groups
    finally:
        dist.all_reduce = original


def _engine(torch: Any, model: Any, engine: str, groups: dict[str, Any]) -> Any:
    """The model as the engine wraps it: DDP or FSDP2 over the flattened data x context
    group (both average), or bare for a summing engine (its gradients summed by hand)."""
    if engine == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, process_group=groups["combining"])
    if engine == "fsdp":
        from torch.distributed.fsdp import fully_shard

        return fully_shard(model, mesh=groups["combining mesh"])
    return model


def _full_gradient(torch: Any, model: Any, engine: str, group: Any) -> np.ndarray:
    import torch.distributed as dist

    weight = model.weight
    if engine == "sum":
        dist.all_reduce(weight.grad, op=dist.ReduceOp.SUM, group=group)
    grad = weight.grad
    if hasattr(grad, "full_tensor"):  # FSDP2: a sharded DTensor
        grad = grad.full_tensor()
    return grad.detach().numpy().reshape(-1).copy()


def _cp_step(
    torch: Any,
    tensors: list[dict[str, Any]],
    options: dict[str, Any],
    *,
    engine: str,
    setup: str,
    groups: dict[str, Any],
) -> tuple[np.ndarray, list[Any]]:
    """One optimizer step under ``setup``: ``"losskit"`` (the flattened group and the
    sequence group), ``"no-sequence-group"`` (the sequence group left out) or
    ``"data-group"`` (counts over the data ranks only, verl #5983's group)."""
    from losskit.aggregation import plan
    from losskit.distribute import torch_context

    if setup != "losskit" and tensors[0]["seg"] is not None:
        # without a sequence group the plan refuses ids beyond the shard's row: the naive
        # user numbers each shard's segments 0, 1, ... (each piece then counts as a sequence)
        tensors = [{**t, "seg": _renumbered(torch, t["seg"])} for t in tensors]
    model = _linear(torch)
    net = _engine(torch, model, engine, groups)
    context: dict[str, Any] = {
        "losskit": {"process_group": groups["combining"], "sequence_group": groups["inner"]},
        "no-sequence-group": {},
        "data-group": {"process_group": groups["data"]},
    }[setup]
    gradients = "sum" if engine == "sum" else "mean"
    packed = tensors[0]["seg"] is not None
    with torch_context(**context, gradients=gradients, accumulation_steps=STEPS):
        p, calls = counting_collectives(
            plan,
            [t["mask"] for t in tensors],
            segment_ids=[t["seg"] for t in tensors] if packed else None,
            group_ids=[t["group"] for t in tensors],
            **options,
        )
    for k, t in enumerate(tensors):
        last = k == len(tensors) - 1
        sync = contextlib.nullcontext() if last or engine != "ddp" else net.no_sync()
        if engine == "fsdp":
            net.set_requires_gradient_sync(last)
        with sync:
            per_token = (net(t["x"]).squeeze(-1) - t["y"]) ** 2
            p.loss(per_token, k).backward()
    return _full_gradient(torch, model, engine, groups["combining"]), calls


def _renumbered(torch: Any, segments: Any) -> Any:
    rows = [np.unique(row, return_inverse=True)[1] for row in segments.numpy()]
    return torch.as_tensor(np.stack(rows) if rows else segments.numpy())


def context_parallel(rank: int, groups: dict[str, Any]) -> list[dict[str, Any]]:
    import torch
    import torch.distributed as dist

    import losskit
    from losskit.aggregation import plan
    from losskit.distribute import global_denominator, torch_context

    out = []
    for seed, packed, present in CP_CASES:
        case = data.cp_case(seed, packed, present)
        tensors = _tensors(case, rank)
        found: dict[str, Any] = {"grad": {}, "calls": {}}
        for mode, count_empty in data.VARIANTS:
            options = {
                "mode": mode,
                "num_groups": data.GROUPS,
                "max_length": data.MAX_LENGTH,
                "count_empty": count_empty,
            }
            engines = ["ddp", "sum"] + (["fsdp"] if seed == 1 else [])
            for engine in engines:
                grad, calls = _cp_step(
                    torch, tensors, options, engine=engine, setup="losskit", groups=groups
                )
                found["grad"][f"{mode} {count_empty} {engine} losskit"] = grad
                names = {id(groups["inner"]): "sequence", id(groups["combining"]): "combining"}
                found["calls"][f"{mode} {count_empty} {engine}"] = [
                    names.get(id(g), repr(g)) for g in calls
                ]
            for setup in ("no-sequence-group", "data-group"):  # the naive setups
                grad, _ = _cp_step(
                    torch, tensors, options, engine="ddp", setup=setup, groups=groups
                )
                found["grad"][f"{mode} {count_empty} ddp {setup}"] = grad
        if packed:  # the original ids without a sequence group: refused
            try:
                with torch_context(accumulation_steps=STEPS):
                    plan(
                        [t["mask"] for t in tensors],
                        mode="seq-mean-token-mean",
                        segment_ids=[t["seg"] for t in tensors],
                    )
                found["refused"] = None
            except ValueError as error:
                found["refused"] = str(error)
        # global_denominator: tokens ([B, T] masks) and examples ([B] ones)
        with torch_context(sequence_group=groups["inner"], accumulation_steps=STEPS):
            tokens = global_denominator(*[t["mask"] for t in tensors])
            examples = global_denominator(
                *[torch.ones(t["mask"].shape[0]) for t in tensors],
                reduction="sum_over_batch_size",
            )
        found["tokens"], found["examples"] = float(tokens), float(examples)
        # compute_average_loss without global_batch_size: per-example partial sums
        for setup, context in (
            ("losskit", {"sequence_group": groups["inner"]}),
            ("no-sequence-group", {}),
        ):
            model = _linear(torch)
            with torch_context(
                **context, gradients="sum", accumulation_steps=STEPS, micro_steps=present
            ):
                for t in tensors:
                    per_token = (model(t["x"]).squeeze(-1) - t["y"]) ** 2
                    per_example = torch.sum(per_token * t["mask"], dim=1)
                    losskit.compute_average_loss(per_example).backward()
            dist.all_reduce(model.weight.grad, op=dist.ReduceOp.SUM)
            found["grad"][f"average {setup}"] = model.weight.grad.numpy().reshape(-1).copy()
        out.append(found)
    return out


def layout_checks(rank: int, groups: dict[str, Any]) -> dict[str, Any]:
    """What ``check_layout`` says about good and bad layouts, and what ``torch_context``
    says to a sequence group outside the process group."""
    import torch

    from losskit.distribute import LayoutError, check_layout, torch_context

    case = data.cp_case(1, True, 3)
    good = [torch.as_tensor(p) for p in case["positions"][rank]]
    whole = [  # every column of the whole row on each shard
        torch.as_tensor(np.tile(np.arange(2 * p.shape[1]), (p.shape[0], 1)))
        for p in case["positions"][rank]
    ]
    data_index = rank // 2
    runs = {
        "good": ({"sequence_group": groups["inner"]}, good),
        # every CP rank loads the whole micro-batch (prime-rl #2562's layout)
        "whole micro-batches": ({"sequence_group": groups["inner"]}, whole),
        # split data, no sequence group declared
        "no sequence group": ({}, good),
        # only the second sequence group loads whole micro-batches
        "one group wrong": ({"sequence_group": groups["inner"]}, whole if data_index else good),
        # the sequence group of the other data replica's shards: rows that differ
        "other rows": (
            {"sequence_group": groups["data"]},
            [torch.zeros((rank + 1, 2), dtype=torch.int64)],
        ),
    }
    found: dict[str, Any] = {}
    for name, (context, positions) in runs.items():
        try:
            with torch_context(**context):
                check_layout(positions)
            found[name] = None
        except LayoutError as error:
            found[name] = (error.kind, str(error))
    try:
        with torch_context(groups["data"], sequence_group=groups["inner"]):
            pass
        found["data-only process group"] = None
    except ValueError as error:
        found["data-only process group"] = str(error)
    return found


# --------------------------------------------------------------------- tensor parallel


def _row_parallel_sum(torch: Any, group: Any) -> Any:
    """Megatron's reduce-from-tensor-parallel region: an all-reduce forward, the identity
    backward (each tensor rank's output is the same replicated value)."""
    import torch.distributed as dist

    class RowParallelSum(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, partial: Any) -> Any:
            total = partial.clone()
            dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
            return total

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return grad

    return RowParallelSum.apply


def _padded_plan(torch: Any, batches: list[dict[str, Any]], mode: str, count_empty: bool) -> Any:
    from losskit.aggregation import plan

    return plan(
        [torch.as_tensor(mb["mask"]) for mb in batches],
        mode=mode,
        group_ids=[torch.as_tensor(mb["group"]) for mb in batches],
        num_groups=data.GROUPS,
        max_length=data.MAX_LENGTH,
        count_empty=count_empty,
    )


def tensor_parallel(rank: int, groups: dict[str, Any]) -> dict[str, Any]:
    """Data 2 x tensor 2: each tensor rank holds half the hidden units (W1's rows, b1,
    W2's columns), the loss is replicated over the tensor ranks, the gradients of each
    shard are combined over the data ranks only. Contexts: the data group (the contract),
    the whole world (tensor replicas counted as data)."""
    import torch
    import torch.distributed as dist

    from losskit.distribute import torch_context

    case = data.fixed_rows_case(7, micro_steps=2, rows=2, length=5)
    d, t = rank // 2, rank % 2
    half = slice(t * data.HIDDEN // 2, (t + 1) * data.HIDDEN // 2)
    row_sum = _row_parallel_sum(torch, groups["inner"])
    found: dict[str, Any] = {}
    for mode, count_empty in data.VARIANTS:
        for engine in ("mean", "sum"):
            for setup, process_group in (("losskit", groups["data"]), ("world", None)):
                w1, b1, w2 = (torch.tensor(p) for p in data.initial_two_layer(3))
                shard = [
                    w1[half].clone().requires_grad_(),
                    b1[half].clone().requires_grad_(),
                    w2[:, half].clone().requires_grad_(),
                ]
                batches = case["whole"][d]
                with torch_context(process_group, gradients=engine, accumulation_steps=2):
                    p = _padded_plan(torch, batches, mode, count_empty)
                for k in range(len(batches)):
                    x = torch.as_tensor(case["x"][d][k])
                    hidden = torch.tanh(x @ shard[0].T + shard[1])
                    out = row_sum(hidden @ shard[2].T).squeeze(-1)
                    per_token = (out - torch.as_tensor(case["y"][d][k])) ** 2
                    p.loss(per_token, k).backward()
                grads = []
                for parameter in shard:
                    dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM, group=groups["data"])
                    if engine == "mean":
                        parameter.grad /= data.DATA
                    grads.append(parameter.grad.numpy().copy())
                found[f"{mode} {count_empty} {engine} {setup}"] = grads
    return found


# --------------------------------------------------------------------- pipeline parallel


def pipeline_parallel(rank: int, groups: dict[str, Any]) -> dict[str, Any]:
    """Data 2 x stages 2 with ``torch.distributed.pipelining``: stage 0 computes
    tanh(W1 x + b1), stage 1 W2 h and the loss; the plan is built on the loss stage before
    ``schedule.step``, its weights travel with the targets; GPipe divides the gradients by
    the micro-batches (``scale_grads=True``: ``accumulation="mean"``), 1F1B does not. The
    naive loss (torchtitan #2972) backwards raw sums and divides after the step."""
    import torch
    import torch.distributed as dist
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

    from losskit.distribute import torch_context

    micro, rows, length = 2, 2, 5
    case = data.fixed_rows_case(11, micro_steps=micro, rows=rows, length=length)
    d, stage_index = rank // 2, rank % 2
    last = stage_index == 1
    batches = case["whole"][d]
    x = torch.as_tensor(np.concatenate(case["x"][d]))  # [micro * rows, T, F]
    y = torch.as_tensor(np.concatenate(case["y"][d]))
    mask = torch.as_tensor(np.concatenate([mb["mask"] for mb in batches]).astype(np.float64))
    found: dict[str, Any] = {}
    schedules = (("gpipe", ScheduleGPipe, True), ("1f1b", Schedule1F1B, False))

    def loss_fn(out: Any, target: Any) -> Any:
        return torch.sum(target[..., 1] * (out.squeeze(-1) - target[..., 0]) ** 2)

    for mode, count_empty in data.VARIANTS:
        for name, kind, scale_grads in schedules:
            for setup in ("losskit", "naive"):
                module = _stage_module(torch, stage_index)
                stage = PipelineStage(
                    module, stage_index, 2, torch.device("cpu"), group=groups["inner"]
                )
                # the targets carry each token's weight: the plan's on the loss stage, the
                # mask for the naive loss (raw sums, divided after the step)
                weights = mask
                if last and setup == "losskit":
                    accumulation = "mean" if scale_grads else "sum"
                    with torch_context(
                        groups["data"], accumulation_steps=micro, accumulation=accumulation
                    ):
                        p = _padded_plan(torch, batches, mode, count_empty)
                    weights = torch.cat([p.weights(k) for k in range(micro)])
                target = torch.stack([y, weights], dim=-1)
                # every stage gets the loss function: without it a schedule does no backward
                schedule = kind(
                    stage, n_microbatches=micro, loss_fn=loss_fn, scale_grads=scale_grads
                )
                if stage_index == 0:
                    schedule.step(x)
                else:
                    schedule.step(target=target, losses=[])
                grads = []
                for parameter in module.parameters():
                    dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM, group=groups["data"])
                    parameter.grad /= data.DATA  # DDP's mean over the stage's data ranks
                    grads.append(parameter.grad.numpy().copy())
                found[f"{mode} {count_empty} {name} {setup}"] = grads
    return found


def _stage_module(torch: Any, stage_index: int) -> Any:
    """Stage 0: tanh(W1 x + b1); stage 1: W2 h (``data.initial_two_layer(5)``)."""
    w1, b1, w2 = (torch.tensor(value) for value in data.initial_two_layer(5))
    if stage_index == 0:
        layer = torch.nn.Linear(data.FEATURES, data.HIDDEN, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(w1)
            layer.bias.copy_(b1)
        return torch.nn.Sequential(layer, torch.nn.Tanh())
    layer = torch.nn.Linear(data.HIDDEN, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(w2)
    return layer
