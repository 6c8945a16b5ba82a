"""Every benchmark case, in the order of the report: one line per case, ``id -> builder``.

A builder takes a backend and returns its :class:`_cases.Case` (``None``: nothing to run on
that backend). To add a case, write its builder in a module of its own that imports
``Case`` and the helpers from ``_cases``, add one line here, and give it a ``Spec`` in
``_report.py`` (or rows of its own, as ``_regreport.py`` does).
"""

from __future__ import annotations

from collections.abc import Callable

import _aggcases
import _backends
import _cases
import _layercases
import _lcecases
import _losscases
import _regcases

Builder = Callable[[_backends.Backend], "_cases.Case | None"]

BUILDERS: dict[str, Builder] = {
    "avg16M": _cases.avg16m,
    "cwl16M": _cases.cwl16m,
    "cwl16M_nonzero": _cases.cwl16m_nonzero,
    "tok_rows": _cases.tok_rows,
    "tok_mask": _cases.tok_mask,
    "small32": _cases.small32,
    "small32_jit": _cases.small32_jit,
    "grad16M": _cases.grad16m,
    "reg_l2_gpt2": _regcases.reg_l2_gpt2,
    "reg_l1l2_gpt2": _regcases.reg_l1l2_gpt2,
    "reg_overhead": _regcases.reg_overhead,
    "reg_grad_resnet50": _regcases.reg_grad_resnet50,
    "layer_resnet18": _layercases.layer_resnet18,
    "loss_sparse_ce": _losscases.loss_sparse_ce,
    "agg_plan_1M": _aggcases.agg_plan_1m,
    "agg_loss_packed": _aggcases.agg_loss_packed,
    "agg_loss_padded": _aggcases.agg_loss_padded,
    "lce_fused": _lcecases.lce_fused,
}


def build(be: _backends.Backend, names: set[str] | None = None) -> list[_cases.Case]:
    """The cases for backend ``be`` (``names`` restricts them, as ``--only`` does)."""
    cases = []
    for case_id, builder in BUILDERS.items():
        if names is not None and case_id not in names:
            continue
        case = builder(be)
        if case is not None:
            cases.append(case)
    return cases
