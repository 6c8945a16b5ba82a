"""Run as a script (8 CPU devices must be configured before JAX starts): one optimizer step
of a per-token regression under every aggregation mode, for the cases given as JSON on
stdin; prints JSON: per case and mode, losskit's combined gradient, the naive one, and the
number of psums the plan adds.

Engines: ``shard_map`` over 8 devices with the gradients combined by ``psum`` or ``pmean``,
and ``jit`` over the global arrays (no context: the plan sees the whole step). Each device
holds ``rows`` rows of every micro-batch (``[k, 8 * rows, T]`` global arrays).
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

from losskit.aggregation import MODES, aggregate, plan  # noqa: E402
from losskit.distribute import jax_context  # noqa: E402

DEVICES = 8
VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]


def _plan(variant, case, arrays, present):
    mode, count_empty = variant
    return plan(
        [arrays["mask"][k] for k in range(present)],
        mode=mode,
        segment_ids=[arrays["seg"][k] for k in range(present)] if case["packed"] else None,
        group_ids=[arrays["group"][k] for k in range(present)],
        num_groups=case["num_groups"],
        max_length=case["max_length"],
        count_empty=count_empty,
    )


def _token_loss(w, arrays, k):
    return (arrays["x"][k] @ w - arrays["y"][k]) ** 2


def planned_gradients(w, case, arrays, present, combine):
    """``[variants, ...]``: each variant's plan, the gradients of its micro-batches' losses
    added up and combined over the devices (call it inside the engine's context)."""
    grads = []
    for variant in VARIANTS:
        p = _plan(variant, case, arrays, present)
        total = jnp.zeros_like(w)
        for k in range(present):
            total = total + jax.grad(lambda w, k=k, p=p: p.loss(_token_loss(w, arrays, k), k))(w)
        grads.append(combine(total))
    return jnp.stack(grads)


def _psums(jaxpr) -> int:
    """psum equations in a jaxpr, sub-jaxprs included."""
    count = 0
    for eqn in jaxpr.eqns:
        count += eqn.primitive.name == "psum"
        for value in eqn.params.values():
            inner = value if hasattr(value, "eqns") else getattr(value, "jaxpr", None)
            if hasattr(inner, "eqns"):  # a Jaxpr, or the Jaxpr of a ClosedJaxpr
                count += _psums(inner)
    return count


def run(case: dict) -> dict:
    mesh = jax.make_mesh((DEVICES,), ("d",))
    present, steps, engine = case["present"], case["steps"], case["engine"]
    keys = ["mask", "group", "x", "y"] + (["seg"] if case["packed"] else [])
    host = {key: np.asarray(case["data"][key]) for key in keys}
    host["mask"] = host["mask"].astype(bool)
    w0 = jnp.asarray(case["w"])
    out: dict = {}
    if engine == "jit":  # global arrays, one program: no context
        arrays = {key: jnp.asarray(value) for key, value in host.items()}

        @jax.jit
        def global_step(w, arrays):
            grads = []
            for variant in VARIANTS:
                p = _plan(variant, case, arrays, present)
                grads.append(
                    sum(
                        jax.grad(lambda w, k=k, p=p: p.loss(_token_loss(w, arrays, k), k))(w)
                        for k in range(present)
                    )
                )
            return jnp.stack(grads)

        out["losskit"] = np.asarray(global_step(w0, arrays)).tolist()
        return out

    sharding = NamedSharding(mesh, P(None, "d"))
    arrays = {key: jax.device_put(value, sharding) for key, value in host.items()}
    gradients = "sum" if engine == "psum" else "mean"
    combine = partial(jax.lax.psum if engine == "psum" else jax.lax.pmean, axis_name="d")
    per_device = partial(
        jax.shard_map, mesh=mesh, in_specs=(P(), P(None, "d")), out_specs=P(), check_vma=False
    )

    @jax.jit
    @per_device
    def losskit_step(w, arrays):
        with jax_context("d", gradients=gradients, accumulation_steps=steps):
            return planned_gradients(w, case, arrays, present, combine)

    @jax.jit
    @per_device
    def naive_step(w, arrays):  # each micro-batch's own aggregate, divided by the micro-steps
        grads = []
        for mode, count_empty in VARIANTS:

            def loss(w, k, mode=mode, count_empty=count_empty):
                return (
                    aggregate(
                        _token_loss(w, arrays, k),
                        arrays["mask"][k],
                        mode=mode,
                        segment_ids=arrays["seg"][k] if case["packed"] else None,
                        group_ids=arrays["group"][k],
                        num_groups=case["num_groups"],
                        max_length=case["max_length"],
                        count_empty=count_empty,
                    )
                    / present
                )

            grads.append(combine(sum(jax.grad(loss)(w, k) for k in range(present))))
        return jnp.stack(grads)

    def collectives(variant):
        """psums of the context alone, and of the context plus the plan."""

        def enter(arrays):
            with jax_context("d", gradients=gradients, accumulation_steps=steps):
                return jnp.zeros(())

        def planned(arrays):
            with jax_context("d", gradients=gradients, accumulation_steps=steps):
                p = _plan(variant, case, arrays, present)
                return sum(p.weights(k).sum() for k in range(present))

        spec = partial(jax.shard_map, mesh=mesh, in_specs=(P(None, "d"),), out_specs=P(),
                       check_vma=False)  # fmt: skip
        base = _psums(jax.make_jaxpr(spec(enter))(arrays).jaxpr)
        return _psums(jax.make_jaxpr(spec(planned))(arrays).jaxpr) - base

    out["losskit"] = np.asarray(losskit_step(w0, arrays)).tolist()
    out["naive"] = np.asarray(naive_step(w0, arrays)).tolist()
    out["collectives"] = [collectives(variant) for variant in VARIANTS]
    return out


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    assert len(jax.devices()) == DEVICES, jax.devices()
    json.dump([run(case) for case in cases], sys.stdout)
