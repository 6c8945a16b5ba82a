"""The objective part of ``_parallel_shard_map.py`` (imported by it, in its process): on the
("data", "seq") = 2 x 4 mesh, each sequence split along T over "seq", one window of

* a planned objective (token-mean on the regression residual + seq-mean-token-mean on the
  squared prediction + an L2 penalty) and a meter of the seq-mean term;
* deferred windows of seq-mean-token-mean (n_i summed per micro-step) and of
  seq-mean-token-sum-norm (S summed at the window's end), scaled after the combination;

with the psums each adds per axis.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from losskit.aggregation import LossMeter, deferred_plan
from losskit.distribute import jax_context
from losskit.objectives import Objective, Term

AXES = ("data", "seq")
SEQUENCE, L2 = 0.3, 0.05
OBJECTIVE = Objective(
    [
        Term("residual", "token-mean"),
        Term("prediction", "seq-mean-token-mean", coefficient=SEQUENCE),
        Term("l2", "step", coefficient=L2),
    ]
)
DEFERRED = ("seq-mean-token-mean", "seq-mean-token-sum-norm")


def terms(w: Any, arrays: dict[str, Any], k: int) -> dict[str, Any]:
    prediction = arrays["x"][k] @ w
    return {"residual": (prediction - arrays["y"][k]) ** 2, "prediction": prediction**2}


def run(case: dict, mesh: Any, arrays: dict, specs: dict, psums: Callable) -> dict[str, Any]:
    """The planned objective's and the deferred windows' combined gradients, the meter's
    reading, and the psums of each (``psums(jaxpr)``: by axes)."""
    present, steps = case["present"], case["steps"]
    gradients = "sum" if case["engine"] == "psum" else "mean"
    combine = partial(jax.lax.psum if gradients == "sum" else jax.lax.pmean, axis_name=AXES)
    w0 = jnp.asarray(case["w"])

    def context() -> Any:
        return jax_context(AXES, sequence_axis="seq", gradients=gradients, accumulation_steps=steps)

    def inputs(arrays: dict, k: int) -> dict[str, Any]:
        return {"segment_ids": arrays["seg"][k] if case["packed"] else None}

    def planned(w: Any, arrays: dict) -> tuple[Any, Any]:
        masks = [arrays["mask"][k] for k in range(present)]
        segments = [arrays["seg"][k] for k in range(present)] if case["packed"] else None
        with context():
            p = OBJECTIVE.plan(masks, segment_ids=segments)
            meter = LossMeter(mode="seq-mean-token-mean")
            total = jnp.zeros_like(w)
            for k in range(present):
                meter.update(terms(w, arrays, k)["prediction"], masks[k], **inputs(arrays, k))
                total = total + jax.grad(
                    lambda w, k=k: p.loss(k, **terms(w, arrays, k), l2=jnp.sum(w**2))
                )(w)
            return combine(total), meter.read().loss

    def deferred(w: Any, arrays: dict) -> Any:
        found = []
        with context():
            for mode in DEFERRED:
                window = deferred_plan(mode=mode, max_length=case["max_length"])
                total = jnp.zeros_like(w)
                for k in range(present):  # the residual, backward on the micro-step's sum
                    total = total + jax.grad(
                        lambda w, k=k, window=window: window.loss(
                            terms(w, arrays, k)["residual"], arrays["mask"][k], **inputs(arrays, k)
                        )
                    )(w)
                found.append(window.scale_gradients({"w": combine(total)})["w"])
        return jnp.stack(found)

    def counted(body: Callable[[dict], Any]) -> dict[str, int]:
        spec = partial(jax.shard_map, mesh=mesh, in_specs=(specs,), out_specs=P(), check_vma=False)

        def entered(arrays: dict) -> Any:
            with context():
                return jnp.zeros(())

        base = psums(jax.make_jaxpr(spec(entered))(arrays).jaxpr)
        found = psums(jax.make_jaxpr(spec(body))(arrays).jaxpr)
        return {key: n - base.get(key, 0) for key, n in found.items() if n != base.get(key, 0)}

    def plan_only(arrays: dict) -> Any:
        with context():
            masks = [arrays["mask"][k] for k in range(present)]
            segments = [arrays["seg"][k] for k in range(present)] if case["packed"] else None
            p = OBJECTIVE.plan(masks, segment_ids=segments)
            return sum(p.plan_of(name).weights(0).sum() for name in ("residual", "prediction"))

    def window_only(mode: str) -> Callable[[dict], Any]:
        def body(arrays: dict) -> Any:
            with context():
                window = deferred_plan(mode=mode, max_length=case["max_length"])
                for k in range(present):
                    window.loss(arrays["y"][k], arrays["mask"][k], **inputs(arrays, k))
                return window.finish()

        return body

    per_device = partial(
        jax.shard_map, mesh=mesh, in_specs=(P(), specs), out_specs=P(), check_vma=False
    )
    grads, meter = jax.jit(per_device(planned))(w0, arrays)
    return {
        "objective": np.asarray(grads).tolist(),
        "meter": float(meter),
        "deferred": np.asarray(jax.jit(per_device(deferred))(w0, arrays)).tolist(),
        "collectives": {
            "plan": counted(plan_only),
            **{mode: counted(window_only(mode)) for mode in DEFERRED},
        },
    }
