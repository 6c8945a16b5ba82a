"""Keras-format configs, read and written as JSON data only.

The formats (tf_keras 2.x and Keras 3):

* ``{"module": "keras.regularizers", "class_name": "L2", "config": {...}, "registered_name": None}``
* legacy: ``{"class_name": "L2", "config": {...}}``
* a registered function: ``{"module": "builtins", "class_name": "function",
  "config": "Custom>l1", "registered_name": "function"}``

Resolution goes through an allow-list only: the built-in table of the kind being read
(e.g. regularizers) under its known module names, the losskit registry, and an explicit
``custom_objects`` mapping. Nothing else is reachable: a module named in a config is never
imported, code is never unmarshalled or evaluated, nothing is unpickled, and a name that is
not allow-listed is an error that says how to register it. Keras's lambda configs and
configs that try to switch safe mode off are refused.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from losskit._errors import describe, invalid
from losskit.serialization._registry import get_registered_name, get_registered_object

__all__ = ["Table", "deserialize_object", "get_object", "serialize_object"]

_KEYS = frozenset({"module", "class_name", "config", "registered_name"})
_MAX_DEPTH = 16
_MAX_TEXT = 1 << 20
_REGISTER_HINT = (
    "To use a custom class or function, decorate it with "
    "`@losskit.register_serializable(package=..., name=...)` in the loading process, or "
    "pass it in `custom_objects`."
)


class Table:
    """The built-in objects of one kind (e.g. regularizers) and the modules they live in."""

    def __init__(
        self,
        kind: str,
        objects: Mapping[str, Any],
        modules: frozenset[str],
        canonical_module: str,
    ) -> None:
        self.kind = kind
        self.objects = dict(objects)
        self.modules = modules
        self.canonical_module = canonical_module
        self.names: dict[Any, str] = {}
        for name, obj in objects.items():  # the first name of a class is its canonical one
            if inspect.isclass(obj):
                self.names.setdefault(obj, name)


def _check_json(value: Any, path: str, depth: int = 0) -> None:
    """Only JSON data (dict with str keys, list, str, finite or not numbers, bool, None)."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"Invalid config: nested deeper than {_MAX_DEPTH} levels at {path}.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"Invalid config: a non-string key {key!r} at {path}.")
            _check_json(item, f"{path}.{key}", depth + 1)
        return
    raise TypeError(
        f"Invalid config: only JSON data (dict, list, str, number, bool, None) is accepted, "
        f"received {describe(value)} at {path}."
    )


def _parse(identifier: Any) -> Any:
    if isinstance(identifier, (bytes, bytearray)):
        identifier = identifier.decode("utf-8")
    if isinstance(identifier, str) and identifier.lstrip().startswith(("{", "[", '"')):
        if len(identifier) > _MAX_TEXT:
            raise ValueError(invalid("config", f"a JSON text under {_MAX_TEXT} bytes", "..."))
        try:
            return json.loads(identifier)
        except json.JSONDecodeError as error:
            raise ValueError(f"Invalid config: not valid JSON ({error}).") from error
        except RecursionError as error:  # the parser recurses once per nesting level
            raise ValueError(f"Invalid config: nested deeper than {_MAX_DEPTH} levels.") from error
    return identifier


def _lookup_name(name: str, table: Table, custom_objects: Mapping[str, Any] | None) -> Any:
    found = get_registered_object(name, custom_objects)
    if found is None:
        found = table.objects.get(name)
    if found is None:
        known = ", ".join(repr(k) for k in table.objects)
        raise ValueError(
            f"Could not interpret {table.kind} identifier: {name!r}. Expected one of "
            f"{known} or a registered name. {_REGISTER_HINT}"
        )
    return found


def _instantiate(obj: Any, config: Any, name: str, table: Table) -> Any:
    if table.objects.get(name) is obj and not inspect.isclass(obj):
        # a built-in factory such as tf_keras's `l1_l2(l1=0.01, l2=0.01)`
        if not isinstance(config, dict):
            raise TypeError(invalid("config", f"a dict of {name} arguments", config))
        factory: Any = obj
        return factory(**config)
    if not inspect.isclass(obj):
        if config not in (None, {}, name):
            raise TypeError(
                f"Invalid config for {table.kind} function {name!r}: a function takes no "
                f"config, received {describe(config)}."
            )
        return obj
    if not isinstance(config, dict):
        raise TypeError(invalid("config", f"a dict of {obj.__name__} arguments", config))
    from_config = getattr(obj, "from_config", None)
    return obj(**config) if from_config is None else from_config(config)


