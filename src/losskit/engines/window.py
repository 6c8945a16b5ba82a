"""``Window``: one optimizer step's micro-batches on this rank, as every adapter of
:mod:`losskit.engines` hands them out (imports torch).

Example:
    >>> from losskit.engines.window import Window
    >>> callable(Window.average) and callable(Window.penalty)
    True
"""

from losskit.engines._window import Window

__all__ = ["Window"]
