"""Every generated and hand-written case: losskit against the live TensorFlow 2.21.

Rule (a): a case that no deviation covers must give TensorFlow's value, dtype and shape, or
the same error type with a message that names the argument. Rule (b): a case that a row of
``docs/deviations.md`` covers must give losskit's documented result instead (the float64
oracle in ``_float64_oracle.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.conformance._cases import all_cases
from tests.conformance._float64_oracle import contract
from tests.conformance._model import Case
from tests.conformance._outcomes import (
    Outcome,
    compare_values,
    compare_with_oracle,
    compare_with_tensorflow,
    from_tensorflow,
    run_losskit,
)
from tests.conformance.deviations import KNOWN_MISMATCHES, applicable, known_mismatch

pytestmark = pytest.mark.tf

CASES = all_cases()


def _params() -> Iterator[Any]:
    for case in CASES:
        mismatch = known_mismatch(case)
        marks = []
        if mismatch is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_MISMATCHES[mismatch]))
        for name in case.backends:
            yield pytest.param(case, name, id=f"{case.id}-{name}", marks=marks)


def tensorflow_outcome(tf_results: dict[str, Any], case: Case) -> Outcome:
    result = tf_results["cases"].get(case.id)
    if result is None:
        pytest.fail(f"no TensorFlow result for {case.id}", pytrace=False)
    return from_tensorflow(result)


def _report(
    case: Case,
    backend: str,
    tf: Outcome,
    got: Outcome,
    problems: list[str],
    deviations: list[str],
    expected: Outcome | None,
) -> str:
    lines = [
        f"case       {case.describe()}",
        f"backend    {backend}",
        f"TensorFlow {tf}",
        f"losskit    {got}",
    ]
    if deviations:
        lines.append(f"deviations {', '.join(deviations)} -> checked against the float64 oracle")
        lines.append(f"oracle     {expected}")
    lines += [f"problem    {problem}" for problem in problems]
    return "\n".join(lines)


@pytest.mark.parametrize(("case", "backend"), list(_params()))
def test_case(case: Case, backend: str, tf_results: dict[str, Any]) -> None:
    tf = tensorflow_outcome(tf_results, case)
    got = run_losskit(case, backend)
    expected, scale = contract(case)
    deviations = applicable(case)
    if deviations:
        problems = compare_with_oracle(got, expected, scale=scale, error_arg=case.error_arg)
    else:
        problems = compare_with_tensorflow(got, tf, scale=scale, error_arg=case.error_arg)
    if problems:
        pytest.fail(_report(case, backend, tf, got, problems, deviations, expected), pytrace=False)


RECORDED = [pytest.param(case, id=case.id) for case in CASES if case.expect_tf is not None]


@pytest.mark.parametrize("case", RECORDED)
def test_tensorflow_matches_recorded_semantics(case: Case, tf_results: dict[str, Any]) -> None:
    """docs/tf-semantics.md section 6 was measured on TF 2.21; the live TF must still agree."""
    tf = tensorflow_outcome(tf_results, case)
    record = case.expect_tf
    assert record is not None
    if "raises" in record:
        assert tf.error == record["raises"], f"{case.id}: TF gives {tf}, recorded {record}"
        # TF wraps long messages over lines; the record has them on one
        match, message = " ".join(record["match"].split()), " ".join(tf.message.split())
        assert match in message, f"{case.id}: TF message {tf.message!r}"
        return
    wanted = Outcome(
        np.asarray(record["value"], dtype=np.float64), record["dtype"], tuple(record["shape"])
    )
    rtol = 1e-3 if record["dtype"] in ("float16", "bfloat16") else 1e-6
    problems = compare_values(tf, wanted, rtol=rtol, scale=0.0)
    assert not problems, f"{case.id}: TF gives {tf}, recorded {wanted}: {problems}"
