"""The one `xp` fixture: the core suite on NumPy, PyTorch, JAX (jitted) and array-api-strict."""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Iterator
from typing import Any

import pytest

from tests._helpers import Backend


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
