"""The verdicts on the peers' test methods: valid, matched by translations, summarized in
``docs/peers.md`` (which must show exactly the counts computed here).

Regenerate the summaries after changing a verdict with
``python -m tests.conformance.peers.test_verdicts`` and paste its output into the page.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

import tests.conformance.peers as peers
from tests.conformance.deviations import table_rows
from tests.conformance.peers._verdicts import (
    DEVIATION,
    NOT_APPLICABLE,
    PASSES,
    Upstream,
    kind,
    local_name,
)

PAGE = Path(__file__).resolve().parents[3] / "docs" / "peers.md"
KINDS = ("passes", "deviation", "not applicable")


def translated_modules() -> list[ModuleType]:
    """The modules of this folder that translate an upstream file (they define ``UPSTREAM``
    and ``VERDICTS``)."""
    found = []
    for info in sorted(pkgutil.iter_modules(peers.__path__), key=lambda i: i.name):
        if not info.name.startswith("test_") or info.name == "test_verdicts":
            continue
        module = importlib.import_module(f"{peers.__name__}.{info.name}")
        if isinstance(getattr(module, "UPSTREAM", None), Upstream) and hasattr(module, "VERDICTS"):
            found.append(module)
    return found


MODULES = translated_modules()


def summary(module: ModuleType) -> str:
    """The Markdown block of one upstream file: its source, the counts by verdict and by
    deviation row."""
    upstream: Upstream = module.UPSTREAM
    verdicts: dict[str, str] = module.VERDICTS
    counts = Counter(kind(v) for v in verdicts.values())
    rows = Counter(v.removeprefix(DEVIATION) for v in verdicts.values() if kind(v) == "deviation")
    reasons = Counter(
        v.removeprefix(NOT_APPLICABLE) for v in verdicts.values() if kind(v) == "not applicable"
    )
    applicable = counts["passes"] + counts["deviation"]
    lines = [
        f"### `{upstream.path}` ({upstream.repository} {upstream.tag})",
        "",
        f"Commit `{upstream.commit}`; translation: "
        f"`tests/conformance/peers/{module.__name__.rsplit('.', 1)[1]}.py`.",
        "",
        "| verdict | test methods |",
        "|---|---|",
        *(f"| {name} | {counts[name]} |" for name in KINDS),
        f"| **total** | **{len(verdicts)}** |",
        "",
        f"Passing: {counts['passes']} of the {applicable} applicable methods "
        f"({100 * counts['passes'] / applicable:.0f}%).",
    ]
    if rows:
        lines += ["", "| deviation row | test methods |", "|---|---|"]
        lines += [f"| `{row}` | {count} |" for row, count in sorted(rows.items())]
    if reasons:
        lines += ["", "| not applicable because | test methods |", "|---|---|"]
        lines += [f"| {reason} | {count} |" for reason, count in sorted(reasons.items())]
    return "\n".join(lines)


def overview() -> str:
    """One row per upstream file: the counts by verdict."""
    lines = [
        "| upstream file | passes | deviation | not applicable | total |",
        "|---|---|---|---|---|",
    ]
    totals: Counter[str] = Counter()
    for module in MODULES:
        counts = Counter(kind(v) for v in module.VERDICTS.values())
        totals.update(counts)
        cells = " | ".join(str(counts[name]) for name in KINDS)
        lines.append(
            f"| {module.UPSTREAM.repository} `{module.UPSTREAM.path}` | {cells} | "
            f"{len(module.VERDICTS)} |"
        )
    cells = " | ".join(f"**{totals[name]}**" for name in KINDS)
    lines.append(f"| **all** | {cells} | **{sum(totals.values())}** |")
    return "\n".join(lines)


def test_there_are_translations() -> None:
    names = {module.UPSTREAM.path for module in MODULES}
    assert {
        "tf_keras/losses_test.py",
        "tf_keras/regularizers_test.py",
        "keras/src/losses/losses_test.py",
        "keras/src/losses/loss_test.py",
        "keras/src/regularizers/regularizers_test.py",
    } <= names, names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_verdicts_are_valid(module: ModuleType) -> None:
    rows = table_rows()
    for method, verdict in module.VERDICTS.items():
        assert method.count(".") <= 1, method
        verdict_kind = kind(verdict)
        if verdict_kind == "deviation":
            row = verdict.removeprefix(DEVIATION)
            assert row in rows, f"{method}: {row!r} is not a row of docs/deviations.md"
        elif verdict_kind == "not applicable":
            reason = verdict.removeprefix(NOT_APPLICABLE)
            assert reason.strip(), method
            assert "\n" not in reason, f"{method}: the reason must be one line"
            assert len(reason) <= 200, f"{method}: the reason must be one line"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_translations_match_verdicts(module: ModuleType) -> None:
    """Every "passes" has its translated test; every translated test is of a method that
    passes or is a deviation (whose translation shows losskit's side)."""
    local: set[str] = set()
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and name.startswith("Test") and obj.__module__ == module.__name__:
            local |= {f"{name}.{m}" for m in vars(obj) if m.startswith("test_")}
        elif inspect.isfunction(obj) and name.startswith("test_"):
            local.add(name)
    expected = {local_name(m): v for m, v in module.VERDICTS.items()}
    missing = sorted(n for n, v in expected.items() if v == PASSES and n not in local)
    assert not missing, f"verdict 'passes' without a translated test: {missing}"
    stray = sorted(n for n in local if n not in expected)
    assert not stray, f"translated tests of no upstream method: {stray}"
    wrong = sorted(n for n in local if kind(expected[n]) == "not applicable")
    assert not wrong, f"translations of methods judged not applicable: {wrong}"


def test_page_shows_the_overview() -> None:
    block = overview()
    assert block in PAGE.read_text(), (
        "docs/peers.md does not show the current overview; regenerate it with "
        f"`python -m tests.conformance.peers.test_verdicts`:\n\n{block}"
    )


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_page_shows_the_counts(module: ModuleType) -> None:
    block = summary(module)
    assert block in PAGE.read_text(), (
        f"docs/peers.md does not show the current summary of {module.UPSTREAM.path}; "
        f"regenerate it with `python -m tests.conformance.peers.test_verdicts`:\n\n{block}"
    )


if __name__ == "__main__":
    print(overview(), end="\n\n")
    for translated in MODULES:
        print(summary(translated), end="\n\n")
