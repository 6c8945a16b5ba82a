"""``resolve_mode``: the one place where a mode string becomes a canonical mode name, through
the framework alias table (``"verl:..."``, ``"trl:..."``, ...) of :mod:`._aliases`."""

from __future__ import annotations

from typing import Any

from losskit.aggregation._aliases import resolve

__all__ = ["resolve_mode", "resolve_with_options"]


def resolve_with_options(name: str) -> tuple[str, dict[str, Any]]:
    """``(canonical mode, options)``: the options (``count_empty``) that a framework alias
    means, which an explicit argument overrides."""
    return resolve(name)


def resolve_mode(name: str) -> str:
    """The canonical name of an aggregation mode or framework alias.

    Args:
        name: a canonical mode name (one of :data:`losskit.aggregation.MODES`) or a
            framework alias ``"<framework>:<name>"`` (``docs/aggregation_aliases.md``).

    Returns:
        The canonical name.

    Raises:
        ValueError: an unknown name (the message lists the known ones), or a framework's
            name without its prefix (the message lists the prefixed choices).

    Example:
        >>> from losskit.aggregation import resolve_mode
        >>> resolve_mode("seq-mean-token-mean")
        'seq-mean-token-mean'
        >>> resolve_mode("trl:grpo")
        'seq-mean-token-mean'
        >>> resolve_mode("prompt_mean")
        Traceback (most recent call last):
        ...
        ValueError: Invalid `mode`: 'prompt_mean' means different things ...
    """
    return resolve(name)[0]
