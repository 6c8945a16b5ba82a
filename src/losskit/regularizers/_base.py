"""The ``Regularizer`` base class and the checks its subclasses share."""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit._checks import non_negative

__all__ = ["Regularizer", "check_factor", "penalty_input"]


def check_factor(argument: str, value: object, default: float) -> float:
    """A penalty factor: ``None`` means ``default``; else a finite, non-negative real number.

    Keras 3's rule (tf_keras also accepts negative factors). Bools are refused: ``L2(True)``
    is a mistake, not a factor of 1.
    """
    return default if value is None else non_negative(argument, value)


def penalty_input(x: Any) -> tuple[ns.Namespace, Any, Any]:
    """(namespace, array in its accumulation dtype, result dtype) for a penalty's input."""
    xp = ns.namespace(x, names=("x",))
    array = ns.as_array(xp, x, name="x")
    result_dtype, dtype = ns.loss_dtypes(xp, array, name="x")
    return xp, ns.astype(xp, array, dtype), result_dtype


class Regularizer:
    """Regularizer base class: a callable from one array to a scalar penalty.

    Subclasses implement ``__call__(x)`` and ``get_config()`` (the constructor arguments as
    JSON data); ``from_config(config)`` is ``cls(**config)``. Any plain function from an
    array to a scalar works as a regularizer too. Register custom classes and functions with
    :func:`losskit.register_serializable` to serialize them.

    Example:
        >>> import numpy as np, losskit
        >>> @losskit.register_serializable(package="Custom", name="l2")
        ... class L2Regularizer(losskit.regularizers.Regularizer):
        ...     def __init__(self, l2=0.0):
        ...         self.l2 = l2
        ...     def __call__(self, x):
        ...         return self.l2 * np.sum(np.square(x))
        ...     def get_config(self):
        ...         return {"l2": float(self.l2)}
        >>> float(L2Regularizer(l2=0.5)(np.ones((5, 5))))
        12.5
        >>> config = losskit.regularizers.serialize(L2Regularizer(l2=0.5))
        >>> config["registered_name"], config["config"]
        ('Custom>l2', {'l2': 0.5})
        >>> losskit.regularizers.deserialize(config).l2
        0.5
    """

    def __call__(self, x: Any) -> Any:
        """The penalty of ``x``; the base class adds none."""
        return 0.0

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as JSON data.

        Raises:
            NotImplementedError: the subclass does not define it.
        """
        raise NotImplementedError(f"{type(self).__qualname__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        """``cls(**config)``: the inverse of :meth:`get_config`."""
        return cls(**config)

    def _config_or_none(self) -> dict[str, Any] | None:
        try:
            return self.get_config()
        except NotImplementedError:
            return None

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        mine = self._config_or_none()
        return mine is not None and mine == other._config_or_none()

    def __hash__(self) -> int:
        config = self._config_or_none()
        if config is None:
            return id(self)
        return hash((type(self), tuple(sorted((k, repr(v)) for k, v in config.items()))))

    def __repr__(self) -> str:
        config = self._config_or_none()
        if config is None:
            return f"{type(self).__name__}()"
        arguments = ", ".join(f"{key}={value!r}" for key, value in config.items())
        return f"{type(self).__name__}({arguments})"
