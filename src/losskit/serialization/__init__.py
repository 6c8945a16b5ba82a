"""Safe, Keras-compatible configs: a registry of names and JSON-only deserialization."""

from losskit.serialization._registry import get_registered_name
from losskit.serialization._registry import get_registered_object
from losskit.serialization._registry import register_serializable

__all__ = ["get_registered_name", "get_registered_object", "register_serializable"]
