"""Hypothesis: splitting a step over R simulated replicas (up to 1,024) and K micro-batches,
evenly or not, on any engine description, gives the single-replica loss and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import losskit
from losskit.testing import check_replica_invariance

MODES = st.sampled_from(["sum", "mean"])


@st.composite
def splits(draw: st.DrawFn, max_replicas: int) -> dict:
    replicas = draw(st.one_of(st.integers(1, 12), st.sampled_from([64, 256, max_replicas])))
    steps = draw(st.integers(1, 3))
    present = draw(st.integers(1, steps))
    pieces = replicas * present
    sizes = draw(st.lists(st.integers(0, 4), min_size=pieces, max_size=pieces))
    if sum(sizes) == 0:
        sizes[draw(st.integers(0, pieces - 1))] = 1
    return {"replicas": replicas, "steps": steps, "present": present, "sizes": sizes}


def _batch(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(n, 3)),
        "mask": (rng.random((n, 3)) < 0.6) * rng.uniform(0.5, 2.0, size=(n, 3)),
    }


@given(split=splits(1024), gradients=MODES, accumulation=MODES, seed=st.integers(0, 2**16))
def test_weighted_mean_and_penalty_are_invariant_numpy(split, gradients, accumulation, seed):
    batch = _batch(sum(split["sizes"]), seed)
    expected_mean = np.sum(batch["x"] ** 2 * batch["mask"]) / np.sum(batch["mask"])

    def loss(w, mb, D):
        data = losskit.compute_average_loss(w * mb["x"] ** 2, mb["mask"], global_batch_size=D)
        return data + losskit.scale_regularization_loss(np.float64(0.25 * w**2))

    report = check_replica_invariance(
        loss,
        np.float64(1.0),
        batch,
        num_replicas=split["replicas"],
        accumulation_steps=split["steps"],
        micro_batches=split["present"],
        sizes=split["sizes"],
        weights=lambda mb: mb["mask"],
        reduction="weighted_mean",
        gradients=gradients,
        accumulation=accumulation,
        rtol=1e-9,
    )
    assert report.single_loss == pytest.approx(expected_mean + 0.25, rel=1e-12)


@given(split=splits(64), gradients=MODES, accumulation=MODES, seed=st.integers(0, 2**16))
def test_token_mean_gradients_are_invariant_torch(split, gradients, accumulation, seed):
    torch = pytest.importorskip("torch")
    batch = {k: torch.as_tensor(v) for k, v in _batch(sum(split["sizes"]), seed).items()}
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)

    def loss(w, mb, D):
        per_element = (mb["x"] * w - 1.0) ** 2
        return losskit.compute_average_loss(
            per_element, mb["mask"], global_batch_size=D
        ) + losskit.scale_regularization_loss(0.1 * torch.sum(torch.abs(w)))

    report = check_replica_invariance(
        loss,
        w,
        batch,
        num_replicas=split["replicas"],
        accumulation_steps=split["steps"],
        micro_batches=split["present"],
        sizes=split["sizes"],
        weights=lambda mb: mb["mask"],
        gradients=gradients,
        accumulation=accumulation,
        rtol=1e-9,
    )
    assert report.gradients_checked
