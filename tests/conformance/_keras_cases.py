"""The regularizer conformance cases: specs, arrays, the page's custom objects, float64 oracles.

A *spec* names a regularizer and its arguments the same way on both sides (``"L2"`` with
``{"l2": 0.3}`` is ``keras.regularizers.L2(l2=0.3)`` and ``losskit.regularizers.L2(l2=0.3)``);
``l1_reg`` and ``L2Regularizer`` are the Regularizer reference page's custom function and
class, registered as ``Custom>l1`` and ``Custom>l2`` in losskit here and in both Keras
versions in the subprocess (``_keras_oracle.py``).

Arrays are made once, deterministically, in their dtype; the subprocess receives their exact
values, so both sides compute on the same numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

import losskit
from tests._page_examples import L2Regularizer, l1_reg

# ------------------------------- the page's customs (written once, in tests/_page_examples.py)


def register_customs() -> None:
    """(Re-)register the customs as ``Custom>l1`` / ``Custom>l2``.

    Other tests register their own objects under these page names (re-registering
    replaces), so every test that needs ours calls this first.
    """
    losskit.register_serializable(package="Custom", name="l1")(l1_reg)
    losskit.register_serializable(package="Custom", name="l2")(L2Regularizer)


register_customs()

CUSTOMS: dict[str, Any] = {"l1_reg": l1_reg, "L2Regularizer": L2Regularizer}
CUSTOM_KEYS = {"l1_reg": "Custom>l1", "L2Regularizer": "Custom>l2"}

# ----------------------------------------------------------------------------- specs


@dataclasses.dataclass(frozen=True)
class Spec:
    """A regularizer, named the same way in Keras and in losskit."""

    cls: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        if self.cls == "l1_reg":
            return "l1_reg"
        arguments = ",".join(str(value) for _, value in self.kwargs)
        short = "Orthogonal" if self.cls == "OrthogonalRegularizer" else self.cls
        return f"{short}({arguments})"

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(self.kwargs)

    @property
    def builtin(self) -> bool:
        return self.cls not in CUSTOMS

    @property
    def orthogonal(self) -> bool:
        return self.cls == "OrthogonalRegularizer"

    def losskit(self) -> Any:
        """The losskit object (the custom function itself for ``l1_reg``)."""
        if self.cls == "l1_reg":
            return l1_reg
        if self.cls == "L2Regularizer":
            return L2Regularizer(**self.arguments)
        return getattr(losskit.regularizers, self.cls)(**self.arguments)

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "kwargs": self.arguments}


def _spec(cls: str, **kwargs: Any) -> Spec:
    return Spec(cls, tuple(kwargs.items()))


FACTORS = (0.01, 0.3, 0.5, 2.0, 1e-4)
"""0.01, 0.3 and 1e-4 round in float32 (Keras keeps them as float32); 0.5 and 2.0 do not."""

BUILTIN_SPECS = [
    *(_spec("L1", l1=f) for f in FACTORS),
    *(_spec("L2", l2=f) for f in FACTORS),
    *(
        _spec("L1L2", l1=l1, l2=l2)
        for l1, l2 in [(0.01, 0.01), (0.3, 0.0), (0.0, 0.3), (0.5, 2.0), (0.0, 0.0), (0.1, 0.2)]
    ),
    *(
        _spec("OrthogonalRegularizer", factor=f, mode=mode)
        for f in (0.01, 0.3, 1.0)
        for mode in ("rows", "columns")
    ),
]
CUSTOM_SPECS = [
    Spec("l1_reg"),
    _spec("L2Regularizer", l2=0.5),
    _spec("L2Regularizer", l2=0.3),
]
CONFIG_SPECS = BUILTIN_SPECS + CUSTOM_SPECS
"""The regularizers whose configs go both ways between Keras and losskit."""

RANDOM_SPECS = [
    _spec("L1", l1=0.3),
    _spec("L2", l2=0.01),
    _spec("L1L2", l1=0.01, l2=0.3),
    _spec("L1L2", l1=0.3, l2=0.0),
    _spec("L1L2", l1=0.0, l2=0.0),
]
RANDOM_ORTHOGONAL_SPECS = [
    _spec("OrthogonalRegularizer", factor=0.3, mode="rows"),
    _spec("OrthogonalRegularizer", factor=0.3, mode="columns"),
]
GRADIENT_SPECS = [
    _spec("L1", l1=0.3),
    _spec("L2", l2=0.2),
    _spec("L1L2", l1=0.3, l2=0.2),
    _spec("OrthogonalRegularizer", factor=0.5, mode="rows"),
    _spec("OrthogonalRegularizer", factor=0.5, mode="columns"),
]
SPECS: dict[str, Spec] = {
    spec.id: spec for spec in CONFIG_SPECS + RANDOM_SPECS + RANDOM_ORTHOGONAL_SPECS + GRADIENT_SPECS
}

IDENTIFIERS = (
    "l1",
    "L1",
    "l2",
    "L2",
    "L1L2",
    "l1l2",
    "l1_l2",
    "orthogonal_regularizer",
    "OrthogonalRegularizer",
)

# ----------------------------------------------------------------------------- arrays

DTYPES = ("float32", "float64")


def _normal(shape: tuple[int, ...], seed: int, scale: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _with_zero(matrix: np.ndarray, row: int | None = None, column: int | None = None) -> Any:
    matrix = matrix.copy()
    if row is not None:
        matrix[row] = 0.0
    if column is not None:
        matrix[:, column] = 0.0
    return matrix


# name -> float64 values (every dtype gets its own rounded copy)
_CONFIG_BASES = {
    "matrix": _normal((4, 3), 1),
    "zero-row": _with_zero(_normal((3, 4), 2), row=1),
    "vector": _normal((7,), 3),
    "tensor": _normal((2, 3, 4), 4),
}
_RANDOM_BASES = {
    f"random{list(shape)}".replace(" ", ""): _normal(shape, 10 + index)
    for index, shape in enumerate([(), (0,), (1,), (7,), (3, 4), (2, 3, 4), (0, 3), (24,)])
}
_ORTHOGONAL_BASES = {
    "m5x4": _normal((5, 4), 30),
    "m4x5": _normal((4, 5), 31),
    "m4x3-zero-row": _with_zero(_normal((4, 3), 32), row=2),
    "m3x4-zero-column": _with_zero(_normal((3, 4), 33), column=0),
    "zeros3x3": np.zeros((3, 3)),
    "eye3": np.eye(3),
    "ones3x3": np.ones((3, 3)),
    "m-one-row": _normal((1, 4), 34),
    "m-one-column": _normal((4, 1), 35),
    "m-empty": np.zeros((0, 3)),
}
_GRADIENT_BASES = {"gradient-matrix": _normal((4, 3), 40, scale=1.0)}


def _arrays() -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for bases, dtypes in [
        (_CONFIG_BASES, DTYPES),
        (_RANDOM_BASES, DTYPES),
        (_ORTHOGONAL_BASES, DTYPES),
        (_GRADIENT_BASES, ("float32",)),
    ]:
        for name, values in bases.items():
            for dtype in dtypes:
                arrays[f"{name}:{dtype}"] = np.asarray(values, dtype=dtype)
    return arrays


ARRAYS = _arrays()
CONFIG_ARRAYS = [f"{name}:{dtype}" for name in _CONFIG_BASES for dtype in DTYPES]
RANDOM_ARRAYS = [f"{name}:{dtype}" for name in _RANDOM_BASES for dtype in DTYPES]
ORTHOGONAL_ARRAYS = [f"{name}:{dtype}" for name in _ORTHOGONAL_BASES for dtype in DTYPES]
GRADIENT_ARRAY = "gradient-matrix:float32"


def arrays_for(spec: Spec, names: list[str]) -> list[str]:
    """The arrays a spec can take: OrthogonalRegularizer takes rank 2 only."""
    if not spec.orthogonal:
        return names
    return [name for name in names if ARRAYS[name].ndim == 2]


def dtype_of(array: str) -> str:
    return array.rsplit(":", 1)[1]


# ----------------------------------------------------------------------------- losskit's configs


def losskit_configs() -> dict[str, dict[str, Any]]:
    """``losskit.regularizers.serialize`` of every config spec, new and legacy format."""
    register_customs()
    configs = {}
    for spec in CONFIG_SPECS:
        for fmt in ("new", "legacy"):
            config = losskit.regularizers.serialize(
                spec.losskit(), use_legacy_format=fmt == "legacy"
            )
            configs[f"{spec.id}|{fmt}"] = {
                "spec": spec.id,
                "format": fmt,
                "text": json.dumps(config),
                "arrays": arrays_for(spec, CONFIG_ARRAYS),
            }
    return configs


# ----------------------------------------------------------------------------- the payload


def penalty_requests() -> list[tuple[str, str]]:
    requests = [
        (spec.id, name) for spec in CONFIG_SPECS for name in arrays_for(spec, CONFIG_ARRAYS)
    ]
    requests += [(spec.id, name) for spec in RANDOM_SPECS for name in RANDOM_ARRAYS]
    requests += [(spec.id, name) for spec in RANDOM_ORTHOGONAL_SPECS for name in ORTHOGONAL_ARRAYS]
    return requests


def payload() -> dict[str, Any]:
    """The request for ``_keras_oracle.py``."""
    return {
        "arrays": {
            name: {
                "dtype": str(array.dtype),
                "shape": list(array.shape),
                "values": array.astype(np.float64).ravel().tolist(),
            }
            for name, array in ARRAYS.items()
        },
        "specs": {spec_id: spec.to_json() for spec_id, spec in SPECS.items()},
        "penalties": [list(request) for request in penalty_requests()],
        "written": [spec.id for spec in CONFIG_SPECS],
        "loaded": {
            config_id: {key: item[key] for key in ("text", "format", "arrays")}
            for config_id, item in losskit_configs().items()
        },
        "identifiers": list(IDENTIFIERS),
        "gradients": [[spec.id, GRADIENT_ARRAY] for spec in GRADIENT_SPECS],
    }


# ----------------------------------------------------------------------------- float64 oracles


def float32(value: float) -> float:
    """``value`` rounded to float32, as Keras stores a factor."""
    return float(np.float32(value))


def factors(config: dict[str, Any]) -> dict[str, float]:
    """The numeric factors of a config (or of a spec's arguments)."""
    return {key: float(value) for key, value in config.items() if key != "mode"}


def oracle(cls: str, config: dict[str, Any], x: np.ndarray, *, keras: bool = False) -> float:
    """The float64 penalty of ``cls(**config)`` on ``x``.

    ``keras=True`` is Keras's arithmetic: built-in factors rounded to float32, and
    OrthogonalRegularizer with fewer than two rows (columns) is 0/0 = NaN. Otherwise it is
    losskit's: the exact factors, and 0 where there is no pair.
    """
    x = np.asarray(x, dtype=np.float64)
    values = factors(config)
    if keras and cls not in CUSTOMS:
        values = {key: float32(value) for key, value in values.items()}
    if cls == "l1_reg":
        return 0.01 * float(np.abs(x).sum())
    if cls in ("L2", "L2Regularizer"):
        return values["l2"] * float((x * x).sum())
    if cls == "L1":
        return values["l1"] * float(np.abs(x).sum())
    if cls == "L1L2":
        total = 0.0
        if values["l1"]:
            total += values["l1"] * float(np.abs(x).sum())
        if values["l2"]:
            total += values["l2"] * float((x * x).sum())
        return total
    if cls == "OrthogonalRegularizer":
        return values["factor"] * mean_abs_cosine(x, config["mode"], keras=keras)
    raise ValueError(f"no oracle for {cls!r}")


def mean_abs_cosine(x: np.ndarray, mode: str, *, keras: bool = False) -> float:
    """Mean |cosine| over the unordered pairs of rows (columns); a zero vector has cosine 0."""
    vectors = x if mode == "rows" else x.T
    n = vectors.shape[0]
    if n < 2:
        return math.nan if keras else 0.0
    norms = np.linalg.norm(vectors, axis=1)
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            if norms[i] > 0 and norms[j] > 0:
                total += abs(float(vectors[i] @ vectors[j])) / (norms[i] * norms[j])
    return total / (n * (n - 1) / 2)


def fewer_than_two(spec: Spec, x: np.ndarray) -> bool:
    """OrthogonalRegularizer on a matrix with no pair of rows (columns): the deviation."""
    if not spec.orthogonal:
        return False
    axis = 0 if spec.arguments["mode"] == "rows" else 1
    return x.shape[axis] < 2
