"""``get``, ``serialize`` and ``deserialize`` for regularizers (Keras's three functions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from losskit.regularizers._base import Regularizer
from losskit.regularizers._orthogonal import OrthogonalRegularizer
from losskit.regularizers._penalties import L1, L1L2, L2, l1_l2
from losskit.serialization._config import (
    Table,
    deserialize_object,
    get_object,
    serialize_object,
)

__all__ = ["deserialize", "get", "serialize"]

# The names tf_keras and Keras 3 resolve. 'l1_l2' is tf_keras's (L1L2(0.01, 0.01)); Keras 3
# rejects that string and maps 'l1l2' to L1L2(0, 0): both are kept, each with its meaning.
BUILT_INS: dict[str, Any] = {
    "Regularizer": Regularizer,
    "regularizer": Regularizer,
    "L1": L1,
    "l1": L1,
    "L2": L2,
    "l2": L2,
    "L1L2": L1L2,
    "l1l2": L1L2,
    "l1_l2": l1_l2,
    "OrthogonalRegularizer": OrthogonalRegularizer,
    "orthogonal_regularizer": OrthogonalRegularizer,
}

TABLE = Table(
    "regularizer",
    BUILT_INS,
    modules=frozenset(
        {
            "keras.regularizers",
            "keras.src.regularizers.regularizers",
            "tf_keras.regularizers",
            "tf_keras.src.regularizers",
            "losskit.regularizers",
        }
    ),
    canonical_module="keras.regularizers",
)


def serialize(regularizer: Any, *, use_legacy_format: bool = False) -> Any:
    """The Keras-format config of a regularizer, loadable by Keras 3, tf_keras and losskit.

    Built-ins give ``{"module": "keras.regularizers", "class_name": "L2", "config": {...},
    "registered_name": None}``; registered classes and functions give their
    ``"package>name"``. ``use_legacy_format=True`` gives ``{"class_name", "config"}``.

    Raises:
        ValueError: an unregistered custom class or function, or a lambda.

    Example:
        >>> from losskit.regularizers import L2, serialize
        >>> serialize(L2(0.3))
        {'module': 'keras.regularizers', 'class_name': 'L2', 'config': {'l2': 0.3},
         'registered_name': None}
        >>> serialize(L2(0.3), use_legacy_format=True)
        {'class_name': 'L2', 'config': {'l2': 0.3}}
    """
    return serialize_object(regularizer, TABLE, use_legacy_format=use_legacy_format)


def deserialize(config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """A regularizer from a Keras-format config (dict or JSON text) or a name.

    Only built-ins, registered objects and ``custom_objects`` can be named; see
    :mod:`losskit.serialization` for the safety rules.

    Raises:
        ValueError: an unknown or refused name or module, a lambda, malformed JSON.
        TypeError: a config that is not JSON data, or arguments the class does not take.

    Example:
        >>> from losskit.regularizers import deserialize
        >>> deserialize({"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}})
        L1L2(l1=0.01, l2=0.02)
        >>> deserialize('{"module": "keras.regularizers", "class_name": "L2", '
        ...             '"config": {"l2": 0.30000001192092896}, "registered_name": null}')
        L2(l2=0.30000001192092896)
    """
    return deserialize_object(config, TABLE, custom_objects)


def get(
    identifier: Any, custom_objects: Mapping[str, Any] | None = None
) -> Callable[..., Any] | None:
    """Resolve a regularizer identifier: None, a name, a config, a class or a callable.

    * ``None`` gives ``None``; a regularizer instance or any other callable is returned as
      is; a :class:`Regularizer` subclass is instantiated with its defaults.
    * a string is a built-in name (``"l1"``, ``"L2"``, ``"l1_l2"``, ...), a registered
      ``"package>name"``, or a JSON config; a dict is a config.

    Raises:
        ValueError: anything else, or a name that is neither built-in nor registered
            (tf_keras returns unknown strings unchanged and fails later).

    Example:
        >>> from losskit.regularizers import get
        >>> get("l2"), get("l1_l2"), get(None)
        (L2(l2=0.01), L1L2(l1=0.01, l2=0.01), None)
    """
    return get_object(identifier, TABLE, Regularizer, deserialize, custom_objects)
