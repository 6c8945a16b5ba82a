"""Deprecated: TensorFlow 1's loss collections moved to :mod:`losskit.v1`.

``from losskit.loss_collections import add_loss`` (and the seven other collection names)
still works, with a ``DeprecationWarning`` naming the new ``losskit.v1`` name.
"""

from __future__ import annotations

from losskit._deprecation import moved_to_v1

__all__: list[str] = []

__getattr__ = moved_to_v1(__name__)
