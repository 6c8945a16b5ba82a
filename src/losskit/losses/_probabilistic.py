"""Probabilistic losses: binary, categorical and sparse crossentropy, focal variants, KL, Poisson.

From logits, every crossentropy is computed through log-sigmoid / log-softmax: finite (with
finite gradients) for logits of any finite size. From probabilities the formulas are
tf_keras 2.21's: probabilities are clipped to ``[1e-7, 1 - 1e-7]`` (so exactly 0 and 1 are
finite too), and the binary form adds Keras's 1e-7 inside its logarithms.

Example:
    >>> import numpy as np
    >>> from losskit.losses import (BinaryCrossentropy, BinaryFocalCrossentropy,
    ...     CategoricalCrossentropy, CategoricalFocalCrossentropy, KLDivergence, Poisson,
    ...     SparseCategoricalCrossentropy)
    >>> onehot = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> probabilities = np.array([[0.2, 0.8], [0.6, 0.4]])
    >>> for cls in (BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
    ...             CategoricalFocalCrossentropy, KLDivergence, Poisson):
    ...     print(f"{cls.__name__:29} {float(cls()(onehot, probabilities)):.6f}")
    BinaryCrossentropy            0.366984
    BinaryFocalCrossentropy       0.045329
    CategoricalCrossentropy       0.366985
    CategoricalFocalCrossentropy  0.011332
    KLDivergence                  0.366983
    Poisson                       0.683492
    >>> float(SparseCategoricalCrossentropy()(np.array([1, 0]), probabilities)).__round__(6)
    0.366985
"""

from __future__ import annotations

import warnings
from dataclasses import InitVar, dataclass
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.losses._base import evaluate
from losskit.losses._builtin import BuiltinLoss
from losskit.losses._inputs import dense_inputs, same_shape, sparse_inputs
from losskit.losses._numerics import (
    EPSILON,
    log_softmax,
    normalize_axis,
    softplus,
    sparse_crossentropy,
)
from losskit.losses._options import (
    check_axis,
    check_bool,
    check_class_weights,
    check_non_negative,
    check_option,
    check_unit,
    option,
)

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "KLDivergence",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "kl_divergence",
    "poisson",
    "sparse_categorical_crossentropy",
]


def _class_axis(xp: ns.Namespace, pred: Any, axis: int, y_pred: Any) -> int:
    if pred.ndim == 0:
        raise ValueError(invalid("y_pred", "an array with a class axis (rank >= 1)", y_pred))
    return normalize_axis(axis, pred.ndim)


def _warn_one_class(pred: Any, axis: int, loss: str) -> None:
    """tf_keras's and Keras 3's ``SyntaxWarning`` for a class axis of size 1 (one class: the
    loss is the same for every input)."""
    if pred.shape[axis] == 1:
        warnings.warn(
            f"In loss {loss}, expected `y_pred` of shape (batch_size, num_classes) with "
            f"num_classes > 1 along axis {axis}, received shape {tuple(pred.shape)}: with one "
            "class the loss does not depend on the input. For two classes, consider "
            "binary_crossentropy.",
            SyntaxWarning,
            stacklevel=6,  # the caller of the function form or of Loss.__call__
        )


def _class_weights(xp: ns.Namespace, alpha: float | list[float], pred: Any, axis: int) -> Any:
    """``alpha`` as a factor of the per-class terms: a number, or one weight per class laid
    along ``axis``."""
    if not isinstance(alpha, list):
        return alpha
    classes = pred.shape[axis]
    if len(alpha) != classes:
        raise ValueError(
            invalid(
                "alpha",
                f"a number or one weight per class ({classes}, the size of axis {axis} of "
                "`y_pred`)",
                alpha,
            )
        )
    weights = ns.astype(xp, ns.as_array(xp, alpha, name="alpha", like=pred), pred.dtype)
    return xp.reshape(weights, (classes,) + (1,) * (pred.ndim - 1 - axis))


