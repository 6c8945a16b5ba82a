"""The transformers Trainer (DDP on 2 gloo processes, float64, a GPT-2 built from a config):
the docs' example equals one float64 process."""

from __future__ import annotations

import os

import pytest
import torch

from losskit.testing import run_processes
from tests.engines import _examples, _transformers
from tests.engines._reference import check, max_difference, round_robin_steps, sgd_reference

pytestmark = pytest.mark.slow
os.environ["HF_HUB_OFFLINE"] = "1"  # a model built from a config: nothing to download
pytest.importorskip("transformers")

WINDOWS = [2, 3]  # 20 examples, 2 per batch: 5 batches per process; windows 2, 2, 1 and 3, 2


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return run_processes(_transformers.runs, 2, args=(WINDOWS,), timeout=300)


def _predict(net: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    targets = batch["labels"][:, 1:]
    logits = net(input_ids=batch["input_ids"]).logits[:, :-1]
    per_token = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), targets.clamp(min=0), reduction="none"
    )
    return per_token, (targets != -100).double()


def _batches(example: dict) -> list[dict]:
    """The example's dataset in the Trainer's batches of 2, in order."""
    rows = example["dataset"]()
    return [
        {key: torch.stack([row[key] for row in rows[i : i + 2]]) for key in rows[0]}
        for i in range(0, len(rows), 2)
    ]


def _reference(steps: int, *, penalties: bool) -> list:
    """One float64 process on the example's windows of ``steps`` batches: the example's
    MLP penalties (L2 kernels, L1 on the first layer's output), or none."""
    example = _examples.load("transformers")
    mlp = "transformer.h.0.mlp"
    return sgd_reference(
        example["model"](),
        round_robin_steps(_batches(example), 2, steps),
        predict=_predict,
        lr=0.1,
        kernels=[f"{mlp}.c_fc.weight", f"{mlp}.c_proj.weight"] if penalties else [],
        l2=0.05 if penalties else 0.0,
        activity=f"{mlp}.c_fc",
        l1=0.1 if penalties else 0.0,
    )


def test_the_trainer_is_exact_with_a_partial_last_window(results) -> None:
    for steps in WINDOWS:
        check(results, f"losskit K={steps}", _reference(steps, penalties=True))


def test_the_plain_trainer_in_a_summing_context_is_exact_without_penalties(results) -> None:
    # the contract table's row for the plain Trainer: it multiplies the function's loss by
    # the process count and adds the micro-batches, so losskit runs in
    # torch_context(gradients="sum"); the accelerate row's context (accumulation="mean")
    # is off
    for steps in WINDOWS:
        want = _reference(steps, penalties=False)
        for rank in results:
            assert max_difference(rank[f"plain K={steps}"], want) < 1e-9
            assert max_difference(rank[f"plain, accelerate row K={steps}"], want) > 1e-3


def test_settings_it_cannot_make_exact_are_refused(results) -> None:
    for rank in results:
        without_loss, local_count = rank["errors"]
        assert without_loss.startswith(
            "Invalid `compute_loss_func`: expected a function (outputs, labels, "
            "num_items_in_batch) -> loss, received None."
        )
        assert local_count.startswith(
            "Invalid `args.average_tokens_across_devices`: expected True (num_items_in_batch "
            "counted over every process), received False"
        )
