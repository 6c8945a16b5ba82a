"""Fused linear cross-entropy under DistributedDataParallel: two real gloo processes.

Each rank runs two uneven micro-batches (with ignored tokens, label smoothing and z-loss)
through ``linear_cross_entropy`` with the aggregation plan's token-mean coefficients
(``Plan.weights(k)`` in DDP's context), and, as a cross-check, with the same coefficients
counted by hand (the global valid-token count by one all-reduce, times DDP's mean scale). The
oracle is one process's float64 autograd through the *unfused* loss (``F.linear`` +
``F.cross_entropy``) over every rank's tokens, divided by their count. The naive local
means must differ from it, so that the test can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from losskit.testing import run_processes
from tests.distributed import _linear_ce_workers as workers

pytestmark = pytest.mark.slow

WORLD = 2


def _oracle() -> dict[str, np.ndarray]:
    """Gradients of the global token mean of the unfused loss, in one process."""
    model = workers.LanguageModel()
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    for rank in range(WORLD):
        for step in range(len(workers.SIZES[rank])):
            batch = workers.micro_batch(rank, step)
            hidden = torch.tanh(model.proj(torch.tensor(batch["x"][0])))
            logits = torch.nn.functional.linear(hidden, model.head.weight, model.head.bias)
            labels = torch.tensor(batch["labels"][0])
            per_token = torch.nn.functional.cross_entropy(
                logits,
                labels,
                reduction="none",
                ignore_index=workers.IGNORE,
                label_smoothing=workers.OPTIONS["label_smoothing"],
            )
            valid = labels != workers.IGNORE
            z_loss = workers.OPTIONS["z_loss"] * torch.logsumexp(logits, dim=1) ** 2
            total = total + (per_token + z_loss * valid).sum()
            count += int(valid.sum())
    (total / count).backward()
    return {name: p.grad.numpy() for name, p in model.named_parameters()}


def test_exact_weights_give_the_unfused_global_token_mean_gradients() -> None:
    results = run_processes(workers.step_gradients, WORLD, timeout=240)
    expected = _oracle()
    for per_rank in results:  # every rank holds the same averaged gradients
        for name, want in expected.items():
            np.testing.assert_allclose(per_rank["plan"][name], want, rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(per_rank["exact"][name], want, rtol=1e-6, atol=1e-12)
    naive = results[0]["local"]
    difference = max(np.max(np.abs(naive[k] - w)) for k, w in expected.items())
    assert difference > 1e-3, "the local means should differ from the global token mean"
