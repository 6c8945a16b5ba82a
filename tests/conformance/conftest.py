"""The TensorFlow oracle: one subprocess, once per session, for every conformance case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance._cases import all_cases
from tests.conformance._pages import examples_payload, gradient_cases

SCRIPT = Path(__file__).with_name("_tf_oracle.py")
TIMEOUT = 300


def tensorflow_environment() -> dict[str, str]:
    """The current environment (OPENBLAS_* and the rest kept as they are), TF kept quiet."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@pytest.fixture(scope="session")
def tf_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{"cases": {id: result}, "examples": {key: result}, "gradients": {id: result}}``."""
    folder = tmp_path_factory.mktemp("tf_oracle")
    request, response = folder / "cases.json", folder / "results.json"
    payload = {
        "cases": [case.to_json() for case in all_cases()],
        "examples": examples_payload(),
        "gradients": [case.to_json() for case in gradient_cases()],
    }
    request.write_text(json.dumps(payload))
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), str(request), str(response)],
        env=tensorflow_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if completed.returncode != 0 or not response.exists():
        pytest.fail(
            f"the TensorFlow oracle failed (exit {completed.returncode}):\n"
            f"{completed.stderr[-4000:]}",
            pytrace=False,
        )
    results: dict[str, Any] = json.loads(response.read_text())
    return results
