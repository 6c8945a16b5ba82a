"""Meta-tests: the deviation table, its predicates and the case generator keep each other honest."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.conformance._cases import generated_cases, handwritten_cases
from tests.conformance._float64_oracle import magnitude
from tests.conformance._outcomes import from_tensorflow, really_differ, run_losskit
from tests.conformance.deviations import (
    EXERCISED_BY,
    NOT_OBSERVABLE,
    PREDICATES,
    applicable,
    known_mismatch,
    table_rows,
)
from tests.conformance.test_generated import CASES

pytestmark = pytest.mark.tf


def test_table_parses() -> None:
    rows = table_rows()
    assert len(rows) >= 10, f"only {len(rows)} rows parsed from docs/deviations.md"
    for name, cells in rows.items():
        assert len(cells) == 5, f"row {name!r} has {len(cells)} cells, expected 5: {cells}"


def test_predicates_name_only_table_ids() -> None:
    stale = sorted(set(PREDICATES) - set(table_rows()))
    assert not stale, f"predicates for ids that are not in docs/deviations.md: {stale}"


def test_not_observable_names_only_table_ids() -> None:
    stale = sorted(set(NOT_OBSERVABLE) - set(table_rows()))
    assert not stale, f"NOT_OBSERVABLE lists ids that are not in docs/deviations.md: {stale}"
    both = sorted(set(NOT_OBSERVABLE) & set(PREDICATES))
    assert not both, f"ids both predicated and declared not observable: {both}"


def test_every_deviation_is_exercised(tf_results: dict[str, Any]) -> None:
    """Each row has a case under it where TensorFlow and losskit really give different results."""
    differing: dict[str, list[str]] = defaultdict(list)
    for case in CASES:
        if known_mismatch(case) is not None:
            continue
        ids = applicable(case)
        if not ids:
            continue
        tf = from_tensorflow(tf_results["cases"][case.id])
        got = run_losskit(case, case.backends[0])
        if really_differ(got, tf, scale=magnitude(case)):
            for name in ids:
                differing[name].append(case.id)
    missing = sorted(set(table_rows()) - set(differing) - set(NOT_OBSERVABLE) - set(EXERCISED_BY))
    assert not missing, (
        f"deviation ids with no case where TensorFlow and losskit differ: {missing}; add a "
        "case or list the id in deviations.NOT_OBSERVABLE with the reason"
    )


def test_rows_exercised_elsewhere_are_named_there() -> None:
    root = Path(__file__).resolve().parents[2]
    for name, module in EXERCISED_BY.items():
        assert name in table_rows(), f"EXERCISED_BY names {name!r}, not in the table"
        path = root / module
        assert path.is_file(), f"{module} (exercising {name!r}) does not exist"
        assert f'"{name}"' in path.read_text(), f"{module} does not exercise {name!r}"


def test_enough_generated_cases() -> None:
    generated = generated_cases()
    assert len(generated) >= 300, f"{len(generated)} generated cases, at least 300 required"
    assert len(handwritten_cases()) >= 35


def test_generator_is_deterministic() -> None:
    first = json.dumps([case.to_json() for case in generated_cases()])
    again = json.dumps([case.to_json() for case in generated_cases()])
    assert first == again


def test_generator_covers_the_required_inputs() -> None:
    generated = generated_cases()
    ranks = {case.losses.rank for case in generated}
    dtypes = {case.losses.dtype for case in generated}
    empty = [c for c in generated if 0 in c.losses.shape]
    contexts = {(c.context, c.replicas) for c in generated}
    assert ranks >= {0, 1, 2, 3, 4}, ranks
    assert dtypes >= {"float16", "bfloat16", "float32", "float64", "int32", "int8", "int64"}
    assert empty, "no empty losses"
    assert {("replica", n) for n in (1, 2, 3, 4)} <= contexts
    assert {("cross", n) for n in (1, 2, 3, 4)} <= contexts


def test_tensorflow_oracle_environment(tf_results: dict[str, Any]) -> None:
    versions = tf_results["versions"]
    assert versions["tensorflow"].startswith("2.21"), versions
    assert versions["logical_cpus"] >= 4, versions
    missing = [case.id for case in CASES if case.id not in tf_results["cases"]]
    assert not missing, f"cases without a TensorFlow result: {missing[:10]}"
