"""``resolve_mode``: the one place where a mode string becomes a canonical mode name.

Framework aliases (``"verl:..."``, ``"trl:..."``, ``"legacy:..."``) plug in here: a table
from alias to canonical name, consulted before the canonical names are.
"""

from __future__ import annotations

from losskit._errors import invalid
from losskit.aggregation._modes import MODES

__all__ = ["resolve_mode"]


def resolve_mode(name: str) -> str:
    """The canonical name of an aggregation mode.

    Args:
        name: a canonical mode name (one of :data:`losskit.aggregation.MODES`).

    Returns:
        The canonical name.

    Raises:
        ValueError: an unknown name (the message lists the known ones).

    Example:
        >>> from losskit.aggregation import resolve_mode
        >>> resolve_mode("seq-mean-token-mean")
        'seq-mean-token-mean'
        >>> resolve_mode("sequence-mean")
        Traceback (most recent call last):
        ...
        ValueError: Invalid `mode`: expected one of ('token-mean', 'token-sum', ...
    """
    if isinstance(name, str) and name in MODES:
        return name
    raise ValueError(invalid("mode", f"one of {MODES}", name))
