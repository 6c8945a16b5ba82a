"""``losskit demo``: the main job runs end to end, and fails when a run drifts."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import losskit._demo as demo


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["torch", "jax"])
def test_demo_runs_and_matches(engine: str, tmp_path: Path) -> None:
    png = tmp_path / "curves.png"
    completed = subprocess.run(
        [sys.executable, "-m", "losskit._cli", "demo", "--engine", engine, "--png", str(png)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    assert "OK: losskit's run matches the single-process run" in completed.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last = next(line for line in completed.stdout.splitlines() if line.startswith("largest"))
    naive = float(last.rsplit("naive ", 1)[1])
    assert naive > 1e-3  # the naive normalization visibly drifts


def _runs(drift: float) -> dict:
    params = [np.zeros(3), np.ones(3)]
    return {
        "single": {"losses": [1.0, 0.5], "params": params},
        "losskit": {"losses": [1.0, 0.5], "params": [p + drift for p in params]},
        "naive": {"losses": [1.1, 0.6], "params": [p + 0.1 for p in params]},
    }


@pytest.mark.parametrize(("drift", "code", "verdict"), [(0.0, 0, "OK"), (1e-6, 1, "FAIL")])
def test_demo_exit_code_follows_the_drift(monkeypatch, tmp_path, drift, code, verdict) -> None:
    monkeypatch.setattr(demo, "_torch_runs", lambda plan: _runs(drift))
    out = io.StringIO()
    assert demo.run("torch", png=str(tmp_path / "p.png"), out=out) == code
    assert out.getvalue().splitlines()[-1].startswith(verdict)


def test_demo_reports_a_failed_rank(monkeypatch, capsys) -> None:
    from losskit import _cli
    from losskit.testing import ProcessFailure

    def failing(**kwargs):
        raise ProcessFailure(
            "rank 2 of 4 failed; the other ranks were stopped.", rank=2, details=""
        )

    monkeypatch.setattr(demo, "run", failing)
    assert _cli.main(["demo"]) == 1
    assert "losskit demo failed: rank 2 of 4 failed" in capsys.readouterr().err