def deserialize_object(
    identifier: Any, table: Table, custom_objects: Mapping[str, Any] | None = None
) -> Any:
    """Build the object a config (dict, JSON text or name) describes, through the allow-list.

    Raises:
        ValueError: an unknown or refused name, a module outside the allow-list, a lambda,
            malformed JSON, or an unexpected key.
        TypeError: a config that is not JSON data, or arguments the class does not take.
    """
    identifier = _parse(identifier)
    if isinstance(identifier, str):
        return _instantiate(_lookup_name(identifier, table, custom_objects), {}, identifier, table)
    if not isinstance(identifier, dict):
        raise TypeError(invalid("config", "a dict, a JSON text or a name", identifier))
    _check_json(identifier, "config")
    unknown = sorted(set(identifier) - _KEYS)
    if unknown:
        raise ValueError(
            f"Invalid config: unexpected keys {unknown}; a {table.kind} config has only "
            f"{sorted(_KEYS)}."
        )
    class_name = identifier.get("class_name")
    if not isinstance(class_name, str) or not class_name:
        raise ValueError(invalid("class_name", "a non-empty string", class_name))
    if class_name == "__lambda__":
        raise ValueError(
            "Refusing to deserialize a Python lambda: its config holds marshalled bytecode, "
            f"and losskit never executes code from a config. {_REGISTER_HINT}"
        )
    config = identifier.get("config", {})
    module = identifier.get("module")
    registered = identifier.get("registered_name")
    if module is not None and not isinstance(module, str):
        raise ValueError(invalid("module", "a string or None", module))
    if registered is not None and not isinstance(registered, str):
        raise ValueError(invalid("registered_name", "a string or None", registered))

    if class_name == "function":
        if module not in (None, "builtins") or not isinstance(config, str):
            raise ValueError(
                f"Invalid config: a function is named by its registered name in `config`, "
                f"with module 'builtins'; received module={module!r}, config={config!r}."
            )
        found = get_registered_object(config, custom_objects)
        if found is None or inspect.isclass(found):
            raise ValueError(
                f"Could not interpret {table.kind} function {config!r}: it is not a "
                f"registered function. {_REGISTER_HINT}"
            )
        return found

    found = None
    if registered and registered != class_name:  # Keras 3: the registered name wins
        found = get_registered_object(registered, custom_objects)
    if found is None:  # legacy configs name registered objects in class_name
        found = get_registered_object(class_name, custom_objects)
    if found is None:
        if module is not None and module not in table.modules:
            raise ValueError(
                f"Refusing module {module!r} for {table.kind} {class_name!r}: losskit never "
                f"imports modules named in a config and reads built-ins only from "
                f"{sorted(table.modules)}. {_REGISTER_HINT}"
            )
        found = table.objects.get(class_name)
    if found is None:
        raise ValueError(
            f"Unknown {table.kind} {class_name!r} (registered_name={registered!r}). "
            f"{_REGISTER_HINT}"
        )
    return _instantiate(found, config, class_name, table)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(invalid("config value", "a finite number", value))
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return _jsonable(value.item())
    raise TypeError(invalid("config value", "JSON data", value))


def serialize_object(obj: Any, table: Table, *, use_legacy_format: bool = False) -> Any:
    """The Keras-format config of ``obj`` (a built-in, a registered class or function).

    Raises:
        ValueError: an unregistered custom class or function, or a lambda: it could not be
            read back. The message says how to register it.
    """
    if obj is None:
        return None
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        key = get_registered_name(obj)
        if key is None:
            raise ValueError(
                f"Cannot serialize the unregistered function {describe(obj)}: a config could "
                f"not name it. {_REGISTER_HINT}"
            )
        if use_legacy_format:
            return key
        return {
            "module": "builtins",
            "class_name": "function",
            "config": key,
            "registered_name": "function",
        }
    kind = type(obj)
    config = _jsonable(obj.get_config())
    key = get_registered_name(obj)
    if key is None and table.names.get(kind) is None:
        raise ValueError(
            f"Cannot serialize {kind.__qualname__}: it is neither a built-in {table.kind} nor "
            f"registered. {_REGISTER_HINT}"
        )
    if use_legacy_format:
        return {"class_name": key or kind.__name__, "config": config}
    if key is None:
        return {
            "module": table.canonical_module,
            "class_name": table.names[kind],
            "config": config,
            "registered_name": None,
        }
    return {
        "module": kind.__module__,
        "class_name": kind.__name__,
        "config": config,
        "registered_name": key,
    }


def get_object(
    identifier: Any,
    table: Table,
    base: type,
    deserialize: Callable[[Any, Mapping[str, Any] | None], Any],
    custom_objects: Mapping[str, Any] | None = None,
) -> Callable[..., Any] | None:
    """Keras's ``get``: None, a name, a config, a class or a callable, for one kind of object.

    ``None`` gives ``None``; a subclass of ``base`` is instantiated with its defaults; a
    string, bytes or dict goes through ``deserialize`` (a class it finds is instantiated);
    any other callable is returned as it is.

    Raises:
        ValueError: any other value, a class outside ``base``, or what ``deserialize``
            refuses.
    """
    if identifier is None:
        return None
    if inspect.isclass(identifier):
        if issubclass(identifier, base):
            instance: Any = identifier()
            return instance  # type: ignore[no-any-return]
    elif isinstance(identifier, (str, bytes, dict)):
        found = deserialize(identifier, custom_objects)
        resolved: Any = found() if inspect.isclass(found) else found
        return resolved  # type: ignore[no-any-return]
    elif callable(identifier):
        return identifier  # type: ignore[no-any-return]
    raise ValueError(f"Could not interpret {table.kind} identifier: {describe(identifier)}")
