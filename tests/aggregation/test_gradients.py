"""Real gradients, PyTorch and JAX: 100 layouts of fixed shapes (3 replicas, a partial
window of 3 of 4 micro-batches, [3, 6] rows, padded and packed, empty sequences, groups
spread over replicas and micro-batches), every mode: the engine-combined gradient of a
model's parameters equals the float64 gradient of the single-device objective.

Model: per-token loss (x_t . w - y_t)^2; the oracle gradient is sum_t c_t 2 (x_t . w - y_t) x_t
with c_t from tests/aggregation/_oracle.py. JAX runs all layouts in one jitted call (vmap over
layouts and over the replicas' axis), so it compiles once per layout kind.
"""

from __future__ import annotations

import numpy as np
import pytest

from losskit.aggregation import MODES, plan
from tests.aggregation import _layouts, _oracle

REPLICAS, STEPS, PRESENT, ROWS, LENGTH, FEATURES, GROUPS = 3, 4, 3, 3, 6, 2, 4
LAYOUTS = 50  # per layout kind: 100 in all
VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]
MAX_LENGTH = 6.0
W = np.array([0.5, -1.5])


def _step_data(seed: int, packed: bool) -> dict:
    rng = np.random.default_rng(seed)
    layout = [
        [
            _layouts.micro_batch(rng, ROWS, LENGTH, packed=packed, num_groups=GROUPS, density=0.6)
            for _ in range(PRESENT)
        ]
        for _ in range(REPLICAS)
    ]
    shape = (REPLICAS, PRESENT, ROWS, LENGTH)
    arrays = {
        "mask": np.stack([np.stack([mb["mask"] for mb in r]) for r in layout]),
        "group": np.stack([np.stack([mb["group"] for mb in r]) for r in layout]),
        "x": rng.normal(size=(*shape, FEATURES)),
        "y": rng.normal(size=shape),
    }
    if packed:
        arrays["seg"] = np.stack([np.stack([mb["seg"] for mb in r]) for r in layout])
    return {"layout": layout, "arrays": arrays}


def _oracle_grads(data: dict) -> np.ndarray:
    """[variants, FEATURES]: d/dw of sum_t c_t (x_t . w - y_t)^2, float64."""
    x, y = data["arrays"]["x"], data["arrays"]["y"]
    residual = x @ W - y
    out = []
    for mode, count_empty in VARIANTS:
        c = np.asarray(
            _oracle.coefficients(
                data["layout"], mode, count_empty=count_empty, max_length=MAX_LENGTH
            )
        )
        out.append(np.einsum("rkbt,rkbtf->f", 2 * c * residual, x))
    return np.stack(out)


def _plan(variant, masks, segments, groups):
    mode, count_empty = variant
    return plan(
        masks,
        mode=mode,
        segment_ids=segments,
        group_ids=groups,
        num_groups=GROUPS,
        max_length=MAX_LENGTH,
        count_empty=count_empty,
    )


@pytest.mark.parametrize("packed", [False, True])
def test_jax_gradients(packed: bool) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from losskit.distribute import jax_context

    steps = [_step_data(seed, packed) for seed in range(LAYOUTS)]
    batched = {
        key: jnp.asarray(np.stack([s["arrays"][key] for s in steps])) for key in steps[0]["arrays"]
    }

    def replica(arrays):  # one replica's window, under vmap over the axis "r"
        masks = [arrays["mask"][k] for k in range(PRESENT)]
        segments = [arrays["seg"][k] for k in range(PRESENT)] if packed else None
        groups = [arrays["group"][k] for k in range(PRESENT)]
        out = []
        with jax_context("r", gradients="mean", accumulation_steps=STEPS):
            for variant in VARIANTS:
                p = _plan(variant, masks, segments, groups)
                total = jnp.zeros(FEATURES)
                for k in range(PRESENT):

                    def loss(w, k=k, p=p):
                        per_token = (arrays["x"][k] @ w - arrays["y"][k]) ** 2
                        return p.loss(per_token, k)

                    total = total + jax.grad(loss)(jnp.asarray(W))
                out.append(jax.lax.pmean(total, "r"))  # the engine: mean over replicas
        return jnp.stack(out)

    per_replica = jax.vmap(replica, axis_name="r")  # over the replicas of one step
    grads = jax.jit(jax.vmap(per_replica))(batched)  # over the layouts
    grads = np.asarray(grads)
    for index, step in enumerate(steps):
        expected = _oracle_grads(step)
        for r in range(REPLICAS):  # every replica holds the combined gradient
            np.testing.assert_allclose(
                grads[index, r], expected, rtol=1e-9, atol=1e-12, err_msg=f"layout {index}"
            )


@pytest.mark.parametrize("packed", [False, True])
def test_torch_gradients(packed: bool) -> None:
    torch = pytest.importorskip("torch")
    from losskit.testing import run_replicas

    for seed in range(LAYOUTS):
        step = _step_data(seed, packed)
        arrays = {key: torch.as_tensor(value) for key, value in step["arrays"].items()}

        def replica(r, arrays=arrays):
            masks = list(arrays["mask"][r])
            segments = list(arrays["seg"][r]) if packed else None
            groups = list(arrays["group"][r])
            out = []
            for variant in VARIANTS:
                w = torch.tensor(W, requires_grad=True)
                p = _plan(variant, masks, segments, groups)
                for k in range(PRESENT):
                    per_token = (arrays["x"][r, k] @ w - arrays["y"][r, k]) ** 2
                    p.loss(per_token, k).backward()  # accumulates in w.grad
                out.append(w.grad.numpy())
            return np.stack(out)

        results = run_replicas(replica, REPLICAS, gradients="mean", accumulation_steps=STEPS)
        combined = np.mean(results, axis=0)  # DDP: the mean over replicas
        np.testing.assert_allclose(
            combined, _oracle_grads(step), rtol=1e-9, atol=1e-12, err_msg=f"layout {seed}"
        )
