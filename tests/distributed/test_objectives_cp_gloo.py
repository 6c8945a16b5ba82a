"""Real torch.distributed (4 gloo processes, one launch), data 2 x context 2 with DDP over
the flattened data x context group, a full and a partial window, padded and packed rows
split "zigzag" along T:

* a planned multi-term objective (token-mean CE + seq-mean-token-mean + z-loss + L2) gives
  the float64 gradient of the single-process objective on the unsharded rows; one
  all-reduce on the sequence group and one on the combining group per window; without
  the sequence group it differs;
* loss meters read the single-process values of the CE and of the seq-mean term (one
  sequence all-reduce per update for the latter, one combining all-reduce per reading);
  without the sequence group the seq-mean meter differs, the token-mean one does not;
* a deferred objective (seq-mean-token-mean + seq-mean-token-sum, the penalty after the
  scaling) and a deferred window of seq-mean-token-sum-norm equal the oracle; the former
  takes one sequence all-reduce per micro-step, the latter one at the window's end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from losskit.testing import run_processes
from tests.aggregation import _oracle
from tests.distributed import _objectives_cp_workers as workers
from tests.distributed import _parallel_data as data

pytestmark = pytest.mark.slow

RTOL, ATOL = 1e-10, 1e-13


@pytest.fixture(scope="module")
def results() -> list[list[dict[str, Any]]]:
    return run_processes(workers.run, 4, timeout=600, collective_timeout=120)


def _oracle_step(
    case: dict[str, Any], spec: dict[str, tuple[str, float]], *, penalty: bool
) -> tuple[np.ndarray, dict[str, float]]:
    """d/dW of sum_j coefficient_j sum_t c_t(mode_j) term_j(t) (+ L2 |W|^2) over the whole
    unsharded step, in one float64 process, and each term's value without coefficient."""
    weight = torch.tensor(workers.initial_weight(), requires_grad=True)
    values = {name: torch.zeros((), dtype=torch.float64) for name in spec}
    for name, (mode, _) in spec.items():
        c = _oracle.coefficients(case["whole"], mode, max_length=workers.MAX_LENGTH)
        for d, batches in enumerate(c):
            for k, coefficients in enumerate(batches):
                x = torch.as_tensor(case["x"][d][k])
                y = torch.as_tensor(workers.labels(case["y"][d][k]))
                term = workers.token_terms(torch, x @ weight.T, y)[name]
                values[name] = values[name] + torch.sum(torch.as_tensor(coefficients) * term)
    total = sum(spec[name][1] * value for name, value in values.items())
    if penalty:
        total = total + workers.L2 * (weight**2).sum()
    total.backward()
    return weight.grad.numpy(), {name: float(value.detach()) for name, value in values.items()}


def _differs(got: np.ndarray, expected: np.ndarray) -> bool:
    return float(np.max(np.abs(got - expected))) > 1e-4


@pytest.mark.parametrize("index", range(len(workers.CASES)))
def test_a_planned_objective_and_its_meters_are_exact_under_dp_x_cp(
    results: list, index: int
) -> None:
    seed, packed, present = workers.CASES[index]
    case = data.cp_case(seed, packed, present)
    expected, values = _oracle_step(case, workers.PLANNED, penalty=True)
    assert values["kl"] > 0
    for rank, per_rank in enumerate(results):
        found = per_rank[index]
        label = f"{workers.CASES[index]} rank {rank}"
        np.testing.assert_allclose(found["planned losskit"], expected, RTOL, ATOL, err_msg=label)
        for name in workers.METERS:
            assert found["meters losskit"][name] == pytest.approx(values[name], rel=RTOL), name
        calls = found["calls"]["planned losskit"]
        assert calls["plan"] == ["sequence", "combining"]  # every term's counts
        assert calls["meter updates"] == ["sequence"] * present  # the seq-mean meter's n_i
        assert calls["meter reads"] == ["combining", "combining"]  # one per meter
        # without the sequence group each shard's piece counts as a sequence
        assert _differs(found["planned naive"], expected), label
        assert found["meters naive"]["kl"] != pytest.approx(values["kl"], rel=1e-4), label
        assert found["meters naive"]["ce"] == pytest.approx(values["ce"], rel=RTOL)  # tokens
        assert found["calls"]["planned naive"]["plan"] == ["combining"]


@pytest.mark.parametrize("index", range(len(workers.CASES)))
def test_deferred_windows_are_exact_under_dp_x_cp(results: list, index: int) -> None:
    seed, packed, present = workers.CASES[index]
    case = data.cp_case(seed, packed, present)
    objective, _ = _oracle_step(case, workers.DEFERRED, penalty=True)
    mode, _ = _oracle_step(case, {"ce": (workers.S_ONLY, 1.0)}, penalty=False)
    for rank, per_rank in enumerate(results):
        found = per_rank[index]
        label = f"{workers.CASES[index]} rank {rank}"
        np.testing.assert_allclose(found["deferred objective"], objective, RTOL, ATOL, label)
        np.testing.assert_allclose(found["deferred mode"], mode, RTOL, ATOL, err_msg=label)
        # n_i before each micro-step's backward; S alone at the window's end
        assert found["calls"]["deferred objective"] == [["sequence"]] * present + [["combining"]]
        assert found["calls"]["deferred mode"] == [[]] * present + [["sequence", "combining"]]
