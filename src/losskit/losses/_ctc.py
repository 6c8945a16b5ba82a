"""The CTC loss (connectionist temporal classification), Keras 3's ``CTC``.

The negative log-likelihood of a label sequence under every alignment of it to the time
steps, computed by the forward (alpha) recursion over time in log space, with array-API
operations only: a Python loop over the (static) number of time steps, so it traces under
``jax.jit`` and ``torch.compile`` and differentiates with any autograd.

Conventions, as in Keras 3 (``keras.losses.ctc``): class 0 is the blank and the padding of
``y_true``; each label sequence is ``y_true``'s first ``count_nonzero(row)`` entries (pad at
the end; a 0 inside that prefix is a label that emits the blank, as TensorFlow treats it);
every sample uses all ``max_length`` time steps of ``y_pred``, which holds unnormalized
logits (a log-softmax is applied along the class axis).

Example:
    >>> import numpy as np
    >>> from losskit.losses import CTC
    >>> logits = np.log(np.array([[[0.5, 0.5], [0.5, 0.5]]]))  # two steps, blank or "1"
    >>> # alignments of "1": (1, blank), (blank, 1), (1, 1), each of probability 1/4
    >>> CTC(reduction="none")(np.array([[1, 0]]), logits).round(6)  # -log(3/4)
    array([0.287682])
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.losses._base import evaluate
from losskit.losses._builtin import BuiltinLoss
from losskit.losses._numerics import constant, index_dtype, log_softmax

__all__ = ["CTC", "ctc"]

_IMPOSSIBLE = -1e30
"""The log-probability of an unreachable state: finite, so that neither ``exp`` nor a
gradient meets ``inf - inf``, and far below any reachable one."""


def _log_sum(xp: ns.Namespace, *terms: Any) -> Any:
    """``log(sum(exp(term)))`` of arrays of one shape, shifted by their (constant) maximum."""
    top = terms[0]
    for term in terms[1:]:
        top = xp.maximum(top, term)
    top = constant(xp, top)
    total = xp.exp(terms[0] - top)
    for term in terms[1:]:
        total = total + xp.exp(term - top)
    return top + xp.log(total)


def _inputs(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, Any, Any]:
    """(labels [B, L] as indices, log-probabilities [B, T, C], result dtype)."""
    logits = ns.as_array(xp, y_pred, name="y_pred")
    result_dtype, dtype = ns.loss_dtypes(xp, logits, name="y_pred")
    if logits.ndim != 3:
        raise ValueError(
            invalid("y_pred", "logits of shape (batch_size, max_length, num_classes)", logits)
        )
    labels = ns.as_array(xp, y_true, name="y_true", like=logits)
    ns.check_weight_dtype(xp, labels, name="y_true")
    batch = logits.shape[0]
    if labels.ndim != 2 or labels.shape[0] != batch or labels.shape[1] == 0:
        raise ValueError(
            invalid(
                "y_true",
                f"integer labels of shape ({batch}, max_label_length >= 1), 0 as padding",
                labels,
            )
        )
    labels = ns.astype(xp, labels, index_dtype(xp, logits))
    return labels, log_softmax(xp, ns.astype(xp, logits, dtype), -1), result_dtype


def _ctc(xp: ns.Namespace, y_true: Any, y_pred: Any) -> tuple[Any, None, Any]:
    labels, log_p, dtype = _inputs(xp, y_true, y_pred)
    batch, steps = log_p.shape[0], log_p.shape[1]
    lengths = xp.sum(ns.astype(xp, labels != 0, labels.dtype), axis=1)
    # the extended sequence: blank, l1, blank, l2, ..., blank (2 L + 1 states)
    blanks = xp.zeros_like(labels)
    states = xp.reshape(xp.stack((blanks, labels), axis=2), (batch, -1))
    states = xp.concat((states, blanks[:, :1]), axis=1)
    size = states.shape[1]
    emissions = xp.take_along_axis(
        log_p, xp.broadcast_to(xp.expand_dims(states, axis=1), (batch, steps, size)), axis=2
    )
    # a label state may be entered from two states back (skipping a blank) unless it repeats
    # that label; blank states never differ from two back (TensorFlow's transitions, also for a
    # 0 inside a label sequence)
    skips = states[:, 2:] != states[:, :-2]
    impossible = xp.full_like(emissions[:, 0, :], _IMPOSSIBLE)
    # a path starts with a blank or the first label: states 0 and 1 (a True/False mask built
    # from `states` keeps its device; `arange(device=...)` would make TorchDynamo warn)
    first = xp.concat((states[:, :2] == states[:, :2], states[:, 2:] != states[:, 2:]), axis=1)
    alpha = xp.where(first, emissions[:, 0, :], impossible)
    for step in range(1, steps):
        from_previous = xp.concat((impossible[:, :1], alpha[:, :-1]), axis=1)
        skipped = xp.where(skips, alpha[:, :-2], impossible[:, 2:])
        from_skip = xp.concat((impossible[:, :2], skipped), axis=1)
        alpha = _log_sum(xp, alpha, from_previous, from_skip) + emissions[:, step, :]
    last = xp.expand_dims(2 * lengths, axis=1)  # the final blank; the last label before it
    end_blank = xp.take_along_axis(alpha, last, axis=1)[:, 0]
    end_label = xp.take_along_axis(alpha, xp.clip(last - 1, 0, None), axis=1)[:, 0]
    end_label = xp.where(lengths > 0, end_label, impossible[:, 0])
    likelihood = _log_sum(xp, end_blank, end_label)
    reachable = likelihood > _IMPOSSIBLE / 2
    return xp.where(reachable, -likelihood, xp.full_like(likelihood, math.inf)), None, dtype


def ctc(y_true: Any, y_pred: Any) -> Any:
    r"""The CTC loss of each sample: :math:`-\log \sum_{\pi \in B^{-1}(y)} \prod_t p_t(\pi_t)`
    over the alignments :math:`\pi` that collapse (merge repeats, drop blanks) to the labels.

    Args:
        y_true: integer labels of shape ``(batch_size, max_label_length)``, classes
            ``1 .. num_classes - 1``, padded at the end with 0 (the blank).
        y_pred: logits of shape ``(batch_size, max_length, num_classes)``, not normalized.

    Returns:
        The per-sample losses, shape ``(batch_size,)``, in ``y_pred``'s dtype. A label
        sequence that no alignment reaches (more labels and repeats than time steps) has
        probability 0: its loss is ``inf``, with a zero gradient (Keras 3 on TensorFlow
        returns a large finite number instead: row ``ctc-unreachable-labels`` of
        ``docs/deviations.md``).

    Raises:
        ValueError: arrays of the wrong rank or batch size.

    Example:
        >>> import numpy as np
        >>> from losskit.losses import ctc
        >>> logits = np.zeros((1, 3, 3))  # uniform over blank, "1", "2"
        >>> ctc(np.array([[1, 2]]), logits).round(6)  # 5 alignments of 27: -log(5 / 27)
        array([1.686399])
    """
    return evaluate(_ctc, y_true, y_pred)


@dataclass(kw_only=True, eq=False, repr=False)
class CTC(BuiltinLoss):
    """:func:`ctc`, weighted and reduced."""

    kernel = _ctc
    name: InitVar[str | None] = "ctc"
