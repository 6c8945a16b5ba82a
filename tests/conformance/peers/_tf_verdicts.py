"""Verdicts of translated upstream tests, as data: every upstream test method gets one.

A verdict is a string:

* ``"passes"`` (or ``"passes: <what was left out>"``): a real translated test,
  ``test_<Class>_<method>``, in the same module;
* ``"deviation: <id>"``: losskit deliberately differs, row ``<id>`` of docs/deviations.md;
  the translated test asserts losskit's side;
* ``"n/a: <one-line reason>"``: nothing in losskit to test.

Each module also names its upstream file in ``UPSTREAM`` (and in its docstring). The
modules of TensorFlow's suites are listed in :data:`TENSORFLOW_MODULES`;
:func:`summary` counts their verdicts for docs/v1.md.
"""

from __future__ import annotations

import importlib
from collections import Counter
from types import ModuleType
from typing import Any

TENSORFLOW_MODULES = (
    "tests.conformance.peers.test_tf_v1_losses",
    "tests.conformance.peers.test_tf_losses_impl",
    "tests.conformance.peers.test_tf_losses_util",
    "tests.conformance.peers.test_tf_loss_scaling",
)

PASSES = "passes"
KINDS = ("passes", "deviation", "n/a")


def deviation(name: str) -> str:
    return f"deviation: {name}"


def not_applicable(reason: str) -> str:
    return f"n/a: {reason}"


def kind(verdict: str) -> str:
    """ "passes", "deviation" or "n/a" (raises on anything else)."""
    head = verdict.split(":", 1)[0]
    if head not in KINDS:
        raise ValueError(f"not a verdict: {verdict!r}")
    return head


def detail(verdict: str) -> str:
    return verdict.split(":", 1)[1].strip() if ":" in verdict else ""


def translated_test_name(method: str) -> str:
    """``"Class.method"`` -> the translated test's function name."""
    return "test_" + method.replace(".", "_")


def modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in TENSORFLOW_MODULES]


def summary() -> list[dict[str, Any]]:
    """Per upstream file: its path, commit, the count of each verdict kind, and how many
    passes leave a part of the upstream method out (graph op names, run-time checks)."""
    rows = []
    for module in modules():
        counts = Counter(kind(verdict) for verdict in module.VERDICTS.values())
        deviations = sorted({detail(v) for v in module.VERDICTS.values() if kind(v) == "deviation"})
        rows.append(
            {
                "path": module.UPSTREAM["path"],
                "commit": module.UPSTREAM["commit"],
                "methods": len(module.VERDICTS),
                **{k: counts.get(k, 0) for k in KINDS},
                "partial": sum(
                    1 for v in module.VERDICTS.values() if kind(v) == "passes" and detail(v)
                ),
                "deviations": deviations,
            }
        )
    return rows
