"""The published-bug corpus: the audit flags every buggy form and passes every fix."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from losskit.testing import PublishedBug, published_bugs

BUGS = {bug.name: bug for bug in published_bugs()}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "audit.md"


def test_corpus_size_and_sources() -> None:
    assert len(BUGS) == len(published_bugs()) >= 12
    for bug in BUGS.values():
        assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/\S+", bug.source), bug.name
        assert bug.what
        assert bug.layout is not None


@pytest.mark.parametrize("name", sorted(BUGS))
def test_the_audit_flags_the_bug(name: str) -> None:
    report = BUGS[name].audit()
    assert not report.passed
    with pytest.raises(AssertionError, match=r"FAILED: relative gradient error"):
        report.check()


@pytest.mark.parametrize("name", sorted(BUGS))
def test_the_audit_passes_the_fix(name: str) -> None:
    report = BUGS[name].audit(fixed=True).check()
    assert report.relative_error < 1e-12


@pytest.mark.parametrize("library", ["torch", "jax"])
@pytest.mark.parametrize("name", sorted(BUGS))
def test_every_entry_audits_on_the_frameworks_too(name: str, library: str) -> None:
    # the entries compute counts from the masks in NumPy; the audited losses are then torch
    # tensors or JAX arrays (with gradients), and the verdicts and errors must not change
    pytest.importorskip(library)
    bug = BUGS[name]
    buggy, fixed = bug.audit(library=library), bug.audit(fixed=True, library=library)
    assert not buggy.passed
    assert fixed.relative_error < 1e-12
    expected = bug.audit().relative_error  # NaN for the unfloored 0 / 0 entry
    assert buggy.relative_error == pytest.approx(expected, rel=1e-9, nan_ok=True)


def test_docs_table_lists_every_bug_with_its_ratios() -> None:
    text = DOCS.read_text()
    for bug in BUGS.values():
        row = re.search(rf"^\| `{re.escape(bug.name)}` \|.*\| ([^|]+) \| (\S+) \|$", text, re.M)
        assert row is not None, bug.name
        assert row.group(2) == bug.source
        report = bug.audit()
        if math.isnan(report.ratio_min):
            assert row.group(1).startswith("NaN")
            continue
        numbers = [float(x) for x in row.group(1).split(" to ")]
        assert numbers[0] == pytest.approx(report.ratio_min, rel=5e-3)  # 3 significant digits
        assert numbers[-1] == pytest.approx(report.ratio_max, rel=5e-3)  # 3 significant digits


def test_a_bug_entry_is_a_plain_record() -> None:
    bug = BUGS["trl-bnpo"]
    assert isinstance(bug, PublishedBug)
    assert "PublishedBug(name='trl-bnpo'" in repr(bug)
