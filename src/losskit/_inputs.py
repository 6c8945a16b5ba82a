"""Per-example losses and their weights, validated once per signature.

Validating a call (dtypes, ranks, the weights' rank fix-up) costs several times the
arithmetic of a small batch. What it establishes depends only on the arrays' types, dtypes
and shapes, so it is cached per signature for the arrays whose signature can be read
without tracing: NumPy arrays, and PyTorch tensors outside ``torch.compile``. JAX arrays
are validated on every call; inside ``jax.jit`` that is once per compilation anyway.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._errors import invalid
from losskit._kernels.sums import SINGLE_DOT
from losskit._shapes import fix_weight_rank

__all__ = ["Checked", "checked"]

_MAX_SIGNATURES = 256


@dataclasses.dataclass(frozen=True)
class Checked:
    """What validating the losses and weights established, for the arithmetic that follows."""

    xp: ns.Namespace
    result_dtype: Any
    dtype: Any  # the accumulation dtype
    batch: int
    weight_shape: tuple[int, ...] | None  # after the rank fix-up; None: no array weights
    single_dot: bool = False  # NumPy, 1-D, same-shape weights, one dtype, small: one BLAS dot


_CACHE: dict[tuple[Any, ...], Checked] = {}


def checked(per_example_loss: Any, sample_weight: Any) -> tuple[Checked, Any, Any]:
    """``(Checked, losses, weights)``: the losses as an array of their namespace and the
    weights as an array, a Python number or None; the validation cached per signature."""
    key = _signature(per_example_loss, sample_weight)
    found = None if key is None else _CACHE.get(key)
    if found is not None:
        return found, per_example_loss, sample_weight
    names = ("per_example_loss", "sample_weight")
    xp = ns.namespace(per_example_loss, sample_weight, names=names)
    values = ns.as_array(xp, per_example_loss, name="per_example_loss")
    weights = sample_weight
    if sample_weight is not None and not ns.is_python_number(sample_weight):
        weights = ns.as_array(xp, sample_weight, name="sample_weight", like=values)
    found = _check(xp, values, weights, received=per_example_loss)
    if key is not None:
        if len(_CACHE) >= _MAX_SIGNATURES:
            _CACHE.clear()
        _CACHE[key] = found
    return found, values, weights


def _signature(values: Any, weights: Any) -> tuple[Any, ...] | None:
    """A cache key, or None for anything that must be validated on every call."""
    kind = type(values)
    if not _backends.cacheable(values):
        return None
    if weights is None or type(weights) is float:
        return (kind, values.dtype, values.shape, type(weights))
    if type(weights) is kind:
        return (kind, values.dtype, values.shape, weights.dtype, weights.shape)
    return None


def _check(xp: ns.Namespace, values: Any, weights: Any, *, received: Any) -> Checked:
    result_dtype, dtype = ns.loss_dtypes(xp, values, name="per_example_loss")
    if values.ndim == 0:
        raise ValueError(
            invalid(
                "per_example_loss",
                "an array of rank >= 1 (one loss per example)",
                received,
                hint="To scale a scalar loss, use `scale_regularization_loss`.",
            )
        )
    weight_shape = None
    if weights is not None and not ns.is_python_number(weights):
        ns.check_weight_dtype(xp, weights, name="sample_weight")
        fixed = fix_weight_rank(
            xp, values, weights, values_name="per_example_loss", weights_name="sample_weight"
        )
        weight_shape = tuple(fixed.shape)
    single_dot = (
        ns.is_numpy_namespace(xp)
        and values.ndim == 1
        and weight_shape is not None
        and weight_shape == tuple(weights.shape) == tuple(values.shape)  # no rank fix-up
        and values.dtype == weights.dtype == dtype == result_dtype
        and values.shape[0] <= SINGLE_DOT
    )
    return Checked(xp, result_dtype, dtype, values.shape[0], weight_shape, single_dot)