def _binary_terms(xp: ns.Namespace, true: Any, pred: Any, from_logits: bool) -> Any:
    """Elementwise binary crossentropy (tf_keras's ``backend.binary_crossentropy``)."""
    if from_logits:  # softplus(x) - x z = -(z log sigmoid(x) + (1 - z) log sigmoid(-x))
        return softplus(xp, pred) - pred * true
    p = xp.clip(pred, EPSILON, 1.0 - EPSILON)
    return -(true * xp.log(p + EPSILON) + (1.0 - true) * xp.log(1.0 - p + EPSILON))


def _sigmoid(xp: ns.Namespace, x: Any) -> Any:
    """``exp(-softplus(-x))``: no overflow and a finite gradient for any finite ``x``."""
    return xp.exp(-softplus(xp, -x))


def _smooth_binary(true: Any, label_smoothing: float) -> Any:
    if label_smoothing:
        return true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return true


def _smooth_categorical(true: Any, label_smoothing: float, axis: int) -> Any:
    if label_smoothing:
        return true * (1.0 - label_smoothing) + label_smoothing / true.shape[axis]
    return true


# ----------------------------------------------------------------------------- kernels


def _binary(
    xp: ns.Namespace,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool,
    label_smoothing: float,
    axis: int,
) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    axis = _class_axis(xp, pred, axis, y_pred)
    terms = _binary_terms(xp, _smooth_binary(true, label_smoothing), pred, from_logits)
    return xp.mean(terms, axis=axis), None, dtype


def _binary_focal(
    xp: ns.Namespace,
    y_true: Any,
    y_pred: Any,
    *,
    apply_class_balancing: bool,
    alpha: float,
    gamma: float,
    from_logits: bool,
    label_smoothing: float,
    axis: int,
) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    axis = _class_axis(xp, pred, axis, y_pred)
    true = _smooth_binary(true, label_smoothing)
    probability = _sigmoid(xp, pred) if from_logits else pred
    p_t = true * probability + (1.0 - true) * (1.0 - probability)
    terms = xp.pow(1.0 - p_t, gamma) * _binary_terms(xp, true, pred, from_logits)
    if apply_class_balancing:
        terms = (true * alpha + (1.0 - true) * (1.0 - alpha)) * terms
    return xp.mean(terms, axis=axis), None, dtype


def _categorical_inputs(
    xp: ns.Namespace, y_true: Any, y_pred: Any, axis: int, label_smoothing: float, name: str
) -> tuple[Any, Any, Any, int]:
    """(smoothed targets, scores, result dtype, class axis) of a categorical loss: the
    targets have the scores' shape, and one class only warns as in Keras."""
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    same_shape(true, pred)
    axis = _class_axis(xp, pred, axis, y_pred)
    _warn_one_class(pred, axis, name)
    return _smooth_categorical(true, label_smoothing, axis), pred, dtype, axis


def _categorical(
    xp: ns.Namespace,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool,
    label_smoothing: float,
    axis: int,
) -> tuple[Any, None, Any]:
    true, pred, dtype, axis = _categorical_inputs(
        xp, y_true, y_pred, axis, label_smoothing, "categorical_crossentropy"
    )
    if from_logits:
        log_p = log_softmax(xp, pred, axis)
    else:
        p = pred / xp.sum(pred, axis=axis, keepdims=True)
        log_p = xp.log(xp.clip(p, EPSILON, 1.0 - EPSILON))
    return -xp.sum(true * log_p, axis=axis), None, dtype


def _categorical_focal(
    xp: ns.Namespace,
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float | list[float],
    gamma: float,
    from_logits: bool,
    label_smoothing: float,
    axis: int,
) -> tuple[Any, None, Any]:
    true, pred, dtype, axis = _categorical_inputs(
        xp, y_true, y_pred, axis, label_smoothing, "categorical_focal_crossentropy"
    )
    weights = _class_weights(xp, alpha, pred, axis)
    if from_logits:
        p = xp.exp(log_softmax(xp, pred, axis))
    else:
        p = pred / xp.sum(pred, axis=axis, keepdims=True)
    p = xp.clip(p, EPSILON, 1.0 - EPSILON)
    terms = weights * xp.pow(1.0 - p, gamma) * (-true * xp.log(p))
    return xp.sum(terms, axis=axis), None, dtype


