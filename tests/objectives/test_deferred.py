"""Deferred normalization (``losskit.aggregation.deferred_plan``): backward on sums, one
all-reduce at the window's end, gradients scaled once. On random windows (replicas with
different numbers of micro-steps, partial and unknown-length windows, padded and packed
rows, empty sequences and micro-batches, sum and mean engines), the engine-combined,
scaled gradients equal the float64 oracle of the single-device objective and the planned
mode's; one all-reduce per window (none for token-sum)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit.aggregation import deferred_plan, plan
from losskit.distribute import cross_replica_context, replica_context
from losskit.testing import run_replicas
from tests._helpers import Backend
from tests.aggregation import _oracle
from tests.objectives import _windows

POST_HOC = (
    "token-mean",
    "token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)
VARIANTS = [(mode, empty) for mode in POST_HOC for empty in (False, True)]


@st.composite
def steps(draw: st.DrawFn) -> dict:
    accumulation_steps = draw(st.integers(1, 4))
    replicas = draw(st.integers(1, 6))
    return {
        "replicas": replicas,
        "steps": accumulation_steps,
        # each replica its own count: partial windows, and windows of unknown length
        "present": [draw(st.integers(1, accumulation_steps)) for _ in range(replicas)],
        "packed": draw(st.booleans()),
        "density": draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
        "gradients": draw(st.sampled_from(["sum", "mean"])),
        "accumulation": draw(st.sampled_from(["sum", "mean"])),
        "max_length": draw(st.sampled_from([1, 3.5, 4096])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _tensor(value: np.ndarray | None) -> torch.Tensor | None:
    return None if value is None else torch.as_tensor(value)


@settings(max_examples=150)
@given(step=steps())
def test_deferred_gradients_equal_the_plan_and_the_oracle(step: dict) -> None:
    layout, losses = _windows.layout_and_losses(step)

    def replica(r: int, calls: list[int]) -> list:
        out = []
        for mode, empty in VARIANTS:
            options = {"mode": mode, "max_length": step["max_length"], "count_empty": empty}
            before = calls[0]
            window = deferred_plan(**options)
            grads, values = [], []
            for mb, values_k in zip(layout[r], losses[r], strict=True):
                x = torch.tensor(values_k, requires_grad=True)
                loss = window.loss(x, torch.as_tensor(mb["mask"]), segment_ids=_tensor(mb["seg"]))
                (g,) = torch.autograd.grad(loss, x)
                grads.append(g)
                values.append(float(loss.detach()))
            window.scale_gradients(grads)  # in place
            collectives = calls[0] - before
            factor = float(window.finish())
            planned = plan(
                [mb["mask"] for mb in layout[r]],
                segment_ids=[mb["seg"] for mb in layout[r]] if step["packed"] else None,
                **options,
            )
            weights = [planned.weights(k) for k in range(len(layout[r]))]
            out.append(([g.numpy() for g in grads], weights, values, factor, collectives))
        return out

    results, division = _windows.run_counted(replica, step)
    for index, (mode, empty) in enumerate(VARIANTS):
        label = f"{mode} count_empty={empty}"
        oracle = _oracle.coefficients(
            layout, mode, count_empty=empty, max_length=step["max_length"]
        )
        combined = 0.0
        for r, per_replica in enumerate(results):
            grads, weights, values, factor, collectives = per_replica[index]
            assert collectives == (0 if mode == "token-sum" or step["replicas"] == 1 else 1)
            for k, expected in enumerate(oracle[r]):
                np.testing.assert_allclose(
                    division * grads[k], expected, rtol=1e-12, atol=1e-15, err_msg=label
                )
                # the planned mode: the same weights (the plan's include the engine scale)
                np.testing.assert_allclose(
                    grads[k], weights[k], rtol=1e-12, atol=1e-15, err_msg=label
                )
            combined += division * factor * sum(values)
        target = _oracle.objective(oracle, losses)
        np.testing.assert_allclose(combined, target, rtol=1e-9, atol=1e-12, err_msg=label)


def test_a_window_of_unknown_length_on_uneven_replicas_by_hand() -> None:
    # replica 0 runs 3 micro-steps (4 tokens), replica 1 runs 1 (2 tokens): N = 6, DDP mean
    masks = [
        [np.array([[1, 1, 0]]), np.array([[1, 0]]), np.array([[0, 1]])],
        [np.array([[1, 1]])],
    ]

    def replica(r: int) -> tuple[list[float], float]:
        window = deferred_plan(mode="token-mean")
        for mask in masks[r]:
            window.loss(np.ones(mask.shape), mask)
        grads = [np.ones(3)]  # one accumulated gradient buffer
        window.scale_gradients(grads)
        return grads[0].tolist(), float(window.count)

    results = run_replicas(replica, 2, gradients="mean", accumulation_steps=3)
    for grads, count in results:
        assert count == 6.0
        assert grads == [2 / 6] * 3  # scale R = 2 over N = 6


def test_step_terms_are_added_after_the_scaling_at_full_strength() -> None:
    # one replica, token-mean over 4 tokens of the loss w * x_t, plus the penalty w^2 / 2
    x = [torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[3.0, 4.0]])]
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    window = deferred_plan(mode="token-mean")
    for xk in x:
        window.loss(w * xk, torch.ones(1, 2, dtype=torch.bool)).backward()
    window.scale_gradients([w])
    (w * w / 2).backward()  # after the scaling: added unscaled
    assert float(w.grad) == pytest.approx(10.0 / 4 + 0.5, rel=1e-15)


def test_scale_gradients_on_every_library(xp: Backend) -> None:
    mask = xp.asarray([[True, True, False]])
    window = deferred_plan(mode="token-mean")
    window.loss(xp.asarray([[1.0, 2.0, 3.0]]), mask)
    grads = [xp.asarray([4.0, 6.0], dtype="float32"), xp.asarray([[2.0]], dtype="float64")]
    scaled = window.scale_gradients(grads)
    np.testing.assert_allclose(xp.numpy(scaled[0]), [2.0, 3.0])
    np.testing.assert_allclose(xp.numpy(scaled[1]), [[1.0]])
    assert xp.dtype_name(scaled[0]) == "float32"
    if xp.name in ("numpy", "torch"):  # in place
        assert scaled[0] is grads[0]
        np.testing.assert_allclose(xp.numpy(grads[0]), [2.0, 3.0])


def test_torch_parameters_are_scaled_in_place_and_unused_ones_skipped() -> None:
    used = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
    unused = torch.nn.Parameter(torch.tensor([5.0]))
    window = deferred_plan(mode="token-sum")  # no count: the factor is the engine scale
    with replica_context(1, accumulation_steps=2, accumulation="mean"):
        window = deferred_plan(mode="token-sum")
        window.loss((used * 3.0)[None, :], torch.ones(1, 2)).backward()
        window.scale_gradients([used, unused])
    assert used.grad.tolist() == [6.0, 6.0]  # 3 x the scale 2 (accumulation "mean", K = 2)
    assert unused.grad is None


def test_jax_gradient_pytree_is_scaled_purely_under_jit() -> None:
    import jax
    import jax.numpy as jnp

    def step(w: jax.Array, x: jax.Array, masks: jax.Array) -> dict:
        window = deferred_plan(mode="seq-mean-token-mean")
        total = {"w": jnp.zeros_like(w)}
        for k in range(masks.shape[0]):  # backward on this micro-step's sum
            g = jax.grad(lambda w, k=k: window.loss(w * x[k], masks[k]))(w)
            total = {"w": total["w"] + g}
        return window.scale_gradients(total)

    x = jnp.array([[[1.0, 2.0], [3.0, 5.0]], [[7.0, 11.0], [13.0, 17.0]]])
    masks = jnp.array([[[1, 1], [1, 0]], [[0, 0], [1, 1]]], dtype=bool)
    got = jax.jit(step)(jnp.asarray(1.0), x, masks)
    # sequences: (1+2)/2, 3/1, (13+17)/2 -> S = 3 non-empty sequences
    expected = (1.5 + 3.0 + 15.0) / 3
    assert float(got["w"]) == pytest.approx(expected, rel=1e-12)


def test_the_window_runs_under_torch_compile() -> None:
    def window_loss(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        window = deferred_plan(mode="seq-mean-token-sum")
        loss = window.loss(x, mask)
        grads = [torch.ones(2, dtype=x.dtype)]
        window.scale_gradients(grads)
        return loss * grads[0][0]

    compiled = torch.compile(window_loss, fullgraph=True, backend="eager")
    x = torch.tensor([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert float(compiled(x, mask)) == pytest.approx(3.0 / 1)  # S = 1


# ----------------------------------------------------------------------------- errors


def test_group_modes_are_refused_with_the_reason() -> None:
    for mode in ("group-token-mean", "group-seq-mean", "verl:seq-mean-token-mean"):
        if mode.startswith("verl"):
            deferred_plan(mode=mode)  # an alias of a post-hoc mode is fine
            continue
        with pytest.raises(ValueError, match=r"Invalid `mode`: .* one number .* vector .*plan"):
            deferred_plan(mode=mode)


def test_option_errors_are_raised_when_the_window_is_opened() -> None:
    with pytest.raises(ValueError, match=r"Invalid `max_length`"):
        deferred_plan(mode="seq-mean-token-sum-norm")
    with pytest.raises(TypeError, match=r"Invalid `count_empty`"):
        deferred_plan(mode="token-mean", count_empty="yes")  # type: ignore[arg-type]


def test_a_finished_window_refuses_more_micro_steps() -> None:
    window = deferred_plan(mode="token-mean")
    window.loss(np.ones((1, 2)), np.ones((1, 2)))
    first = window.finish()
    assert window.finish() is first  # one all-reduce, then the same factor
    assert window.finished
    with pytest.raises(RuntimeError, match=r"deferred_plan: this window is finished"):
        window.loss(np.ones((1, 2)), np.ones((1, 2)))


def test_finishing_without_a_micro_step_raises() -> None:
    with pytest.raises(RuntimeError, match=r"the window has no micro-step to finish"):
        deferred_plan(mode="token-mean").finish()


def test_an_averaging_engine_bounds_the_window() -> None:
    with replica_context(1, accumulation_steps=2, accumulation="mean"):
        window = deferred_plan(mode="token-mean")
        for _ in range(2):
            window.loss(np.ones((1, 2)), np.ones((1, 2)))
        with pytest.raises(ValueError, match=r"at most accumulation_steps=2 micro-steps"):
            window.loss(np.ones((1, 2)), np.ones((1, 2)))
    with replica_context(1, accumulation_steps=2):  # a summing engine: any length
        window = deferred_plan(mode="token-mean")
        for _ in range(5):
            window.loss(np.ones((1, 2)), np.ones((1, 2)))
        assert window.micro_steps == 5


def test_gradient_and_library_errors() -> None:
    window = deferred_plan(mode="token-mean")
    window.loss(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(TypeError, match=r"Invalid `grads`: expected a list .* not one array"):
        window.scale_gradients(np.ones(3))
    with pytest.raises(TypeError, match=r"Invalid `grads\[1\]`: expected an array of"):
        window.scale_gradients([np.ones(2), torch.ones(2)])
    with pytest.raises(TypeError, match=r"Invalid `grads`: expected a list"):
        window.scale_gradients(3)
    other = deferred_plan(mode="token-mean")
    other.loss(np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(TypeError, match=r"Invalid `mask`: expected an array of .*numpy"):
        other.loss(torch.ones(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"Invalid `per_token_loss`: .* shape of the mask"):
        other.loss(np.ones((1, 3)), np.ones((1, 2)))
    torch_window = deferred_plan(mode="token-mean")
    torch_window.loss(torch.ones(1, 2), torch.ones(1, 2))
    with pytest.raises(TypeError, match=r"Invalid `grads`: expected parameters or gradient"):
        torch_window.scale_gradients([np.ones(2)])


def test_cross_replica_context_and_missing_all_reduce() -> None:
    with cross_replica_context(2), pytest.raises(RuntimeError, match=r"cross-replica context"):
        deferred_plan(mode="token-mean")
    with replica_context(2):
        window = deferred_plan(mode="token-mean")
        window.loss(np.ones((1, 2)), np.ones((1, 2)))
        with pytest.raises(RuntimeError, match=r"deferred_plan: the context .* has no all-reduce"):
            window.finish()


def test_repr_and_attributes() -> None:
    window = deferred_plan(mode="trl:dr_grpo", max_length=8)
    assert repr(window) == (
        "DeferredPlan(mode='seq-mean-token-sum-norm', micro_steps=0, scale=1, finished=False)"
    )
    assert (window.max_length, window.count_empty, window.count) == (8.0, True, None)
