"""``losskit demo --scenario rl``: the data, each aggregation's effective token weights on
simulated replicas against the oracle, the hand formula and the audit, the report, and the
real command on 4 gloo ranks."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import losskit._demo as demo
from losskit import _cli
from losskit._demo import _report, _rl, _rl_task, _rl_train
from losskit.aggregation import MODES
from losskit.testing import Layout, audit_loss, published_bugs, run_replicas

torch = pytest.importorskip("torch")

TASK = _rl_task.make_task()
LAST = TASK.steps[-1]  # the partial window


def _by_token(step: _rl_task.Step, batch: _rl_task.Batch, weights: np.ndarray) -> np.ndarray:
    """Per-position ``weights`` of ``batch`` summed onto the step's tokens."""
    out = np.zeros(step.tokens)
    real = batch.index >= 0
    np.add.at(out, batch.index[real], weights[real])
    return out


def _reference(step: _rl_task.Step, mode: str) -> np.ndarray:
    return _by_token(step, step.whole, _rl_task.reference_weights(step, mode))


def _effective(step: _rl_task.Step, aggregation) -> np.ndarray:
    """Each token's weight in the gradient DDP combines (mean over the replicas, micro-steps
    summed), from autograd through the demo's own prepare/loss on 4 simulated replicas."""
    values = np.random.default_rng(0).standard_normal(step.tokens)

    def replica(r: int) -> np.ndarray:
        window = [slot.layout(aggregation.packed) for slot in step.shards[r]]
        state = aggregation.prepare(window)
        out = np.zeros(step.tokens)
        for k, batch in enumerate(window):
            losses = torch.tensor(batch.place(values), requires_grad=True)
            (grad,) = torch.autograd.grad(aggregation.loss(state, losses, k), losses)
            assert np.all(grad.numpy()[batch.index < 0] == 0)  # padding weighs nothing
            out += _by_token(step, batch, grad.numpy())
        return out

    ranks = run_replicas(
        replica, TASK.world, gradients="mean", accumulation_steps=TASK.accumulation
    )
    return sum(ranks) / TASK.world


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ----------------------------------------------------------------------------- the data


def test_the_data_is_uneven_packed_grouped_with_masked_completions_and_a_partial_window():
    assert [len(rank) for rank in LAST.shards] == [TASK.accumulation - 1] * TASK.world
    assert all(len(rank) == TASK.accumulation for step in TASK.steps[:-1] for rank in step.shards)
    for step in TASK.steps:
        tokens = [sum(s.packed.mask.sum() for s in rank) for rank in step.shards]
        assert max(tokens) > 2 * min(tokens)  # uneven ranks
        lengths = np.sum(step.whole.index >= 0, axis=1)
        assert lengths.min() <= 4  # very different lengths
        assert lengths.max() >= 12
        assert np.any(step.whole.mask.sum(axis=1) == 0)  # fully masked completions
        for rank in step.shards:
            for slot in rank:
                assert slot.packed.mask.sum() > 0  # no micro-batch without a valid token
                # the same tokens in both layouts, each once
                for batch in (slot.packed, slot.padded):
                    assert len(set(batch.index[batch.index >= 0])) == np.sum(batch.index >= 0)
                assert sorted(slot.packed.index[slot.packed.index >= 0]) == sorted(
                    slot.padded.index[slot.padded.index >= 0]
                )
                assert slot.padded.segment_ids is None
        # some rows hold several completions; groups spread over ranks
        assert any(s.packed.segment_ids.max() >= 1 for rank in step.shards for s in rank)
        ranks_of_group = [
            {r for r, rank in enumerate(step.shards) for s in rank if g in s.padded.group_ids}
            for g in range(_rl_task.GROUPS)
        ]
        assert max(len(ranks) for ranks in ranks_of_group) >= 2


