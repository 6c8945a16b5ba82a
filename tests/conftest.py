"""The one `xp` fixture: the core suite on NumPy, PyTorch, JAX (jitted) and array-api-strict."""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from tests._helpers import Backend

# Deterministic in CI (the same examples every run); HYPOTHESIS_PROFILE=explore searches more.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _backends() -> Iterator[Any]:
    yield pytest.param("numpy", id="numpy")
    yield pytest.param("torch", id="torch")
    yield pytest.param("jax", id="jax")
    yield pytest.param("array_api_strict", id="array_api_strict")


@pytest.fixture(params=list(_backends()))
def xp(request: pytest.FixtureRequest) -> Backend:
    name = request.param
    # No importorskip: the test environment has every backend, and a missing one must fail.
    module = importlib.import_module("jax.numpy" if name == "jax" else name)
    return Backend(name, module)
