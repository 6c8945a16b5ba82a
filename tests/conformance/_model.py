"""The data model of a conformance case, shared by the generator, both sides and the oracle.

A :class:`Case` is everything both sides need to run one call: the API, the inputs (as
:class:`Data`, serialisable to JSON for the TensorFlow subprocess), the reduction, the
``global_batch_size``, the replica context and, for an input that is meant to fail, the
argument the error is about. Nothing here imports losskit or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import ml_dtypes
import numpy as np

FLOATS = ("float16", "bfloat16", "float32", "float64")
INTEGERS = ("int8", "int32", "int64", "uint8")

# losskit key -> TensorFlow 1 key (tf.compat.v1.losses.Reduction values)
TF1_KEYS = {
    "none": "none",
    "sum": "weighted_sum",
    "weighted_mean": "weighted_mean",
    "sum_over_batch_size": "weighted_sum_over_batch_size",
    "sum_by_nonzero_weights": "weighted_sum_by_nonzero_weights",
}
DIVIDING = ("auto", "sum_over_batch_size", "weighted_mean", "sum_by_nonzero_weights")
DIVIDING += ("mean_with_sample_weight",)


# ----------------------------------------------------------------------------- data


def encode_number(value: float | int | bool) -> float | int | str:
    """JSON has no NaN or infinity: they travel as strings. Booleans stay booleans."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def encode_nested(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [encode_nested(v) for v in value]
    if isinstance(value, float | int | bool):
        return encode_number(value)
    return value


def decode_nested(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_nested(v) for v in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


@dataclasses.dataclass(frozen=True)
class Data:
    """One input.

    ``kind`` says how each side receives it:

    * ``array``: an array of the backend under test / a ``tf.constant`` (``dtype``, ``shape``,
      flat ``values``, ``imag`` for complex dtypes).
    * ``numpy``: a NumPy array on both sides (e.g. ``np.int64(3)`` as ``global_batch_size``).
    * ``python``: the Python value ``value`` on both sides.
    * ``literal``: the Python value ``value`` for TensorFlow (so its messages are the recorded
      ones) and, for losskit, an array of ``dtype``, the dtype TensorFlow converts it to.
    * ``traced``: an array that JAX traces (jitted argument) and TensorFlow receives as the
      argument of a ``tf.function``.
    * ``none``: an explicit ``None``.
    """

    kind: str
    dtype: str | None = None
    shape: tuple[int, ...] = ()
    values: tuple[float | int, ...] = ()
    imag: tuple[float, ...] | None = None
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "values": [encode_number(v) for v in self.values],
            "imag": None if self.imag is None else [encode_number(v) for v in self.imag],
            "value": encode_nested(self.value),
        }

    def host(self) -> np.ndarray:
        """The values as a float64 (or complex128, or int64) NumPy array of ``shape``."""
        if self.kind == "literal":
            assert self.dtype is not None
            return round_to(np.asarray(self.value, dtype=np.float64), self.dtype)
        if self.kind == "python":
            return np.asarray(self.value, dtype=_host_dtype(np.asarray(self.value).dtype))
        if self.imag is not None:
            return (np.asarray(self.values) + 1j * np.asarray(self.imag)).reshape(self.shape)
        dtype = np.int64 if self.dtype in INTEGERS else np.float64
        if self.dtype == "bool":
            dtype = np.bool_
        return np.asarray(self.values, dtype=dtype).reshape(self.shape)

    @property
    def rank(self) -> int:
        return self.host().ndim

    @property
    def array_shape(self) -> tuple[int, ...]:
        return tuple(self.host().shape)

    def describe(self) -> str:
        if self.kind == "none":
            return "None"
        if self.kind == "python":
            return f"python {self.value!r}"
        text = f"{self.kind} {self.dtype}{list(self.array_shape)}"
        return text if self.host().size > 6 else f"{text}={self.host().tolist()}"


def _host_dtype(dtype: np.dtype) -> Any:
    return {"f": np.float64, "i": np.int64, "u": np.int64, "b": np.bool_}.get(dtype.kind)


