"""``get``, ``serialize`` and ``deserialize`` for losses (Keras's three functions).

Classes go through the shared allow-list table (:mod:`losskit.serialization`); built-in
loss *functions* serialize as Keras writes them, ``{"module": "builtins", "class_name":
"function", "config": "mean_squared_error", "registered_name": "function"}``, and are
resolved by name from the built-in table before the registry is asked.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from losskit.losses import (
    _circle,
    _ctc,
    _generalized,
    _hinge,
    _overlap,
    _probabilistic,
    _regression,
)
from losskit.losses._base import Loss
from losskit.serialization._config import (
    Table,
    deserialize_object,
    get_object,
    serialize_object,
)

__all__ = ["deserialize", "get", "serialize"]

CLASSES: dict[str, type[Loss]] = {
    "Loss": Loss,
    "MeanSquaredError": _regression.MeanSquaredError,
    "MeanAbsoluteError": _regression.MeanAbsoluteError,
    "MeanAbsolutePercentageError": _regression.MeanAbsolutePercentageError,
    "MeanSquaredLogarithmicError": _regression.MeanSquaredLogarithmicError,
    "Huber": _regression.Huber,
    "LogCosh": _regression.LogCosh,
    "CosineSimilarity": _regression.CosineSimilarity,
    "BinaryCrossentropy": _probabilistic.BinaryCrossentropy,
    "BinaryFocalCrossentropy": _probabilistic.BinaryFocalCrossentropy,
    "CategoricalCrossentropy": _probabilistic.CategoricalCrossentropy,
    "CategoricalFocalCrossentropy": _probabilistic.CategoricalFocalCrossentropy,
    "SparseCategoricalCrossentropy": _probabilistic.SparseCategoricalCrossentropy,
    "KLDivergence": _probabilistic.KLDivergence,
    "Poisson": _probabilistic.Poisson,
    "Hinge": _hinge.Hinge,
    "SquaredHinge": _hinge.SquaredHinge,
    "CategoricalHinge": _hinge.CategoricalHinge,
    "CTC": _ctc.CTC,
    "Dice": _overlap.Dice,
    "Tversky": _overlap.Tversky,
    "Circle": _circle.Circle,
    "CategoricalGeneralizedCrossEntropy": _generalized.CategoricalGeneralizedCrossEntropy,
}

# The canonical name of each function first (it is what Keras writes), then the aliases of
# tf_keras (`huber_loss`, `logcosh`, `kullback_leibler_divergence`) and of both (`bce`, ...).
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "mean_squared_error": _regression.mean_squared_error,
    "mean_absolute_error": _regression.mean_absolute_error,
    "mean_absolute_percentage_error": _regression.mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": _regression.mean_squared_logarithmic_error,
    "huber": _regression.huber,
    "log_cosh": _regression.log_cosh,
    "cosine_similarity": _regression.cosine_similarity,
    "binary_crossentropy": _probabilistic.binary_crossentropy,
    "binary_focal_crossentropy": _probabilistic.binary_focal_crossentropy,
    "categorical_crossentropy": _probabilistic.categorical_crossentropy,
    "categorical_focal_crossentropy": _probabilistic.categorical_focal_crossentropy,
    "sparse_categorical_crossentropy": _probabilistic.sparse_categorical_crossentropy,
    "kl_divergence": _probabilistic.kl_divergence,
    "poisson": _probabilistic.poisson,
    "hinge": _hinge.hinge,
    "squared_hinge": _hinge.squared_hinge,
    "categorical_hinge": _hinge.categorical_hinge,
    "ctc": _ctc.ctc,
    "dice": _overlap.dice,
    "tversky": _overlap.tversky,
    "circle": _circle.circle,
    "categorical_generalized_cross_entropy": _generalized.categorical_generalized_cross_entropy,
    "bce": _probabilistic.binary_crossentropy,
    "BCE": _probabilistic.binary_crossentropy,
    "huber_loss": _regression.huber,
    "mse": _regression.mean_squared_error,
    "MSE": _regression.mean_squared_error,
    "mae": _regression.mean_absolute_error,
    "MAE": _regression.mean_absolute_error,
    "mape": _regression.mean_absolute_percentage_error,
    "MAPE": _regression.mean_absolute_percentage_error,
    "msle": _regression.mean_squared_logarithmic_error,
    "MSLE": _regression.mean_squared_logarithmic_error,
    "logcosh": _regression.log_cosh,
    "kld": _probabilistic.kl_divergence,
    "KLD": _probabilistic.kl_divergence,
    "kullback_leibler_divergence": _probabilistic.kl_divergence,
}

FUNCTION_NAMES: dict[Any, str] = {}
for _name, _function in FUNCTIONS.items():
    FUNCTION_NAMES.setdefault(_function, _name)

TABLE = Table(
    "loss",
    CLASSES,
    modules=frozenset(
        {
            "keras.losses",
            "keras.src.losses.losses",
            "keras.src.losses.loss",
            "tf_keras.losses",
            "tf_keras.src.losses",
            "losskit.losses",
        }
    ),
    canonical_module="keras.losses",
)


def serialize(loss: Any, *, use_legacy_format: bool = False) -> Any:
    """The Keras-format config of a loss (class instance or function).

    Built-in classes give ``{"module": "keras.losses", "class_name": ..., "config": ...,
    "registered_name": None}``, built-in functions Keras's function form (the bare name
    with ``use_legacy_format=True``), registered objects their ``"package>name"``.

    Raises:
        ValueError: an unregistered custom class or function, or a lambda.

    Example:
        >>> from losskit.losses import Huber, mean_squared_error, serialize
        >>> serialize(Huber(delta=2.0))
        {'module': 'keras.losses', 'class_name': 'Huber', 'config': {'reduction': 'auto',
         'name': 'huber_loss', 'delta': 2.0}, 'registered_name': None}
        >>> serialize(mean_squared_error)["config"]
        'mean_squared_error'
    """
    name = FUNCTION_NAMES.get(loss) if inspect.isfunction(loss) else None
    if name is not None:
        if use_legacy_format:
            return name
        return {
            "module": "builtins",
            "class_name": "function",
            "config": name,
            "registered_name": "function",
        }
    return serialize_object(loss, TABLE, use_legacy_format=use_legacy_format)


def _function_name(identifier: Any) -> str | None:
    """The name of the built-in function a name or a Keras function config refers to."""
    if isinstance(identifier, (bytes, bytearray)):
        identifier = identifier.decode("utf-8", "replace")
    if isinstance(identifier, str) and identifier.lstrip().startswith("{"):
        try:
            identifier = json.loads(identifier)
        except (ValueError, RecursionError):
            return None  # deserialize_object reports malformed text
    if isinstance(identifier, str):
        return identifier if identifier in FUNCTIONS else None
    if isinstance(identifier, dict) and identifier.get("class_name") == "function":
        name, module = identifier.get("config"), identifier.get("module")
        known_module = module is None or module == "builtins" or module in TABLE.modules
        if isinstance(name, str) and name in FUNCTIONS and known_module:
            return name
    return None


def deserialize(config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """A loss from a Keras-format config (dict or JSON text) or a name.

    tf_keras's configs (``"reduction": "auto"``, a ``"fn"`` key) and Keras 3's (its
    reduction strings, a ``"dtype"`` key) load; only built-ins, registered objects and
    ``custom_objects`` can be named (see :mod:`losskit.serialization`).

    Raises:
        ValueError: an unknown or refused name or module, a lambda, malformed JSON.
        TypeError: a config that is not JSON data, or arguments the class does not take.

    Example:
        >>> from losskit.losses import deserialize
        >>> loss = deserialize({"class_name": "CategoricalCrossentropy",
        ...                     "config": {"reduction": "none", "from_logits": True}})
        >>> loss.reduction, loss.get_config()["from_logits"]
        (<Reduction.NONE: 'none'>, True)
        >>> deserialize("mse").__name__
        'mean_squared_error'
    """
    name = _function_name(config)
    if name is not None and not (custom_objects and name in custom_objects):
        return FUNCTIONS[name]
    return deserialize_object(config, TABLE, custom_objects)


def get(
    identifier: Any, custom_objects: Mapping[str, Any] | None = None
) -> Callable[..., Any] | None:
    """Resolve a loss identifier: None, a name, a config, a class or a callable.

    * ``None`` gives ``None``; a :class:`Loss` or any other callable is returned as is; a
      :class:`Loss` subclass is instantiated with its defaults.
    * a string is a function name (``"mse"``, ``"categorical_crossentropy"``, ...), which
      gives the function, a class name (``"MeanSquaredError"``), which gives an instance, a
      registered ``"package>name"`` or a JSON config; a dict is a config.

    Raises:
        ValueError: anything else, or an unknown name.

    Example:
        >>> from losskit.losses import get
        >>> get("mse").__name__, get("MeanSquaredError")
        ('mean_squared_error', MeanSquaredError(reduction='auto', name='mean_squared_error'))
    """
    return get_object(identifier, TABLE, Loss, deserialize, custom_objects)
