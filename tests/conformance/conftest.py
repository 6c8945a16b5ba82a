"""The TensorFlow oracle: one subprocess, once per session, for every conformance case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance._cases import all_cases
from tests.conformance._oracle_process import run_oracle
from tests.conformance._pages import examples_payload, gradient_cases

SCRIPT = Path(__file__).with_name("_tf_oracle.py")


@pytest.fixture(scope="session")
def tf_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{"cases": {id: result}, "examples": {key: result}, "gradients": {id: result}}``."""
    payload = {
        "cases": [case.to_json() for case in all_cases()],
        "examples": examples_payload(),
        "gradients": [case.to_json() for case in gradient_cases()],
    }
    return run_oracle(SCRIPT, payload, tmp_path_factory, "TensorFlow")
