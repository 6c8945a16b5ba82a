"""The one walk over nested dicts, lists and tuples (parameter trees, batches)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Path", "walk"]

Path = tuple[Any, ...]


def walk(tree: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """``(path, value)`` for every value of ``tree`` that is not a dict, list or tuple, in
    order; ``path`` holds the keys and indices that lead to it. The caller decides what a
    value may be (an array, None, a registered pytree to flatten further, ...)."""
    if isinstance(tree, Mapping):
        for key in tree:
            yield from walk(tree[key], (*path, key))
    elif isinstance(tree, (list, tuple)):
        for index, item in enumerate(tree):
            yield from walk(item, (*path, index))
    else:
        yield path, tree
