"""Arrays in and outcomes out for the Keras oracle scripts (run as ``python script.py``, which
import this module by its bare name). TensorFlow is imported inside the functions, so importing
this module stays TensorFlow-free.

An array spec is ``{"dtype", "shape", "values"}``; an outcome is ``{"value": [...], "shape":
[...], "dtype"}`` or, when the computation raised, ``{"error", "message"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def tensor(spec: dict[str, Any]) -> Any:
    """The TensorFlow constant of an array spec, in its dtype."""
    import numpy as np
    import tensorflow as tf

    values = np.asarray(spec["values"], np.float64).reshape(spec["shape"])
    return tf.constant(values.astype(spec["dtype"]))


def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    """What ``fn()`` gave: its value, shape and dtype, or the error it raised."""
    import numpy as np
    import tensorflow as tf

    try:
        result = tf.convert_to_tensor(fn())
    except Exception as error:  # the error itself is the result
        return {"error": type(error).__name__, "message": str(error)[:500]}
    return {
        "value": np.asarray(result.numpy(), np.float64).ravel().tolist(),
        "shape": list(result.shape),
        "dtype": result.dtype.name,
    }


def masked(y_pred: Any, mask: Any) -> Any:
    """A copy of ``y_pred`` carrying a Keras mask."""
    import tensorflow as tf

    y_pred = tf.identity(y_pred)
    y_pred._keras_mask = mask
    return y_pred
