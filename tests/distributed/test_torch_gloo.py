"""Real ``torch.distributed`` (gloo, 127.0.0.1): combined gradients equal one process's.

The oracle is the single-process gradient of the global masked token mean plus the L2
penalty, written by hand in float64 NumPy; the naive normalization (local means divided by
the micro-steps) must differ from it, so that the test can fail.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from losskit.testing import ProcessFailure, run_processes
from tests.distributed import _torch_workers as workers

pytestmark = pytest.mark.slow


def _oracle(total: int, seed: int) -> list[np.ndarray]:
    """d/d(weight, bias) of sum(mask * (x w + b - y)^2) / sum(mask) + L2 * |w|^2."""
    data = workers.global_data(total, seed)
    weight, bias = workers.initial_weights()
    x, y, m = data["x"], data["y"], data["mask"]
    residual = x @ weight[0] + bias[0] - y
    scale = 2.0 / np.sum(m)
    grad_w = scale * np.einsum("nt,ntf->f", m * residual, x) + 2 * workers.L2 * weight[0]
    grad_b = scale * np.sum(m * residual)
    return [grad_w[None, :], np.array([grad_b])]


def _cases(world: int) -> list[dict]:
    rng = np.random.default_rng(world)
    cases = []
    for engine in ("ddp", "sum"):
        for accumulation in ("sum", "mean"):
            for steps in (1, 2, 3):
                for present in sorted({steps, max(1, steps - 1)}):  # full and partial window
                    sizes = rng.integers(1, 7, size=(world, present)).tolist()
                    sizes[0][0] += 9  # rank 0 holds many more examples: uneven shards
                    cases.append(
                        {
                            "engine": engine,
                            "accumulation": accumulation,
                            "steps": steps,
                            "sizes": sizes,
                            "seed": len(cases),
                        }
                    )
    return cases


@pytest.mark.parametrize("world", [2, 3, 4])
def test_gradients_equal_single_process(world: int) -> None:
    cases = _cases(world)
    results = run_processes(workers.step_gradients, world, args=(cases,), timeout=240)
    for case, per_rank in zip(cases, zip(*results, strict=True), strict=True):
        total = sum(n for row in case["sizes"] for n in row)
        expected = _oracle(total, case["seed"])
        for rank_result in per_rank:  # every rank holds the same combined gradient
            for got, want in zip(rank_result["losskit"], expected, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12, err_msg=str(case))
        naive = per_rank[0]["naive"]
        difference = max(np.max(np.abs(g - w)) for g, w in zip(naive, expected, strict=True))
        assert difference > 1e-4, f"the naive normalization should differ: {case}"


def test_one_all_reduce_per_window() -> None:
    assert run_processes(workers.count_all_reduces, 3, timeout=120) == [1, 1, 1]


def test_a_rank_that_raises_stops_every_rank() -> None:
    start = time.monotonic()
    with pytest.raises(
        ProcessFailure, match=r"rank 1 of 2 failed; the other ranks were stopped"
    ) as info:
        run_processes(workers.raise_on_rank_one, 2, timeout=60)
    assert "ValueError: rank one is broken" in info.value.details
    assert info.value.rank == 1
    assert time.monotonic() - start < 30


def test_a_rank_that_hangs_fails_the_others_at_the_collective_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(ProcessFailure, match=r"rank 0 of 2 failed") as info:
        run_processes(workers.hang_on_rank_one, 2, timeout=60, collective_timeout=3)
    assert "Timed out" in info.value.details or "timeout" in info.value.details.lower()
    assert time.monotonic() - start < 40


def test_the_deadline_stops_a_job_that_hangs_everywhere() -> None:
    start = time.monotonic()
    with pytest.raises(ProcessFailure, match=r"ranks \[0, 1\] did not finish within timeout=6 s"):
        run_processes(workers.hang_everywhere, 2, timeout=6)
    assert time.monotonic() - start < 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"world_size": 0}, r"Invalid `world_size`: expected a positive integer, received 0"),
        (
            {"world_size": 2, "timeout": 0},
            r"Invalid `timeout`: expected a positive number of seconds, received 0",
        ),
    ],
)
def test_launcher_argument_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        run_processes(workers.hang_everywhere, **kwargs)


def test_ranks_see_torchrun_variables() -> None:
    """DeepSpeed, Lightning and accelerate read these instead of the initialized group."""
    found = run_processes(workers.launch_environment, 2, timeout=60)
    ports = {rank_env["MASTER_PORT"] for rank_env in found}
    assert len(ports) == 1
    assert next(iter(ports)).isdigit()
    for rank, rank_env in enumerate(found):
        assert rank_env["RANK"] == rank_env["LOCAL_RANK"] == str(rank)
        assert rank_env["WORLD_SIZE"] == rank_env["LOCAL_WORLD_SIZE"] == "2"
        assert rank_env["MASTER_ADDR"] == "127.0.0.1"


def test_torch_context_honours_the_process_group() -> None:
    results = run_processes(workers.subgroup_denominator, 3, timeout=120)
    assert results == [(2, 0, 5.0), (2, 1, 5.0), (-1, -1, 0.0)]


def _activity_oracle(total: int, seed: int) -> list[np.ndarray]:
    """d/d(W, b) of [sum |Wx+b|_2^2 - y ... ] written out: data sum((Wx+b-y)^2)/N,
    activity 0.1 * sum|Wx+b| / N (Keras divides by the batch), kernel 0.05 * |W|^2."""
    data = workers.activity_data(total, seed)
    weight, bias = workers.activity_start()
    x, y = data["x"], data["y"]
    out = x @ weight.T + bias
    upstream = 2 * (out - y) / total + workers.ACTIVITY_L1 * np.sign(out) / total
    return [upstream.T @ x + 2 * workers.KERNEL_L2 * weight, upstream.sum(axis=0)]


def test_activity_and_kernel_penalties_keep_their_strength() -> None:
    rng = np.random.default_rng(5)
    cases = []
    for steps in (1, 2, 3):
        for present in sorted({steps, max(1, steps - 1)}):
            sizes = rng.integers(1, 6, size=(3, present)).tolist()
            sizes[1][0] += 7
            cases.append({"steps": steps, "sizes": sizes, "seed": len(cases)})
    results = run_processes(workers.activity_gradients, 3, args=(cases,), timeout=180)
    for index, case in enumerate(cases):
        total = sum(n for row in case["sizes"] for n in row)
        expected = _activity_oracle(total, case["seed"])
        for per_rank in results:
            for got, want in zip(per_rank[index], expected, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12, err_msg=str(case))
