"""Shared helpers of the regularizer experiments (``reg_*.py``): setup, timing, tables.

Each experiment runs in its own process per library (``--backend``), pins the threads like
the harness (``bench/_backends.py``) and times its candidates interleaved
(``bench/_timing.measure``); ratios are medians of per-round ratios against a control.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import _backends  # noqa: E402
import _data  # noqa: E402
import _timing  # noqa: E402

RESULTS = os.path.join(HERE, "results")

__all__ = ["RESULTS", "_backends", "_data", "_timing", "parser", "run_table", "setup", "table"]


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=9)
    return p


def setup(backend: str, threads: int) -> tuple[_backends.Backend, dict[str, Any]]:
    _backends.pin_cpus(threads)
    be = _backends.get(backend)
    return be, be.setup(threads)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    text = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in text]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


def run_table(
    title: str,
    fns: dict[str, Callable[[], Any]],
    *,
    rounds: int,
    sync: Callable[[Any], Any],
    value: Callable[[Any], float] | None = None,
    reference: float | None = None,
    control: str | None = None,
    nbytes: int | None = None,
    extra: dict[str, Callable[[str], str]] | None = None,
    min_sample: float = 5e-4,
) -> str:
    """Time ``fns`` interleaved; one row each: median, ratio to ``control``, GB/s, error."""
    timings = _timing.measure(fns, rounds=rounds, sync=sync, min_sample=min_sample)
    control = control or next(iter(fns))
    header = ["candidate", "median", "q1-q3", f"ratio to {control[:28]}"]
    if nbytes:
        header.append("GB/s")
    if reference is not None:
        header.append("rel. err")
    extra = extra or {}
    header += list(extra)
    rows = []
    for name, timing in timings.items():
        ratio = _timing.paired_ratio(timing.samples, timings[control].samples)
        row = [name, fmt_time(timing.median), f"{fmt_time(timing.q1)}-{fmt_time(timing.q3)}"]
        row.append(f"{ratio:.2f}x")
        if nbytes:
            row.append(f"{nbytes / timing.median / 1e9:.1f}")
        if reference is not None and value is not None:
            got = value(sync(fns[name]()))
            row.append(f"{_timing.relative_error(got, reference):.1e}")
        row += [column(name) for column in extra.values()]
        rows.append(row)
    return f"## {title}  ({rounds} rounds)\n\n" + table(header, rows) + "\n"


def emit(text: str, path: str | None) -> None:
    print(text, flush=True)
    if path:
        with open(path, "a") as handle:
            handle.write(text + "\n")
