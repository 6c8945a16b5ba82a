"""The table's rows and the formatting shared by the report modules (``_report.py``,
``_regreport.py``): a :class:`Row` per line, times, errors and ratios as text, PASS/MISS."""

from __future__ import annotations

import dataclasses
from typing import Any

MiB = 1 << 20
ARRAY_BACKENDS = ("numpy", "torch", "jax")


@dataclasses.dataclass
class Row:
    case: str
    backend: str
    losskit: str
    anchor: str
    anchor_value: str
    ratio: str
    target: str
    result: str  # PASS, MISS or info
    err: str = ""
    anchor_err: str = ""


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_err(err: float | None) -> str:
    return "" if err is None else f"{err:.1e}"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


def status(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def peak_memory(entry: dict[str, Any], backend: str) -> tuple[float | None, str]:
    """(peak bytes above the inputs, how it was measured) for one entry."""
    if backend == "numpy" and "tracemalloc_peak" in entry:
        return entry["tracemalloc_peak"], "tracemalloc"
    if backend == "jax" and "xla_temp" in entry:
        return entry["xla_temp"], "XLA temp"
    if "rss_peak" in entry:
        return entry["rss_peak"], "RSS peak"
    return None, ""
