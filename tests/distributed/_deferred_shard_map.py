"""Run as a script (8 CPU devices must be configured before JAX starts): one optimizer step
of a per-token regression under deferred normalization, for the cases given as JSON on
stdin; prints JSON: per case, losskit's combined gradient (scaled after the window, the L2
penalty added after the scaling), the naive one, and the number of psums the window adds.

``shard_map`` over 8 devices, the gradients combined by ``psum`` or ``pmean``; each device
holds ``rows`` rows of every micro-batch (``[k, 8 * rows, T]`` global arrays, the cases of
``_aggregation_shard_map.py``). The window is not told its length: the micro-steps run in a
Python loop, each backward on its sum.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import json
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script

from losskit.aggregation import LossMeter, aggregate, deferred_plan  # noqa: E402
from losskit.distribute import jax_context  # noqa: E402
from losskit.objectives import Objective, Term  # noqa: E402
from tests.distributed._aggregation_shard_map import (  # noqa: E402
    DEVICES,
    _psums,
    _token_loss,
)

STEPS, L2, SEQUENCE = 3, 0.05, 0.3
OBJECTIVE = Objective(
    [
        Term("tokens", "token-mean"),
        Term("sequences", "seq-mean-token-mean", coefficient=SEQUENCE),
        Term("l2", "step", coefficient=L2),
    ]
)


def run(case: dict) -> dict:
    mesh = jax.make_mesh((DEVICES,), ("d",))
    keys = ["mask", "x", "y"] + (["seg"] if case["packed"] else [])
    host = {key: np.asarray(case["data"][key]) for key in keys}
    host["mask"] = host["mask"].astype(bool)
    present = host["mask"].shape[0]
    options = {"mode": case["mode"], "max_length": case["max_length"], "count_empty": case["empty"]}
    gradients = "sum" if case["engine"] == "psum" else "mean"
    combine = partial(jax.lax.psum if gradients == "sum" else jax.lax.pmean, axis_name="d")
    sharding = NamedSharding(mesh, P(None, "d"))
    arrays = {key: jax.device_put(value, sharding) for key, value in host.items()}
    w0 = jnp.asarray(case["w"])
    per_device = partial(
        jax.shard_map, mesh=mesh, in_specs=(P(), P(None, "d")), out_specs=P(), check_vma=False
    )

    def segments(arrays, k):
        return arrays["seg"][k] if case["packed"] else None

    def penalty_gradient(w):
        return jax.grad(lambda w: L2 * jnp.sum(w**2))(w)

    @jax.jit
    @per_device
    def losskit_step(w, arrays):
        with jax_context("d", gradients=gradients, accumulation_steps=STEPS):
            window = deferred_plan(**options)
            total = jnp.zeros_like(w)
            for k in range(present):  # the window does not know its length
                total = total + jax.grad(
                    lambda w, k=k: window.loss(
                        _token_loss(w, arrays, k),
                        arrays["mask"][k],
                        segment_ids=segments(arrays, k),
                    )
                )(w)
            grads = window.scale_gradients({"w": combine(total)})  # a pure function
        return grads["w"] + penalty_gradient(w)  # the step-level term, after the scaling

    @jax.jit
    @per_device
    def naive_step(w, arrays):
        total = jnp.zeros_like(w)
        for k in range(present):
            total = total + jax.grad(
                lambda w, k=k: aggregate(
                    _token_loss(w, arrays, k), arrays["mask"][k], segment_ids=segments(arrays, k),
                    **options,
                ) / present
            )(w)  # fmt: skip
        return combine(total) + penalty_gradient(w)

    def psums_of(with_window: bool) -> int:
        def body(arrays):
            with jax_context("d", gradients=gradients, accumulation_steps=STEPS):
                if not with_window:
                    return jnp.zeros(())
                window = deferred_plan(**options)
                for k in range(present):
                    window.loss(arrays["x"][k][..., 0], arrays["mask"][k],
                                segment_ids=segments(arrays, k))  # fmt: skip
                return window.finish()

        spec = partial(jax.shard_map, mesh=mesh, in_specs=(P(None, "d"),), out_specs=P(),
                       check_vma=False)  # fmt: skip
        return _psums(jax.make_jaxpr(spec(body))(arrays).jaxpr)

    @jax.jit
    @per_device
    def objective_step(w, arrays):  # a planned objective and a meter, on the same data
        masks = [arrays["mask"][k] for k in range(present)]
        seg = [segments(arrays, k) for k in range(present)] if case["packed"] else None
        with jax_context("d", gradients=gradients, accumulation_steps=STEPS):
            p = OBJECTIVE.plan(masks, segment_ids=seg)
            meter = LossMeter(mode="token-mean")
            total = jnp.zeros_like(w)
            for k in range(present):
                meter.update(_token_loss(w, arrays, k), masks[k], segment_ids=segments(arrays, k))

                def loss(w, k=k):
                    values = _token_loss(w, arrays, k)
                    return p.loss(k, tokens=values, sequences=values, l2=jnp.sum(w**2))

                total = total + jax.grad(loss)(w)
            reading = meter.read()
        return combine(total), reading.loss, reading.mean_of_micro_batch_means

    objective = {}
    if case.get("objective"):
        grads, loss, mean_of_means = objective_step(w0, arrays)
        objective = {
            "objective": np.asarray(grads).tolist(),
            "meter": [float(loss), float(mean_of_means)],
        }
    return objective | {
        "losskit": np.asarray(losskit_step(w0, arrays)).tolist(),
        "naive": np.asarray(naive_step(w0, arrays)).tolist(),
        "collectives": psums_of(True) - psums_of(False),
    }


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    assert len(jax.devices()) == DEVICES, jax.devices()
    json.dump([run(case) for case in cases], sys.stdout)
