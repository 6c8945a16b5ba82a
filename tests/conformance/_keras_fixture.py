"""The ``keras_results`` fixture: tf_keras 2.21 and Keras 3 in one subprocess, once per session.

Not a conftest: the test module that needs the fixture binds it by name
(``keras_results = _keras_fixture.keras_results``), so nothing else pays for the subprocess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance._keras_cases import payload
from tests.conformance._oracle_process import run_oracle

SCRIPT = Path(__file__).with_name("_keras_oracle.py")


@pytest.fixture(scope="session")
def keras_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What ``_keras_oracle.py`` computed for :func:`_keras_cases.payload` (see its docstring)."""
    return run_oracle(SCRIPT, payload(), tmp_path_factory, "Keras")
