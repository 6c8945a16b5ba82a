"""Run as a script (8 CPU devices must be configured before JAX starts): one optimizer step
of a per-token regression under every aggregation mode on a ("data", "seq") = 2 x 4 mesh,
each sequence split along T over the 4 "seq" devices, for the cases given as JSON on
stdin; prints JSON: per case and variant, losskit's combined gradient, the naive one (no
sequence axis; packed ids renumbered per shard), and the psums the plan adds per axis; for
the cases that ask, a multi-term objective, a meter and deferred windows on the same mesh
(``_cp_objectives_shard_map.py``).

The global arrays are ``[k, data * rows, T]`` (features ``[..., F]``), sharded
``P(None, "data", "seq")``: device (d, s) holds rows ``d * rows ...`` and columns
``s * T / 4 ...`` of each micro-batch.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script or imported
from _aggregation_shard_map import _plan, planned_gradients  # noqa: E402
from _cp_objectives_shard_map import run as run_objectives  # noqa: E402

from losskit.aggregation import MODES  # noqa: E402
from losskit.distribute import jax_context  # noqa: E402

AXES = ("data", "seq")
VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]


def _psums(jaxpr) -> dict[str, int]:
    """psum equations of a jaxpr (sub-jaxprs included), by the axes they sum over."""
    found: dict[str, int] = {}
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "psum":
            key = ",".join(str(axis) for axis in eqn.params["axes"])
            found[key] = found.get(key, 0) + 1
        for value in eqn.params.values():
            inner = value if hasattr(value, "eqns") else getattr(value, "jaxpr", None)
            if hasattr(inner, "eqns"):
                for key, count in _psums(inner).items():
                    found[key] = found.get(key, 0) + count
    return found


def run(case: dict) -> dict:
    mesh = jax.make_mesh((2, 4), AXES)
    present, steps = case["present"], case["steps"]
    gradients = "sum" if case["engine"] == "psum" else "mean"
    combine = partial(jax.lax.psum if gradients == "sum" else jax.lax.pmean, axis_name=AXES)
    keys = ["mask", "group", "x", "y"] + (["seg", "seg_local"] if case["packed"] else [])
    host = {key: np.asarray(case["data"][key]) for key in keys}
    host["mask"] = host["mask"].astype(bool)
    token_spec = P(None, "data", "seq")
    specs = {key: token_spec for key in keys}
    specs["x"] = P(None, "data", "seq", None)
    if not case["packed"]:
        specs["group"] = P(None, "data")  # one group per row, the same on every shard
    arrays = {key: jax.device_put(host[key], NamedSharding(mesh, specs[key])) for key in keys}
    w0 = jnp.asarray(case["w"])
    per_device = partial(
        jax.shard_map, mesh=mesh, in_specs=(P(), specs), out_specs=P(), check_vma=False
    )

    def step(sequence_axis, segments):
        @jax.jit
        @per_device
        def run_step(w, arrays):
            if case["packed"]:
                arrays = {**arrays, "seg": arrays[segments]}
            with jax_context(
                AXES, sequence_axis=sequence_axis, gradients=gradients, accumulation_steps=steps
            ):
                return planned_gradients(w, case, arrays, present, combine)

        return run_step

    def collectives(variant):
        """The psums of the plan, by axes (those of entering the context subtracted)."""

        def enter(arrays):
            with jax_context(AXES, sequence_axis="seq", gradients=gradients):
                return jnp.zeros(())

        def planned(arrays):
            with jax_context(
                AXES, sequence_axis="seq", gradients=gradients, accumulation_steps=steps
            ):
                p = _plan(variant, case, arrays, present)
                return sum(p.weights(k).sum() for k in range(present))

        spec = partial(jax.shard_map, mesh=mesh, in_specs=(specs,), out_specs=P(), check_vma=False)
        base = _psums(jax.make_jaxpr(spec(enter))(arrays).jaxpr)
        found = _psums(jax.make_jaxpr(spec(planned))(arrays).jaxpr)
        return {
            key: found[key] - base.get(key, 0) for key in found if found[key] != base.get(key, 0)
        }

    objectives = run_objectives(case, mesh, arrays, specs, _psums) if case.get("objectives") else {}
    return {
        "losskit": np.asarray(step("seq", "seg")(w0, arrays)).tolist(),
        "naive": np.asarray(step(None, "seg_local")(w0, arrays)).tolist(),
        "collectives": [collectives(variant) for variant in VARIANTS],
        "objectives": objectives,
    }


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    assert len(jax.devices()) == 8, jax.devices()
    json.dump([run(case) for case in cases], sys.stdout)
