"""Functions and classes that record every use: hostile configs name them, nothing may use them.

None of these is registered with losskit. The fuzz tests name them in configs by module path
and name (``{"module": "tests.property._sentinels", "class_name": "record"}``,
``{"class_name": "function", "config": "tests.property._sentinels.record"}``, ...) and
assert that :data:`CALLS` stays empty. Reading a missing attribute of this module records
too (a resolver that does ``getattr(module, name)``), and importing
``tests.property._sentinel_module`` records its import.
"""

from __future__ import annotations

from typing import Any

from losskit.regularizers import Regularizer

CALLS: list[tuple[str, Any]] = []
"""``(what, details)`` for every call, construction, attribute lookup or import."""


def record(*args: Any, **kwargs: Any) -> float:
    CALLS.append(("record", (args, kwargs)))
    return 0.0


def system(*args: Any, **kwargs: Any) -> int:
    CALLS.append(("system", (args, kwargs)))
    return 0


def enable_unsafe_deserialization(*args: Any, **kwargs: Any) -> None:
    CALLS.append(("enable_unsafe_deserialization", (args, kwargs)))


def load_model(*args: Any, **kwargs: Any) -> None:
    CALLS.append(("load_model", (args, kwargs)))


class Sentinel:
    """A class with the Keras serialization protocol."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        CALLS.append(("Sentinel", (args, kwargs)))

    @classmethod
    def from_config(cls, config: Any) -> Sentinel:
        CALLS.append(("Sentinel.from_config", config))
        return cls()

    def get_config(self) -> dict[str, Any]:
        CALLS.append(("Sentinel.get_config", None))
        return {}

    def __call__(self, x: Any) -> float:
        CALLS.append(("Sentinel.__call__", None))
        return 0.0


class SentinelRegularizer(Regularizer):
    """A losskit Regularizer subclass, deliberately not registered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        CALLS.append(("SentinelRegularizer", (args, kwargs)))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SentinelRegularizer:
        CALLS.append(("SentinelRegularizer.from_config", config))
        return cls()

    def __call__(self, x: Any) -> float:
        CALLS.append(("SentinelRegularizer.__call__", None))
        return 0.0

    def get_config(self) -> dict[str, Any]:
        return {}


NAMES = (
    "record",
    "system",
    "enable_unsafe_deserialization",
    "load_model",
    "Sentinel",
    "SentinelRegularizer",
)
"""The public names above, for the configs that name them."""


def __getattr__(name: str) -> Any:
    if not name.startswith("__"):
        CALLS.append(("getattr", name))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
