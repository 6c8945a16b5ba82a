"""The deviation table of ``docs/deviations.md`` and, per id, when a case falls under it.

A predicate looks at the case's inputs only (never at either side's result), so a
deviation cannot explain away a difference it does not describe. A case under at least one
deviation is checked against the float64 oracle (losskit's documented behaviour) instead
of TensorFlow.

``KNOWN_MISMATCHES`` names the differences that no row explains (losskit bugs or missing
rows); ``known_mismatch`` selects their cases, which the tests mark as strict xfails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.conformance._float64_oracle import CANONICAL
from tests.conformance._model import (
    FLOATS,
    INTEGERS,
    TF1_KEYS,
    Case,
    Data,
    broadcast,
    tf2_weight_shape,
)

TABLE = Path(__file__).resolve().parents[2] / "docs" / "deviations.md"

_ROW = re.compile(r"^\|\s*`(?P<id>[a-z0-9][a-z0-9-]*)`\s*\|")


def table_rows(path: Path = TABLE) -> dict[str, list[str]]:
    """id -> the row's cells (id, API, TensorFlow, losskit, why), from the markdown table."""
    rows: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if match["id"] in rows:
            raise ValueError(f"{path}: deviation id {match['id']!r} appears twice")
        rows[match["id"]] = cells
    return rows


# ----------------------------------------------------------------------------- helpers


def _dtype(data: Data | None) -> str:
    if data is None or data.kind == "none":
        return "none"
    if data.kind == "python":
        return str(np.asarray(data.value).dtype)
    return str(data.dtype)


def _shape(data: Data) -> tuple[int, ...]:
    return tuple(np.shape(data.value)) if data.kind == "python" else data.shape


def _divides(case: Case) -> bool:
    return CANONICAL.get(case.reduction, "none") not in ("none", "sum")


def _is_integer(case: Case) -> bool:
    return _dtype(case.losses) in INTEGERS


def _weights_shape_after_fixup(case: Case) -> tuple[str, tuple[int, ...] | None]:
    """compute_average_loss's weights: ('ok' | 'squeeze' | 'incompatible' | 'grows', shape)."""
    assert case.weights is not None
    losses, weights = _shape(case.losses), _shape(case.weights)
    fixed = tf2_weight_shape(losses, weights)
    if fixed is None:
        return "squeeze", None
    product = broadcast(losses, fixed)
    if product is None:
        return "incompatible", None
    return ("ok" if product == losses else "grows"), product


def _cal_weights(case: Case, *outcomes: str) -> bool:
    usable = case.api == "cal" and case.weights is not None and case.weights.kind != "none"
    return usable and case.losses.kind != "none" and _weights_shape_after_fixup(case)[0] in outcomes


def _gbs_number(case: Case) -> float | None:
    """The value of a scalar, numeric ``global_batch_size``; None otherwise."""
    gbs = case.gbs
    if gbs is None or gbs.kind == "none":
        return None
    if gbs.kind == "python":
        value = gbs.value
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if numeric else None
    if gbs.shape != () or gbs.dtype == "bool":
        return None
    return float(gbs.values[0])


def _float_gbs(case: Case) -> bool:
    gbs = case.gbs
    if case.api != "cal" or gbs is None:
        return False
    if gbs.kind == "python":
        return isinstance(gbs.value, float)
    return gbs.dtype in FLOATS


def _integer_gbs(case: Case) -> bool:
    gbs = case.gbs
    if gbs is None:
        return False
    if gbs.kind == "python":
        return isinstance(gbs.value, int) and not isinstance(gbs.value, bool)
    return gbs.dtype in INTEGERS


# ----------------------------------------------------------------------------- predicates


def float32_rounding(case: Case) -> bool:
    """TF1 cwl, and cal with weights, pass float64 through float32."""
    weighted_cal = case.api == "cal" and case.weights is not None
    return _dtype(case.losses) == "float64" and (case.oracle == "tf1" or weighted_cal)


def integer_truncation(case: Case) -> bool:
    """TF1 / tf.keras cwl and weighted cal cast (weighted) integer values back to integers."""
    weighted_cal = case.api == "cal" and case.weights is not None
    cwl = case.api in ("cwl", "collections") and case.oracle in ("tf1", "tf_keras")
    return _is_integer(case) and (cwl or weighted_cal)


def integer_overflow(case: Case) -> bool:
    """An integer sum (or TF's cast of the batch size to the losses' dtype) leaves the dtype."""
    if not _is_integer(case) or case.losses.kind in ("none", "python"):
        return False
    info = np.iinfo(_dtype(case.losses))
    values = np.abs(case.losses.host().astype(np.float64))
    weighted = case.weights is not None and case.weights.kind not in ("none", "python")
    if weighted and case.api == "cal" and _weights_shape_after_fixup(case)[0] == "ok":
        assert case.weights is not None
        fixed = tf2_weight_shape(values.shape, _shape(case.weights))
        assert fixed is not None
        values = values * np.abs(case.weights.host().astype(np.float64).reshape(fixed))
    total = float(np.nansum(values))
    gbs = _gbs_number(case) if _integer_gbs(case) else None
    return total > info.max or (gbs is not None and not info.min <= gbs <= info.max)


def low_precision_accumulation(case: Case) -> bool:
    return _dtype(case.losses) in ("float16", "bfloat16")


def batch_growing_weights(case: Case) -> bool:
    return _cal_weights(case, "grows")


def float_global_batch_size(case: Case) -> bool:
    return _float_gbs(case)


