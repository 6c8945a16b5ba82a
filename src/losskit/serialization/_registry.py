"""The registry of user classes and functions that configs may name: ``"package>name"``.

Deserialization resolves names only through this registry, the built-in tables and an
explicit ``custom_objects`` mapping: it never imports a module named in a config.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from losskit._errors import invalid

__all__ = ["get_registered_name", "get_registered_object", "register_serializable"]

T = TypeVar("T")

_OBJECTS: dict[str, Any] = {}
_NAMES: dict[Any, str] = {}


def _check_part(argument: str, value: object) -> str:
    if not isinstance(value, str) or not value or ">" in value:
        raise ValueError(invalid(argument, "a non-empty string without '>'", value))
    return value


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Register a class or function so that configs can name it as ``"package>name"``.

    Works like Keras's ``register_keras_serializable``: the key is
    ``f"{package}>{name or obj.__name__}"``. A class must have a ``get_config`` method
    (every :class:`losskit.regularizers.Regularizer` has one). Registering a new object
    under an existing key replaces the old one (re-running a notebook cell must work).

    Args:
        package: the package part of the key.
        name: the name part; defaults to the object's ``__name__``.

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Raises:
        ValueError: an empty or ``'>'``-containing package or name, a lambda, or a class
            without ``get_config``.

    Example:
        >>> import numpy as np, losskit
        >>> @losskit.register_serializable(package="Custom", name="l1")
        ... def l1_reg(weight_matrix):
        ...     return 0.01 * np.sum(np.abs(weight_matrix))
        >>> losskit.regularizers.serialize(l1_reg)
        {'module': 'builtins', 'class_name': 'function', 'config': 'Custom>l1',
         'registered_name': 'function'}
        >>> losskit.regularizers.get("Custom>l1") is l1_reg
        True
    """
    _check_part("package", package)
    if name is not None:
        _check_part("name", name)

    def decorator(obj: T) -> T:
        if not callable(obj):
            raise ValueError(invalid("obj", "a class or a function", obj))
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(
                f"Cannot register a class that does not have a get_config() method: "
                f"{obj.__qualname__}. Define `get_config()` returning its constructor "
                "arguments."
            )
        object_name = name or getattr(obj, "__name__", "")
        if object_name == "<lambda>" or not object_name:
            raise ValueError(invalid("obj", "a named class or function (or pass `name=`)", obj))
        key = f"{package}>{object_name}"
        previous = _OBJECTS.get(key)
        if previous is not None:
            _NAMES.pop(previous, None)
        _OBJECTS[key] = obj
        _NAMES[obj] = key
        return obj

    return decorator


def get_registered_name(obj: Any) -> str | None:
    """The ``"package>name"`` key of a registered object (or of its class), else None.

    Example:
        >>> import losskit
        >>> @losskit.register_serializable(package="Docs")
        ... def tiny(x):
        ...     return 0.0
        >>> losskit.serialization.get_registered_name(tiny)
        'Docs>tiny'
        >>> losskit.serialization.get_registered_object("Docs>tiny") is tiny
        True
    """
    key = _NAMES.get(obj)
    if key is None and not inspect.isclass(obj) and not inspect.isfunction(obj):
        key = _NAMES.get(type(obj))
    return key


def get_registered_object(name: str, custom_objects: Mapping[str, Any] | None = None) -> Any | None:
    """The object registered (or passed in ``custom_objects``) under ``name``, else None.

    Example:
        >>> from losskit.serialization import get_registered_object
        >>> get_registered_object("Nobody>nothing") is None
        True
        >>> get_registered_object("mine", custom_objects={"mine": len}) is len
        True
    """
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _OBJECTS.get(name)