def round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` as exactly representable in ``dtype`` (so both sides see the same numbers)."""
    if dtype == "bfloat16":
        return values.astype(ml_dtypes.bfloat16).astype(np.float64)
    if dtype in INTEGERS or dtype == "bool":
        return values.astype(dtype).astype(np.int64)
    return values.astype(dtype).astype(np.float64)


def array(values: Any, dtype: str, kind: str = "array") -> Data:
    host = np.asarray(values)
    if dtype.startswith("complex"):
        host = host.astype(np.complex128)
        return Data(
            kind,
            dtype,
            tuple(host.shape),
            tuple(float(v) for v in host.real.ravel()),
            tuple(float(v) for v in host.imag.ravel()),
        )
    rounded = round_to(host.astype(np.float64) if dtype != "bool" else host, dtype)
    items = rounded.ravel().tolist()
    return Data(kind, dtype, tuple(host.shape), tuple(items))


def python(value: Any) -> Data:
    return Data("python", value=value)


def literal(value: Any, dtype: str) -> Data:
    return Data("literal", dtype=dtype, shape=tuple(np.asarray(value).shape), value=value)


NONE = Data("none")


def tf2_weight_shape(losses: tuple[int, ...], weights: tuple[int, ...]) -> tuple[int, ...] | None:
    """The weights' shape after TensorFlow's one-axis fix-up; None if the squeeze fails."""
    r, s = len(losses), len(weights)
    if s == 0:
        return weights
    if s - r == 1:
        return weights[:-1] if weights[-1] == 1 else None
    if r - s == 1:
        return (*weights, 1)
    return weights


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(a, b))
    except ValueError:
        return None


def cal_weights_fit(losses: tuple[int, ...], weights: tuple[int, ...]) -> bool:
    """The weights broadcast to the losses' shape after the fix-up (losskit's rule)."""
    fixed = tf2_weight_shape(losses, weights)
    return fixed is not None and broadcast(losses, fixed) == losses


# ----------------------------------------------------------------------------- cases


@dataclasses.dataclass(frozen=True)
class Case:
    """One call, on TensorFlow and on losskit.

    ``api`` is the losskit function (``cwl``, ``cal``, ``srl``, ``collections`` = a
    ``compute_weighted_loss`` whose recorded losses are counted); ``oracle`` the TensorFlow
    function it is compared with (``tf1``: ``tf.compat.v1.losses.compute_weighted_loss``,
    ``tf_keras``: ``tf_keras...losses_utils.compute_weighted_loss``, ``keras3``: Keras 3's
    ``reduce_weighted_values``, ``tf.nn``: ``compute_average_loss`` /
    ``scale_regularization_loss``). ``weights`` and ``gbs`` are None when not passed.
    """

    id: str
    api: str
    oracle: str
    losses: Data
    weights: Data | None = None
    reduction: str | None = None
    tf_reduction: str | None = None
    gbs: Data | None = None
    context: str = "none"
    replicas: int = 1
    error_arg: str | None = None
    expect_tf: dict[str, Any] | None = None
    backends: tuple[str, ...] = ("numpy", "torch")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.api,
            "oracle": self.oracle,
            "losses": self.losses.to_json(),
            "weights": None if self.weights is None else self.weights.to_json(),
            "tf_reduction": self.tf_reduction,
            "gbs": None if self.gbs is None else self.gbs.to_json(),
            "context": self.context,
            "replicas": self.replicas,
        }

    def describe(self) -> str:
        parts = [f"{self.id}: {self.api} (TF: {self.oracle})", f"losses={self.losses.describe()}"]
        if self.weights is not None:
            parts.append(f"weights={self.weights.describe()}")
        if self.reduction is not None or self.api == "cwl":
            parts.append(f"reduction={self.reduction!r} (TF {self.tf_reduction!r})")
        if self.gbs is not None:
            parts.append(f"global_batch_size={self.gbs.describe()}")
        if self.context != "none":
            parts.append(f"{self.context} context, {self.replicas} replicas")
        return ", ".join(parts)


def backends_for(dtype: str | None) -> tuple[str, ...]:
    # NumPy has no bfloat16.
    return ("torch", "jax") if dtype == "bfloat16" else ("numpy", "torch")


def short(dtype: str) -> str:
    return {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}.get(
        dtype, dtype.replace("int", "i")
    )
