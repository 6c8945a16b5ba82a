"""Turn the workers' JSON into rows: ratios against anchors of the same run, targets, results.

Targets come from the project issue. Every timing target is a *ratio* to an anchor measured
in the same run (the fastest native kernel of the same backend, a hand-written gradient, or
TensorFlow in its own process); absolute times are printed for information only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import _lcereport
import _regreport
from _rows import ARRAY_BACKENDS, MiB, Row, fmt_err, fmt_ratio, fmt_time, peak_memory, status
from _timing import paired_ratio


@dataclasses.dataclass(frozen=True)
class Spec:
    """What one case is compared with, and the targets (``None``: informational)."""

    label: str
    native_max: float | None  # losskit / best native <= this
    tf_max: float | None  # losskit / TensorFlow <= this
    max_err: float | None = None
    native: str | None = None  # a fixed native anchor instead of the fastest one
    anchors: str = "native: "  # the anchor is the fastest native whose name starts so
    same_value: bool = True  # the anchors compute losskit's number (their error is shown)
    memory: bool = False
    note: str = ""


SPECS: dict[str, Spec] = {
    "avg16M": Spec("1 average_loss 16M", 1.25, 1 / 3, 1e-6, memory=True),
    "cwl16M": Spec("1 weighted_loss 16M sobs", 1.25, 1 / 3, 1e-6),
    "cwl16M_nonzero": Spec("1 weighted_loss 16M nonzero", 1.25, 1 / 3, 1e-6),
    "tok_rows": Spec("2 tokens [B,T]x[B,1]", 1.25, None, memory=True, note="issue: <=0.3 ms"),
    "tok_mask": Spec("2 tokens [B,T]x mask", 1.25, None, memory=True, note="issue: <=1 ms"),
    "small32": Spec("3 32 elements eager", 2.0, 1 / 40),
    "small32_jit": Spec("3 32 elements jit", 2.0, None),
    "grad16M": Spec(
        "4 fwd+bwd 16M", 2.0, None, native="native: hand-written gradient", memory=True
    ),
    "loss_sparse_ce": Spec("S1 sparse CE logits fwd+bwd", 1.5, 1 / 2, 1e-5),
    "agg_plan_1M": Spec(
        "A1 aggregation plan 1M packed",
        2.0,
        None,
        0.0,
        anchors="native: bincount",
        same_value=False,
        note="issue: one bincount over the ids",
    ),
    "agg_loss_packed": Spec("A2 Plan.loss [64,4096] packed", 1.25, None, 1e-6),
    "agg_loss_padded": Spec("A2 Plan.loss [64,4096] padded", 1.25, None, 1e-6),
    "lce_fused": Spec("F1 fused linear CE fwd+bwd", 1.1, None, 1e-5, native="native: materialized"),
}


def _fmt_target(limit: float) -> str:
    if limit >= 1:
        return f"<= {limit:g}x"
    return f"<= 1/{1 / limit:.0f}x"


def _short(name: str) -> str:
    return name.removeprefix("native: ")


def rows_for(results: dict[str, dict[str, Any]]) -> list[Row]:
    """Every row of the table, in case order then backend order."""
    rows: list[Row] = []
    memory: list[Row] = []
    tf = results.get("tensorflow", {}).get("cases", {})
    for case_id, spec in SPECS.items():
        for backend in ARRAY_BACKENDS:
            case = results.get(backend, {}).get("cases", {}).get(case_id)
            if not case or "losskit" not in case["entries"]:
                continue
            timing, peaks = _case_rows(spec, case_id, backend, case, tf.get(case_id))
            rows.extend(timing)
            memory.extend(peaks)
    reg_rows, reg_memory = _regreport.rows_for(results)
    return rows + reg_rows + memory + _lcereport.memory_rows(results) + reg_memory


def _case_rows(
    spec: Spec, case_id: str, backend: str, case: dict[str, Any], tf_case: dict[str, Any] | None
) -> tuple[list[Row], list[Row]]:
    entries = case["entries"]
    mine = entries["losskit"]
    natives = {k: v for k, v in entries.items() if k.startswith("native: ")}
    rows = []
    candidates = [k for k in natives if k.startswith(spec.anchors)]
    anchor_name = spec.native or min(candidates, key=lambda k: natives[k]["median"])
    anchor = natives[anchor_name]
    row: Callable[..., Row] = lambda **kw: Row(case=spec.label, backend=backend, **kw)  # noqa: E731
    if spec.native_max is not None:
        ratio = paired_ratio(mine["samples"], anchor["samples"])
        label = _short(anchor_name) if spec.native else f"best native: {_short(anchor_name)}"
        target = _fmt_target(spec.native_max) + (f" ({spec.note})" if spec.note else "")
        rows.append(
            row(
                losskit=fmt_time(mine["median"]),
                anchor=label,
                anchor_value=fmt_time(anchor["median"]),
                ratio=fmt_ratio(ratio),
                target=target,
                result=status(ratio <= spec.native_max),
                err=fmt_err(mine["rel_err"]),
                anchor_err=fmt_err(anchor["rel_err"]) if spec.same_value else "",
            )
        )
    for name, other in natives.items():  # the slower natives, for information
        if name == anchor_name:
            continue
        ratio = paired_ratio(mine["samples"], other["samples"])
        rows.append(
            row(
                losskit=fmt_time(mine["median"]),
                anchor=_short(name),
                anchor_value=fmt_time(other["median"]),
                ratio=fmt_ratio(ratio),
                target="",
                result="info",
                err=fmt_err(mine["rel_err"]),
                anchor_err=fmt_err(other["rel_err"]) if spec.same_value else "",
            )
        )
    if tf_case is not None and "tf" in tf_case["entries"]:
        theirs = tf_case["entries"]["tf"]
        ratio = mine["median"] / theirs["median"]
        # What the best native kernel itself achieves against TensorFlow: a bound on the
        # reachable ratio on this machine.
        bound = f" (native: {fmt_ratio(anchor['median'] / theirs['median'])})"
        rows.append(
            row(
                losskit=fmt_time(mine["median"]),
                anchor="TensorFlow (own process)",
                anchor_value=fmt_time(theirs["median"]),
                ratio=fmt_ratio(ratio),
                target="" if spec.tf_max is None else _fmt_target(spec.tf_max) + bound,
                result="info" if spec.tf_max is None else status(ratio <= spec.tf_max),
                err=fmt_err(mine["rel_err"]),
                anchor_err=fmt_err(theirs["rel_err"]),
            )
        )
    if spec.max_err is not None:
        rows.append(
            row(
                losskit=fmt_err(mine["rel_err"]),
                anchor="float64 reference (rel. error)",
                anchor_value="",
                ratio="",
                target=f"<= {spec.max_err:.0e}",
                result=status(mine["rel_err"] <= spec.max_err),
                err=fmt_err(mine["rel_err"]),
                anchor_err=fmt_err(anchor["rel_err"]) if spec.same_value else "",
            )
        )
    memory = _memory_rows(backend, mine, anchor_name, anchor, case_id) if spec.memory else []
    return rows, memory


def _memory_rows(
    backend: str,
    mine: dict[str, Any],
    anchor_name: str,
    anchor: dict[str, Any],
    case_id: str,
) -> list[Row]:
    ours, how = peak_memory(mine, backend)
    theirs, _ = peak_memory(anchor, backend)
    if ours is None or theirs is None:
        return []
    # "No full-size temporary": the extra peak must stay below a quarter of one input array.
    full = {"avg16M": 64, "grad16M": 64, "tok_rows": 16, "tok_mask": 16}[case_id] * MiB
    extra = ours - theirs
    return [
        Row(
            case=f"5 peak memory {_case_title(case_id)}",
            backend=backend,
            losskit=f"{ours / MiB:.1f} MiB",
            anchor=f"{_short(anchor_name)} [{how}]",
            anchor_value=f"{theirs / MiB:.1f} MiB",
            ratio=f"{round(extra / MiB, 1) + 0.0:+.1f} MiB",  # + 0.0: no "-0.0"
            target=f"<= +{full / 4 / MiB:.0f} MiB",
            result=status(extra <= full / 4),
        )
    ]


def _case_title(case_id: str) -> str:
    return {
        "avg16M": "16M",
        "grad16M": "fwd+bwd 16M",
        "tok_rows": "[B,T]x[B,1]",
        "tok_mask": "[B,T]x mask",
    }[case_id]


COLUMNS = (
    ("case", "case"),
    ("backend", "backend"),
    ("losskit", "losskit"),
    ("anchor", "anchor"),
    ("anchor_value", "anchor value"),
    ("ratio", "ratio"),
    ("target", "target"),
    ("result", "result"),
    ("err", "rel.err losskit"),
    ("anchor_err", "rel.err anchor"),
)


def text_table(rows: list[Row]) -> str:
    header = [title for _, title in COLUMNS]
    body = [[str(getattr(r, key)) for key, _ in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    previous = None
    for r, line in zip(rows, body, strict=True):
        if previous is not None and r.case != previous:
            out.append("")
        previous = r.case
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [header, rule]
    for r in rows:
        cells = [str(getattr(r, key)).replace("|", "\\|") for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    passed = sum(r.result == "PASS" for r in rows)
    missed = [r for r in rows if r.result == "MISS"]
    return f"{passed} PASS, {len(missed)} MISS (of {passed + len(missed)} targets)."
