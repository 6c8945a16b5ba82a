"""The ``Loss`` base class: all weighting, masking and reduction, for every subclass.

A subclass only computes per-element losses (``call``); ``Loss.__call__`` fixes the rank of
``sample_weight``, folds in a mask, and reduces through :func:`losskit.compute_weighted_loss`
(so every reduction, its dtype rules and its refusal of local means inside a replica context
are the foundation's).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit._kernels.sums import divide_no_nan, size
from losskit._shapes import check_broadcasts_to, fix_weight_rank, keras3_same_rank
from losskit.reduction import Reduction, ReductionLike
from losskit.weighted_loss import weighted

__all__ = [
    "SAMPLE_WEIGHT_RANKS",
    "Kernel",
    "Loss",
    "evaluate",
    "reduce_losses",
]

SAMPLE_WEIGHT_RANKS = ("tf_keras", "keras3")
"""The two rules for a ``sample_weight`` whose rank differs from the losses' by one."""

Kernel = Callable[..., tuple[Any, Any, Any]]
"""``kernel(xp, y_true, y_pred, **options) -> (losses, valid mask or None, result dtype)``."""


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _same_rank_weights(
    xp: ns.Namespace, values: Any, weights: Any, rule: str, name: str
) -> tuple[Any, Any]:
    """(values, weights) after the rank fix-up of ``rule``; the weights then broadcast to the
    values' shape (never beyond it)."""
    if rule == "tf_keras":
        return values, fix_weight_rank(xp, values, weights, values_name="losses", weights_name=name)
    values, weights = keras3_same_rank(xp, values, weights)
    check_broadcasts_to(values.shape, weights.shape, values="losses", weights=name)
    return values, weights


def _as_weights(xp: ns.Namespace, value: Any, like: Any, name: str) -> Any:
    array = ns.as_array(xp, value, name=name, like=like)
    ns.check_weight_dtype(xp, array, name=name)
    return ns.astype(xp, array, like.dtype)


def reduce_losses(
    xp: ns.Namespace,
    values: Any,
    sample_weight: Any,
    mask: Any,
    reduction: Reduction,
    *,
    rule: str = "tf_keras",
    result_dtype: Any = None,
) -> Any:
    """Weight, mask and reduce per-element ``values`` as a tf_keras ``Loss`` does.

    ``sample_weight`` gets the rank fix-up of ``rule``; a ``mask`` (bool or 0/1, the shape of
    ``values`` up to the same fix-up) zeroes the masked entries, and for
    ``SUM_OVER_BATCH_SIZE`` (and ``AUTO``) the valid ones are weighted ``total / valid``
    (tf_keras's ``apply_valid_mask``), so the mean is over the valid entries only; with no
    valid entry the loss is 0. ``compute_weighted_loss`` resolves ``reduction`` for the
    context (and refuses local means inside a multi-replica one).
    """
    weights: Any = 1.0
    if sample_weight is not None:
        if ns.is_python_number(sample_weight):
            weights = float(sample_weight)
        else:
            weights = _as_weights(xp, sample_weight, values, "sample_weight")
            values, weights = _same_rank_weights(xp, values, weights, rule, "sample_weight")
    if mask is not None:
        valid = _as_weights(xp, mask, values, "mask")
        rank = values.ndim
        values, valid = _same_rank_weights(xp, values, valid, rule, "mask")
        if values.ndim != rank and not isinstance(weights, float) and weights.ndim:
            # Keras 3's rule gave the losses a trailing axis of 1 for a [B, 1] mask (or took
            # one away): the weights, aligned with the old losses, follow
            weights = (
                xp.expand_dims(weights, axis=-1)
                if values.ndim > rank
                else xp.squeeze(weights, axis=-1)
            )
        if reduction in (Reduction.AUTO, Reduction.SUM_OVER_BATCH_SIZE):
            count = xp.sum(valid)
            valid = valid * divide_no_nan(xp, xp.ones_like(count) * size(values.shape), count)
        weights = valid if isinstance(weights, float) and weights == 1.0 else weights * valid
    if not isinstance(weights, float) and 0 < weights.ndim < values.ndim:
        # compute_weighted_loss takes weights of the losses' rank: add the broadcast axes
        weights = xp.reshape(weights, (1,) * (values.ndim - weights.ndim) + tuple(weights.shape))
    loss = weighted(values, weights, reduction=reduction)
    return ns.finish(xp, loss, loss.dtype if result_dtype is None else result_dtype)


def evaluate(kernel: Kernel, y_true: Any, y_pred: Any, **options: Any) -> Any:
    """A function form: the per-element losses of ``kernel`` in the caller's dtype."""
    xp = ns.namespace(y_true, y_pred, names=("y_true", "y_pred"))
    values, _, result_dtype = kernel(xp, y_true, y_pred, **options)
    return ns.finish(xp, values, result_dtype)


