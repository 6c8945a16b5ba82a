"""Real torch.distributed (4 gloo processes, one launch) for the parallel layouts:

* data 2 x context 2: every aggregation mode, padded and packed rows, full and partial
  windows, under DDP and FSDP2 over the flattened data x context group and a summing
  engine, equal (1e-9, float64) to the gradient of the single-process objective on the
  unsharded rows; one all-reduce on the combining group and at most one on the sequence
  group per window; the naive setups (no sequence group; counts over the data group,
  verl #5983) differ; ``global_denominator`` and ``compute_average_loss`` count every
  token and example once; ``check_layout`` raises on tokens counted twice or not at all;
* data 2 x tensor 2: a loss replicated over tensor ranks, with the data group as the
  context's group, is exact; the world group (tensor replicas counted as data) is not;
* data 2 x stages 2: ``torch.distributed.pipelining`` (GPipe with ``scale_grads``, 1F1B
  without) with the plan built on the loss stage: exact on both stages; the raw-sum loss
  divided after the step (torchtitan #2972) is not.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from losskit.testing import run_processes
from tests.distributed import _parallel_data as data
from tests.distributed import _parallel_workers as workers

pytestmark = pytest.mark.slow

RTOL, ATOL = 1e-9, 1e-12


@pytest.fixture(scope="module")
def results() -> list[dict[str, Any]]:
    return run_processes(workers.run, 4, timeout=900, collective_timeout=120)


def _close(got: Any, expected: Any, label: str) -> None:
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=label)


def _all_close(got: list[np.ndarray], expected: list[np.ndarray], label: str) -> None:
    for g, e in zip(got, expected, strict=True):
        _close(g, e, label)


def _differs(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected, strict=True)) > 1e-4


# --------------------------------------------------------------------- context parallel


@pytest.mark.parametrize("index", range(len(workers.CP_CASES)))
def test_context_parallel_every_mode_is_exact(results, index: int) -> None:
    seed, packed, present = workers.CP_CASES[index]
    case = data.cp_case(seed, packed, present)
    for mode, count_empty in data.VARIANTS:
        expected = data.linear_gradient(case, mode, count_empty)
        engines = ["ddp", "sum"] + (["fsdp"] if seed == 1 else [])
        for rank, per_rank in enumerate(results):
            found = per_rank["cp"][index]
            for engine in engines:
                label = f"{workers.CP_CASES[index]} {mode} {count_empty} {engine} rank {rank}"
                _close(found["grad"][f"{mode} {count_empty} {engine} losskit"], expected, label)
            # one all-reduce on the combining group (none for token-sum), one more on the
            # sequence group for the modes that need each sequence's tokens
            calls = found["calls"][f"{mode} {count_empty} ddp"]
            needs_sequences = mode in data.SEQUENCE_MODES or mode == "group-seq-mean"
            assert calls == ["sequence"] * needs_sequences + ["combining"] * (
                mode != "token-sum"
            ), (mode, calls)


@pytest.mark.parametrize("index", range(len(workers.CP_CASES)))
def test_context_parallel_naive_setups_differ(results, index: int) -> None:
    seed, packed, present = workers.CP_CASES[index]
    case = data.cp_case(seed, packed, present)
    found = results[0]["cp"][index]["grad"]
    for mode, count_empty in data.VARIANTS:
        expected = [data.linear_gradient(case, mode, count_empty)]
        label = f"{workers.CP_CASES[index]} {mode} {count_empty}"
        # counts over the data ranks only (verl #5983): wrong for every mode
        assert _differs([found[f"{mode} {count_empty} ddp data-group"]], expected), label
        # no sequence group: every shard's piece counts as a sequence; counts of tokens
        # (token-mean, token-sum, group-token-mean) need no sequence group
        no_group = [found[f"{mode} {count_empty} ddp no-sequence-group"]]
        if mode in ("token-mean", "token-sum", "group-token-mean"):
            _close(no_group[0], expected[0], label)
        else:
            assert _differs(no_group, expected), label


def test_packed_ids_beyond_the_shard_ask_for_the_sequence_group(results) -> None:
    for index, (_, packed, _) in enumerate(workers.CP_CASES):
        if packed:
            refused = results[0]["cp"][index]["refused"]
            assert refused is not None
            assert "(row length)" in refused
            assert "enter the engine's context with its sequence group" in refused


@pytest.mark.parametrize("index", range(len(workers.CP_CASES)))
def test_denominators_count_every_token_and_example_once(results, index: int) -> None:
    seed, packed, present = workers.CP_CASES[index]
    case = data.cp_case(seed, packed, present)
    tokens = sum(int(np.sum(mb["mask"])) for row in case["whole"] for mb in row)
    examples = sum(mb["mask"].shape[0] for row in case["whole"] for mb in row)
    expected = data.example_gradient(case, present)
    for per_rank in results:
        found = per_rank["cp"][index]
        assert found["tokens"] == tokens
        assert found["examples"] == examples
        _close(found["grad"]["average losskit"], expected, "compute_average_loss")
        # without the sequence group each example is counted on both shards: half
        _close(found["grad"]["average no-sequence-group"], expected / 2, "naive average")


def test_check_layout_names_tokens_counted_twice_or_not_at_all(results) -> None:
    for rank, per_rank in enumerate(results):
        checks = per_rank["checks"]
        assert checks["good"] is None
        kind, message = checks["whole micro-batches"]
        assert kind == "twice"
        assert re.match(
            r"column 0 of row 0 in micro-batch 0 is held 2 times by the 2 ranks of this "
            r"sequence group: its token would be counted 2 times\. Do the ranks of a "
            r"sequence group load the same micro-batch without splitting it along T\?",
            message,
        )
        kind, message = checks["no sequence group"]
        assert kind == "missing"
        assert "outside [0, " in message
        assert "the row this rank holds (no sequence group)" in message
        kind, message = checks["one group wrong"]
        if rank < 2:  # the first sequence group is right; the second one is not
            assert kind == "elsewhere"
            assert message.startswith("check_layout: replicas [2, 3] of the 4 found")
        else:
            assert kind == "twice"
        kind, message = checks["other rows"]
        assert kind == "shapes"
        assert "rows on the 2 ranks of this sequence group" in message
        refusal = checks["data-only process group"]
        assert refusal.startswith("Invalid `sequence_group`: expected a subgroup of process_group")
        assert "pass that flattened group as process_group" in refusal


# --------------------------------------------------------------------- tensor parallel


def test_tensor_replicas_stay_out_of_the_group(results) -> None:
    case = data.fixed_rows_case(7, micro_steps=2, rows=2, length=5)
    hidden = data.HIDDEN
    for mode, count_empty in data.VARIANTS:
        full = data.two_layer_gradients(case, mode, count_empty, seed=3)
        for rank, per_rank in enumerate(results):
            half = slice((rank % 2) * hidden // 2, (rank % 2 + 1) * hidden // 2)
            expected = [full[0][half], full[1][half], full[2][:, half]]
            for engine in ("mean", "sum"):
                label = f"{mode} {count_empty} {engine} rank {rank}"
                _all_close(
                    per_rank["tp"][f"{mode} {count_empty} {engine} losskit"], expected, label
                )
                # the world as the group: tensor replicas counted as data. Their counts and
                # the engine scale cancel on a mean engine except for token-sum (no count);
                # on a sum engine only token-sum survives
                world = per_rank["tp"][f"{mode} {count_empty} {engine} world"]
                wrong = (mode == "token-sum") == (engine == "mean")
                assert _differs(world, expected) == wrong, label


# --------------------------------------------------------------------- pipeline parallel


def test_pipeline_schedules_are_exact_on_every_stage(results) -> None:
    case = data.fixed_rows_case(11, micro_steps=2, rows=2, length=5)
    for mode, count_empty in data.VARIANTS:
        full = data.two_layer_gradients(case, mode, count_empty, seed=5)
        for rank, per_rank in enumerate(results):
            expected = full[:2] if rank % 2 == 0 else full[2:]
            for schedule in ("gpipe", "1f1b"):
                label = f"{mode} {count_empty} {schedule} rank {rank}"
                _all_close(
                    per_rank["pp"][f"{mode} {count_empty} {schedule} losskit"], expected, label
                )
                naive = per_rank["pp"][f"{mode} {count_empty} {schedule} naive"]
                assert _differs(naive, expected), label
