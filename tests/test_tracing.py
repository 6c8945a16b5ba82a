"""Tracing: torch.compile(fullgraph=True) and jax.jit, with contexts read at trace time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from losskit import (
    compute_average_loss,
    compute_weighted_loss,
    scale_regularization_loss,
    v1,
)
from losskit.distribute import replica_context
from tests._helpers import assert_close


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def step(losses, weights, penalty):
    data = compute_average_loss(losses, weights)
    weighted = compute_weighted_loss(losses, weights[:, None], reduction="sum")
    return data + weighted / 12 + scale_regularization_loss(penalty)


def test_torch_compile_fullgraph_forward_and_backward() -> None:
    losses = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    weights = torch.tensor([1.0, 0.0, 2.0])
    penalty = torch.tensor([0.5, 1.5], requires_grad=True)
    compiled = torch.compile(step, fullgraph=True)
    with replica_context(2):
        got = compiled(losses, weights, penalty)
        expected = step(losses, weights, penalty)
    assert_close(got.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    got.backward()
    assert_close(penalty.grad.numpy(), [0.5, 0.5])
    # d(data)/dl = w/(3*2), d(weighted/12)/dl = w/12
    w = np.array([1.0, 0.0, 2.0])[:, None]
    assert_close(losses.grad.numpy(), np.broadcast_to(w / 6 + w / 12, (3, 2)), rtol=1e-6)


def test_torch_compile_recompiles_for_a_new_replica_count() -> None:
    compiled = torch.compile(lambda x: compute_average_loss(x), fullgraph=True)
    x = torch.ones(4)
    with replica_context(2):
        assert float(compiled(x)) == 0.5
    with replica_context(4):
        assert float(compiled(x)) == 0.25
    assert float(compiled(x)) == 1.0


def test_torch_compile_with_a_tensor_global_batch_size() -> None:
    compiled = torch.compile(
        lambda x, n: compute_average_loss(x, global_batch_size=n), fullgraph=True
    )
    assert float(compiled(torch.ones(4), torch.tensor(8))) == 0.5
    assert float(compiled(torch.ones(4), torch.tensor(0))) == 0.0


def test_torch_compile_records_into_collections() -> None:
    def collected(x, labels):
        with v1.collect_losses():
            v1.compute_weighted_loss(x, reduction=v1.Reduction.SUM)
            v1.mean_squared_error(x, 3 * x, reduction=v1.Reduction.SUM)
            v1.sparse_softmax_cross_entropy(labels, x[None], reduction=v1.Reduction.SUM)
            return v1.get_total_loss()

    compiled = torch.compile(collected, fullgraph=True)
    # 3 + 3 * 2**2 + log(3) (uniform logits over 3 classes)
    assert_close(compiled(torch.ones(3), torch.tensor([1])), 15.0 + np.log(3.0), rtol=1e-6)


def test_jax_jit_with_contexts_and_traced_batch_size() -> None:
    import jax
    import jax.numpy as jnp

    @jax.jit
    def loss(x, n):
        with replica_context(2):
            return compute_average_loss(x) + compute_average_loss(x, global_batch_size=n)

    assert_close(loss(jnp.ones(4), jnp.asarray(8.0)), 0.5 + 0.5)
    # a traced global batch size of 0 gives 0 (no Python branch on its value)
    assert_close(loss(jnp.ones(4), jnp.asarray(0.0)), 0.5)


def test_jax_default_precision_gives_float32_for_integers() -> None:
    # The test process enables x64; a user's default JAX has float32 only.
    code = (
        "import jax.numpy as jnp, losskit\n"
        "r = losskit.compute_average_loss(jnp.asarray([1, 2, 4], dtype=jnp.int32))\n"
        "print(r.dtype, float(r))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["float32", str(7 / 3 if False else float(np.float32(7 / 3)))]


def test_first_call_inside_torch_compile_is_clean() -> None:
    # In a fresh process the first losskit call may happen inside torch.compile; the namespace
    # lookup must then trace without graph breaks and without Dynamo's lru_cache warnings.
    code = (
        "import warnings, torch, losskit\n"
        "warnings.filterwarnings('error', message='.*lru_cache')\n"
        "f = torch.compile(lambda x, w, n: losskit.compute_weighted_loss(x, w)"
        " + losskit.compute_average_loss(x, global_batch_size=n), fullgraph=True)\n"
        "print(float(f(torch.ones(4), torch.ones(4), torch.tensor(2))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "3.0"


@pytest.mark.parametrize(
    "call",
    [
        lambda x: compute_weighted_loss(x, np.ones((4, 1)), reduction="weighted_mean"),
        lambda x: compute_weighted_loss(x, reduction="none"),
        lambda x: compute_average_loss(x, np.ones(4)),
        lambda x: compute_average_loss(x, global_batch_size=torch.tensor(3.0, device="meta")),
        scale_regularization_loss,
    ],
    ids=["cwl-numpy-weights", "cwl-none", "cal-numpy-weights", "cal-tensor-gbs", "srl"],
)
def test_results_stay_on_the_callers_device(call) -> None:
    # torch's "meta" device stands in for an accelerator: a result that left the device, or
    # a NumPy weight converted onto the wrong one, would fail here.
    losses = torch.ones(4, 3, device="meta", dtype=torch.float16)
    result = call(losses)
    assert result.device.type == "meta"
    assert result.dtype == torch.float16
