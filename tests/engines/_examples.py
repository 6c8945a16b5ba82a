"""The docs' example scripts (``docs/engines/*_example.py``), loaded as modules."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs" / "engines"


def load(name: str) -> dict[str, Any]:
    """The globals of ``docs/engines/{name}_example.py``, run as a module (not as a script)."""
    return runpy.run_path(str(DOCS / f"{name}_example.py"), run_name=f"{name}_example")