def test_every_corpus_entry_runs_or_says_why_not_and_means_the_demos_objective():
    names = {bug.name for bug in published_bugs()}
    assert set(_rl_train.NOT_RUN) <= names
    run = {bug.name for mode in MODES for bug in _rl_train.formulas(mode)}
    assert run | set(_rl_train.NOT_RUN) == names
    for mode in MODES:
        for bug in _rl_train.formulas(mode):
            assert bug.count_empty == _rl_task.options(mode)["count_empty"], bug.name


# ------------------------------------------------------ effective weights on 4 replicas


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", [0, -1], ids=["full-window", "partial-window"])
def test_losskit_weighs_every_token_as_the_single_process_objective(mode: str, step: int):
    chosen = TASK.steps[step]
    effective = _effective(chosen, _rl_train.LosskitPlan(mode))
    np.testing.assert_allclose(effective, _reference(chosen, mode), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_each_micro_batch_aggregated_alone_does_not(mode: str):
    effective = _effective(LAST, _rl_train.Local(mode))
    assert _relative(effective, _reference(LAST, mode)) > 1e-2


def test_local_token_mean_by_hand():
    """A valid token of rank r's micro-batch k weighs 1 / (R K n_rk) (DDP's mean over R,
    the division by the configured K, the micro-batch's own token count)."""
    expected = np.zeros(LAST.tokens)
    for rank in LAST.shards:
        for slot in rank:
            n = slot.packed.mask.sum()
            weights = slot.packed.mask / (TASK.world * TASK.accumulation * n)
            expected += _by_token(LAST, slot.packed, weights)
    effective = _effective(LAST, _rl_train.Local("token-mean"))
    np.testing.assert_allclose(effective, expected, rtol=1e-12, atol=1e-15)


def _audited(bug) -> np.ndarray:
    """The audit's effective weights of ``bug``'s formula on the demo's last step."""
    packed = bug.layout.packed
    windows = [[slot.layout(packed) for slot in rank] for rank in LAST.shards]
    layout = Layout(
        [[b.mask for b in w] for w in windows],
        segment_ids=[[b.segment_ids for b in w] for w in windows] if packed else None,
        group_ids=[[b.group_ids for b in w] for w in windows],
        num_groups=_rl_task.GROUPS,
        gradients=bug.layout.gradients,
        accumulation=bug.layout.accumulation,
        accumulation_steps=TASK.accumulation,
    )
    settings = _rl_task.options(bug.mode)
    report = audit_loss(
        bug.buggy,
        layout,
        mode=bug.mode,
        max_length=settings["max_length"],
        count_empty=settings["count_empty"],
    )
    return sum(
        _by_token(LAST, b, report.weights[r][k])
        for r, w in enumerate(windows)
        for k, b in enumerate(w)
    )


@pytest.mark.parametrize(
    "bug", [b for mode in MODES for b in _rl_train.formulas(mode)], ids=lambda b: b.name
)
def test_each_published_formula_weighs_tokens_as_the_audit_finds(bug):
    effective = _effective(LAST, _rl_train.Published(bug))
    np.testing.assert_allclose(effective, _audited(bug), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("mode", [m for m in MODES if _rl_train.formulas(m)])
def test_some_published_formula_of_each_mode_is_off(mode: str):
    reference = _reference(LAST, mode)
    errors = {
        bug.name: _relative(_effective(LAST, _rl_train.Published(bug)), reference)
        for bug in _rl_train.formulas(mode)
    }
    assert max(errors.values()) > 0.05, errors


# ----------------------------------------------------------------------------- the report


def _synthetic(losskit_drift: float):
    reference = [np.zeros(3), np.ones(3)]
    runs = {
        "token-mean": {
            "losskit plan": [p + losskit_drift for p in reference],
            "local: aggregate / K": [p + 0.01 for p in reference],
            "trl-bnpo": [p + 0.1 for p in reference],
            "unsloth-empty-batch": [p.copy() for p in reference],
        },
        "token-sum": {
            "losskit plan": [p.copy() for p in reference],
            "local: aggregate / K": [p + np.nan for p in reference],
        },
    }
    return {"token-mean": reference, "token-sum": reference}, runs


@pytest.mark.parametrize(
    ("drift", "code", "verdict"), [(0.0, 0, "OK"), (1e-6, 1, "FAIL"), (np.nan, 1, "FAIL")]
)
def test_exit_code_table_and_plot(monkeypatch, tmp_path, drift, code, verdict):
    monkeypatch.setattr(_rl, "_runs", lambda task: _synthetic(drift))
    out = io.StringIO()
    png = tmp_path / "rl.png"
    assert _rl.run(str(png), out=out) == code
    text = out.getvalue()
    assert text.splitlines()[-1].startswith(verdict)
    assert re.search(r"^token-mean +trl-bnpo +1\.00e-01  off$", text, re.M)
    assert re.search(r"^token-sum +local: aggregate / K +nan  diverged$", text, re.M)
    assert "unsloth-empty-batch is exact on these data" in text
    assert "not run: trl-dapo-generation-batch" in text
    losskit = "exact" if drift == 0 else "DRIFTS"
    assert re.search(rf"^token-mean +losskit plan +\S+  {losskit}$", text, re.M)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_requirements_say_how_to_install():
    out = io.StringIO()
    assert _report.missing(("losskit_no_such_module",), out)
    assert "losskit demo needs losskit_no_such_module: pip install 'losskit[demo]'" in (
        out.getvalue()
    )
    assert not _report.missing(("numpy",), io.StringIO())


def test_cli_picks_the_scenario(monkeypatch):
    calls = []
    monkeypatch.setattr(demo, "run", lambda **kwargs: calls.append(kwargs) or 0)
    assert _cli.main(["demo", "--scenario", "rl"]) == 0
    assert calls == [{"engine": "torch", "png": None, "scenario": "rl"}]
    monkeypatch.undo()
    pngs = []
    monkeypatch.setattr(_rl, "run", lambda png, out: pngs.append(png) or 0)
    assert demo.run(scenario="rl") == 0
    assert pngs == ["losskit-demo-rl.png"]


def test_a_failed_rank_fails_the_command(monkeypatch, capsys):
    from losskit.testing import ProcessFailure

    def failing(task):
        raise ProcessFailure(
            "rank 3 of 4 failed; the other ranks were stopped.", rank=3, details=""
        )

    monkeypatch.setattr(_rl, "_runs", failing)
    assert _cli.main(["demo", "--scenario", "rl", "--png", "unused.png"]) == 1
    assert "losskit demo failed: rank 3 of 4 failed" in capsys.readouterr().err


def test_an_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match=r"Invalid `scenario`: expected one of \('tagger', 'rl'\)"):
        demo.run(scenario="grpo")


def test_cli_refuses_rl_on_jax(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["demo", "--scenario", "rl", "--engine", "jax"])
    assert exit_info.value.code == 2
    assert "--scenario rl runs on --engine torch only" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the command


@pytest.mark.slow
def test_the_rl_scenario_runs_on_4_gloo_ranks(tmp_path: Path) -> None:
    png = tmp_path / "rl.png"
    completed = subprocess.run(
        [sys.executable, "-m", "losskit._cli", "demo", "--scenario", "rl", "--png", str(png)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    assert "OK: losskit's run matches the single-process objective in every mode" in (
        completed.stdout
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    found: dict[str, dict[str, float]] = {}
    for mode, name, value in re.findall(
        r"^(\S+) +(.+?) +(\S+)  (?:exact|off|diverged|DRIFTS)$", completed.stdout, re.M
    ):
        found.setdefault(mode, {})[name] = float(value)
    assert set(found) == set(MODES)
    for mode, by_name in found.items():
        assert by_name["losskit plan"] <= _report.TOLERANCE, mode
        assert by_name["local: aggregate / K"] > 1e-3, mode
        published = [by_name[bug.name] for bug in _rl_train.formulas(mode)]
        assert len(published) == len(_rl_train.formulas(mode))
        if published:
            assert max(published) > 1e-3, mode  # a published formula visibly drifts
