"""A tiny MoE-style token model and its multi-term objective, shared by the in-process and
the gloo tests: token-mean cross-entropy + z-loss + global-batch load balancing over two
router layers + an L2 penalty.

The oracle (``oracle_gradients``) computes the objective on the whole step at once, in one
float64 process, from the definitions (no losskit), and differentiates it with autograd;
``losskit_gradients`` and ``naive_gradients`` run one replica's window the way a training
loop does, with losskit's objective or with per-micro-batch means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FEATURES, VOCAB, EXPERTS, LAYERS, TOP_K = 3, 5, 3, 2, 1
Z, BALANCE, L2 = 0.1, 0.05, 0.01
WIDTH = 4


def step_data(seed: int, rows: list[list[int]]) -> dict[str, Any]:
    """``rows[r][k]`` rows of width ``WIDTH`` for replica r's micro-batch k, cut in order
    from one global batch of ``sum(rows)`` rows (so that every split of the same total
    holds the same data): features, labels and an uneven loss mask (some rows empty; a
    micro-batch may have no row)."""
    rng = np.random.default_rng(seed)
    total = sum(sum(per_replica) for per_replica in rows)
    x = rng.normal(size=(total, WIDTH, FEATURES))
    y = rng.integers(0, VOCAB, size=(total, WIDTH))
    mask = rng.random((total, WIDTH)) < rng.uniform(0.0, 1.0, size=(total, 1))
    out: dict[str, Any] = {"x": [], "y": [], "mask": []}
    start = 0
    for per_replica in rows:
        for key in out:
            out[key].append([])
        for count in per_replica:
            for key, value in (("x", x), ("y", y), ("mask", mask)):
                out[key][-1].append(value[start : start + count])
            start += count
    return out


def parameters(torch: Any) -> dict[str, Any]:
    rng = np.random.default_rng(1234)
    return {
        "out": torch.tensor(rng.normal(size=(FEATURES, VOCAB)), dtype=torch.float64),
        "router": torch.tensor(rng.normal(size=(LAYERS, FEATURES, EXPERTS)), dtype=torch.float64),
    }


def forward(torch: Any, params: dict[str, Any], x: Any, y: Any) -> dict[str, Any]:
    """Per token: cross-entropy, z = logsumexp^2, router probabilities ``[L, B, T, E]``."""
    logits = x @ params["out"]
    lse = torch.logsumexp(logits, dim=-1)
    ce = lse - torch.gather(logits, -1, y[..., None])[..., 0]
    probs = torch.softmax(torch.einsum("btf,lfe->lbte", x, params["router"]), dim=-1)
    return {"ce": ce, "z": lse**2, "probs": probs}


def routing(torch: Any, probs: Any, mask: Any) -> tuple[Any, Any]:
    """``[L, E]`` expert counts (top-1, no gradient) and router probability sums over the
    valid tokens."""
    chosen = torch.nn.functional.one_hot(probs.argmax(-1), EXPERTS).to(probs.dtype)
    valid = mask.to(probs.dtype)[None, :, :, None]
    return (chosen.detach() * valid).sum((1, 2)), (probs * valid).sum((1, 2))


def penalty(params: dict[str, Any]) -> Any:
    """``|out|^2``; of this rank's shard where FSDP2 sharded it (the shards' gradients are
    not combined by the engine: each shard gets its own part of the step term's)."""
    weight = params["out"]
    local = weight.to_local() if hasattr(weight, "to_local") else weight
    return (local**2).sum()


def tensors(torch: Any, data: dict[str, Any], r: int) -> list[dict[str, Any]]:
    return [
        {
            "x": torch.as_tensor(data["x"][r][k]),
            "y": torch.as_tensor(data["y"][r][k]),
            "mask": torch.as_tensor(data["mask"][r][k]),
        }
        for k in range(len(data["x"][r]))
    ]


