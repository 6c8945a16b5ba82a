"""The verdicts of the translated TensorFlow suites are complete, valid and in docs/v1.md.

Every upstream method listed has a verdict; every ``passes`` and ``deviation`` verdict has
its translated test; every deviation names a row of docs/deviations.md; each module names
its upstream repository, path and commit at its top; and the counts in docs/v1.md's section
"Parity with TensorFlow's own tests" are the counts of the data.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.conformance.deviations import table_rows
from tests.conformance.peers._tf_verdicts import (
    KINDS,
    TENSORFLOW_MODULES,
    detail,
    kind,
    modules,
    summary,
    translated_test_name,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "v1.md"
SECTION = "## Parity with TensorFlow's own tests"


@pytest.fixture(params=TENSORFLOW_MODULES, ids=lambda name: name.rsplit(".", 1)[1])
def module(request: pytest.FixtureRequest) -> ModuleType:
    return next(m for m in modules() if m.__name__ == request.param)


def test_module_names_its_upstream_at_the_top(module: ModuleType) -> None:
    upstream = module.UPSTREAM
    assert upstream["repository"] == "tensorflow/tensorflow"
    assert re.fullmatch(r"[0-9a-f]{40}", upstream["commit"]), upstream
    head = (module.__doc__ or "")[:400]
    for value in upstream.values():
        assert value in head, f"{module.__name__}'s docstring does not name {value}"


def test_every_verdict_is_valid(module: ModuleType) -> None:
    rows = table_rows()
    assert module.VERDICTS, module.__name__
    for method, verdict in module.VERDICTS.items():
        assert re.fullmatch(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+", method), method
        found = kind(verdict)
        assert "\n" not in verdict, method
        if found == "deviation":
            assert detail(verdict) in rows, f"{method}: {detail(verdict)!r} is not a row"
        if found == "n/a":
            assert len(detail(verdict)) > 20, f"{method}: give the reason"


def test_passing_and_deviating_methods_have_their_test(module: ModuleType) -> None:
    tests = {
        name
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("test_") and fn.__module__ == module.__name__
    }
    wanted = {translated_test_name(m) for m, v in module.VERDICTS.items() if kind(v) != "n/a"}
    assert wanted <= tests, sorted(wanted - tests)
    orphans = tests - {translated_test_name(m) for m in module.VERDICTS}
    assert not orphans, f"translated tests without a verdict: {sorted(orphans)}"


def test_docs_table_matches_the_verdicts() -> None:
    text = DOC.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    for row in summary():
        line = next((line for line in section.splitlines() if row["path"] in line), None)
        assert line is not None, f"docs/v1.md has no row for {row['path']}"
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        numbers = [int(cell) for cell in cells if cell.isdigit()]
        expected = [row["methods"], *(row[k] for k in KINDS), row["partial"]]
        assert numbers == expected, (line, row)
        for name in row["deviations"]:
            assert name in line, (name, line)
