"""Array-namespace lookup, conversion that keeps autograd, and the dtype rules losskit needs.

Every public function calls :func:`namespace` once, converts its other inputs with
:func:`as_array`, and then uses only ``xp.*``. Framework arrays are never passed through
``xp.asarray`` (``torch.asarray`` drops ``requires_grad``); only NumPy arrays and Python
values are converted, onto the device of the primary array.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from losskit._errors import describe, invalid

Array = Any
Namespace = ModuleType

_NUMPY: Namespace = array_api_compat.array_namespace(np.empty(0))
# type -> its framework namespace, or None for host values (NumPy, Python numbers) and
# non-arrays. Filled lazily; lookups by type cost ~50 ns, where array-api-compat's
# isinstance chains cost microseconds on every call.
_NAMESPACE_BY_TYPE: dict[type, Namespace | None] = {
    np.ndarray: None,
    float: None,
    int: None,
    bool: None,
    list: None,
    tuple: None,
    str: None,
    bytes: None,
    type(None): None,
}


def is_python_number(value: Any) -> bool:
    """A Python int or float (not bool): kept as a Python number, never made an array."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_host_value(value: Any) -> bool:
    """Python numbers, NumPy arrays and NumPy scalars: values losskit may convert freely."""
    return isinstance(value, (np.ndarray, np.generic, float, int, numbers.Number))


def library(value: Any) -> str:
    """The top-level package that defines ``type(value)``: 'torch', 'jax', 'numpy', ..."""
    if _is_torch_tensor(value):
        return "torch"
    return type(value).__module__.partition(".")[0]


