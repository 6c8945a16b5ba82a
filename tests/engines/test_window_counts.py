"""A window's two counts (tokens, examples) cost one all-reduce, on 2 gloo processes."""

from __future__ import annotations

import pytest

from losskit.testing import run_processes
from tests.engines import _window_counts

pytestmark = pytest.mark.slow


def test_each_window_counts_tokens_and_examples_in_one_all_reduce() -> None:
    results = run_processes(_window_counts.counts, 2, timeout=120)
    mine = [_window_counts.batches(rank) for rank in range(2)]
    expected = []
    for start in (0, 2, 4):  # windows of 2, 2 and the partial last window of 1
        window = [b for rank in range(2) for b in mine[rank][start : start + 2]]
        tokens = sum(float((b["mask"] != 0).sum()) for b in window)
        examples = sum(len(b["x"]) for b in window)
        expected.append((tokens, examples, 1))
    assert results[0] == results[1] == expected
