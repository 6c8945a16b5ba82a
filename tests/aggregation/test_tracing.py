"""No host sync: plan + loss build under torch.compile(fullgraph=True) (no graph break) and
jax.jit, in every mode, layout and count_empty setting, inside a replica context; values
and gradients equal the eager NumPy plan's (its weights are the gradient)."""

from __future__ import annotations

import numpy as np
import pytest

from losskit.aggregation import MODES, plan
from losskit.distribute import replica_context
from tests._helpers import assert_close

VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]


def _data():
    rng = np.random.default_rng(3)
    masks = [rng.random((3, 5)) < 0.6, np.zeros((0, 4), dtype=bool), rng.random((2, 6)) < 0.6]
    segments = [np.sort(rng.integers(0, m.shape[1], m.shape), axis=1) for m in masks]
    groups = [
        np.zeros(m.shape, dtype=np.int64) + (s % 3) for m, s in zip(masks, segments, strict=True)
    ]
    losses = [np.where(m, rng.normal(size=m.shape), np.nan) for m in masks]
    return {"masks": masks, "segments": segments, "groups": groups, "losses": losses}


def _plan(variant, masks, segments, groups, *, packed):
    mode, count_empty = variant
    return plan(
        masks,
        mode=mode,
        segment_ids=segments if packed else None,
        group_ids=groups if packed else [g[:, 0] for g in groups],
        num_groups=3,
        max_length=6,
        count_empty=count_empty,
    )


def _plans(masks, segments, groups, *, packed):
    """Every variant's plan (inside a context whose all-reduce is traceable)."""
    return [_plan(variant, masks, segments, groups, packed=packed) for variant in VARIANTS]


def _context():
    # another replica with the same counts; DDP-style mean over 2 replicas, 3 micro-steps
    return replica_context(
        2, gradients="mean", accumulation_steps=3, all_reduce=lambda vector: vector * 2
    )


def _expected(data, packed):
    """Values and weights (= gradients) of the eager NumPy plans."""
    with _context():
        plans = _plans(data["masks"], data["segments"], data["groups"], packed=packed)
    values = [sum(float(p.loss(v, k)) for k, v in enumerate(data["losses"])) for p in plans]
    weights = [[p.weights(k) for k in range(3)] for p in plans]
    return values, weights


@pytest.mark.parametrize("packed", [False, True])
def test_torch_compile_fullgraph(packed, recwarn) -> None:
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()
    data = _data()
    masks, segments, groups = (
        [torch.as_tensor(a) for a in data[name]] for name in ("masks", "segments", "groups")
    )
    losses = [torch.as_tensor(v).requires_grad_(True) for v in data["losses"]]

    def step(masks, segments, groups, losses):
        plans = _plans(masks, segments, groups, packed=packed)
        return [sum(p.loss(v, k) for k, v in enumerate(losses)) for p in plans]

    # Dynamo's capture (where graph breaks show) with AOTAutograd; inductor's code
    # generation is exercised by test_torch_compile_inductor.
    with _context():
        got = torch.compile(step, fullgraph=True, backend="aot_eager")(
            masks, segments, groups, losses
        )
    values, weights = _expected(data, packed)
    for index, value in enumerate(got):
        assert_close(value.detach().numpy(), values[index], rtol=1e-12)
        grads = torch.autograd.grad(value, losses, retain_graph=True)
        for k, grad in enumerate(grads):
            assert_close(grad.numpy(), weights[index][k], rtol=1e-12)
    assert [str(w.message) for w in recwarn if "Dynamo" in str(w.message)] == []


@pytest.mark.slow  # inductor's code generation: ~10 s
def test_torch_compile_inductor() -> None:
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()
    data = _data()
    masks, segments, groups = (
        [torch.as_tensor(a) for a in data[name]] for name in ("masks", "segments", "groups")
    )
    losses = [torch.as_tensor(v) for v in data["losses"]]

    def step(masks, segments, groups, losses):
        p = plan(masks, mode="group-seq-mean", segment_ids=segments, group_ids=groups,
                 num_groups=3, count_empty=True)  # fmt: skip
        return sum(p.loss(v, k) for k, v in enumerate(losses))

    with _context():
        got = torch.compile(step, fullgraph=True)(masks, segments, groups, losses)
    values, _ = _expected(data, packed=True)
    assert_close(got.numpy(), values[VARIANTS.index(("group-seq-mean", True))], rtol=1e-12)


def test_torch_compile_of_loss_with_a_plan_built_outside() -> None:
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()
    data = _data()
    p = plan(
        [torch.as_tensor(m) for m in data["masks"]],
        mode="seq-mean-token-mean",
        segment_ids=[torch.as_tensor(s) for s in data["segments"]],
    )
    compiled = torch.compile(lambda v: p.loss(v, 2), fullgraph=True, backend="aot_eager")
    values = torch.as_tensor(data["losses"][2])
    assert_close(compiled(values).numpy(), p.loss(values, 2).numpy(), rtol=1e-12)


@pytest.mark.parametrize("packed", [False, True])
def test_jax_jit(packed) -> None:
    jax = pytest.importorskip("jax")
    data = _data()
    arrays = {name: [jax.numpy.asarray(a) for a in data[name]] for name in data}

    def values_and_grads(losses, masks, segments, groups):
        def total(values, variant):
            p = _plan(variant, masks, segments, groups, packed=packed)
            return sum(p.loss(v, k) for k, v in enumerate(values))

        return [jax.value_and_grad(total)(losses, variant) for variant in VARIANTS]

    with _context():
        got = jax.jit(values_and_grads)(
            arrays["losses"], arrays["masks"], arrays["segments"], arrays["groups"]
        )
    values, weights = _expected(data, packed)
    for index, (value, grads) in enumerate(got):
        assert_close(value, values[index], rtol=1e-12)
        for k, grad in enumerate(grads):
            assert_close(grad, weights[index][k], rtol=1e-12)
