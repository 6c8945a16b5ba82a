"""JAX ``shard_map`` on 8 CPU devices (a subprocess): combined gradients equal one device's.

The oracle is the float64 hand-written gradient of the global masked token mean plus the
L2 penalty and an activity penalty (over the global example count); the naive
normalization (local means, Keras's local activity division) must differ from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.distributed._scripts import run_json_script

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("_jax_shard_map.py")
L2 = 0.05
ACTIVITY = 0.1


def _oracle(data: dict) -> dict:
    """Data: sum(m * (x w + b - y)^2) / sum(m); L2 * |w|^2; activity (Keras: / examples):
    ACTIVITY * sum |x w + b| / examples."""
    x, y, m = (np.asarray(data[key]) for key in ("x", "y", "mask"))
    w, b = np.array([0.5, -0.25, 0.125]), 0.1
    prediction = x @ w + b
    residual = prediction - y
    scale = 2.0 / np.sum(m)
    act = ACTIVITY * np.sign(prediction) / len(x)
    return {
        "w": scale * np.einsum("nt,ntf->f", m * residual, x)
        + 2 * L2 * w
        + np.einsum("nt,ntf->f", act, x),
        "b": scale * np.sum(m * residual) + np.sum(act),
    }


def _cases() -> list[dict]:
    rng = np.random.default_rng(8)
    cases = []
    for engine in ("psum", "pmean", "vma"):
        for accumulation in ("sum", "mean"):
            for steps in (1, 2, 3):
                for present in sorted({steps, max(1, steps - 1)}):
                    counts = rng.integers(0, 4, size=(8, present))
                    counts[0, 0] = 6  # one device holds many more: uneven shards
                    cases.append(
                        {
                            "engine": engine,
                            "accumulation": accumulation,
                            "steps": steps,
                            "counts": counts.tolist(),
                            "capacity": 6,
                            "seed": len(cases),
                        }
                    )
    return cases


def test_shard_map_gradients_equal_single_device() -> None:
    cases = _cases()
    results = run_json_script(SCRIPT, cases, timeout=600)
    for case, result in zip(cases, results, strict=True):
        expected = _oracle(result["data"])
        for key in ("w", "b"):
            np.testing.assert_allclose(
                result["losskit"][key], expected[key], rtol=1e-6, atol=1e-12, err_msg=str(case)
            )
        naive = max(
            np.max(np.abs(np.asarray(result["naive"][key]) - expected[key])) for key in ("w", "b")
        )
        assert naive > 1e-4, f"the naive normalization should differ: {case}"
