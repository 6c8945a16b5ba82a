"""Real torch.distributed (3 gloo processes, DDP) for every aggregation mode: uneven shards,
an empty micro-batch, groups spread over ranks and micro-batches, padded and packed rows,
full and partial windows. The DDP-combined gradient equals the float64 gradient of the
single-process objective; the naive per-micro-batch formula differs; one all-reduce per
window (none for token-sum)."""

from __future__ import annotations

import numpy as np
import pytest

from losskit.aggregation import MODES
from losskit.testing import run_processes
from tests.aggregation import _oracle
from tests.distributed import _aggregation_workers as workers

pytestmark = pytest.mark.slow

VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]
CASES = [
    {"packed": packed, "steps": 3, "present": present, "seed": seed}
    for seed, (packed, present) in enumerate([(False, 3), (True, 3), (False, 2), (True, 2)])
]


def _oracle_gradient(case: dict, mode: str, count_empty: bool) -> np.ndarray:
    """d/dW of sum_t c_t (x_t . W - y_t)^2 over the whole step, float64."""
    data = workers.step_data(case["seed"], case["packed"], case["present"])
    c = _oracle.coefficients(
        data["layout"], mode, count_empty=count_empty, max_length=workers.MAX_LENGTH
    )
    grad = np.zeros_like(workers.WEIGHT)
    for r, batches in enumerate(c):
        for k, coefficients in enumerate(batches):
            x, y = data["x"][r][k], data["y"][r][k]
            residual = x @ workers.WEIGHT[0] - y
            grad[0] += np.einsum("bt,btf->f", 2 * coefficients * residual, x)
    return grad


def test_ddp_gradients_equal_the_single_process_objective() -> None:
    results = run_processes(workers.ddp_gradients, 3, args=(CASES,), timeout=600)
    for index, case in enumerate(CASES):
        for v, (mode, count_empty) in enumerate(VARIANTS):
            expected = _oracle_gradient(case, mode, count_empty)
            label = f"{case} {mode} count_empty={count_empty}"
            for per_rank in results:  # DDP leaves the same gradient on every rank
                np.testing.assert_allclose(
                    per_rank[index]["losskit"][v], expected, rtol=1e-9, atol=1e-12, err_msg=label
                )
                assert per_rank[index]["collectives"][v] == int(mode != "token-sum"), label
            naive = results[0][index]["naive"][v]
            assert np.max(np.abs(naive - expected)) > 1e-4, f"naive should differ: {label}"
