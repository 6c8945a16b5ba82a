"""The ``keras_results`` fixture: tf_keras 2.21 and Keras 3 in one subprocess, once per session.

Not a conftest: the test module that needs the fixture binds it by name
(``keras_results = _keras_fixture.keras_results``), so nothing else pays for the subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conformance._keras_cases import payload

SCRIPT = Path(__file__).with_name("_keras_oracle.py")
TIMEOUT = 300


def tensorflow_environment() -> dict[str, str]:
    """The current environment (OPENBLAS_* and the rest kept as they are), TF kept quiet.

    The same as ``conftest.tensorflow_environment``; a conftest is not imported as a module.
    """
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@pytest.fixture(scope="session")
def keras_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What ``_keras_oracle.py`` computed for :func:`_keras_cases.payload` (see its docstring)."""
    folder = tmp_path_factory.mktemp("keras_oracle")
    request, response = folder / "request.json", folder / "results.json"
    request.write_text(json.dumps(payload()))
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
            f"the Keras oracle failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}",
            pytrace=False,
        )
    results: dict[str, Any] = json.loads(response.read_text())
    return results
