"""Run as a script (8 CPU devices must be configured before JAX starts): one optimizer step
of a masked token regression with an L2 penalty, under ``jax.shard_map``, for the cases
given as JSON on stdin; prints the combined gradients (losskit's and the naive ones) as JSON.

Uneven shards: each device holds ``capacity`` example slots; ``counts[r][k]`` of them are
real in micro-batch k, the rest are padding with zero mask (how JAX runs uneven data).
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import json
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

jax.config.update("jax_enable_x64", True)

import losskit  # noqa: E402
from losskit.distribute import global_denominator, jax_context  # noqa: E402
from losskit.jax import Collector, activity  # noqa: E402
from losskit.regularizers import L1  # noqa: E402

L2 = 0.05
ACTIVITY = 0.1
DEVICES = 8


def padded(case: dict, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """[K, devices * capacity, ...] micro-batches; real examples in order, then padding."""
    counts, capacity = case["counts"], case["capacity"]
    present = len(counts[0])
    out = {
        key: np.zeros((present, DEVICES * capacity, *value.shape[1:]))
        for key, value in data.items()
    }
    start = 0
    for r in range(DEVICES):
        for k in range(present):
            n = counts[r][k]
            for key, value in data.items():
                out[key][k, r * capacity : r * capacity + n] = value[start : start + n]
            start += n
    return out


def run(case: dict) -> dict:
    mesh = jax.make_mesh((DEVICES,), ("d",))
    rng = np.random.default_rng(case["seed"])
    total = sum(map(sum, case["counts"]))
    data = {
        "x": rng.normal(size=(total, 4, 3)),
        "y": rng.normal(size=(total, 4)),
        "mask": (rng.random((total, 4)) < 0.7).astype(np.float64),
        "real": np.ones(total),  # 0 on the padding rows padded() adds
    }
    batches = padded(case, data)
    sharding = NamedSharding(mesh, P(None, "d"))
    batches = {key: jax.device_put(value, sharding) for key, value in batches.items()}
    params = {"w": jnp.array([0.5, -0.25, 0.125]), "b": jnp.array(0.1)}
    engine, steps, accumulation = case["engine"], case["steps"], case["accumulation"]
    # "psum"/"pmean": per-device gradients (check_vma=False), combined by hand. "vma":
    # shard_map's default type checking, under which jax.grad with respect to replicated
    # parameters already sums over the axis (the transpose of the implicit pvary): a sum
    # engine, and combining again would be wrong.
    mode = "mean" if engine == "pmean" else "sum"
    check_vma = engine == "vma"
    present = len(case["counts"][0])

    def combine(t):
        if engine == "psum":
            return jax.lax.psum(t, "d")
        if engine == "pmean":
            return jax.lax.pmean(t, "d")
        return t

    per_device = partial(
        jax.shard_map, mesh=mesh, in_specs=(P(), P(None, "d")), out_specs=P(), check_vma=check_vma
    )

    def token_loss(p, mb):
        prediction = mb["x"] @ p["w"] + p["b"]
        activity(prediction * mb["real"][:, None], L1(ACTIVITY))  # padding rows give 0
        return (prediction - mb["y"]) ** 2

    @per_device
    def window_losskit(p, mbs):
        with jax_context("d", gradients=mode, accumulation_steps=steps, accumulation=accumulation):
            D = global_denominator(*[mbs["mask"][k] for k in range(present)])
            N = global_denominator(*[mbs["real"][k] for k in range(present)])  # examples

            def loss(p, k):
                mb = {key: value[k] for key, value in mbs.items()}
                with Collector() as collector:
                    data_loss = losskit.compute_average_loss(
                        token_loss(p, mb), mb["mask"], global_batch_size=D
                    )
                reg = losskit.scale_regularization_loss(L2 * jnp.sum(p["w"] ** 2))
                return data_loss + reg + collector.total(global_batch_size=N)

            return engine_combine(p, loss)

    @per_device
    def window_naive(p, mbs):
        def loss(p, k):
            mb = {key: value[k] for key, value in mbs.items()}
            with Collector() as collector:  # Keras: / the local batch
                local = jnp.sum(token_loss(p, mb) * mb["mask"]) / jnp.maximum(
                    jnp.sum(mb["mask"]), 1.0
                )
            return (local + L2 * jnp.sum(p["w"] ** 2) + collector.total()) / present

        return engine_combine(p, loss)

    def engine_combine(p, loss):
        grads = jax.tree.map(jnp.zeros_like, p)
        for k in range(present):
            g = jax.grad(loss)(p, k)
            if accumulation == "mean":
                g = jax.tree.map(lambda t: t / steps, g)  # e.g. optax.MultiSteps
            grads = jax.tree.map(jnp.add, grads, g)
        return jax.tree.map(combine, grads)

    out = {}
    for name, fn in (("losskit", window_losskit), ("naive", window_naive)):
        grads = jax.jit(fn)(params, batches)
        out[name] = {"w": np.asarray(grads["w"]).tolist(), "b": float(grads["b"])}
    out["data"] = {key: value.tolist() for key, value in data.items()}
    return out


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    assert len(jax.devices()) == DEVICES, jax.devices()
    json.dump([run(case) for case in cases], sys.stdout)
