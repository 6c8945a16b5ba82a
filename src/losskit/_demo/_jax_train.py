"""The demo on JAX: ``jax.shard_map`` over 8 CPU devices, run as a script.

``python -m losskit._demo._jax_train`` must start with ``XLA_FLAGS`` asking for 8 host
devices (``losskit demo --engine jax`` sets it); it prints the three runs as JSON.
"""

from __future__ import annotations

import functools
import json
import sys
from functools import partial
from typing import Any

import numpy as np

from losskit._demo import _task

DEVICES = 8


def _padded(plan: _task.Plan, step: int) -> tuple[dict[str, np.ndarray], int]:
    """[micro, devices * capacity, TOKENS] arrays; each device's real examples first, then
    padding with a zero mask (uneven shards under shard_map's equal blocks)."""
    micro = plan.shards[step]
    present = len(micro[0])
    capacity = max(mb.tokens.shape[0] for rank in micro for mb in rank)
    out = {
        "tokens": np.zeros((present, DEVICES * capacity, _task.TOKENS), dtype=np.int32),
        "labels": np.zeros((present, DEVICES * capacity, _task.TOKENS), dtype=np.int32),
        "mask": np.zeros((present, DEVICES * capacity, _task.TOKENS)),
        "real": np.zeros((present, DEVICES * capacity)),  # 1 for real examples
    }
    for r, rank in enumerate(micro):
        for k, mb in enumerate(rank):
            n = mb.tokens.shape[0]
            for key in ("tokens", "labels", "mask"):
                out[key][k, r * capacity : r * capacity + n] = getattr(mb, key)
            out["real"][k, r * capacity : r * capacity + n] = 1.0
    return out, present


def main() -> int:
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P
    from tqdm import tqdm

    import losskit
    from losskit.distribute import global_denominator, jax_context
    from losskit.jax import Collector, Spec, activity
    from losskit.jax import penalty as layer_penalty
    from losskit.regularizers import L1, L2

    jax.config.update("jax_enable_x64", True)
    if len(jax.devices()) != DEVICES:
        print(f"expected {DEVICES} devices, found {jax.devices()}", file=sys.stderr)
        return 2
    plan = _task.make_plan(DEVICES)
    mesh = jax.make_mesh((DEVICES,), ("data",))
    kernels = Spec(patterns={name: L2(_task.KERNEL_L2) for name in _task.KERNELS})
    act = L1(_task.ACTIVITY_L1)

    def terms(p: Any, mb: Any, real: Any = None) -> Any:
        """Per-token cross entropy; records the hidden layer's activity penalty (padding
        rows, ``real == 0``, add nothing)."""
        hidden = jnp.tanh(p["embed"][mb["tokens"]] @ p["w1"] + p["b1"])
        activity(hidden if real is None else hidden * real[:, None, None], act)
        logp = jax.nn.log_softmax(hidden @ p["w2"] + p["b2"], axis=-1)
        return -jnp.take_along_axis(logp, mb["labels"][..., None], axis=-1)[..., 0]

    def penalty(p: Any) -> Any:
        return layer_penalty(p, kernels)

    @jax.jit
    def single_step(p: Any, batch: Any) -> tuple[Any, Any]:
        def loss(p: Any) -> Any:  # jit on global arrays: the whole batch, no context
            with Collector() as collector:
                ce = terms(p, batch)
            tokens = jnp.sum(batch["mask"])
            return (
                losskit.compute_average_loss(ce, batch["mask"], global_batch_size=tokens)
                + collector.total()
                + penalty(p)
            )

        value, grads = jax.value_and_grad(loss)(p)
        return value, jax.tree.map(lambda a, g: a - _task.LEARNING_RATE * g, p, grads)

    @functools.cache
    def sharded_step(method: str, present: int) -> Any:
        @partial(
            jax.shard_map,
            mesh=mesh,
            in_specs=(P(), P(None, "data")),
            out_specs=(P(), P()),
            check_vma=False,
        )
        def step(p: Any, mbs: Any) -> tuple[Any, Any]:
            with jax_context("data", gradients="mean", accumulation_steps=plan.accumulation):
                if method == "losskit":  # the step's tokens and examples
                    D = global_denominator(*[mbs["mask"][k] for k in range(present)])
                    N = global_denominator(*[mbs["real"][k] for k in range(present)])

                def loss(p: Any, k: int) -> Any:
                    mb = {key: value[k] for key, value in mbs.items()}
                    with Collector() as collector:
                        ce = terms(p, mb, mb["real"])
                    if method == "losskit":
                        return (
                            losskit.compute_average_loss(ce, mb["mask"], global_batch_size=D)
                            + collector.total(global_batch_size=N)
                            + losskit.scale_regularization_loss(penalty(p))
                        )
                    local = jnp.maximum(jnp.sum(mb["mask"]), 1.0)  # Keras: activity / rows
                    return (
                        jnp.sum(ce * mb["mask"]) / local + collector.total() + penalty(p)
                    ) / plan.accumulation

                total, grads = 0.0, jax.tree.map(jnp.zeros_like, p)
                for k in range(present):
                    value, g = jax.value_and_grad(loss)(p, k)
                    total, grads = total + value, jax.tree.map(jnp.add, grads, g)
                grads = jax.lax.pmean(grads, "data")  # the engine: mean over devices
                return jax.lax.pmean(total, "data"), grads

        @jax.jit
        def update(p: Any, mbs: Any) -> tuple[Any, Any]:
            value, grads = step(p, mbs)
            return value, jax.tree.map(lambda a, g: a - _task.LEARNING_RATE * g, p, grads)

        return update

    start = {name: jnp.asarray(value) for name, value in _task.initial_params().items()}
    runs: dict[str, dict[str, list[Any]]] = {}
    for method in ("single", "losskit", "naive"):
        p = start
        losses, params = [], []
        label = "single device" if method == "single" else f"{method}, {DEVICES} devices"
        for step in tqdm(range(plan.steps), desc=label, file=sys.stderr, leave=False):
            if method == "single":
                batch = plan.global_batch(step)
                value, p = single_step(
                    p, {f: jnp.asarray(getattr(batch, f)) for f in ("tokens", "labels", "mask")}
                )
            else:
                arrays, present = _padded(plan, step)
                sharding = NamedSharding(mesh, P(None, "data"))
                mbs = {key: jax.device_put(value, sharding) for key, value in arrays.items()}
                value, p = sharded_step(method, present)(p, mbs)
            losses.append(float(value))
            params.append(
                np.concatenate([np.asarray(p[n]).ravel() for n in _task.PARAM_NAMES]).tolist()
            )
        runs[method] = {"losses": losses, "params": params}
    json.dump(runs, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
