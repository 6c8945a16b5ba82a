"""Hypothesis: for every mode, the engine-combined coefficients of R simulated replicas x k
micro-batches (partial windows, padded and packed rows, empty sequences and micro-batches,
groups spread over replicas and micro-batches) equal the float64 oracle of the
single-device objective, and so do the combined losses."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit.aggregation import MODES, plan
from losskit.testing import run_replicas
from tests.aggregation import _layouts, _oracle

VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]


@st.composite
def steps(draw: st.DrawFn) -> dict:
    steps_ = draw(st.integers(1, 4))
    return {
        "replicas": draw(st.integers(1, 8)),
        "steps": steps_,
        "present": draw(st.integers(1, steps_)),  # fewer: a partial last window
        "packed": draw(st.booleans()),
        "num_groups": draw(st.integers(1, 4)),
        "density": draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
        "gradients": draw(st.sampled_from(["sum", "mean"])),
        "accumulation": draw(st.sampled_from(["sum", "mean"])),
        "max_length": draw(st.sampled_from([1, 3.5, 4096])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@settings(max_examples=1000)
@given(step=steps())
def test_every_mode_matches_the_single_device_objective(step: dict) -> None:
    layout = _layouts.layout(
        step["seed"],
        step["replicas"],
        step["present"],
        packed=step["packed"],
        num_groups=step["num_groups"],
        density=step["density"],
    )
    losses = _layouts.losses(step["seed"], layout)

    def replica(r: int) -> list:
        batches = layout[r]
        out = []
        for mode, count_empty in VARIANTS:
            p = plan(
                [mb["mask"] for mb in batches],
                mode=mode,
                segment_ids=[mb["seg"] for mb in batches] if step["packed"] else None,
                group_ids=[mb["group"] for mb in batches],
                num_groups=step["num_groups"],
                max_length=step["max_length"],
                count_empty=count_empty,
            )
            out.append(
                (
                    p.scale,
                    [p.weights(k) for k in range(len(batches))],
                    [float(p.loss(losses[r][k], k)) for k in range(len(batches))],
                    [float(p.unscaled_loss(losses[r][k], k)) for k in range(len(batches))],
                )
            )
        return out

    results = run_replicas(
        replica,
        step["replicas"],
        gradients=step["gradients"],
        accumulation_steps=step["steps"],
        accumulation=step["accumulation"],
    )
    expected_scale = (step["replicas"] if step["gradients"] == "mean" else 1) * (
        step["steps"] if step["accumulation"] == "mean" else 1
    )
    for index, (mode, count_empty) in enumerate(VARIANTS):
        oracle = _oracle.coefficients(
            layout, mode, count_empty=count_empty, max_length=step["max_length"]
        )
        target = _oracle.objective(oracle, losses)
        combined = 0.0
        unscaled = 0.0
        for r in range(step["replicas"]):
            scale, weights, values, shares = results[r][index]
            assert scale == expected_scale
            for k, c in enumerate(oracle[r]):
                np.testing.assert_allclose(
                    weights[k] / scale, c, rtol=1e-12, atol=0, err_msg=f"{mode} {count_empty}"
                )
            combined += sum(values) / scale
            unscaled += sum(shares)
        np.testing.assert_allclose(combined, target, rtol=1e-9, atol=1e-12, err_msg=mode)
        np.testing.assert_allclose(unscaled, target, rtol=1e-9, atol=1e-12, err_msg=mode)
