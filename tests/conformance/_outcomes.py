"""Outcomes of a case on either side, running a case on losskit, and comparing outcomes.

An :class:`Outcome` is a value (float64 or complex NumPy copy, dtype name, shape) or an
error (type name, message). The comparisons return a list of human-readable problems
instead of raising, so one failure message can show the case, both outcomes and all of
what differs.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

import losskit
from losskit.distribute import cross_replica_context, replica_context
from tests._helpers import Backend
from tests.conformance._model import Case, Data, decode_nested

# TensorFlow exception -> the Python exception losskit raises for the same input.
# InvalidArgumentError is deliberately absent: only the `error-types` deviation maps it.
TF_ERROR_MAP = {
    "ValueError": "ValueError",
    "TypeError": "TypeError",
    "RuntimeError": "RuntimeError",
}

RTOL = {"float16": 1e-3, "bfloat16": 1e-2, "float32": 2e-6, "float64": 1e-12}
"""Relative tolerance of a comparison with TensorFlow, by result dtype (integers: exact)."""

ORACLE_RTOL = {"float16": 1e-3, "bfloat16": 1e-2, "float32": 1e-5, "float64": 1e-12}
"""Against the float64 oracle float32 results carry their own summation error."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    value: np.ndarray | None = None
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    error: str | None = None
    message: str = ""

    @property
    def raised(self) -> bool:
        return self.error is not None

    def __str__(self) -> str:
        if self.raised:
            return f"{self.error}: {self.message[:300]}"
        assert self.value is not None
        shown = self.value.tolist() if self.value.size <= 8 else f"{self.value.size} values"
        return f"{shown} (dtype {self.dtype}, shape {list(self.shape or ())})"


def from_tensorflow(result: dict[str, Any]) -> Outcome:
    """The subprocess's JSON for one call."""
    if "error" in result:
        return Outcome(error=result["error"], message=result["message"])
    value = _decode_value(result["value"])
    shape = tuple(result["shape"])
    if value.size == int(np.prod(shape)):  # nested empty lists lose trailing axes
        value = value.reshape(shape)
    return Outcome(value, result["dtype"], shape)


