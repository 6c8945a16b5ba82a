"""A pytest plugin that runs losskit's own test suite with the proposal swapped in.

    PYTHONPATH=bench/experiments .venv/bin/python -m pytest -p pytest_patch tests -m "not slow"

``losskit._sums.weighted_total`` (and the names losskit imported from it) become
``recommended.weighted_total``; ``src/`` and ``tests/`` are not modified.
"""

from __future__ import annotations

import recommended

import losskit._sums
import losskit.average_loss
import losskit.weighted_loss

for _module in (losskit._sums, losskit.average_loss, losskit.weighted_loss):
    _module.weighted_total = recommended.weighted_total  # type: ignore[attr-defined]


def pytest_report_header() -> str:
    return "losskit patched: weighted_total = bench/experiments/recommended.weighted_total"
