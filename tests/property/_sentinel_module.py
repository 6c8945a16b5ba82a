"""A module whose import records itself: configs name it, losskit must never import it.

The fuzz tests remove it from ``sys.modules`` before they start (pytest's doctest
collection may have imported it), so an import would both add the entry back and record.
"""

from __future__ import annotations

from typing import Any

from tests.property import _sentinels

_sentinels.CALLS.append(("import", __name__))


def system(*args: Any, **kwargs: Any) -> int:
    _sentinels.CALLS.append(("_sentinel_module.system", (args, kwargs)))
    return 0
