"""Run an oracle script (TensorFlow, Keras) in its own process: JSON in, JSON out.

TensorFlow must configure its logical devices before it starts and must not share a process
with PyTorch's and JAX's thread pools, so every oracle runs as ``sys.executable script
request.json response.json``, once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TIMEOUT = 300


def tensorflow_environment() -> dict[str, str]:
    """The current environment (OPENBLAS_* and the rest kept as they are), TF kept quiet."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_oracle(
    script: Path, payload: Any, tmp_path_factory: pytest.TempPathFactory, label: str
) -> dict[str, Any]:
    """The script's JSON answer to ``payload``; fails (never skips) if the script fails."""
    folder = tmp_path_factory.mktemp(script.stem)
    request, response = folder / "request.json", folder / "results.json"
    request.write_text(json.dumps(payload))
    completed = subprocess.run(
        [sys.executable, str(script), str(request), str(response)],
        env=tensorflow_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if completed.returncode != 0 or not response.exists():
        pytest.fail(
            f"the {label} oracle failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}",
            pytrace=False,
        )
    results: dict[str, Any] = json.loads(response.read_text())
    return results
