"""The fused linear cross-entropy's memory rows (case F1 of ``_lcecases.py``)."""

from __future__ import annotations

from typing import Any

from _lcecases import CASE_ID, MEMORY_MAX, NATIVE
from _rows import MiB, Row

__all__ = ["memory_rows"]


def memory_rows(results: dict[str, Any]) -> list[Row]:
    """Peak extra memory of the fused step against the materialized one, per backend: the
    target's measure (PyTorch: RSS; JAX: XLA temporaries), then JAX's RSS for information."""
    anchors = {"torch": "F.linear + F.cross_entropy", "jax": "optax materialized"}
    measures = (
        ("torch", "rss_peak", "RSS peak", True),
        ("jax", "xla_temp", "XLA temp", True),
        ("jax", "rss_peak", "RSS peak", False),
    )
    rows = []
    for backend, key, how, targeted in measures:
        entries = results.get(backend, {}).get("cases", {}).get(CASE_ID, {}).get("entries", {})
        mine, theirs = entries.get("losskit", {}), entries.get(NATIVE, {})
        if key not in mine or key not in theirs:
            continue
        ratio = mine[key] / theirs[key]
        status = ("PASS" if ratio <= MEMORY_MAX else "MISS") if targeted else "info"
        rows.append(
            Row(
                case="F1 peak memory fused linear CE",
                backend=backend,
                losskit=f"{mine[key] / MiB:.1f} MiB",
                anchor=f"{anchors[backend]} [{how}]",
                anchor_value=f"{theirs[key] / MiB:.1f} MiB",
                ratio=f"1/{1 / ratio:.1f}",
                target="<= 1/8" if targeted else "",
                result=status,
            )
        )
    return rows
