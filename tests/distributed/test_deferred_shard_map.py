"""JAX on 8 CPU devices (a subprocess): deferred normalization under ``shard_map`` with the
gradients combined by ``psum`` and by ``pmean``, padded and packed rows, uneven shards (a
device whose rows are all padding), full and partial windows that are not told their
length. Backward on sums, one psum of the count at the window's end, the gradient pytree
scaled by a pure function, the L2 penalty added after: the float64 oracle's gradient; the
naive per-micro-batch formula differs. On two of the cases, a planned multi-term objective
(token-mean + seq-mean-token-mean + L2) and a loss meter on the same data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.aggregation import _oracle
from tests.distributed.test_aggregation_shard_map import DEVICES, W
from tests.distributed.test_aggregation_shard_map import _case as aggregation_case

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("_deferred_shard_map.py")
ROOT = Path(__file__).parents[2]
L2 = 0.05
CASES = [
    ("psum", "token-mean", False, False, 3),
    ("pmean", "seq-mean-token-mean", False, True, 2),
    ("pmean", "seq-mean-token-sum-norm", True, True, 3),  # packed: S differs per device
    ("psum", "seq-mean-token-sum", False, True, 2),
    ("pmean", "token-sum", False, False, 1),
]


def _case(seed: int, engine: str, mode: str, empty: bool, packed: bool, present: int) -> dict:
    """The aggregation test's case (uneven shards, a device holding only padding) for one
    deferred mode."""
    built = aggregation_case(seed, engine, packed, present)
    built["case"].update(mode=mode, empty=empty, objective=seed < 2)
    return built


def _coefficients(built: dict, mode: str, empty: bool) -> np.ndarray:
    """c_t of the whole step as ``[k, devices * rows, T]`` (the global arrays' layout)."""
    case = built["case"]
    c = _oracle.coefficients(
        built["layout"], mode, count_empty=empty, max_length=case["max_length"]
    )
    return np.stack([np.concatenate([c[d][k] for d in range(DEVICES)]) for k in range(len(c[0]))])


def _gradient(built: dict, coefficients: np.ndarray) -> np.ndarray:
    """d/dw of sum_t c_t (x_t . w - y_t)^2 + L2 |w|^2, float64."""
    data = built["data"]
    residual = data["x"] @ np.asarray(W) - data["y"]
    penalty = 2 * L2 * np.asarray(W)
    return np.einsum("kbt,kbtf->f", 2 * coefficients * residual, data["x"]) + penalty


def _check_objective(built: dict, result: dict) -> None:
    """The planned objective's gradient and the meter's readings, against the oracle."""
    tokens = _coefficients(built, "token-mean", False)
    sequences = _coefficients(built, "seq-mean-token-mean", False)
    expected = _gradient(built, tokens + 0.3 * sequences)  # the script's SEQUENCE
    np.testing.assert_allclose(result["objective"], expected, rtol=1e-10)
    data = built["data"]
    losses = (data["x"] @ np.asarray(W) - data["y"]) ** 2
    assert result["meter"][0] == pytest.approx(float(np.sum(tokens * losses)), rel=1e-10)
    mask = data["mask"].reshape(len(losses), DEVICES, -1)  # micro-batch k of device d
    own = (losses * data["mask"]).reshape(mask.shape).sum(-1) / np.maximum(mask.sum(-1), 1)
    assert result["meter"][1] == pytest.approx(float(np.mean(own)), rel=1e-10)


def test_deferred_windows_under_shard_map_equal_the_oracle() -> None:
    built = [_case(seed, *spec) for seed, spec in enumerate(CASES)]
    completed = subprocess.run(
        [sys.executable, str(SCRIPT)],
        input=json.dumps([b["case"] for b in built]),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for b, result in zip(built, json.loads(completed.stdout), strict=True):
        label = f"{b['case']['engine']} {b['case']['mode']}"
        case = b["case"]
        expected = _gradient(b, _coefficients(b, case["mode"], case["empty"]))
        np.testing.assert_allclose(result["losskit"], expected, rtol=1e-10, err_msg=label)
        assert np.max(np.abs(np.asarray(result["naive"]) - expected)) > 1e-4, label
        assert result["collectives"] == (0 if case["mode"] == "token-sum" else 1), label
        if case["objective"]:
            _check_objective(b, result)