def _sparse(
    xp: ns.Namespace,
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool,
    ignore_class: int | None,
    axis: int,
) -> tuple[Any, Any, Any]:
    labels, scores, dtype = sparse_inputs(xp, y_true, y_pred, axis)
    if not from_logits:  # tf_keras: logits = log(clip(p)), so the scores are renormalized
        scores = xp.log(xp.clip(scores, EPSILON, 1.0 - EPSILON))
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = xp.where(valid, labels, xp.zeros_like(labels))  # any in-range class
    losses = sparse_crossentropy(xp, scores, labels)
    if valid is not None:
        losses = xp.where(valid, losses, xp.zeros_like(losses))
    return losses, valid, dtype


def _kl(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    true = xp.clip(true, EPSILON, 1.0)
    pred = xp.clip(pred, EPSILON, 1.0)
    terms = true * xp.log(true / pred)
    return (xp.sum(terms, axis=-1) if terms.ndim else terms), None, dtype


def _poisson(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    true, pred, dtype = dense_inputs(xp, y_true, y_pred)
    terms = pred - true * xp.log(pred + EPSILON)
    return (xp.mean(terms, axis=-1) if terms.ndim else terms), None, dtype


# ----------------------------------------------------------------------------- options


def _ignore_class(name: str, value: Any) -> int | None:
    return check_option(  # type: ignore[no-any-return]
        name,
        value,
        "an integer class index or None",
        lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    )


def _crossentropy_options(from_logits: Any, label_smoothing: Any, axis: Any) -> dict[str, Any]:
    return {
        "from_logits": check_bool("from_logits", from_logits),
        "label_smoothing": check_unit("label_smoothing", label_smoothing),
        "axis": check_axis("axis", axis),
    }


def _focal_options(alpha: Any, gamma: Any) -> dict[str, Any]:
    return {"alpha": check_unit("alpha", alpha), "gamma": check_non_negative("gamma", gamma)}


def _categorical_focal_options(alpha: Any, gamma: Any) -> dict[str, Any]:
    return {
        "alpha": check_class_weights("alpha", alpha),
        "gamma": check_non_negative("gamma", gamma),
    }


# ----------------------------------------------------------------------------- functions


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Binary crossentropy, averaged over ``axis``.

    From logits :math:`x`: :math:`\operatorname{softplus}(x) - x z` (= :math:`-z \log\sigma(x)
    - (1 - z)\log\sigma(-x)`), finite for any finite logit. From probabilities (clipped to
    :math:`[\epsilon, 1 - \epsilon]`, :math:`\epsilon = 10^{-7}`):
    :math:`-z \log(p + \epsilon) - (1 - z) \log(1 - p + \epsilon)`. Label smoothing
    :math:`s` replaces :math:`z` by :math:`z (1 - s) + s / 2`.

    Raises:
        ValueError: an option out of range, or shapes that do not fit.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import binary_crossentropy
        >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
        >>> binary_crossentropy(y_true, np.array([[0.6, 0.4], [0.4, 0.6]])).round(4)
        array([0.9163, 0.7136])
        >>> binary_crossentropy(y_true, np.array([[-1e4, 1e4], [1e4, 1e4]]), from_logits=True)
        array([    0., 10000.])
    """
    options = _crossentropy_options(from_logits, label_smoothing, axis)
    return evaluate(_binary, y_true, y_pred, **options)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Binary focal crossentropy, averaged over ``axis``: the binary crossentropy times
    :math:`(1 - p_t)^\gamma`, :math:`p_t = z p + (1 - z)(1 - p)`; with class balancing also
    times :math:`z\alpha + (1 - z)(1 - \alpha)`.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import binary_focal_crossentropy
        >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
        >>> y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
        >>> binary_focal_crossentropy(y_true, y_pred, gamma=2.0).round(4)
        array([0.3299, 0.2058])
    """
    options = _crossentropy_options(from_logits, label_smoothing, axis)
    return evaluate(
        _binary_focal,
        y_true,
        y_pred,
        apply_class_balancing=check_bool("apply_class_balancing", apply_class_balancing),
        **_focal_options(alpha, gamma),
        **options,
    )


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Categorical crossentropy along the class ``axis``: :math:`-\sum_c z_c \log p_c`.

    From logits, :math:`\log p` is the log-softmax (finite for any finite logits); from
    probabilities, :math:`p` is normalized to sum 1 and clipped to
    :math:`[10^{-7}, 1 - 10^{-7}]`. Label smoothing :math:`s` replaces :math:`z` by
    :math:`z (1 - s) + s / C`.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import categorical_crossentropy
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> categorical_crossentropy(y_true, y_pred).round(4)
        array([0.0513, 2.3026])
    """
    options = _crossentropy_options(from_logits, label_smoothing, axis)
    return evaluate(_categorical, y_true, y_pred, **options)


def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Any:
    r"""Categorical focal crossentropy: :math:`-\sum_c \alpha (1 - p_c)^\gamma z_c \log p_c`
    with :math:`p` the (softmax of the logits or normalized) probabilities, clipped to
    :math:`[10^{-7}, 1 - 10^{-7}]`.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import categorical_focal_crossentropy
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> categorical_focal_crossentropy(y_true, y_pred).round(4)
        array([0.    , 0.4663])
    """
    options = _crossentropy_options(from_logits, label_smoothing, axis)
    return evaluate(
        _categorical_focal,
        y_true,
        y_pred,
        **_categorical_focal_options(alpha, gamma),
        **options,
    )


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Any:
    r"""Crossentropy against integer class labels: :math:`-\log p_{y}`.

    From logits, :math:`\log p` is the log-softmax along ``axis``; from probabilities it is
    the log of the probabilities clipped to :math:`[10^{-7}, 1 - 10^{-7}]` and renormalized
    (tf_keras's formula). Entries whose label is ``ignore_class`` get loss 0 (the class
    form also excludes them from the mean).

    Args:
        y_true: integer labels, the shape of ``y_pred`` without its class axis (or with that
            axis of size 1). Labels outside ``[0, classes)`` give undefined results (losskit
            cannot check array values without a device sync), except ``ignore_class``.
        y_pred: probabilities or logits with a class axis ``axis``.
        from_logits: whether ``y_pred`` holds logits.
        ignore_class: a label to ignore (e.g. padding), or None.
        axis: the class axis of ``y_pred``.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import sparse_categorical_crossentropy
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> sparse_categorical_crossentropy(np.array([1, 2]), y_pred).round(4)
        array([0.0513, 2.3026])
        >>> sparse_categorical_crossentropy(np.array([1, -1]), y_pred, ignore_class=-1).round(4)
        array([0.0513, 0.    ])
    """
    return evaluate(
        _sparse,
        y_true,
        y_pred,
        from_logits=check_bool("from_logits", from_logits),
        ignore_class=_ignore_class("ignore_class", ignore_class),
        axis=check_axis("axis", axis),
    )


def kl_divergence(y_true: Any, y_pred: Any) -> Any:
    r"""Kullback-Leibler divergence over the last axis: :math:`\sum z \log(z / p)`, both
    clipped to :math:`[10^{-7}, 1]`.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import kl_divergence
        >>> kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])).round(6)
        array([0.143841])
    """
    return evaluate(_kl, y_true, y_pred)


def poisson(y_true: Any, y_pred: Any) -> Any:
    r"""Poisson loss over the last axis: :math:`\operatorname{mean}(p - z \log(p + 10^{-7}))`.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import poisson
        >>> poisson(np.array([[1.0, 0.0]]), np.array([[1.0, 2.0]])).round(6)
        array([1.5])
    """
    return evaluate(_poisson, y_true, y_pred)


# ----------------------------------------------------------------------------- classes


@dataclass(kw_only=True, eq=False, repr=False)
class _Crossentropy(BuiltinLoss):
    """The options every dense crossentropy takes."""

    from_logits: bool = option(False, check_bool)
    label_smoothing: float = option(0.0, check_unit)
    axis: int = option(-1, check_axis)


@dataclass(kw_only=True, eq=False, repr=False)
class BinaryCrossentropy(_Crossentropy):
    """:func:`binary_crossentropy`, weighted and reduced.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import BinaryCrossentropy
        >>> y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
        >>> logits = np.array([[-18.6, 0.51], [2.94, -12.8]])
        >>> round(float(BinaryCrossentropy(from_logits=True)(y_true, logits)), 3)
        0.865
    """

    kernel = _binary
    name: InitVar[str | None] = "binary_crossentropy"


@dataclass(kw_only=True, eq=False, repr=False)
class BinaryFocalCrossentropy(_Crossentropy):
    """:func:`binary_focal_crossentropy`, weighted and reduced.

    Example:
        >>> from losskit.losses import BinaryFocalCrossentropy
        >>> loss = BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3.0)
        >>> loss.gamma, loss.alpha, loss.apply_class_balancing
        (3.0, 0.25, True)
    """

    kernel = _binary_focal
    name: InitVar[str | None] = "binary_focal_crossentropy"
    apply_class_balancing: bool = option(False, check_bool)
    alpha: float = option(0.25, check_unit)
    gamma: float = option(2.0, check_non_negative)


@dataclass(kw_only=True, eq=False, repr=False)
class CategoricalCrossentropy(_Crossentropy):
    """:func:`categorical_crossentropy`, weighted and reduced.

    Example:
        >>> import numpy as np
        >>> from losskit import Reduction
        >>> from losskit.losses import CategoricalCrossentropy
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(CategoricalCrossentropy()(y_true, y_pred)), 4)
        1.1769
        >>> CategoricalCrossentropy(reduction=Reduction.NONE)(y_true, y_pred).round(4)
        array([0.0513, 2.3026])
    """

    kernel = _categorical
    name: InitVar[str | None] = "categorical_crossentropy"


@dataclass(kw_only=True, eq=False, repr=False)
class CategoricalFocalCrossentropy(_Crossentropy):
    """:func:`categorical_focal_crossentropy`, weighted and reduced.

    ``alpha`` is a number or, as tf_keras accepts, a list of one weight per class (e.g.
    inverse class frequencies).

    Example:
        >>> import numpy as np
        >>> from losskit.losses import CategoricalFocalCrossentropy
        >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> loss = CategoricalFocalCrossentropy(alpha=[0.25, 0.5, 0.75], reduction="none")
        >>> loss(y_true, y_pred).round(4)  # 0.5 * 0.05**2 * -log(0.95), 0.75 * 0.9**2 * -log(0.1)
        array([1.0000e-04, 1.3988e+00])
    """

    kernel = _categorical_focal
    name: InitVar[str | None] = "categorical_focal_crossentropy"
    alpha: float | list[float] = option(0.25, check_class_weights)
    gamma: float = option(2.0, check_non_negative)


@dataclass(kw_only=True, eq=False, repr=False)
class SparseCategoricalCrossentropy(BuiltinLoss):
    """:func:`sparse_categorical_crossentropy`, weighted and reduced.

    With ``ignore_class``, the ignored entries are masked: ``SUM_OVER_BATCH_SIZE`` averages
    over the others only, and a batch with every label ignored gives 0.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import SparseCategoricalCrossentropy
        >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
        >>> round(float(SparseCategoricalCrossentropy()(np.array([1, 2]), y_pred)), 4)
        1.1769
        >>> loss = SparseCategoricalCrossentropy(ignore_class=-1)
        >>> round(float(loss(np.array([1, -1]), y_pred)), 4)
        0.0513
        >>> float(loss(np.array([-1, -1]), y_pred))  # every label ignored
        0.0
    """

    kernel = _sparse
    name: InitVar[str | None] = "sparse_categorical_crossentropy"
    from_logits: bool = option(False, check_bool)
    ignore_class: int | None = option(None, _ignore_class)
    axis: int = option(-1, check_axis)

    def get_config(self) -> dict[str, Any]:
        """Keras's keys; ``axis`` only when it is not -1 (Keras's class has no ``axis``, so
        the config of the default loads in tf_keras and Keras 3)."""
        config = super().get_config()
        if config["axis"] == -1:
            del config["axis"]
        return config


@dataclass(kw_only=True, eq=False, repr=False)
class KLDivergence(BuiltinLoss):
    """:func:`kl_divergence`, weighted and reduced."""

    kernel = _kl
    name: InitVar[str | None] = "kl_divergence"


@dataclass(kw_only=True, eq=False, repr=False)
class Poisson(BuiltinLoss):
    """:func:`poisson`, weighted and reduced."""

    kernel = _poisson
    name: InitVar[str | None] = "poisson"