def _decode_value(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        return np.asarray(complex(value["re"], value["im"]))
    if isinstance(value, list) and value and _has_complex(value):
        return np.asarray(_to_complex(value))
    return np.asarray(decode_nested(value), dtype=np.float64)


def _has_complex(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_complex(v) for v in value)
    return isinstance(value, dict)


def _to_complex(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_complex(v) for v in value]
    return complex(value["re"], value["im"])


# ----------------------------------------------------------------------------- losskit side

_MODULES = {"numpy": "numpy", "torch": "torch", "jax": "jax.numpy"}
_BACKENDS: dict[str, Backend] = {}


def backend(name: str) -> Backend:
    if name not in _BACKENDS:
        _BACKENDS[name] = Backend(name, importlib.import_module(_MODULES[name]))
    return _BACKENDS[name]


def build(data: Data | None, xp: Backend) -> Any:
    """``data`` as losskit receives it on backend ``xp``."""
    if data is None or data.kind == "none":
        return None
    if data.kind == "python":
        return data.value
    if data.kind == "numpy":
        return np.asarray(data.host()).astype(data.dtype)
    if data.kind == "literal":
        return xp.asarray(np.asarray(data.value), data.dtype)
    assert data.dtype is not None
    return xp.asarray(data.host(), data.dtype)


def _call(case: Case) -> Callable[..., Any]:
    """The losskit call of ``case``, as a function of its array inputs (for ``Backend.run``)."""

    def invoke(**inputs: Any) -> Any:
        if case.api == "srl":
            return losskit.scale_regularization_loss(inputs["losses"])
        if case.api == "cal":
            kwargs = {}
            if "weights" in inputs:
                kwargs["sample_weight"] = inputs["weights"]
            if "gbs" in inputs:
                kwargs["global_batch_size"] = inputs["gbs"]
            return losskit.compute_average_loss(inputs["losses"], **kwargs)
        args = [inputs["losses"]]
        if "weights" in inputs:
            args.append(inputs["weights"])
        if case.api == "collections":
            member = losskit.Reduction.validate(case.reduction)
            with losskit.v1.collect_losses() as collected:
                losskit.v1.compute_weighted_loss(*args, reduction=member)
            return len(collected.get(losskit.v1.LOSSES))
        return losskit.compute_weighted_loss(*args, reduction=case.reduction)

    def in_context(**inputs: Any) -> Any:
        if case.context == "replica":
            with replica_context(case.replicas):
                return invoke(**inputs)
        if case.context == "cross":
            with cross_replica_context(case.replicas):
                return invoke(**inputs)
        return invoke(**inputs)

    return in_context


_CACHE: dict[tuple[str, str], Outcome] = {}


def run_losskit(case: Case, backend_name: str) -> Outcome:
    """``case`` on losskit with ``backend_name`` (JAX: jitted); cached per case and backend."""
    key = (case.id, backend_name)
    if key not in _CACHE:
        _CACHE[key] = _run(case, backend(backend_name))
    return _CACHE[key]


def _run(case: Case, xp: Backend) -> Outcome:
    inputs = {"losses": build(case.losses, xp)}
    if case.weights is not None:
        inputs["weights"] = build(case.weights, xp)
    if case.gbs is not None:
        inputs["gbs"] = build(case.gbs, xp)
    try:
        with np.errstate(all="ignore"):
            result = xp.run(_call(case), **inputs)
    except (ValueError, TypeError, RuntimeError) as error:
        return Outcome(error=type(error).__name__, message=str(error))
    if isinstance(result, int):
        return Outcome(np.asarray(float(result)), "int", ())
    host = xp.numpy(result)
    dtype = xp.dtype_name(result)
    if np.iscomplexobj(host):
        return Outcome(host.astype(np.complex128), dtype, tuple(host.shape))
    return Outcome(host.astype(np.float64), dtype, tuple(result.shape))


# ----------------------------------------------------------------------------- comparison


def compare_values(actual: Outcome, expected: Outcome, *, rtol: float, scale: float) -> list[str]:
    """Problems with ``actual`` against the value ``expected`` (dtype, shape, numbers)."""
    assert actual.value is not None
    assert expected.value is not None
    problems = []
    if actual.dtype != expected.dtype:
        problems.append(f"dtype {actual.dtype} != {expected.dtype}")
    if actual.shape != expected.shape:
        problems.append(f"shape {list(actual.shape or ())} != {list(expected.shape or ())}")
        return problems
    atol = rtol * scale if np.isfinite(scale) else 0.0
    try:
        np.testing.assert_allclose(
            actual.value, expected.value, rtol=rtol, atol=atol, equal_nan=True
        )
    except AssertionError as mismatch:
        detail = " ".join(str(mismatch).split())
        problems.append(f"value differs (rtol {rtol:g}, atol {atol:g}): {detail[:400]}")
    return problems


def compare_with_tensorflow(
    actual: Outcome, tf: Outcome, *, scale: float, error_arg: str | None
) -> list[str]:
    """Rule (a): the same value, dtype and shape, or the mapped error naming the argument."""
    if tf.raised:
        wanted = TF_ERROR_MAP.get(tf.error or "")
        if not actual.raised:
            return [f"TensorFlow raises {tf.error}, losskit returns a value"]
        problems = []
        if actual.error != wanted:
            problems.append(
                f"losskit raises {actual.error}, TensorFlow {tf.error} maps to {wanted}"
            )
        problems += names_argument(actual, error_arg)
        return problems
    if actual.raised:
        return [f"losskit raises {actual.error}, TensorFlow returns a value"]
    rtol = RTOL.get(tf.dtype or "", 0.0)
    return compare_values(actual, tf, rtol=rtol, scale=scale)


def compare_with_oracle(
    actual: Outcome, expected: Outcome, *, scale: float, error_arg: str | None
) -> list[str]:
    """Rule (b): losskit's documented result (float64 oracle) or its documented error."""
    if expected.raised:
        if not actual.raised:
            return [f"expected losskit to raise {expected.error}, it returns a value"]
        problems = []
        if actual.error != expected.error:
            problems.append(f"losskit raises {actual.error}, expected {expected.error}")
        return problems + names_argument(actual, error_arg)
    if actual.raised:
        return [f"losskit raises {actual.error}, expected a value"]
    rtol = ORACLE_RTOL.get(expected.dtype or "", 0.0)
    return compare_values(actual, expected, rtol=rtol, scale=scale)


def names_argument(actual: Outcome, error_arg: str | None) -> list[str]:
    if error_arg is None:
        return ["the case does not say which argument the error is about (set `error_arg`)"]
    if f"`{error_arg}`" not in actual.message:
        return [f"losskit's message does not name `{error_arg}`"]
    return []


def really_differ(actual: Outcome, tf: Outcome, *, scale: float) -> bool:
    """TensorFlow and losskit disagree: another error type, value vs error, or another result."""
    if tf.raised or actual.raised:
        return tf.error != actual.error
    rtol = RTOL.get(tf.dtype or "", 0.0)
    return bool(compare_values(actual, tf, rtol=rtol, scale=scale))
