"""losskit's documented contract, in float64 NumPy, for the cases where it departs from TF.

Written from the docstrings and ``docs/deviations.md``, not from losskit's code: the
TensorFlow weight rules (TF1's same-rank rule for ``compute_weighted_loss``, the one-axis
fix-up for ``compute_average_loss``), the denominators of every reduction, the result
dtypes (floats kept, 8/16-bit integers -> float32, wider -> float64) and the errors losskit
documents. A deviation case must match this instead of TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tests.conformance._model import FLOATS, Case, Data, broadcast, round_to, tf2_weight_shape
from tests.conformance._outcomes import Outcome

CANONICAL = {
    None: "none",
    "none": "none",
    "auto": "sum_over_batch_size",
    "sum": "sum",
    "weighted_sum": "sum",
    "sum_over_batch_size": "sum_over_batch_size",
    "weighted_sum_over_batch_size": "sum_over_batch_size",
    "mean": "sum_over_batch_size",
    "weighted_mean": "weighted_mean",
    "sum_by_nonzero_weights": "sum_by_nonzero_weights",
    "weighted_sum_by_nonzero_weights": "sum_by_nonzero_weights",
    "sum_over_nonzero_weights": "sum_by_nonzero_weights",
    "mean_with_sample_weight": "mean_with_sample_weight",
}
"""Every key losskit documents (module docstring of ``losskit.reduction``), canonicalised."""


class Expected(Exception):
    """The contract says: this input raises ``kind``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def element_dtype(data: Data) -> str:
    if data.kind == "none":
        raise Expected("TypeError")
    if data.kind == "python":
        kind = np.asarray(data.value).dtype.kind
        if kind not in "fiub":
            raise Expected("TypeError")
        return str(np.asarray(data.value).dtype)
    return str(data.dtype)


def result_dtype(dtype: str) -> str:
    """Floats keep their dtype; integers follow TensorFlow's ``truediv`` table."""
    if dtype in FLOATS:
        return dtype
    if dtype in ("int8", "int16", "uint8", "uint16"):
        return "float32"
    if dtype in ("int32", "int64", "uint32", "uint64"):
        return "float64"
    raise Expected("TypeError")  # bool, complex: not a loss


def values_of(data: Data) -> np.ndarray:
    host = np.asarray(data.host())
    if np.iscomplexobj(host) or host.dtype.kind not in "fiub":
        raise Expected("TypeError")
    return host.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class Parts:
    """A documented result before the division: weighted terms, denominator, result dtype.

    ``denominator`` is None for the unreduced (``NONE``) result; a zero denominator gives 0.
    """

    terms: np.ndarray
    denominator: float | None
    dtype: str


def parts(case: Case) -> Parts | None:
    """The parts of ``case``'s documented result; None where losskit documents an error."""
    try:
        return _parts(case)
    except Expected:
        return None


def contract(case: Case) -> tuple[Outcome, float]:
    """(losskit's documented outcome, magnitude of the summed terms for tolerances)."""
    try:
        found = _parts(case)
    except Expected as expected:
        return Outcome(error=expected.kind), 0.0
    terms, denominator, dtype = found.terms, found.denominator, found.dtype
    finite = np.abs(terms[np.isfinite(terms)])
    with np.errstate(all="ignore"):
        if denominator is None:
            value, scale = terms, float(np.max(finite, initial=0.0))
        elif denominator == 0:
            value, scale = np.asarray(0.0), 0.0
        else:
            value = np.asarray(terms.sum() / denominator)
            scale = float(finite.sum() / abs(denominator))
        if dtype in FLOATS:  # rounded once, to the result dtype (float16 under- and overflow)
            value = round_to(np.asarray(value, dtype=np.float64), dtype)
    return Outcome(value, dtype, tuple(value.shape)), scale


def _parts(case: Case) -> Parts:
    if case.api == "srl":
        return _srl(case)
    if case.api == "cal":
        return _cal(case)
    if case.api == "collections":
        # Recorded once in the innermost collect_losses() block.
        return Parts(np.asarray(1.0), 1.0, "int")
    return _cwl(case)


def _terms(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return values * np.broadcast_to(weights, values.shape)


def _cwl(case: Case) -> Parts:
    if case.reduction not in CANONICAL:
        raise Expected("ValueError")
    reduction = CANONICAL[case.reduction]
    divides = reduction not in ("none", "sum")
    # docs/deviations.md `distributed-local-means`: in a replica context with more replicas
    if case.context == "replica" and case.replicas > 1 and divides:
        raise Expected("ValueError")
    dtype = result_dtype(element_dtype(case.losses))
    values = values_of(case.losses)
    weights = np.asarray(1.0)
    if case.weights is not None:
        element_dtype(case.weights)
        weights = values_of(case.weights)
    if weights.ndim and (
        weights.ndim != values.ndim
        or any(w not in (1, v) for v, w in zip(values.shape, weights.shape, strict=True))
    ):
        raise Expected("ValueError")
    terms = _terms(values, weights)
    broadcast_weights = np.broadcast_to(weights, values.shape)
    denominator = {
        "none": None,
        "sum": 1.0,
        "sum_over_batch_size": float(values.size),
        "weighted_mean": float(broadcast_weights.sum()),
        "sum_by_nonzero_weights": float(np.count_nonzero(broadcast_weights)),
        # the weights as given; a scalar weights every element (`mean-with-scalar-weight`)
        "mean_with_sample_weight": float(
            weights.sum() if weights.ndim else broadcast_weights.sum()
        ),
    }[reduction]
    return Parts(terms, denominator, dtype)


def _cal(case: Case) -> Parts:
    dtype = result_dtype(element_dtype(case.losses))
    values = values_of(case.losses)
    if values.ndim == 0:
        raise Expected("ValueError")
    weights = np.asarray(1.0)
    if case.weights is not None:
        element_dtype(case.weights)
        weights = values_of(case.weights)
        fixed = tf2_weight_shape(values.shape, weights.shape)
        if fixed is None or broadcast(values.shape, fixed) != values.shape:
            raise Expected("ValueError")  # includes weights that would grow the batch
        weights = weights.reshape(fixed)
    if case.gbs is None:
        if case.context == "cross":
            raise Expected("RuntimeError")
        replicas = case.replicas if case.context == "replica" else 1
        denominator = float(values.shape[0] * replicas)
    else:
        denominator = _global_batch_size(case.gbs)
    return Parts(_terms(values, weights), denominator, dtype)


def _global_batch_size(gbs: Data) -> float:
    """The documented checks: a scalar of integer or floating dtype, finite, non-negative."""
    if gbs.kind == "none":
        raise Expected("TypeError")
    if gbs.kind == "python":
        if isinstance(gbs.value, bool | str) or gbs.value is None:
            raise Expected("TypeError")
        host = np.asarray(gbs.value)
    else:
        host = gbs.host()
        if gbs.dtype == "bool":
            raise Expected("TypeError")
    if host.ndim != 0:
        raise Expected("ValueError")
    number = float(host)
    # docs/deviations.md `traced-batch-size-check`: a traced value is used as given
    if gbs.kind != "traced" and (math.isnan(number) or math.isinf(number) or number < 0):
        raise Expected("ValueError")
    return number


def _srl(case: Case) -> Parts:
    if case.context == "cross":
        raise Expected("RuntimeError")
    dtype = result_dtype(element_dtype(case.losses))
    values = values_of(case.losses)
    replicas = case.replicas if case.context == "replica" else 1
    return Parts(values, float(replicas), dtype)


def magnitude(case: Case) -> float:
    """The scale for absolute tolerances (0 where the contract raises)."""
    return contract(case)[1]
