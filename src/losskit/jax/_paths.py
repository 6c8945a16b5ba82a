"""Dotted names for the leaves of a parameter pytree: raw dicts, flax and equinox modules."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import jax

__all__ = ["named_leaves", "parameters_of"]


def parameters_of(params: Any) -> Any:
    """The parameter pytree: a flax ``nnx.Module`` gives ``nnx.state(module, nnx.Param)``
    (its batch statistics and RNG state are not parameters); anything else is used as is."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(params, nnx.Module):
        return nnx.state(params, nnx.Param)
    return params


def _component(key: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def path_name(path: tuple[Any, ...]) -> str:
    """``("encoder", 0, "kernel")`` -> ``"encoder.0.kernel"``; a flax Variable's trailing
    ``.value`` is dropped."""
    parts = [_component(key) for key in path]
    if (
        len(parts) > 1
        and isinstance(path[-1], jax.tree_util.GetAttrKey)
        and parts[-1]
        in (
            "value",
            "raw_value",
        )
    ):
        parts.pop()
    return ".".join(parts)


def named_leaves(params: Any) -> Iterator[tuple[str, Any]]:
    """(dotted name, array) for every array leaf (equinox's functions and flags skipped)."""
    flat, _ = jax.tree_util.tree_flatten_with_path(params)
    for path, leaf in flat:
        if isinstance(leaf, jax.Array) or (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
            yield path_name(path), leaf