def oracle_gradients(data: dict[str, Any]) -> dict[str, np.ndarray]:
    """d/dparams of the objective on the whole step, one float64 process, by definition."""
    import torch

    params = {k: v.requires_grad_(True) for k, v in parameters(torch).items()}
    pieces = [mb for r in range(len(data["x"])) for mb in tensors(torch, data, r)]
    x = torch.cat([mb["x"] for mb in pieces])
    y = torch.cat([mb["y"] for mb in pieces])
    mask = torch.cat([mb["mask"] for mb in pieces]).to(torch.float64)
    out = forward(torch, params, x, y)
    tokens = mask.sum()
    counts, sums = routing(torch, out["probs"], mask.bool())
    routed = counts.sum(-1, keepdim=True) / TOP_K  # T_l
    fraction = counts / counts.sum(-1, keepdim=True)  # f_le
    balance = EXPERTS * (fraction * sums / routed).sum()
    objective = (
        (out["ce"] * mask).sum() / tokens
        + Z * (out["z"] * mask).sum() / tokens
        + BALANCE * balance
        + L2 * penalty(params)
    )
    objective.backward()
    return {k: v.grad.numpy().copy() for k, v in params.items()}


def objective() -> Any:
    from losskit.objectives import Objective, Term

    return Objective(
        [
            Term("ce", "token-mean"),
            Term("z", "token-mean", coefficient=Z),
            Term("balance", "global-batch", coefficient=BALANCE, top_k=TOP_K),
            Term("l2", "step", coefficient=L2),
        ]
    )


def naive_loss(
    torch: Any, params: dict[str, Any], out: dict[str, Any], mb: dict, steps: int
) -> Any:
    """The usual code for one micro-batch: its own means and its own load-balancing
    statistics, divided by the window's micro-steps; the penalty added every micro-step."""
    mask = mb["mask"].to(torch.float64)
    tokens = mask.sum().clamp(min=1)
    counts, sums = routing(torch, out["probs"], mb["mask"])
    assigned = counts.sum(-1, keepdim=True).clamp(min=1)
    balance = EXPERTS * (counts / assigned * sums / (assigned / TOP_K)).sum()
    loss = (
        (out["ce"] * mask).sum() / tokens
        + Z * (out["z"] * mask).sum() / tokens
        + BALANCE * balance
        + L2 * penalty(params)
    )
    return loss / steps


def run_window(
    torch: Any,
    params: dict[str, Any],
    window: list[dict[str, Any]],
    method: str,
    *,
    model: Any = None,
    sync: Any = None,
    make_plan: Any = None,
    observe: Any = None,
) -> None:
    """One replica's window, inside the engine's context: losskit's objective (a counting
    pass without gradient, one plan, backward per micro-batch) or the naive formula.

    ``model(x, y)`` runs the forward (default: :func:`forward` on ``params``); ``sync(k)``
    is the context of micro-step k (DDP's ``no_sync``); ``make_plan(masks, counts)`` builds
    the plan; ``observe(out, mb)`` sees each micro-batch's outputs (a meter)."""
    import contextlib

    run = model or (lambda x, y: forward(torch, params, x, y))
    if method == "losskit":
        with torch.no_grad():
            counts = sum(
                routing(torch, run(mb["x"], mb["y"])["probs"], mb["mask"])[0] for mb in window
            )
        build = make_plan or (lambda masks, counts: objective().plan(masks, expert_counts=counts))
        plan = build([mb["mask"] for mb in window], counts)
    for k, mb in enumerate(window):
        with sync(k) if sync is not None else contextlib.nullcontext():
            out = run(mb["x"], mb["y"])
            if observe is not None:
                observe(out, mb)
            if method == "losskit":
                _, sums = routing(torch, out["probs"], mb["mask"])
                values = {"ce": out["ce"], "z": out["z"], "balance": sums}
                loss = plan.loss(k, **values, l2=penalty(params))
            else:
                loss = naive_loss(torch, params, out, mb, len(window))
            loss.backward()


def replica_gradients(
    torch: Any, data: dict[str, Any], r: int, method: str
) -> dict[str, np.ndarray]:
    """Replica r's accumulated gradients (before the engine combines them)."""
    params = {k: v.requires_grad_(True) for k, v in parameters(torch).items()}
    run_window(torch, params, tensors(torch, data, r), method)
    return {k: v.grad.numpy().copy() for k, v in params.items()}