class Loss:
    """Loss base class: per-element losses (``call``), then weighting and reduction.

    Subclasses implement ``call(y_true, y_pred)``, returning one loss per element (usually
    per sample); the base class applies ``sample_weight`` and a ``mask`` and reduces with
    :func:`losskit.compute_weighted_loss`, so subclasses never weight or reduce themselves.
    Configs round-trip through :meth:`get_config` / :meth:`from_config`; register custom
    subclasses with :func:`losskit.register_serializable` to serialize them.

    Args:
        reduction: any :class:`losskit.Reduction` or accepted key (``"auto"``, ``"sum"``,
            Keras 3's ``"mean"`` and ``None``, TF1's ``"weighted_mean"``, ...). ``AUTO`` (the
            default, as in tf_keras) is ``SUM_OVER_BATCH_SIZE`` outside a multi-replica
            context; inside one, ``AUTO`` and every dividing reduction raise a ``ValueError``
            that says to use ``SUM`` or ``NONE`` with :func:`losskit.compute_average_loss`.
        name: the loss's name; defaults to the class name in snake case.
        sample_weight_rank: ``"tf_keras"`` (default) or ``"keras3"``: how a
            ``sample_weight`` whose rank differs from the losses' by one is fixed up (see
            ``docs/losses.md``).

    Raises:
        ValueError: an invalid ``reduction``, ``name`` or ``sample_weight_rank``.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import Loss
        >>> class MeanCubedError(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return np.mean((y_pred - y_true) ** 3, axis=-1)
        >>> loss = MeanCubedError(reduction="sum")
        >>> float(loss(np.zeros((2, 2)), np.array([[1.0, 2.0], [0.0, 1.0]])))
        5.0
        >>> float(loss(np.zeros((2, 2)), np.array([[1.0, 2.0], [0.0, 1.0]]), sample_weight=[0, 1]))
        0.5
        >>> loss.get_config()
        {'reduction': 'sum', 'name': 'mean_cubed_error'}
    """

    def __init__(
        self,
        *,
        reduction: ReductionLike = Reduction.AUTO,
        name: str | None = None,
        sample_weight_rank: str = "tf_keras",
    ) -> None:
        self.reduction = Reduction.validate(reduction)
        if name is None:
            name = _snake_case(type(self).__name__)
        if not isinstance(name, str) or not name:
            raise ValueError(invalid("name", "a non-empty string or None", name))
        self.name = name
        if sample_weight_rank not in SAMPLE_WEIGHT_RANKS:
            raise ValueError(
                invalid("sample_weight_rank", f"one of {SAMPLE_WEIGHT_RANKS}", sample_weight_rank)
            )
        self.sample_weight_rank = sample_weight_rank

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The per-element losses (no weighting, no reduction).

        Raises:
            NotImplementedError: the subclass does not define it.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement call(y_true, y_pred)")

    def _per_element(self, xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, Any, Any]:
        """(losses in their accumulation dtype, valid mask or None, result dtype).

        The result has ``y_pred``'s floating dtype even where ``call`` promoted (NumPy's
        ``int32 - float32`` is float64); with a ``y_pred`` that is not a floating array, the
        dtype of ``call``'s result decides.
        """
        values = ns.as_array(xp, self.call(y_true, y_pred), name="call() result")
        result_dtype, dtype = ns.loss_dtypes(xp, values, name="call() result")
        if hasattr(y_pred, "dtype"):
            pred = ns.as_array(xp, y_pred, name="y_pred", like=values)
            if ns.is_real_floating(xp, pred.dtype):
                result_dtype = pred.dtype
        return ns.astype(xp, values, dtype), None, result_dtype

    def __call__(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, *, mask: Any = None
    ) -> Any:
        """The weighted, reduced loss.

        Args:
            y_true: the targets.
            y_pred: the predictions (probabilities or logits, as the loss says).
            sample_weight: None, a scalar, or an array whose shape broadcasts to the
                per-element losses' after a rank fix-up by one axis (a ``[batch]`` weight
                for ``[batch, steps]`` losses is made ``[batch, 1]``).
            mask: None, or a bool (or 0/1) array of the per-element losses' shape: masked
                entries are excluded (weight 0, and for ``SUM_OVER_BATCH_SIZE`` not
                counted), as tf_keras does with a Keras mask.

        Returns:
            A scalar in the dtype of ``y_pred`` (the per-element losses for ``NONE``).

        Raises:
            ValueError: shapes that do not fit, or a dividing reduction inside a replica
                context with several replicas.
            TypeError: arrays from different libraries, or non-numeric dtypes.
        """
        xp = ns.namespace(
            y_true, y_pred, sample_weight, mask, names=("y_true", "y_pred", "sample_weight", "mask")
        )
        values, valid, result_dtype = self._per_element(xp, y_true, y_pred)
        if valid is not None:
            mask = valid if mask is None else xp.logical_and(_as_bool(xp, mask, valid), valid)
        return reduce_losses(
            xp,
            values,
            sample_weight,
            mask,
            self.reduction,
            rule=self.sample_weight_rank,
            result_dtype=result_dtype,
        )

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as JSON data (Keras's keys)."""
        config: dict[str, Any] = {"reduction": self.reduction.value, "name": self.name}
        if self.sample_weight_rank != "tf_keras":
            config["sample_weight_rank"] = self.sample_weight_rank
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """``cls(**config)``, also for Keras's configs.

        tf_keras's ``"fn"`` key (the function a built-in class wraps) and Keras 3's
        ``"dtype"`` key (its computation dtype; losskit computes in the inputs' dtype) are
        dropped.
        """
        config = {k: v for k, v in config.items() if k not in ("fn", "dtype")}
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return bool(self.get_config() == other.get_config())

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted((k, repr(v)) for k, v in self.get_config().items()))))

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def _as_bool(xp: ns.Namespace, mask: Any, like: Any) -> Any:
    array = ns.as_array(xp, mask, name="mask", like=like)
    if ns.is_bool(xp, array.dtype):
        return array
    ns.check_weight_dtype(xp, array, name="mask")
    return array != 0
