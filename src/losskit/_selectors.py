"""Name patterns and regularizer roles shared by ``losskit.torch`` and ``losskit.jax``.

Framework-free: the integrations hand in dotted parameter names (``"encoder.0.weight"``)
and get back whether a pattern selects them, which role a leaf name plays (kernel or
bias), and the JSON form of a regularizer.

Pattern syntax (shell globs on the whole dotted name, case-sensitive): ``*`` matches any
run of characters, dots included; ``?`` one character; ``[abc]`` one of a set. A pattern
that starts with ``*.`` also matches names without a prefix, so ``"*.bias"`` selects the
``bias`` of a bare layer as well as ``encoder.0.bias``.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from losskit._errors import describe, invalid
from losskit.regularizers import deserialize, get, serialize

__all__ = [
    "NORM_NAME",
    "Patterns",
    "compile_patterns",
    "decode_regularizer",
    "encode_regularizer",
    "leaf_role",
    "pattern_list",
    "read_config",
    "regularizer_argument",
]

NORM_NAME = re.compile(r"norm", re.IGNORECASE)
"""A path component naming a normalization layer in a JAX pytree (``LayerNorm_0``,
``batch_norm``); a name without "norm" (``ln_1``) is not recognised: exclude it by pattern."""


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    if pattern.startswith("*."):
        # "*.bias" selects a prefix-less "bias" too
        return re.compile(f"(?:{fnmatch.translate(pattern)})|(?:{fnmatch.translate(pattern[2:])})")
    return re.compile(fnmatch.translate(pattern))


class Patterns:
    """A picklable predicate: does any of the patterns select the dotted ``name``?"""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)

    def __call__(self, name: str) -> bool:
        return any(_regex(pattern).match(name) is not None for pattern in self.patterns)


def compile_patterns(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: does any of ``patterns`` select the dotted ``name``?"""
    return Patterns(patterns)


def leaf_role(leaf: str) -> str | None:
    """``"kernel"``, ``"bias"`` or None for a parameter's last name component.

    ``weight``, ``kernel`` and ``embedding`` and names like ``weight_ih_l0`` or
    ``in_proj_weight`` are kernels; ``bias`` and ``bias_ih_l0`` / ``in_proj_bias`` biases.
    """
    lowered = leaf.lower()
    for role, words in (("bias", ("bias",)), ("kernel", ("weight", "kernel", "embedding"))):
        for word in words:
            if lowered == word or lowered.startswith(word + "_") or lowered.endswith("_" + word):
                return role
    return None


def regularizer_argument(argument: str, value: Any) -> Any:
    """A regularizer for ``argument`` (``kernel``, ``bias``, ``activity``) or None."""
    try:
        return get(value)
    except ValueError as error:
        raise ValueError(
            invalid(argument, "a regularizer, a regularizer name or config, or None", value)
            + f" ({error})"
        ) from None


def encode_regularizer(regularizer: Any) -> Any:
    """The Keras-format config of a regularizer (None stays None)."""
    return None if regularizer is None else serialize(regularizer)


def read_config(config: Any, keys: frozenset[str]) -> dict[str, Any]:
    """A ``get_config`` dict (or its JSON text), checked to have only ``keys``.

    Raises:
        ValueError: malformed JSON.
        TypeError: not a dict of those keys.
    """
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError as error:
            raise ValueError(invalid("config", "JSON text", config, hint=str(error))) from None
    if not isinstance(config, dict) or not set(config) <= keys:
        raise TypeError(invalid("config", f"a dict with keys among {sorted(keys)}", config))
    return config


def decode_regularizer(argument: str, config: Any) -> Any:
    if config is None:
        return None
    if not isinstance(config, (dict, str)):
        raise TypeError(invalid(argument, "a regularizer config (dict), a name or None", config))
    return deserialize(config)


def pattern_list(argument: str, value: Any, *, allow: Callable[[Any], bool]) -> list[Any]:
    """``value`` as a list of selectors: None gives [], one selector a list of one."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) or allow(value) else value
    try:
        items = list(items)
    except TypeError:
        raise TypeError(
            invalid(argument, "a pattern string, a module type, or a list of them", value)
        ) from None
    for item in items:
        if not (isinstance(item, str) or allow(item)):
            raise TypeError(
                invalid(
                    argument,
                    "pattern strings or module types",
                    value,
                    hint=f"The entry {describe(item)} is neither.",
                )
            )
        if isinstance(item, str) and not item:
            raise ValueError(invalid(argument, "non-empty pattern strings", value))
    return items
