"""`make test-min` installs exactly the floors that pyproject.toml declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTED_FLOORS = ("numpy", "array-api-compat", "jax")


def _floors() -> dict[str, str]:
    """``name -> version`` of the ``name>=version`` runtime requirements and the framework
    extras (not ``demo``, whose floors serve the demonstration) of pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    found: dict[str, str] = {}
    for requirement in (*project["dependencies"], *extras["torch"], *extras["jax"]):
        name, version = requirement.split(">=")
        found[name] = version
    return found


def _make_variable(name: str) -> dict[str, str]:
    text = (ROOT / "Makefile").read_text()
    line = re.search(rf"^{name} := (.*)$", text, re.MULTILINE)
    assert line is not None, f"the Makefile has no {name}"
    pins = dict(pin.split("==") for pin in line.group(1).split())
    return pins


def test_test_min_installs_the_declared_floors() -> None:
    floors, pins = _floors(), _make_variable("MIN_PINS")
    assert {name: pins.get(name) for name in TESTED_FLOORS} == {
        name: floors[name] + ".0" * (2 - floors[name].count(".")) for name in TESTED_FLOORS
    }
    assert pins["jaxlib"] == pins["jax"]


def test_test_min_keeps_the_pinned_torch() -> None:
    pinned = re.search(r"^torch==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pinned is not None
    assert _make_variable("MIN_TOOLS")["torch"] == pinned.group(1)
