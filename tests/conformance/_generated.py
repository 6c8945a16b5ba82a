"""The fixed-seed case generator: every reduction, weight shape, dtype and context.

Shapes of rank 0 to 4 (some empty), float16/bfloat16/float32/float64 and int8/int32/int64
losses, weights that are absent, scalars, ``[B]``, ``[B, 1, ...]``, full, broadcast with 1s,
all zero, negative, NaN, bool or integer, and the invalid shapes and batch sizes TensorFlow
rejects. ``generated_cases()`` returns the same list on every call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from tests.conformance._model import (
    DIVIDING,
    FLOATS,
    INTEGERS,
    NONE,
    TF1_KEYS,
    Case,
    Data,
    array,
    backends_for,
    cal_weights_fit,
    python,
    short,
)

SEED = 20260301


# ----------------------------------------------------------------------------- generator


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.cases: list[Case] = []

    # -- draws ----------------------------------------------------------------------
    def choice(self, options: Sequence[Any], p: Sequence[float] | None = None) -> Any:
        return options[int(self.rng.choice(len(options), p=p))]

    def dtype(self, *, integers: bool = True) -> str:
        options = ["float32", "float64", "float16", "bfloat16", "int32", "int8", "int64"]
        weights = [5, 3, 2, 2, 2, 1, 1]
        if not integers:
            options, weights = options[:4], weights[:4]
        p = np.asarray(weights, dtype=float) / sum(weights)
        return str(self.choice(options, p))

    def shape(self, low_rank: int = 0, high_rank: int = 4, empty: bool = True) -> tuple[int, ...]:
        rank = int(self.rng.integers(low_rank, high_rank + 1))
        dims = [0, 1, 2, 3, 4] if empty else [1, 2, 3, 4]
        p = [0.06, 0.2, 0.27, 0.27, 0.2] if empty else [0.2, 0.3, 0.3, 0.2]
        return tuple(int(self.choice(dims, p)) for _ in range(rank))

    def losses(self, shape: tuple[int, ...], dtype: str) -> Data:
        if dtype in INTEGERS:
            values = self.rng.integers(-3 if dtype == "int8" else 0, 10, size=shape)
        else:
            values = self.rng.uniform(-0.5, 4.0, size=shape)
        return array(values, dtype)

    def weight_values(self, shape: tuple[int, ...], values: str) -> np.ndarray:
        size = int(np.prod(shape))
        if values == "zeros":
            out = np.zeros(shape)
        elif values == "negative":
            out = self.rng.uniform(-2.0, 2.0, size=shape)
            if size > 1:
                out.reshape(-1)[int(self.rng.integers(size))] = 0.0
        elif values == "int":
            out = self.rng.integers(0, 4, size=shape).astype(np.float64)
        elif values == "bool":
            out = self.rng.integers(0, 2, size=shape).astype(bool)
        else:
            out = self.rng.uniform(0.25, 2.0, size=shape)
            if size > 2:  # a zero weight, so that the non-zero count differs from the size
                out.reshape(-1)[int(self.rng.integers(size))] = 0.0
            if values == "nan" and size:
                out.reshape(-1)[int(self.rng.integers(size))] = np.nan
        return np.asarray(out)

    def weight_dtype(self, losses_dtype: str, values: str) -> str:
        if values == "int":
            return "int32"
        if values == "bool":
            return "bool"
        return losses_dtype if losses_dtype in FLOATS else "float32"

    def broadcast_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(1 if self.rng.random() < 0.5 else d for d in shape)

    def add(self, case: Case) -> None:
        self.cases.append(dataclasses.replace(case, id=f"g{len(self.cases):03d}-{case.id}"))

    # -- compute_weighted_loss (TF1 rules) -------------------------------------------
    def cwl_weights(self, shape: tuple[int, ...], dtype: str, kind: str) -> tuple[Data, str | None]:
        """(weights, the argument an error is about) for a TF1 weight kind."""
        rank = len(shape)
        if kind == "none":
            return NONE, "weights"
        if kind == "py_scalar":
            return python(float(self.choice([0.5, 2.0, 0.0, -1.5, 1.0]))), None
        values = "positive"
        if kind in ("zeros", "negative", "nan", "int"):
            values, kind = kind, str(self.choice(["full", "broadcast"]))
        wshape: tuple[int, ...]
        error = None
        if kind == "scalar":
            wshape = ()
        elif kind == "per_example":
            wshape = shape[:1] + (1,) * (rank - 1)
        elif kind == "full":
            wshape = shape
        elif kind == "broadcast":
            wshape = self.broadcast_shape(shape)
        elif kind == "batch_vector":  # [B] against [B, d, ...]: TF1 needs the same rank
            wshape = shape[:1] if rank else (2,)
            error = "weights" if rank != 1 else None
        elif kind == "bad_dim":
            if rank == 0:
                wshape = (2,)
            else:
                axis = int(self.rng.integers(rank))
                bad = shape[axis] + (2 if shape[axis] == 0 else 1)
                wshape = (*shape[:axis], bad, *shape[axis + 1 :])
            error = "weights"
        else:
            raise AssertionError(kind)
        wdtype = self.weight_dtype(dtype, values)
        return array(self.weight_values(wshape, values), wdtype), error

    def cwl(
        self,
        reduction: str,
        weight_kind: str,
        *,
        context: str = "none",
        replicas: int = 1,
        dtype: str | None = None,
    ) -> None:
        dtype = dtype or self.dtype()
        shape = self.shape(empty=weight_kind not in ("nan",))
        losses = self.losses(shape, dtype)
        weights, error = (None, None)
        if weight_kind != "absent":
            weights, error = self.cwl_weights(shape, dtype, weight_kind)
        if reduction == "auto":
            oracle, tf_key = "tf_keras", "auto"
        elif reduction == "mean_with_sample_weight":
            oracle, tf_key = "keras3", "mean_with_sample_weight"
        else:
            oracle, tf_key = "tf1", TF1_KEYS[reduction]
        label = f"cwl-{short(dtype)}{list(shape)}-w_{weight_kind}-{reduction}"
        if context != "none":
            label += f"-{context}{replicas}"
            divides = reduction in DIVIDING
            if error is None and divides and replicas > 1:
                error = "reduction"
        self.add(
            Case(
                label.replace(" ", ""),
                "cwl",
                oracle,
                losses,
                weights,
                reduction,
                tf_key,
                context=context,
                replicas=replicas,
                error_arg=error,
                backends=backends_for(dtype),
            )
        )

    def keras_weights(self, shape: tuple[int, ...], dtype: str) -> Data:
        """Same-rank weights, the shapes every TensorFlow-side Keras function agrees on."""
        kind = str(self.choice(["full", "per_example", "broadcast", "negative"]))
        values = "negative" if kind == "negative" else "positive"
        wshape = {
            "full": shape,
            "negative": shape,
            "per_example": shape[:1] + (1,) * (len(shape) - 1),
        }.get(kind, self.broadcast_shape(shape))
        return array(self.weight_values(wshape, values), dtype)

    def keras(self, reduction: str, index: int) -> None:
        dtype = self.dtype(integers=reduction == "auto")
        # Keras 3 returns scalars and [0]-shaped values unreduced: rank >= 1, no empty 1-D.
        shape = self.shape(1, 4, empty=False) if reduction != "auto" else self.shape()
        losses = self.losses(shape, dtype)
        wdtype = dtype if dtype in FLOATS else "float32"
        if index % (4 if reduction == "auto" else 7) == 0:
            weights = None
        elif reduction == "auto" and not shape:
            weights = array(self.weight_values((), "positive"), wdtype)
        else:
            weights = self.keras_weights(shape, wdtype)
        oracle = "tf_keras" if reduction == "auto" else "keras3"
        w = "absent" if weights is None else "same_rank"
        self.add(
            Case(
                f"cwl-{short(dtype)}{list(shape)}-w_{w}-{reduction}".replace(" ", ""),
                "cwl",
                oracle,
                losses,
                weights,
                reduction,
                reduction,
                backends=backends_for(dtype),
            )
        )

    # -- compute_average_loss ---------------------------------------------------------
    def cal_weights(
        self, shape: tuple[int, ...], dtype: str, kind: str
    ) -> tuple[tuple[int, ...], Data | None, str | None]:
        """(losses shape, weights, error argument) for a TF2 weight kind."""
        rank = len(shape)
        values = "positive"
        if kind in ("zeros", "negative", "nan", "bool", "int"):
            values, kind = kind, str(self.choice(["full", "batch_vector", "per_example"]))
        error = None
        if kind == "absent":
            return shape, None, None
        if kind == "py_scalar":
            return shape, python(float(self.choice([0.5, 2.0, 0.0, 3.0]))), None
        if kind == "scalar":
            wshape: tuple[int, ...] = ()
        elif kind == "batch_vector":  # [B]: expanded to [B, 1] against rank-2 losses
            wshape = shape[:1]
        elif kind == "batch_column":  # [B, 1]: squeezed against rank-1 losses
            wshape = (*shape[:1], 1)
        elif kind == "per_example":
            wshape = shape[:1] + (1,) * (rank - 1)
        elif kind == "full":
            wshape = shape
        elif kind == "full_column":  # one more axis of size 1: squeezed
            wshape = (*shape, 1)
        elif kind == "broadcast":
            wshape = self.broadcast_shape(shape)
        elif kind == "squeeze_fail":
            wshape = (*shape, int(self.rng.integers(2, 4)))
            error = "sample_weight"
        elif kind == "incompatible":
            shape = tuple(
                int(d) for d in self.rng.integers(2, 5, size=int(self.rng.integers(1, 4)))
            )
            wshape = (*shape[:-1], shape[-1] + 1)
            error = "sample_weight"
        elif kind == "growing":
            if self.rng.random() < 0.5:  # TF: [1, d] losses with [d] weights become [d, d]
                d = int(self.rng.integers(2, 5))
                shape, wshape = (1, d), (d,)
            else:  # same rank, a weight axis larger than the losses' 1
                b, d = (int(x) for x in self.rng.integers(2, 5, size=2))
                shape, wshape = (b, 1), (b, d)
            error = "sample_weight"
        else:
            raise AssertionError(kind)
        if error is None and not cal_weights_fit(shape, wshape):
            error = "sample_weight"  # e.g. [B] against rank-4 losses: trailing broadcast
        wdtype = self.weight_dtype(dtype, values)
        return shape, array(self.weight_values(wshape, values), wdtype), error

    def cal(
        self,
        weight_kind: str,
        gbs_kind: str,
        *,
        context: str = "none",
        replicas: int = 1,
        dtype: str | None = None,
    ) -> None:
        dtype = dtype or self.dtype()
        shape = self.shape(1, 4)
        shape, weights, error = self.cal_weights(shape, dtype, weight_kind)
        losses = self.losses(shape, dtype)
        gbs = None
        if gbs_kind == "int":
            gbs = python(int(self.rng.integers(1, 12)))
        elif gbs_kind == "zero":
            gbs = python(0)
        if context == "cross" and gbs is None and error is None:
            error = "compute_average_loss"
        label = f"cal-{short(dtype)}{list(shape)}-w_{weight_kind}-gbs_{gbs_kind}"
        if context != "none":
            label += f"-{context}{replicas}"
        self.add(
            Case(
                label.replace(" ", ""),
                "cal",
                "tf.nn",
                losses,
                weights,
                gbs=gbs,
                context=context,
                replicas=replicas,
                error_arg=error,
                backends=backends_for(dtype),
            )
        )

    def cal_gbs(self, name: str, gbs: Data, error: str | None) -> None:
        dtype = self.dtype(integers=False) if name != "int8_gbs_wraps" else "int8"
        if dtype == "bfloat16":  # keep these on NumPy: a bfloat16 case would run jitted on JAX
            dtype = "float32"
        shape = self.shape(1, 3, empty=False)
        self.add(
            Case(
                f"cal-{short(dtype)}{list(shape)}-gbs_{name}".replace(" ", ""),
                "cal",
                "tf.nn",
                self.losses(shape, dtype),
                array(self.weight_values(shape[:1] + (1,) * (len(shape) - 1), "positive"), dtype)
                if self.rng.random() < 0.3 and dtype in FLOATS
                else None,
                gbs=gbs,
                error_arg=error,
            )
        )

    # -- scale_regularization_loss ------------------------------------------------------
    def srl(self, *, context: str = "none", replicas: int = 1) -> None:
        dtype = self.dtype()
        shape = self.shape()
        label = f"srl-{short(dtype)}{list(shape)}"
        if context != "none":
            label += f"-{context}{replicas}"
        self.add(
            Case(
                label.replace(" ", ""),
                "srl",
                "tf.nn",
                self.losses(shape, dtype),
                context=context,
                replicas=replicas,
                error_arg="scale_regularization_loss" if context == "cross" else None,
                backends=backends_for(dtype),
            )
        )


CWL_WEIGHT_KINDS = (
    "absent",
    "py_scalar",
    "scalar",
    "per_example",
    "full",
    "broadcast",
    "zeros",
    "negative",
    "nan",
    "int",
    "batch_vector",
    "bad_dim",
    "none",
)
CAL_WEIGHT_KINDS = (
    "absent",
    "py_scalar",
    "scalar",
    "batch_vector",
    "batch_column",
    "per_example",
    "full",
    "full_column",
    "broadcast",
    "zeros",
    "negative",
    "nan",
    "bool",
    "int",
    "squeeze_fail",
    "incompatible",
    "growing",
)

# (name, global_batch_size, argument named by the error or None)
GBS_CASES: tuple[tuple[str, Data, str | None], ...] = (
    ("negative", python(-1), "global_batch_size"),
    ("negative_np_int64", Data("numpy", "int64", (), (-3,)), "global_batch_size"),
    ("negative_array", Data("array", "int32", (), (-2,)), "global_batch_size"),
    ("list", python([3]), "global_batch_size"),
    ("np_vector", Data("numpy", "int64", (1,), (2,)), "global_batch_size"),
    ("array_vector", Data("array", "int32", (2,), (2, 2)), "global_batch_size"),
    ("float", python(3.0), None),
    ("float_fraction", python(2.5), None),
    ("float_np", Data("numpy", "float64", (), (4.0,)), None),
    ("float_array", Data("array", "float32", (), (6.0,)), None),
    ("float_negative", python(-1.0), "global_batch_size"),
    ("float_nan", python(float("nan")), "global_batch_size"),
    ("bool", python(True), "global_batch_size"),
    ("np_bool", Data("numpy", "bool", (), (1,)), "global_batch_size"),
    ("string", python("2"), "global_batch_size"),
    ("np_int64", Data("numpy", "int64", (), (3,)), None),
    ("int32_array", Data("array", "int32", (), (5,)), None),
    ("int64_array", Data("array", "int64", (), (7,)), None),
    ("uint8_array", Data("array", "uint8", (), (3,)), None),
    ("huge", python(2**40), None),
    ("int8_gbs_wraps", python(300), None),
)


def generated_cases(seed: int = SEED) -> list[Case]:
    """The fixed-seed cases; the same list on every call."""
    g = _Generator(seed)
    for reduction in TF1_KEYS:
        for kind in CWL_WEIGHT_KINDS:
            for _ in range(2):
                g.cwl(reduction, kind)
    for index in range(14):
        g.keras("auto", index)
    for index in range(14):
        g.keras("mean_with_sample_weight", index)
    for kind in CAL_WEIGHT_KINDS:
        for gbs_kind in ("absent", "int", "zero"):
            g.cal(kind, gbs_kind)
    for _ in range(3):  # rank-0 losses
        dtype = g.dtype()
        g.add(
            Case(
                f"cal-{short(dtype)}[]-rank0",
                "cal",
                "tf.nn",
                g.losses((), dtype),
                error_arg="per_example_loss",
                backends=backends_for(dtype),
            )
        )
    for name, gbs, error in GBS_CASES:
        g.cal_gbs(name, gbs, error)
    for _ in range(24):
        g.srl()
    for replicas in (1, 2, 3, 4):
        for gbs_kind in ("absent", "absent", "int"):
            g.cal(
                str(g.choice(["absent", "batch_vector", "full"])),
                gbs_kind,
                context="replica",
                replicas=replicas,
            )
        g.srl(context="replica", replicas=replicas)
        g.srl(context="replica", replicas=replicas)
        for reduction in (*TF1_KEYS, "auto"):
            g.cwl(
                reduction,
                str(g.choice(["full", "per_example"])),
                context="replica",
                replicas=replicas,
                dtype=str(g.choice(["float32", "float64"])),
            )
        g.cal("absent", "absent", context="cross", replicas=replicas)
        g.cal("full", "int", context="cross", replicas=replicas)
        g.srl(context="cross", replicas=replicas)
        for reduction in ("none", "sum", "sum_by_nonzero_weights"):
            g.cwl(reduction, "full", context="cross", replicas=replicas, dtype="float32")
    return g.cases
