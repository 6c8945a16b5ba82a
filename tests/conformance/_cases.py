"""Every conformance case: the generated ones, then the hand-written ones."""

from __future__ import annotations

from tests.conformance._generated import generated_cases
from tests.conformance._handwritten import handwritten_cases
from tests.conformance._model import Case

__all__ = ["all_cases", "generated_cases", "handwritten_cases"]


def all_cases() -> list[Case]:
    cases = [*generated_cases(), *handwritten_cases()]
    ids = [case.id for case in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise AssertionError(f"duplicate case ids: {duplicates}")
    return cases