def _is_torch_tensor(value: Any) -> bool:
    """``isinstance(value, torch.Tensor)`` if torch is imported (it is, if value is one);
    TorchDynamo cannot read ``type(value).__module__`` of an ``nn.Parameter``."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _framework_namespace(value: Any) -> Namespace | None:
    """The namespace of a non-NumPy array-API array, or None for anything else."""
    kind = type(value)
    if kind in _NAMESPACE_BY_TYPE:
        return _NAMESPACE_BY_TYPE[kind]
    xp: Namespace | None
    if is_host_value(value) or isinstance(value, (str, bytes, list, tuple)):
        xp = None
    elif _is_torch_tensor(value):
        # A plain import, not array_api_compat's lookup: TorchDynamo traces an import but
        # warns on the lru_cache-wrapped helpers behind `array_namespace`.
        import array_api_compat.torch as torch_namespace

        xp = torch_namespace
    elif array_api_compat.is_array_api_obj(value):
        xp = array_api_compat.array_namespace(value)
    else:
        xp = None
    _NAMESPACE_BY_TYPE[kind] = xp
    return xp


def _namespaces_in(value: Any) -> list[Namespace]:
    found = _framework_namespace(value)
    if found is not None:
        return [found]
    if isinstance(value, (list, tuple)):
        return [ns for item in value for ns in _namespaces_in(item)]
    return []


def namespace(*values: Any, names: Sequence[str] = ()) -> Namespace:
    """The array namespace shared by the framework arrays among ``values``.

    NumPy arrays, Python scalars and (nested) lists do not choose the namespace: they are
    converted into it. With no framework array at all the namespace is NumPy's.

    Raises:
        TypeError: two values come from different array libraries.
    """
    chosen: Namespace | None = None
    for value in values:  # the common case: known types, one library
        kind = type(value)
        if kind is list or kind is tuple or kind not in _NAMESPACE_BY_TYPE:
            return _namespace_of_all(values, names)
        xp = _NAMESPACE_BY_TYPE[kind]
        if xp is not None:
            if chosen is not None and xp is not chosen:
                return _namespace_of_all(values, names)
            chosen = xp
    return _NUMPY if chosen is None else chosen


def _namespace_of_all(values: Sequence[Any], names: Sequence[str]) -> Namespace:
    chosen: Namespace | None = None
    chosen_name = ""
    for index, value in enumerate(values):
        if value is None:
            continue
        name = names[index] if index < len(names) else f"argument {index}"
        for xp in _namespaces_in(value):
            if chosen is None:
                chosen, chosen_name = xp, name
            elif xp is not chosen:
                raise TypeError(
                    f"Invalid `{name}`: expected an array from the same library as "
                    f"`{chosen_name}` ({chosen.__name__}), received {describe(value)}. "
                    "Convert one of them so that both come from one array library."
                )
    return _NUMPY if chosen is None else chosen


def is_array_of(xp: Namespace, value: Any) -> bool:
    """Whether ``value`` already is an array of ``xp`` (nothing to convert)."""
    if type(value) is np.ndarray:
        return xp is _NUMPY
    return _framework_namespace(value) is xp


def is_numpy_namespace(xp: Namespace) -> bool:
    # an identity test, not array_api_compat's lru_cache-wrapped helper (Dynamo warns on it)
    return xp is _NUMPY or xp is np


def as_array(xp: Namespace, value: Any, *, name: str, like: Array | None = None) -> Array:
    """``value`` as an array of ``xp`` without ever detaching it from autograd.

    Arrays of ``xp`` are returned unchanged. NumPy arrays, Python numbers and nested lists
    are converted (onto ``like``'s device); a list of ``xp`` arrays is stacked.
    """
    if type(value) is np.ndarray and xp is _NUMPY:
        return value  # dtypes are checked by the caller (loss_dtypes, check_weight_dtype)
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(invalid(name, "an array, a Python number or a list of numbers", value))
    found = _framework_namespace(value)
    if found is not None:
        if found is not xp:
            raise TypeError(invalid(name, f"an array of {xp.__name__}", value))
        return value
    device = None if like is None else array_api_compat.device(like)
    if isinstance(value, (list, tuple)) and _namespaces_in(value):
        items = [as_array(xp, item, name=name, like=like) for item in value]
        return xp.stack(items)
    if isinstance(value, bool):
        value = np.asarray(value)
    try:
        host = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            invalid(name, "an array, a Python number or a list of numbers", value)
        ) from error
    if host.dtype == object or host.dtype.kind in "USV":
        raise TypeError(invalid(name, "numeric values", value))
    if is_numpy_namespace(xp):
        return host
    return xp.asarray(host, device=device)


# ----------------------------------------------------------------------------- dtypes


def is_bool(xp: Namespace, dtype: Any) -> bool:
    return bool(xp.isdtype(dtype, "bool"))


def is_integral(xp: Namespace, dtype: Any) -> bool:
    return bool(xp.isdtype(dtype, "integral"))


def is_real_floating(xp: Namespace, dtype: Any) -> bool:
    return bool(xp.isdtype(dtype, "real floating"))


def is_low_precision(xp: Namespace, dtype: Any) -> bool:
    """float16 and bfloat16: accumulated in float32, returned in their own dtype."""
    return is_real_floating(xp, dtype) and xp.finfo(dtype).bits < 32


def widest_float(xp: Namespace, like: Array | None = None) -> Any:
    """float64 where the backend (and device) has it, else float32."""
    device = None if like is None else array_api_compat.device(like)
    info = xp.__array_namespace_info__()
    supported = info.dtypes(device=device, kind="real floating")
    return xp.float64 if "float64" in supported else xp.float32


def float_dtype_for_integers(xp: Namespace, dtype: Any, like: Array | None = None) -> Any:
    """The floating dtype a mean of integers is returned in (TensorFlow's ``truediv`` table).

    8- and 16-bit integers give float32; 32- and 64-bit integers give float64 where the
    backend has it (JAX without ``jax_enable_x64`` has only float32).
    """
    if xp.iinfo(dtype).bits <= 16:
        return xp.float32
    return widest_float(xp, like)


_KINDS: dict[type, dict[Any, str]] = {}


def _kind(xp: Namespace, dtype: Any) -> str:
    """'float', 'low' (float16/bfloat16), 'int', 'bool' or 'other'; cached per dtype (the
    standard's ``isdtype`` costs a microsecond a call in array-api-compat). A dtype's kind
    does not depend on the library (NumPy and JAX even share dtype objects). The table is
    split by the dtype's class so that TorchDynamo only ever compares torch dtypes with each
    other (it cannot compare a torch dtype with a NumPy one, nor trace a module in a key)."""
    table = _KINDS.setdefault(type(dtype), {})
    found = table.get(dtype)
    if found is None:
        if is_real_floating(xp, dtype):
            found = "low" if is_low_precision(xp, dtype) else "float"
        elif is_integral(xp, dtype):
            found = "int"
        elif is_bool(xp, dtype):
            found = "bool"
        else:
            found = "other"
        table[dtype] = found
    return found


def loss_dtypes(xp: Namespace, values: Array, *, name: str) -> tuple[Any, Any]:
    """(result dtype, accumulation dtype) for a loss array; rejects bool and complex.

    Floating inputs keep their dtype; float16/bfloat16 accumulate in float32; integers are
    reduced in floating point (:func:`float_dtype_for_integers`), never truncated.
    """
    dtype = values.dtype
    kind = _kind(xp, dtype)
    if kind == "float":
        return dtype, dtype
    if kind == "low":
        return dtype, xp.float32
    if kind == "int":
        result = float_dtype_for_integers(xp, dtype, values)
        return result, result
    raise TypeError(invalid(name, "an array of real floating or integer dtype", values))


def check_weight_dtype(xp: Namespace, weights: Array, *, name: str) -> None:
    if _kind(xp, weights.dtype) == "other":
        raise TypeError(invalid(name, "an array of real floating, integer or bool dtype", weights))


def astype(xp: Namespace, value: Array, dtype: Any) -> Array:
    """``xp.astype`` that skips the no-op cast (cheaper, and keeps identity for callers)."""
    return value if value.dtype == dtype else xp.astype(value, dtype)


def finish(xp: Namespace, value: Array, dtype: Any) -> Array:
    """A public function's result: cast to ``dtype``; NumPy scalars become 0-d arrays.

    NumPy reductions return ``np.float64`` scalars while other paths return 0-d arrays;
    callers get one type whatever path produced the value.
    """
    if value.dtype != dtype:
        value = xp.astype(value, dtype)
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


# ----------------------------------------------------------------------------- host values


def host_readable(array: Array) -> bool:
    """Whether values of this framework array can be read without a device sync or a trace.

    A CPU torch tensor outside ``torch.compile``, a committed CPU JAX array (not a tracer),
    NumPy and array-api-strict arrays can; GPU arrays, tracers and unknown libraries cannot.
    Callers skip their value checks on those rather than force a sync.
    """
    origin = library(array)
    if origin == "torch":
        import torch

        if torch.compiler.is_compiling() or array.device.type != "cpu":
            return False
        # FakeTensor and other tracing subclasses cannot be read
        return type(array) is torch.Tensor or isinstance(array, torch.nn.Parameter)
    if origin in ("jax", "jaxlib"):
        import jax

        if isinstance(array, jax.core.Tracer):
            return False
        return all(device.platform == "cpu" for device in array.devices())
    return origin in ("array_api_strict", "numpy")


def host_scalar(array: Array) -> float | None:
    """The value of a 0-d framework array if :func:`host_readable`, else None (the caller
    skips its value check rather than force a sync)."""
    if not host_readable(array):
        return None
    origin = library(array)
    if origin == "torch":
        return float(array.detach().item())
    return float(np.asarray(array) if origin != "array_api_strict" else array)
