"""Objectives with several terms (``losskit.objectives``): every term's effective coefficient
(its weight in the gradient the engine combines, against its own single-device weights) is
its coefficient on random layouts, for R in {1, 2, 4} replicas and K in {1, 4} accumulation
steps (partial windows, sum and mean engines); one all-reduce per window for the counts of
every term; a tiny MoE model gives the float64 oracle's gradients on every split of the same
data while the per-micro-batch formula moves; deferred objectives equal planned ones and
refuse the terms post-hoc scaling cannot serve."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from losskit.distribute import replica_context
from losskit.objectives import Objective, Term
from losskit.testing import run_replicas
from tests.aggregation import _layouts, _oracle
from tests.objectives import _moe, _windows

LAYERS, EXPERTS = 2, 3
COEFFICIENTS = {"ce": 1.0, "z": 0.3, "nll": 0.7, "prompt": 0.2, "lbl": 0.01, "lbm": 0.05, "l2": 0.5}
OBJECTIVE = Objective(
    [
        Term("ce", "token-mean"),
        Term("z", "token-mean", coefficient=COEFFICIENTS["z"]),
        Term("nll", "seq-mean-token-mean", coefficient=COEFFICIENTS["nll"], mask="positive"),
        Term("prompt", "group-token-mean", coefficient=COEFFICIENTS["prompt"]),
        Term("lbl", "global-batch", coefficient=COEFFICIENTS["lbl"], top_k=2),
        Term("lbm", "global-batch", coefficient=COEFFICIENTS["lbm"], top_k=1, counts="micro-batch"),
        Term("l2", "step", coefficient=COEFFICIENTS["l2"]),
    ]
)
GROUPS = 3


@st.composite
def steps(draw: st.DrawFn) -> dict:
    accumulation_steps = draw(st.sampled_from([1, 4]))
    return {
        "replicas": draw(st.sampled_from([1, 2, 4])),
        "steps": accumulation_steps,
        "present": draw(st.integers(1, accumulation_steps)),  # fewer: a partial window
        "packed": draw(st.booleans()),
        "density": draw(st.sampled_from([0.0, 0.4, 0.8, 1.0])),
        "gradients": draw(st.sampled_from(["sum", "mean"])),
        "accumulation": draw(st.sampled_from(["sum", "mean"])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _balance_weights(counts: np.ndarray, top_k: int) -> np.ndarray:
    """E f_le / T_l from global [L, E] counts, by the definition."""
    assigned = counts.sum(-1, keepdims=True)
    return (
        EXPERTS
        * np.where(assigned > 0, counts / np.maximum(assigned, 1), 0)
        / np.where(assigned > 0, assigned / top_k, 1)
    )


@settings(max_examples=200)
@given(step=steps())
def test_every_term_weighs_its_coefficient_on_every_layout(step: dict) -> None:
    layout = _windows.window(
        step["seed"], [step["present"]] * step["replicas"], packed=step["packed"],
        density=step["density"], num_groups=GROUPS,
    )  # fmt: skip
    rng = np.random.default_rng(step["seed"] + 2)
    positive = [
        [{**mb, "mask": mb["mask"] & (rng.random(mb["mask"].shape[:1]) < 0.5)[:, None]}
         for mb in batches]
        for batches in layout
    ]  # fmt: skip
    counts = [[rng.integers(0, 4, (LAYERS, EXPERTS)) for _ in batches] for batches in layout]
    losses = _layouts.losses(step["seed"], layout)

    def leaf(values: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.nan_to_num(values, posinf=0, neginf=0), requires_grad=True)

    def replica(r: int, calls: list[int]) -> list:
        t = lambda a: None if a is None else torch.as_tensor(a)  # noqa: E731
        p = OBJECTIVE.plan(
            {"tokens": [t(mb["mask"]) for mb in layout[r]],
             "positive": [t(mb["mask"]) for mb in positive[r]]},
            segment_ids=[t(mb["seg"]) for mb in layout[r]] if step["packed"] else None,
            group_ids=[t(mb["group"]) for mb in layout[r]],
            num_groups=GROUPS,
            expert_counts=torch.as_tensor(sum(counts[r])),
        )  # fmt: skip
        planned = calls[0]
        out = []
        for k in range(step["present"]):
            inputs = {
                "ce": leaf(losses[r][k]),
                "z": leaf(losses[r][k] - 2),
                "nll": leaf(losses[r][k] - 1),
                "prompt": leaf(losses[r][k] + 3),
                "lbl": torch.rand(LAYERS, EXPERTS, dtype=torch.float64, requires_grad=True),
                "lbm": torch.rand(LAYERS, EXPERTS, dtype=torch.float64, requires_grad=True),
                "l2": torch.tensor(2.5, dtype=torch.float64, requires_grad=True),
            }
            values = dict(inputs, lbm=(inputs["lbm"], torch.as_tensor(counts[r][k])))
            loss = p.loss(k, **values)
            shares = p.shares(k, **values)  # the micro-batch statistics are reduced once
            grads = torch.autograd.grad(loss, list(inputs.values()))
            out.append({name: g.numpy() for name, g in zip(inputs, grads, strict=True)})
            total = sum(float(v.detach()) for v in shares.values())
            assert total * p.scale == pytest.approx(float(loss.detach()), rel=1e-12, abs=1e-12)
        return out, planned, calls[0] - planned

    results, division = _windows.run_counted(replica, step)
    R, K = step["replicas"], step["present"]
    targets = {
        "ce": _oracle.coefficients(layout, "token-mean"),
        "nll": _oracle.coefficients(positive, "seq-mean-token-mean"),
        "prompt": _oracle.coefficients(layout, "group-token-mean"),
    }
    targets["z"] = targets["ce"]
    window_weights = _balance_weights(sum(sum(c) for c in counts), 2)
    micro_weights = [_balance_weights(sum(counts[r][k] for r in range(R)), 1) for k in range(K)]
    penalty = 0.0
    for r, (per_step, planned, later) in enumerate(results):
        assert planned == (1 if R > 1 else 0)  # every term's counts in one all-reduce
        assert later == (K if R > 1 else 0)  # the micro-batch statistics: one per micro-step
        for k, grads in enumerate(per_step):
            expected = {name: target[r][k] for name, target in targets.items()}
            expected |= {"lbl": window_weights, "lbm": micro_weights[k] / K}
            penalty += _windows.effective_weights(grads, division, expected, COEFFICIENTS)
    assert penalty == pytest.approx(COEFFICIENTS["l2"], rel=1e-12)  # once per step


SPLITS = [(1, [[16]]), (2, [[9], [7]]), (4, [[5], [3], [4], [4]]),
          (1, [[2, 6, 3, 5]]), (2, [[1, 5, 0, 2], [4, 1, 3]]),
          (4, [[3, 1, 0, 1], [2, 2, 1, 0], [0, 1, 2, 1], [2, 0, 0]])]  # fmt: skip


def test_a_moe_objective_gives_the_oracle_gradients_on_every_split() -> None:
    expected = _moe.oracle_gradients(_moe.step_data(5, [[16]]))
    drift = []
    for replicas, rows in SPLITS:
        data = _moe.step_data(5, rows)
        steps = max(len(per_replica) for per_replica in rows)
        for method in ("losskit", "naive"):

            def replica(r: int, data: dict = data, method: str = method) -> dict:
                return _moe.replica_gradients(torch, data, r, method)

            results = run_replicas(replica, replicas, gradients="mean", accumulation_steps=steps)
            combined = {k: np.mean([g[k] for g in results], axis=0) for k in expected}  # DDP
            for name, value in expected.items():
                if method == "losskit":
                    np.testing.assert_allclose(
                        combined[name], value, rtol=1e-10, atol=1e-13, err_msg=f"{rows} {name}"
                    )
                else:
                    drift.append(float(np.max(np.abs(combined[name] - value))))
    assert max(drift) > 1e-2  # the per-micro-batch formula depends on the split


# ----------------------------------------------------------------------------- deferred


def test_a_deferred_objective_equals_the_planned_one() -> None:
    objective = Objective(
        [
            Term("pg", "seq-mean-token-mean"),
            Term("entropy", "seq-mean-token-sum", coefficient=-0.01),
            Term("kl", "seq-mean-token-mean", coefficient=0.1),
            Term("l2", "step", coefficient=0.5),
        ]
    )
    rng = np.random.default_rng(3)
    layout = _windows.window(3, [3, 1, 2], packed=True, density=0.7)
    losses = _layouts.losses(3, layout)
    w0 = rng.normal(size=2)

    def replica(r: int) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for deferred in (True, False):
            w = torch.tensor(w0, requires_grad=True)
            masks = [torch.as_tensor(mb["mask"]) for mb in layout[r]]
            segments = [torch.as_tensor(mb["seg"]) for mb in layout[r]]
            window = (
                objective.deferred() if deferred else objective.plan(masks, segment_ids=segments)
            )
            for k, (mask, seg) in enumerate(zip(masks, segments, strict=True)):
                base = torch.as_tensor(np.nan_to_num(losses[r][k], posinf=0, neginf=0))
                values = {"pg": w[0] * base, "entropy": w[1] * base, "kl": w[0] * w[1] * base}
                if deferred:
                    window.loss(mask, segment_ids=seg, **values).backward()
                else:
                    window.loss(k, **values, l2=(w**2).sum()).backward()
            if deferred:
                window.scale_gradients([w])
                window.step_loss(l2=(w**2).sum()).backward()
            out.append(w.grad.numpy().copy())
        return out[0], out[1]

    results = run_replicas(replica, 3, gradients="mean", accumulation_steps=3)
    deferred = np.mean([d for d, _ in results], axis=0)  # DDP: mean before the step term
    planned = np.mean([p for _, p in results], axis=0)
    np.testing.assert_allclose(deferred, planned, rtol=1e-12)


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ([Term("ce", "token-mean"), Term("lbl", "global-batch", top_k=2)],
         r"received Term\(name='lbl', normalizer='global-batch'.* Global-batch load balancing"),
        ([Term("ce", "token-mean"), Term("nll", "token-mean", mask="positive")],
         r"Term\(name='nll'.* mask 'positive' has a count of its own"),
        ([Term("ce", "token-mean"), Term("seq", "seq-mean-token-mean")],
         r"Term\(name='seq'.* divides by S \(sequences\), the window by N \(tokens\)"),
        ([Term("ce", "token-mean"), Term("raw", "token-sum")],
         r"Term\(name='raw'.* divides by nothing \(token-sum\), the window by N"),
        ([Term("a", "seq-mean-token-sum"), Term("b", "seq-mean-token-sum", count_empty=True)],
         r"Term\(name='b'.* divides by S"),
        ([Term("ce", "group-token-mean")], r"Invalid `terms\['ce'\]`: .* one number"),
        ([Term("ce", "token-mean"), Term("g", "group-seq-mean")], r"Invalid `terms\['g'\]`"),
    ],
)  # fmt: skip
def test_deferred_refuses_terms_with_a_denominator_of_their_own(
    terms: list[Term], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Objective(terms).deferred()


def test_deferred_value_errors() -> None:
    window = Objective([Term("ce", "token-mean"), Term("l2", "step")]).deferred()
    with pytest.raises(
        ValueError,
        match=r"per-token terms: ce, received \['ce', 'l2'\]. Unknown terms \['l2'\]",
    ):
        window.loss(np.ones((1, 2)), ce=np.ones((1, 2)), l2=1.0)
    with pytest.raises(ValueError, match=r"received \[\]. No value for \['ce'\]"):
        window.loss(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"Invalid `values`: .* step-level terms: l2"):
        window.step_loss()
    no_step = Objective([Term("ce", "token-mean")]).deferred()
    with pytest.raises(ValueError, match=r"no value: the objective has no step term"):
        no_step.step_loss(l2=1.0)
    assert float(window.loss(np.ones((1, 2)), ce=np.ones((1, 2)))) == 2.0
    assert float(window.step_loss(l2=np.array([1.0, 2.0]))) == 3.0
    assert isinstance(window.step_loss(l2=2.0), np.ndarray)
    assert repr(window) == "DeferredObjective(terms=[ce, l2], micro_steps=1)"
    assert float(window.finish()) == 0.5
    assert window.finished
    assert float(window.count) == 2.0
    assert window.scale == 1
    assert window.micro_steps == 1


# ----------------------------------------------------------------------------- checks


def test_term_and_objective_round_trip_through_json() -> None:
    restored = Objective.from_config(json.loads(json.dumps(OBJECTIVE.get_config())))
    assert restored.terms == OBJECTIVE.terms
    assert OBJECTIVE["lbm"].counts == "micro-batch"
    assert repr(Term("z", "token-mean", coefficient=1e-4)) == (
        "Term(name='z', normalizer='token-mean', coefficient=0.0001)"
    )
    assert Term("nll", "verl:seq-mean-token-mean").options["count_empty"] is True


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "2x", "normalizer": "token-mean"}, ValueError, r"Invalid `name`: .*identifier"),
        ({"name": "segment_ids", "normalizer": "step"}, ValueError, r"Invalid `name`: .*reserved"),
        ({"name": "a", "normalizer": "mean"}, ValueError, r"Invalid `normalizer`: .*'step'"),
        ({"name": "a", "normalizer": 3}, ValueError, r"Invalid `normalizer`"),
        ({"name": "a", "normalizer": "step", "coefficient": float("nan")}, ValueError,
         r"Invalid `coefficient`: expected a finite real"),
        ({"name": "a", "normalizer": "step", "coefficient": True}, ValueError,
         r"Invalid `coefficient`"),
        ({"name": "a", "normalizer": "global-batch"}, ValueError, r"Invalid `top_k`"),
        ({"name": "a", "normalizer": "global-batch", "top_k": 1, "counts": "step"}, ValueError,
         r"Invalid `counts`: expected one of \('window', 'micro-batch'\)"),
        ({"name": "a", "normalizer": "step", "top_k": 2}, ValueError,
         r"Invalid `top_k`: expected no value for a 'step' term"),
        ({"name": "a", "normalizer": "step", "mask": "positive"}, ValueError,
         r"Invalid `mask`: expected no value for a 'step' term"),
        ({"name": "a", "normalizer": "token-mean", "mask": ""}, ValueError, r"Invalid `mask`"),
        ({"name": "a", "normalizer": "seq-mean-token-sum-norm"}, ValueError,
         r"Invalid `max_length`"),
        ({"name": "a", "normalizer": "token-mean", "count_empty": 1}, TypeError,
         r"Invalid `count_empty`"),
    ],
)  # fmt: skip
def test_term_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Term(**kwargs)


def test_objective_and_plan_errors() -> None:
    with pytest.raises(ValueError, match=r"Invalid `terms`: expected at least one Term"):
        Objective([])
    with pytest.raises(TypeError, match=r"Invalid `terms`: expected a list of Term"):
        Objective(Term("a", "step"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Invalid `terms`: expected a list of losskit"):
        Objective(["ce"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"unique term names, received 'a'"):
        Objective([Term("a", "token-mean"), Term("a", "step")])
    with pytest.raises(ValueError, match=r"at least one per-token term"):
        Objective([Term("a", "step")])
    objective = Objective(
        [Term("ce", "token-mean"), Term("nll", "token-mean", mask="positive"),
         Term("lbl", "global-batch", top_k=1)]
    )  # fmt: skip
    masks = [np.ones((1, 2))]
    with pytest.raises(ValueError, match=r"Invalid `masks`: expected a mask named 'positive'"):
        objective.plan(masks, expert_counts=np.ones(3))
    both = {"tokens": masks, "positive": masks}
    with pytest.raises(ValueError, match=r"Invalid `expert_counts`: .*\['lbl'\]"):
        objective.plan(both)
    with pytest.raises(ValueError, match=r"Invalid `masks`: expected the same number"):
        objective.plan({"tokens": masks, "positive": masks * 2}, expert_counts=np.ones(3))
    with pytest.raises(TypeError, match=r"Invalid `masks`: expected a list of \[B, T\] masks"):
        objective.plan(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"Invalid `segment_ids`: expected a mapping keyed"):
        objective.plan(both, segment_ids={"other": masks}, expert_counts=np.ones(3))
    with pytest.raises(ValueError, match=r"Invalid `expert_counts\['lbl'\]`: .*\[layers, experts"):
        objective.plan(both, expert_counts=np.ones((1, 1, 3)))
    with pytest.raises(ValueError, match=r"Invalid `expert_counts`: expected None"):
        Objective([Term("ce", "token-mean")]).plan(masks, expert_counts=np.ones(3))
    p = objective.plan(both, expert_counts=np.array([1.0, 2.0, 1.0]))
    values = {"ce": np.ones((1, 2)), "nll": np.ones((1, 2)), "lbl": np.ones(3)}
    with pytest.raises(IndexError, match=r"Invalid `micro_batch`: expected an integer in \[0, 1"):
        p.loss(1, **values)
    with pytest.raises(ValueError, match=r"Invalid `values`: .* Unknown terms \['x'\]"):
        p.loss(0, **values, x=1.0)
    with pytest.raises(ValueError, match=r"Invalid `lbl`: .* shape \(1, 3\)"):
        p.loss(0, **dict(values, lbl=np.ones(4)))
    with pytest.raises(KeyError, match=r"a per-token term of"):
        p.plan_of("lbl")
    # ce 1 + nll 1 + E f P / T = 3 * (1/4 + 2/4 + 1/4) / 4 tokens (top_k = 1)
    assert float(p.loss(0, **values)) == pytest.approx(2.0 + 3.0 / 4)
    assert isinstance(p.loss(0, **values), np.ndarray)  # a 0-d array, not a NumPy scalar
    assert all(isinstance(v, np.ndarray) for v in p.shares(0, **values).values())
    assert p.plan_of("ce").mode == "token-mean"
    assert repr(p) == "ObjectivePlan(terms=[ce, nll, lbl], micro_batches=1, scale=1)"
    micro = Objective([Term("ce", "token-mean"), Term("b", "global-batch", top_k=1,
                                                      counts="micro-batch")])  # fmt: skip
    with pytest.raises(ValueError, match=r"Invalid `b`: expected a pair \(probability_sums"):
        micro.plan(masks).loss(0, ce=np.ones((1, 2)), b=np.ones(3))
    with replica_context(2), pytest.raises(RuntimeError, match=r"Objective.plan: the context"):
        objective.plan(both, expert_counts=np.ones(3))


def test_the_objective_runs_under_jax_jit_and_torch_compile() -> None:
    import jax
    import jax.numpy as jnp

    objective = Objective(
        [
            Term("ce", "seq-mean-token-mean"),
            Term("lbl", "global-batch", coefficient=0.01, top_k=1),
            Term("l2", "step", coefficient=0.5),
        ]
    )
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    ce = np.array([[2.0, 4.0, 9.0], [5.0, 9.0, 9.0]])
    counts, sums, penalty = np.array([[2.0, 1.0]]), np.array([[1.5, 1.5]]), np.array(4.0)
    # (3 + 5) / 2 sequences + 0.01 * 2 * (2/3 * 1.5 + 1/3 * 1.5) / 3 tokens + 0.5 * 4
    expected = 4.0 + 0.01 * 2 * 1.5 / 3 + 2.0

    def step(mask: object, ce: object, counts: object, sums: object, penalty: object) -> object:
        p = objective.plan([mask], expert_counts=counts)
        return p.loss(0, ce=ce, lbl=sums, l2=penalty)

    arrays = (mask, ce, counts, sums, penalty)
    got = jax.jit(step)(*[jnp.asarray(a) for a in arrays])
    assert float(got) == pytest.approx(expected, rel=1e-12)
    compiled = torch.compile(step, fullgraph=True, backend="eager")
    got = compiled(*[torch.as_tensor(a) for a in arrays])
    assert float(got) == pytest.approx(expected, rel=1e-12)
