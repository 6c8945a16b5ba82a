"""``BuiltinLoss``: the base of the catalog's classes, declared as dataclasses.

A built-in loss states only what is its own: the per-element kernel, its Keras default name
and its options, each a typed field with a default and a check::

    @dataclass(kw_only=True, eq=False, repr=False)
    class Huber(BuiltinLoss):
        kernel = _huber
        name: InitVar[str | None] = "huber_loss"
        delta: float = option(1.0, check_non_negative)

``dataclass`` writes the keyword-only ``__init__`` (so ``inspect.signature``, ``help`` and
type checkers see every option with its type and default); ``__post_init__`` checks each
option, and the options become attributes (``loss.delta``), as in Keras. Equality, hashing
and ``repr`` stay :class:`Loss`'s (``eq=False, repr=False``): they follow the config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass
from typing import Any, ClassVar

from losskit import _namespace as ns
from losskit.losses._base import Kernel, Loss, evaluate
from losskit.reduction import Reduction, ReductionLike

__all__ = ["BuiltinLoss"]


@dataclass(kw_only=True, eq=False, repr=False)
class BuiltinLoss(Loss):
    """A built-in loss: a per-element kernel and its options (Keras's LossFunctionWrapper).

    Subclasses set ``kernel``, redeclare ``name`` with their default and declare their
    options with :func:`losskit.losses._options.option`.
    """

    kernel: ClassVar[Kernel]
    _option_names: ClassVar[dict[type, tuple[str, ...]]] = {}

    reduction: InitVar[ReductionLike] = Reduction.AUTO
    name: InitVar[str | None] = None
    sample_weight_rank: InitVar[str] = "tf_keras"

    def __post_init__(
        self, reduction: ReductionLike, name: str | None, sample_weight_rank: str
    ) -> None:
        for field in dataclasses.fields(self):
            check = field.metadata.get("check")
            if check is not None:
                setattr(self, field.name, check(field.name, getattr(self, field.name)))
        Loss.__init__(self, reduction=reduction, name=name, sample_weight_rank=sample_weight_rank)

    @property
    def options(self) -> dict[str, Any]:
        """The options, in declaration order: the kernel's keyword arguments."""
        kind = type(self)
        names = BuiltinLoss._option_names.get(kind)
        if names is None:
            names = tuple(field.name for field in dataclasses.fields(self))
            BuiltinLoss._option_names[kind] = names
        return {name: getattr(self, name) for name in names}

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return evaluate(type(self).kernel, y_true, y_pred, **self.options)

    def _per_element(self, xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, Any, Any]:
        if type(self).call is not BuiltinLoss.call:  # a subclass computes its own losses
            return super()._per_element(xp, y_true, y_pred)
        return type(self).kernel(xp, y_true, y_pred, **self.options)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.options}
