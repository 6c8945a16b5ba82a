"""The step data of the parallel-layout tests (context, tensor and pipeline parallelism),
built identically on every rank and in the tests from a seed; and the float64 oracle
gradients of the single-process objective. NumPy only (torch is imported lazily)."""

from __future__ import annotations

from typing import Any

import numpy as np

from losskit.aggregation import MODES
from tests.aggregation import _layouts, _oracle, _split

FEATURES, HIDDEN, GROUPS, MAX_LENGTH = 3, 4, 4, 8.0
DATA, SHARDS = 2, 2  # the 4 ranks: data x (context | tensor | pipeline), the inner axis last
W = np.array([0.5, -0.25, 0.125])
VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]
SEQUENCE_MODES = ("seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def cp_case(seed: int, packed: bool, present: int) -> dict[str, Any]:
    """Whole rows for 2 data replicas, split over 2 context-parallel shards ("zigzag"),
    with per-token features and targets carried with their columns."""
    whole, sharded, positions = _split.layout(
        seed, DATA, SHARDS, present, packed=packed, num_groups=GROUPS, how="zigzag"
    )
    rng = np.random.default_rng(seed + 1000)
    x = [[rng.normal(size=(*mb["mask"].shape, FEATURES)) for mb in row] for row in whole]
    y = [[rng.normal(size=mb["mask"].shape) for mb in row] for row in whole]
    xs, ys = [], []
    for r, places in enumerate(positions):
        d = r // SHARDS
        xs.append([np.take_along_axis(x[d][k], p[..., None], 1) for k, p in enumerate(places)])
        ys.append([np.take_along_axis(y[d][k], p, 1) for k, p in enumerate(places)])
    return {
        "whole": whole,
        "sharded": sharded,
        "positions": positions,
        "x": x,
        "y": y,
        "x_shards": xs,
        "y_shards": ys,
    }


def linear_gradient(case: dict[str, Any], mode: str, count_empty: bool) -> np.ndarray:
    """d/dW of sum_t c_t (x_t . W - y_t)^2 over the whole (unsharded) step."""
    c = _oracle.coefficients(case["whole"], mode, count_empty=count_empty, max_length=MAX_LENGTH)
    grad = np.zeros(FEATURES)
    for d, batches in enumerate(c):
        for k, coefficients in enumerate(batches):
            x, y = case["x"][d][k], case["y"][d][k]
            grad += np.einsum("bt,btf->f", 2 * coefficients * (x @ W - y), x)
    return grad


def example_gradient(case: dict[str, Any], steps: int) -> np.ndarray:
    """d/dW of the mean over every row (example) of the step of its tokens' loss sum, the
    batch counted as ``rows x data replicas x steps`` (compute_average_loss's default;
    every micro-batch of a case has the same rows on every replica)."""
    grad = np.zeros(FEATURES)
    for d, batches in enumerate(case["whole"]):
        for k, mb in enumerate(batches):
            x, y = case["x"][d][k], case["y"][d][k]
            rows = mb["mask"].shape[0]
            if rows == 0:  # an empty micro-batch: 0 (losskit's 0 / 0)
                continue
            grad += np.einsum("bt,btf->f", 2 * mb["mask"] * (x @ W - y), x) / (rows * DATA * steps)
    return grad


def fixed_rows_case(seed: int, micro_steps: int, rows: int, length: int) -> dict[str, Any]:
    """2 data replicas x ``micro_steps`` micro-batches of ``rows x length`` (the same shape
    everywhere: pipeline schedules split one batch into equal micro-batches), padded rows
    with empty sequences and prompt groups, per-token features and targets."""
    rng = np.random.default_rng(seed)
    whole = [
        [
            _layouts.micro_batch(rng, rows, length, packed=False, num_groups=GROUPS, density=0.7)
            for _ in range(micro_steps)
        ]
        for _ in range(DATA)
    ]
    x = [[rng.normal(size=(rows, length, FEATURES)) for _ in row] for row in whole]
    y = [[rng.normal(size=(rows, length)) for _ in row] for row in whole]
    return {"whole": whole, "x": x, "y": y}


def initial_two_layer(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W1 [HIDDEN, FEATURES], b1 [HIDDEN], W2 [1, HIDDEN])`` of y = W2 tanh(W1 x + b1)."""
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(HIDDEN, FEATURES)) / 2,
        rng.normal(size=HIDDEN) / 4,
        rng.normal(size=(1, HIDDEN)) / 2,
    )


def two_layer_gradients(
    case: dict[str, Any], mode: str, count_empty: bool, seed: int
) -> list[np.ndarray]:
    """The float64 gradients of sum_t c_t (W2 tanh(W1 x_t + b1) - y_t)^2 over the whole
    step with respect to W1, b1, W2, by torch autograd on one process (the coefficients
    from the NumPy oracle)."""
    import torch

    c = _oracle.coefficients(case["whole"], mode, count_empty=count_empty, max_length=MAX_LENGTH)
    params = [torch.tensor(p, requires_grad=True) for p in initial_two_layer(seed)]
    w1, b1, w2 = params
    total = torch.zeros((), dtype=torch.float64)
    for d, batches in enumerate(c):
        for k, coefficients in enumerate(batches):
            x = torch.as_tensor(case["x"][d][k])
            out = (torch.tanh(x @ w1.T + b1) @ w2.T).squeeze(-1)
            residual = (out - torch.as_tensor(case["y"][d][k])) ** 2
            total = total + torch.sum(torch.as_tensor(coefficients) * residual)
    total.backward()
    return [p.grad.numpy() for p in params]
