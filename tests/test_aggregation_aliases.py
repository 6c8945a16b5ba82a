"""Framework aliases: every name resolves, ambiguous and unknown names are refused, each
framework's published formula (transcribed here from its source) has the coefficients of
its alias, and each ``legacy:`` form reproduces the framework's numbers."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from losskit.aggregation._aliases import ALIASES, CANONICAL_MODES, FRAMEWORKS, resolve
from losskit.aggregation._legacy import LEGACY, legacy_form
from losskit.testing import Layout, MicroStep, audit_loss, random_layout

DOCS = Path(__file__).resolve().parents[1] / "docs" / "aggregation_aliases.md"


def test_every_alias_resolves_to_a_canonical_mode() -> None:
    assert len(ALIASES) >= 25
    for name, alias in ALIASES.items():
        mode, options = resolve(name)
        assert mode == alias.mode, name
        assert mode in CANONICAL_MODES, name
        assert set(options) <= {"count_empty"}, name
        assert alias.framework in FRAMEWORKS, name
        assert alias.source, name
        assert alias.published, name
        assert ("max_length" in alias.requires) == (mode == "seq-mean-token-sum-norm"), name
        if alias.legacy is not None:
            assert alias.legacy in LEGACY, name
            assert alias.differs, name
    assert {a.legacy for a in ALIASES.values()} - {None} == set(LEGACY)


def test_canonical_names_resolve_to_themselves() -> None:
    for mode in CANONICAL_MODES:
        assert resolve(mode) == (mode, {})


@pytest.mark.parametrize(
    ("name", "match"),
    [
        (
            "prompt_mean",
            r"'prompt_mean' means different things in different frameworks; name the "
            r"framework: 'skyrl:prompt_mean' \(group-token-mean, count_empty=True\), "
            r"'torchrl:prompt_mean' \(seq-mean-token-mean, count_empty=True\)",
        ),
        (
            "token_mean",
            r"'token_mean' is a framework's name; give it with its framework prefix: "
            r"'verl:token-mean' \(token-mean\), 'skyrl:token_mean' \(token-mean\), "
            r"'tunix:token-mean' \(token-mean\), 'torchrl:token_mean' \(token-mean\), or the "
            r"canonical 'token-mean'",
        ),
        ("bnpo", r"'bnpo' is a framework's name; give it with its framework prefix: 'trl:bnpo'"),
        ("sequence-mean-token-sum-norm", r"'tunix:sequence-mean-token-sum-norm'"),
        ("trl:grpo2", r"Invalid `mode`: expected one of trl's names: trl:async-grpo, trl:bnpo"),
        ("megatron:token-mean", r"expected '<framework>:<name>' with a framework in \('verl'"),
        ("token-average", r"expected a canonical mode \('token-mean', 'token-sum'"),
        (
            "legacy:trl:bnpo",
            r"expected a mode, not a legacy form, received 'legacy:trl:bnpo'\. "
            r"Legacy forms are per-micro-batch functions",
        ),
        (3, r"Invalid `mode`: expected a mode name \(a string\), received 3"),
    ],
)
def test_refused_names(name: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve(name)


def test_unknown_legacy_form() -> None:
    with pytest.raises(ValueError, match=r"Invalid `mode`: expected one of the legacy forms \["):
        legacy_form("legacy:trl:dapo")


# --------------------------------------------- the published formulas, transcribed


def masked(x: Any, step: MicroStep) -> Any:
    return x * step.mask


def tokens(step: MicroStep, *, window: bool = True) -> float:
    masks = step.window.masks if window else [step.mask]
    return float(step.all_reduce(sum(float(np.sum(m)) for m in masks)))


def rows(step: MicroStep, *, nonempty: bool) -> float:
    count = sum(
        float(np.sum(m.sum(-1) > 0)) if nonempty else float(m.shape[0]) for m in step.window.masks
    )
    return float(step.all_reduce(count))


def seq_sums(x: Any, step: MicroStep) -> Any:
    return masked(x, step).sum(-1)


def seq_means(x: Any, step: MicroStep, floor: float = 1.0, eps: float = 0.0) -> Any:
    return seq_sums(x, step) / np.maximum(step.mask.sum(-1) + eps, floor)


def per_group(step: MicroStep, values: Callable[[Any], Any]) -> np.ndarray:
    local = np.zeros(int(step.num_groups or 0))
    for mask, groups in zip(step.window.masks, step.window.group_ids or (), strict=True):
        np.add.at(local, groups, values(mask))
    return np.asarray(step.all_reduce(local))


R = "num_ranks"
L = 9.0


def verl(x: Any, s: MicroStep, mode: str) -> Any:  # agg_loss; FSDP mean; dp_size compensation
    dp = s.num_ranks
    if mode == "token-mean":
        return masked(x, s).sum() / tokens(s) * dp
    if mode == "token-sum":
        return masked(x, s).sum() * dp
    gbs = rows(s, nonempty=False)  # ppo_mini_batch_size * rollout.n
    if mode == "seq-mean-token-mean":
        return seq_means(x, s, floor=0.0, eps=1e-8).sum() / gbs * dp
    loss = seq_sums(x, s).sum() / gbs * dp
    return loss / L if mode == "seq-mean-token-sum-norm" else loss


def trl(x: Any, s: MicroStep, loss_type: str) -> Any:  # _compute_loss; DDP mean
    if loss_type in ("grpo", "sapo"):
        return seq_means(x, s).mean() / s.micro_steps
    if loss_type == "bnpo":
        return masked(x, s).sum() / max(float(s.mask.sum()), 1.0) / s.micro_steps
    if loss_type == "dr_grpo":
        return masked(x, s).sum() / (s.mask.shape[0] * L) / s.micro_steps
    if loss_type == "luspo":  # l_i * n_i with l_i the sequence loss = the row's token sum
        return seq_sums(x, s).mean() / s.micro_steps
    if loss_type == "async-grpo":
        return masked(x, s).sum() / max(tokens(s, window=False) / s.num_ranks, 1.0) / s.micro_steps
    return masked(x, s).sum() / (max(tokens(s), 1.0) / s.num_ranks)  # dapo, cispo, vespo


def openrlhf(x: Any, s: MicroStep, token_level: bool) -> Any:  # DeepSpeed: /gas, DDP mean
    gas = s.accumulation_steps
    if token_level:
        return masked(x, s).sum() / (tokens(s) / gas) * s.num_ranks
    live = s.mask.sum(-1) > 0
    return (
        (seq_means(x, s, floor=0.0, eps=1e-8) * live).sum()
        / (rows(s, nonempty=True) / gas)
        * s.num_ranks
    )


def nemo(x: Any, s: MicroStep, token_level: bool) -> Any:  # x dp_size; FSDP mean
    if token_level:
        return masked(x, s).sum() / (tokens(s) + 1e-8) * s.num_ranks
    sample_mask = s.mask.sum(-1) > 0
    inner = seq_means(x, s, floor=0.0, eps=1e-8)
    return (inner * sample_mask).sum() / (rows(s, nonempty=True) + 1e-8) * s.num_ranks


def skyrl(x: Any, s: MicroStep, reduction: str) -> Any:  # scaled advantages, summed, x dp_size
    dp = s.num_ranks
    if reduction == "token_mean":
        return masked(x, s).sum() / max(tokens(s), 1.0) * dp
    if reduction == "token_mean_legacy":  # one micro-batch per mini-batch here
        return masked(x, s).sum() / max(float(s.mask.sum()), 1.0) / (dp * s.micro_steps) * dp
    batch = rows(s, nonempty=False)
    if reduction == "sequence_mean":
        return seq_means(x, s).sum() / batch * dp
    if reduction == "seq_mean_token_sum_norm":
        return masked(x, s).sum() / (batch * L) * dp
    present = per_group(s, lambda m: np.ones(m.shape[0]))
    prompt_tokens = per_group(s, lambda m: m.sum(-1))
    scale = 1.0 / (np.sum(present > 0) * np.maximum(prompt_tokens, 1.0))
    return (masked(x, s).sum(-1) * scale[s.group_ids]).sum() * dp


def tunix(x: Any, s: MicroStep, mode: str) -> Any:  # sum of grads / sum of denominators
    def denominator(mask: Any) -> float:
        if mode == "token-mean":
            return float(mask.sum())
        if mode == "sequence-mean-token-sum-norm":
            return float(mask.shape[0])  # default norm: the batch size
        return float(np.sum(mask.sum(-1) > 0))

    unreduced = {
        "token-mean": lambda: masked(x, s).sum(),
        "sequence-mean-token-mean": lambda: seq_means(x, s).sum(),
        "sequence-mean-token-scale": lambda: (seq_sums(x, s) / L).sum(),
        "seq-mean-token-sum": lambda: seq_sums(x, s).sum(),
        "sequence-mean-token-sum-norm": lambda: masked(x, s).sum(),
    }[mode]()
    return unreduced / max(sum(denominator(m) for m in s.window.masks), 1.0)


def torchrl(x: Any, s: MicroStep, aggregation: str) -> Any:  # one call
    if aggregation == "prompt_mean":
        return seq_means(x, s).mean()
    return masked(x, s).sum() / s.mask.sum()


def layout(kind: str) -> Layout:
    if kind == "one-call":  # a single replica and micro-batch: what per-call formulas assume
        return random_layout(21, ranks=1, micro_steps=1, rows=(3, 4), empty=0.3)
    if kind == "equal-rows":  # TRL: per_device_train_batch_size rows in every micro-batch
        return random_layout(22, ranks=3, micro_steps=2, rows=(3, 3), empty=0.3)
    if kind == "one-micro-step":
        return random_layout(23, ranks=3, micro_steps=1, rows=(1, 4), empty=0.3)
    if kind == "deepspeed":  # a partial window under DeepSpeed's 1/gas
        return random_layout(
            24, ranks=2, micro_steps=2, accumulation_steps=3, accumulation="mean", empty=0.3
        )
    if kind == "groups":
        return random_layout(25, ranks=3, micro_steps=2, num_groups=4, empty=0.3)
    if kind == "global-arrays":  # jit over global arrays: one replica
        return random_layout(26, ranks=1, micro_steps=3, empty=0.3)
    return random_layout(27, ranks=3, micro_steps=3, accumulation_steps=4, empty=0.3)


TRANSCRIPTIONS: dict[str, tuple[str, Callable[[Any, MicroStep], Any]]] = {
    **{
        f"verl:{m}": ("any", lambda x, s, m=m: verl(x, s, m))
        for m in (
            "token-mean",
            "token-sum",
            "seq-mean-token-mean",
            "seq-mean-token-sum",
            "seq-mean-token-sum-norm",
        )
    },
    **{
        f"trl:{t}": ("equal-rows", lambda x, s, t=t: trl(x, s, t))
        for t in ("grpo", "sapo", "dr_grpo", "luspo", "dapo", "cispo", "vespo")
    },
    "trl:bnpo": ("one-call", lambda x, s: trl(x, s, "bnpo")),
    "trl:async-grpo": ("one-micro-step", lambda x, s: trl(x, s, "async-grpo")),
    "openrlhf:token_level_loss=true": ("deepspeed", lambda x, s: openrlhf(x, s, True)),
    "openrlhf:token_level_loss=false": ("deepspeed", lambda x, s: openrlhf(x, s, False)),
    "openrlhf:gspo": ("deepspeed", lambda x, s: openrlhf(x, s, False)),
    "nemo-rl:token_level_loss=true": ("any", lambda x, s: nemo(x, s, True)),
    "nemo-rl:token_level_loss=false": ("any", lambda x, s: nemo(x, s, False)),
    **{
        f"skyrl:{r}": ("groups", lambda x, s, r=r: skyrl(x, s, r))
        for r in ("token_mean", "sequence_mean", "seq_mean_token_sum_norm", "prompt_mean")
    },
    "skyrl:token_mean_legacy": ("one-call", lambda x, s: skyrl(x, s, "token_mean_legacy")),
    **{
        f"tunix:{m}": ("global-arrays", lambda x, s, m=m: tunix(x, s, m))
        for m in (
            "token-mean",
            "sequence-mean-token-mean",
            "sequence-mean-token-scale",
            "seq-mean-token-sum",
            "sequence-mean-token-sum-norm",
        )
    },
    **{
        f"torchrl:{a}": ("one-call", lambda x, s, a=a: torchrl(x, s, a))
        for a in ("token_mean", "prompt_mean")
    },
}


def test_every_alias_has_a_transcription() -> None:
    assert set(TRANSCRIPTIONS) == set(ALIASES)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTIONS))
def test_published_formula_has_the_alias_coefficients(name: str) -> None:
    kind, formula = TRANSCRIPTIONS[name]
    max_length = L if ALIASES[name].requires else None
    report = audit_loss(formula, layout(kind), mode=name, max_length=max_length)
    assert report.relative_error < 1e-7, report.summary()  # eps terms of 1e-8 in some sources


@pytest.mark.parametrize(
    "name", ["trl:bnpo", "trl:async-grpo", "skyrl:token_mean_legacy", "trl:grpo", "trl:dr_grpo"]
)
def test_local_formulas_drift_where_the_docs_say(name: str) -> None:
    formula = TRANSCRIPTIONS[name][1]
    uneven = random_layout(28, ranks=2, micro_steps=2, rows=(1, 4), empty=0.3)
    report = audit_loss(formula, uneven, mode=name, max_length=L)
    assert not report.passed


# ------------------------------------------------------------------ legacy forms


def framework_value(name: str, layout: Layout, losses: list[list[np.ndarray]]) -> float:
    """The framework's combined objective, computed as its loop does: each rank's
    per-micro-step loss, summed over micro-steps, averaged over ranks (DDP)."""
    R, k, GA = layout.num_ranks, layout.micro_steps, layout.accumulation_steps
    step_tokens = [sum(float(layout.masks[r][j].sum()) for r in range(R)) for j in range(k)]
    all_rows = sum(m.shape[0] for row in layout.masks for m in row)
    total = 0.0
    for r in range(R):
        for j in range(k):
            m, x = layout.masks[r][j], losses[r][j]
            s, n = float((x * m).sum()), float(m.sum())
            if name == "legacy:trl:bnpo":
                value = s / max(n, 1.0) / k
            elif name == "legacy:trl:grpo":
                value = float(np.mean((x * m).sum(-1) / np.maximum(m.sum(-1), 1.0))) / k
            elif name == "legacy:trl:dr_grpo":
                value = s / (m.shape[0] * L) / k
            elif name == "legacy:trl:async-grpo":
                value = s / max(step_tokens[j] / R, 1.0) / k
            elif name == "legacy:verl:token-mean":  # dp_actor: agg_loss local, x 1/GA
                value = s / n / GA
            elif name == "legacy:verl:seq-mean-token-sum-norm":  # agg_loss x dp_size
                value = s / all_rows * R / m.shape[-1]
            else:  # legacy:skyrl:token_mean_legacy: central, summed, x dp_size
                value = s / max(n, 1.0) / (R * k) * R
            total += value / R
    return total


def contributions(name: str, layout: Layout, losses: list[list[np.ndarray]], lib: Any) -> float:
    form = legacy_form(name)
    R, k = layout.num_ranks, layout.micro_steps
    available = {
        "num_replicas": R,
        "micro_steps": k,
        "accumulation_steps": layout.accumulation_steps,
        "max_length": L,
        "num_sequences": sum(m.shape[0] for row in layout.masks for m in row),
    }
    total = 0.0
    for r in range(R):
        for j in range(k):
            extra = {key: available.get(key) for key in form.requires}
            if "step_tokens" in form.requires:
                extra["step_tokens"] = lib(
                    np.asarray(sum(float(layout.masks[q][j].sum()) for q in range(R)))
                )
            value = form.function(lib(losses[r][j]), lib(layout.masks[r][j]), **extra)
            total += float(np.asarray(value))
    return total


@pytest.mark.parametrize("name", sorted(LEGACY))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_legacy_form_reproduces_the_framework(name: str, seed: int) -> None:
    lay = random_layout(
        seed,
        ranks=3,
        micro_steps=2,
        accumulation_steps=3,
        rows=(1, 4),
        length=(2, 6),
        density=0.9,
        empty=0.0,
    )
    assert all(m.sum() > 0 for row in lay.masks for m in row)  # verl's form divides by n_k
    rng = np.random.default_rng(seed)
    losses = [[rng.standard_normal(m.shape) for m in row] for row in lay.masks]
    expected = framework_value(name, lay, losses)
    assert contributions(name, lay, losses, np.asarray) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_form_on_torch_and_jax(name: str) -> None:
    import jax.numpy as jnp
    import torch

    lay = random_layout(4, ranks=2, micro_steps=2, rows=(1, 3), density=0.9, empty=0.0)
    rng = np.random.default_rng(4)
    losses = [[rng.standard_normal(m.shape) for m in row] for row in lay.masks]
    expected = contributions(name, lay, losses, np.asarray)
    assert contributions(name, lay, losses, torch.from_numpy) == pytest.approx(expected, rel=1e-12)
    assert contributions(name, lay, losses, jnp.asarray) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_form_ignores_garbage_under_the_mask(name: str) -> None:
    form = legacy_form(name)
    mask = np.array([[True, False, True], [False, False, False]])
    clean = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    dirty = np.where(mask, clean, np.nan)
    dirty[1, 0] = np.inf
    extra = {
        "num_replicas": 2,
        "micro_steps": 1,
        "accumulation_steps": 2,
        "max_length": 4.0,
        "num_sequences": 4,
        "step_tokens": 2.0,
    }
    kwargs = {key: extra[key] for key in form.requires}
    assert float(form.function(dirty, mask, **kwargs)) == float(
        form.function(clean, mask, **kwargs)
    )


def test_legacy_form_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"Invalid `mask`: expected a \[B, T\] array shaped like"):
        legacy_form("legacy:trl:bnpo").function(
            np.ones((2, 3)), np.ones((3, 2)), num_replicas=1, micro_steps=1
        )


# ----------------------------------------------------------------------- docs


def test_docs_table_matches_the_data() -> None:
    text = DOCS.read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| `([^`]+)`", text, re.M)}
    for name, alias in ALIASES.items():
        assert rows.get(name) == alias.mode, name
        if alias.differs:
            assert f"`{name}`" in text.split("## How the published formulas differ")[1], name
    for name in LEGACY:
        assert f"`{name}`" in text, name
