"""The audit checks one term of a multi-term objective against its coefficient
(``audit_loss(..., coefficient=c)``): losskit's own terms pass on random layouts and
engines, the same term audited against another coefficient fails."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from losskit.objectives import Objective, Term
from losskit.testing import Layout, audit_loss, random_layout

EXPERTS, TOP_K, SHARE = 4, 2, np.array([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize(
    ("seed", "gradients", "accumulation"),
    [(1, "mean", "sum"), (2, "sum", "mean"), (3, "mean", "mean")],
)
def test_a_token_term_weighs_its_coefficient(seed: int, gradients: str, accumulation: str) -> None:
    objective = Objective([Term("ce", "token-mean"), Term("z", "token-mean", coefficient=1e-4)])
    layout = random_layout(
        seed, ranks=3, micro_steps=2, accumulation_steps=3, gradients=gradients,
        accumulation=accumulation,
    )  # fmt: skip

    def z_term(per_token_loss: np.ndarray, step: object) -> object:
        zeros = np.zeros_like(per_token_loss)
        return step.state.loss(step.micro_batch, ce=zeros, z=per_token_loss)  # type: ignore[attr-defined]

    def prepare(window: object) -> object:
        return objective.plan(list(window.masks))  # type: ignore[attr-defined]

    report = audit_loss(z_term, layout, mode="token-mean", coefficient=1e-4, prepare=prepare)
    assert report.check().relative_error < 1e-12
    assert report.options["coefficient"] == 1e-4
    wrong = audit_loss(z_term, layout, mode="token-mean", prepare=prepare)
    assert not wrong.passed
    assert wrong.ratio_max == pytest.approx(1e-4)


@pytest.mark.parametrize("expert", range(EXPERTS))
def test_a_global_batch_balancing_term_weighs_its_coefficient(expert: int) -> None:
    coefficient = 1e-2
    objective = Objective(
        [
            Term("ce", "token-mean"),
            Term("lbl", "global-batch", coefficient=coefficient, top_k=TOP_K),
        ]
    )
    full = [np.ones((2, 3)), np.ones((1, 3))]
    layout = Layout([full, [np.ones((3, 3)), np.ones((2, 3))], full], accumulation_steps=3)

    def prepare(window: object) -> object:
        masks = list(window.masks)  # type: ignore[attr-defined]
        tokens = sum(float(m.sum()) for m in masks)  # every position is routed
        return objective.plan(masks, expert_counts=tokens * TOP_K * SHARE)  # f = SHARE

    def probabilities_of_one_expert(per_token_loss: np.ndarray, step: object) -> object:
        sums = np.zeros((1, EXPERTS))
        sums[0, expert] = (per_token_loss * step.mask).sum()  # type: ignore[attr-defined]
        zeros = np.zeros_like(per_token_loss)
        return step.state.loss(step.micro_batch, ce=zeros, lbl=sums)  # type: ignore[attr-defined]

    promised = coefficient * EXPERTS * SHARE[expert]  # coeff * E * f_e, over the token mean
    report = audit_loss(
        probabilities_of_one_expert, layout, mode="token-mean", coefficient=promised,
        prepare=prepare,
    )  # fmt: skip
    assert report.check().relative_error < 1e-12
    for gradients in ("sum", "mean"):
        other = dataclasses.replace(layout, gradients=gradients)
        assert audit_loss(
            probabilities_of_one_expert, other, mode="token-mean", coefficient=promised,
            prepare=prepare,
        ).passed  # fmt: skip


@pytest.mark.parametrize("value", [float("inf"), True, "0.1", None])
def test_audit_coefficient_errors(value: object) -> None:
    layout = Layout([[np.ones((1, 2))]])
    with pytest.raises(ValueError, match=r"Invalid `coefficient`: expected a finite real number"):
        audit_loss(lambda x, s: x.sum(), layout, mode="token-sum", coefficient=value)  # type: ignore[arg-type]
