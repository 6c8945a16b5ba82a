"""Types for annotating code that calls losskit: any array-API array, and what converts to one.

losskit takes arrays of every library (NumPy, PyTorch, JAX, CuPy, array-api-strict) and
returns arrays of the same library, so its signatures use a structural type: anything with a
``shape``, a ``dtype`` and an ``ndim`` is an :class:`Array`, and a function that returns
an array of its argument's library is typed with :data:`ArrayT` (``compute_average_loss(x)``
is a ``torch.Tensor`` for a ``torch.Tensor`` ``x``, so ``.backward()`` type-checks). mypy
then catches a ``None`` or a string passed as losses.

Example:
    >>> import numpy as np
    >>> from losskit.typing import Array
    >>> isinstance(np.ones(3), Array), isinstance([1.0, 2.0], Array)
    (True, False)
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

__all__ = ["Array", "ArrayLike", "ArrayT"]


@runtime_checkable
class Array(Protocol):
    """An array of any array-API library (NumPy and its scalars, torch, JAX, ...)."""

    @property
    def shape(self) -> Any: ...

    @property
    def dtype(self) -> Any: ...

    @property
    def ndim(self) -> int: ...


ArrayLike: TypeAlias = Array | float | int | list[Any] | tuple[Any, ...]
"""An :class:`Array`, a Python number, or a (nested) list of numbers or arrays: what losskit
converts into the caller's array library."""

ArrayT = TypeVar("ArrayT", bound=Array)
"""An array of one library, given and returned (the einops idiom)."""
