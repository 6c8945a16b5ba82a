"""Real torch.distributed (3 gloo processes, DDP, accumulation_steps=3 with windows of 3, 2
and 1 micro-batches, an empty micro-batch) for deferred normalization, a multi-term
objective and loss meters. Deferred windows (backward on sums, one all-reduce, gradients
scaled in place, the L2 penalty added after) and the MoE objective (token-mean CE + z-loss +
global-batch load balancing + L2, one all-reduce for the plan) give the gradients of a
float64 single-process oracle; the naive per-micro-batch formulas differ in the same runs;
the meters read the optimized objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losskit.testing import run_processes
from tests.aggregation import _oracle
from tests.distributed import _objective_workers as workers
from tests.objectives import _moe

pytestmark = pytest.mark.slow

CASES = [
    {"mode": "token-mean", "empty": False, "packed": False, "seed": 0},
    {"mode": "seq-mean-token-mean", "empty": False, "packed": True, "seed": 1},
    {"mode": "seq-mean-token-sum-norm", "empty": True, "packed": False, "seed": 2},
    {"mode": "token-sum", "empty": False, "packed": True, "seed": 3},
]
MOE_SEED = 11
FSDP_CASES = [0, 1, 2]  # the deferred cases also run under FSDP2 (DTensor gradients)


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return run_processes(workers.run, 3, args=(CASES, MOE_SEED, FSDP_CASES), timeout=900)


def _regression_oracle(
    case: dict, windows: tuple[int, ...] = workers.WINDOWS
) -> tuple[np.ndarray, float, float]:
    """The gradient of sum_t c_t (x_t . w - y_t)^2 + L2 |w|^2 over the whole step, the
    objective's value, and the mean of the micro-batches' own aggregates; float64."""
    data = workers.regression_data(case["seed"], case["packed"], windows=windows)
    layout = data["layout"]
    options = {"count_empty": case["empty"], "max_length": workers.MAX_LENGTH}
    c = _oracle.coefficients(layout, case["mode"], **options)
    grad = 2 * workers.L2 * workers.WEIGHT.copy()
    losses, own = [], []
    for r, batches in enumerate(c):
        losses.append([])
        for k, coefficients in enumerate(batches):
            x, y = data["x"][r][k], data["y"][r][k]
            residual = x @ workers.WEIGHT[0] - y
            grad[0] += np.einsum("bt,btf->f", 2 * coefficients * residual, x)
            losses[-1].append(residual**2)
            alone = _oracle.coefficients([[layout[r][k]]], case["mode"], **options)
            own.append(_oracle.objective(alone, [[residual**2]]))
    return grad, _oracle.objective(c, losses), float(np.mean(own))


@pytest.mark.parametrize("index", range(len(CASES)))
def test_deferred_windows_under_ddp_equal_the_oracle(results: list[dict], index: int) -> None:
    case = CASES[index]
    expected, objective, mean_of_means = _regression_oracle(case)
    for per_rank in results:  # DDP leaves the same gradient on every rank
        got = per_rank["deferred"][index]
        np.testing.assert_allclose(got["losskit"], expected, rtol=1e-10, atol=1e-13)
        assert got["collectives"] == (0 if case["mode"] == "token-sum" else 1)
        loss, naive_reading = got["meter"]
        assert loss == pytest.approx(objective, rel=1e-10)
        assert naive_reading == pytest.approx(mean_of_means, rel=1e-10)
        assert got["meter_collectives"] == 1
    naive = results[0]["deferred"][index]["naive"]
    assert np.max(np.abs(naive - expected)) > 1e-3, "the naive form should differ"


@pytest.mark.parametrize("position", range(len(FSDP_CASES)))
def test_deferred_windows_under_fsdp2_equal_the_oracle(results: list[dict], position: int) -> None:
    # fully_shard averages like DDP; the window scales DTensor gradient shards in place
    case = CASES[FSDP_CASES[position]]
    expected, objective, _ = _regression_oracle(case, workers.FSDP_WINDOWS)
    for per_rank in results:
        got = per_rank["fsdp2 deferred"][position]
        np.testing.assert_allclose(got["losskit"], expected, rtol=1e-10, atol=1e-13)
        assert got["collectives"] == 1
        assert got["meter"][0] == pytest.approx(objective, rel=1e-10)
    naive = results[0]["fsdp2 deferred"][position]["naive"]
    assert np.max(np.abs(naive - expected)) > 1e-3, "the naive form should differ"


@pytest.mark.parametrize(
    ("key", "rows"), [("moe", workers.MOE_ROWS), ("fsdp2 moe", workers.MOE_FSDP_ROWS)]
)
def test_a_multi_term_objective_equals_the_oracle(results: list[dict], key: str, rows) -> None:
    # under DDP, and under fully_shard (sharded parameters, the L2 term on each shard)
    expected = _moe.oracle_gradients(_moe.step_data(MOE_SEED, rows))
    for per_rank in results:
        got = per_rank[key]
        for name, value in expected.items():
            np.testing.assert_allclose(got["losskit"][name], value, rtol=1e-10, atol=1e-13)
        assert got["collectives"] == 1  # every term's counts: one all-reduce per window
    drift = max(
        float(np.max(np.abs(results[0][key]["naive"][name] - value)))
        for name, value in expected.items()
    )
    assert drift > 1e-3, "the per-micro-batch objective should differ"


def test_the_train_meter_reads_the_optimized_cross_entropy(results: list[dict]) -> None:
    data = _moe.step_data(MOE_SEED, workers.MOE_ROWS)
    params = _moe.parameters(torch)
    total, tokens = 0.0, 0.0
    for r in range(len(workers.MOE_ROWS)):
        for mb in _moe.tensors(torch, data, r):
            ce = _moe.forward(torch, params, mb["x"], mb["y"])["ce"]
            total += float((ce * mb["mask"]).sum())
            tokens += float(mb["mask"].sum())
    for per_rank in results:
        assert per_rank["moe"]["train_loss"] == pytest.approx(total / tokens, rel=1e-12)