def python_values(case: Case) -> bool:
    return case.losses.kind == "python"


def complex_losses(case: Case) -> bool:
    return _dtype(case.losses).startswith("complex")


def distributed_local_means(case: Case) -> bool:
    """The row says: in a replica context with more than one replica."""
    replicated = case.context == "replica" and case.replicas > 1
    return case.api == "cwl" and replicated and _divides(case)


def mean_with_scalar_weight(case: Case) -> bool:
    """Keras 3 divides `mean_with_sample_weight` by a scalar weight itself; losskit by
    weight * count (a scalar weights every element)."""
    if case.api != "cwl" or CANONICAL.get(case.reduction) != "mean_with_sample_weight":
        return False
    return (
        case.weights is not None
        and case.weights.kind != "none"
        and (case.weights.kind == "python" or case.weights.host().ndim == 0)
    )


def reduction_keys(case: Case) -> bool:
    """A key TF1 refuses (tf.keras / Keras 3 spelling) that losskit reads."""
    tf1_values = set(TF1_KEYS.values())
    return case.oracle == "tf1" and case.api == "cwl" and case.tf_reduction not in tf1_values


def error_types(case: Case) -> bool:
    """Inputs TF rejects with InvalidArgumentError, or with ValueError for `None`, and losskit
    with ValueError / TypeError; bool losses (losskit: TypeError, "bool dtypes")."""
    if case.losses.kind == "none" or _dtype(case.losses) == "bool":
        return True
    if case.api in ("cwl", "collections") and case.weights is not None:
        return case.weights.kind == "none"
    if _cal_weights(case, "squeeze", "incompatible"):
        return True
    gbs = _gbs_number(case)
    traced = case.gbs is not None and case.gbs.kind == "traced"
    return case.api == "cal" and _integer_gbs(case) and gbs is not None and gbs < 0 and not traced


def traced_batch_size_check(case: Case) -> bool:
    return case.api == "cal" and case.gbs is not None and case.gbs.kind == "traced"


def eager_loss_collections(case: Case) -> bool:
    return case.api == "collections"


PREDICATES: dict[str, Callable[[Case], bool]] = {
    "float32-rounding": float32_rounding,
    "integer-truncation": integer_truncation,
    "integer-overflow": integer_overflow,
    "low-precision-accumulation": low_precision_accumulation,
    "batch-growing-weights": batch_growing_weights,
    "float-global-batch-size": float_global_batch_size,
    "python-values": python_values,
    "complex-losses": complex_losses,
    "distributed-local-means": distributed_local_means,
    "mean-with-scalar-weight": mean_with_scalar_weight,
    "reduction-keys": reduction_keys,
    "error-types": error_types,
    "traced-batch-size-check": traced_batch_size_check,
    "eager-loss-collections": eager_loss_collections,
}

_KERAS = "tests/conformance/test_keras_regularizers.py"
_KERAS_LAYERS = "tests/conformance/test_keras_layers.py"
_V1 = "tests/conformance/test_v1_losses.py"
_KERAS3_LOSSES = "tests/conformance/test_keras3_losses.py"
EXERCISED_BY: dict[str, str] = {
    "regularizer-exact-factors": _KERAS,
    "regularizer-factor-validation": _KERAS,
    "regularizer-integer-inputs": _KERAS,
    "orthogonal-single-row": _KERAS,
    "unknown-regularizer-name": _KERAS,
    "regularizer-unregistered-serialization": _KERAS,
    "loss-all-masked": "tests/conformance/test_keras_losses.py",
    "loss-label-rank": "tests/conformance/test_keras_losses.py",
    "layer-losses-grouped": _KERAS_LAYERS,
    "non-trainable-weights": _KERAS_LAYERS,
    "torch-kernel-layout": _KERAS_LAYERS,
    "activity-scalar-output": _KERAS_LAYERS,
    "v1-float32-inputs": _V1,
    "v1-pairwise-scalar-weight": _V1,
    "v1-option-checks": _V1,
    "sparse-label-values": _V1,
    "keras3-binary-crossentropy-clipping": _KERAS3_LOSSES,
    "keras3-binary-crossentropy-shapes": _KERAS3_LOSSES,
    "keras3-float32-losses": _KERAS3_LOSSES,
    "ctc-unreachable-labels": _KERAS3_LOSSES,
    "ctc-zero-label-gradient": _KERAS3_LOSSES,
    "generalized-crossentropy-label-column": _KERAS3_LOSSES,
    "keras3-weights-enlarge-loss": _KERAS3_LOSSES,
    "keras3-config-options": "tests/conformance/peers/test_keras3_losses.py",
}
"""Rows about other APIs than the three functions: the module that shows each difference
against the real package (it must name the id)."""

NOT_OBSERVABLE: dict[str, str] = {}
"""Table ids no case can show, with the reason. Every current row has a real case."""


def applicable(case: Case) -> list[str]:
    """The ids of the deviations that ``case`` falls under."""
    return [name for name, predicate in PREDICATES.items() if predicate(case)]


KNOWN_MISMATCHES: dict[str, str] = {}
"""Differences no row explains: the affected cases are strict xfails until losskit changes."""


def known_mismatch(case: Case) -> str | None:
    """The :data:`KNOWN_MISMATCHES` key ``case`` runs into, if any (none at present).

    Mismatches found so far were fixed in losskit: weights factored out of the sum, dividing
    reductions refused in cross-replica context, ``mean_with_sample_weight`` without weights
    (now the row `mean-with-scalar-weight`).
    """
    del case
    return None
