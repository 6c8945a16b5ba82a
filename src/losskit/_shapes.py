"""The two weight-shape rules of TensorFlow, checked on static shapes only.

* TF1 (``compute_weighted_loss``): weights are a scalar, or have the rank of the losses with
  every dimension 1 or equal to the losses'.
* TF2 (``compute_average_loss``, Keras 2): a rank difference of one is fixed (squeeze a
  trailing 1 from the weights, or add one), then NumPy broadcasting. losskit also requires
  the weights to broadcast *to* the losses: a weight that silently grows the batch (TensorFlow
  turns a ``[1, 3]`` loss with ``[3]`` weights into a ``[3, 3]`` loss) is an error.
* Keras 3 (``squeeze_or_expand_to_same_rank``): when two arrays' ranks differ by one and the
  longer one ends in an axis of size 1, that axis is squeezed, or, if the shorter one has
  rank 1, the shorter one gains a trailing axis. It pairs ``y_true`` with ``y_pred``, and
  the losses with their weights or mask.
"""

from __future__ import annotations

from collections.abc import Sequence

from losskit._namespace import Array, Namespace


def _shape(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in shape)


def check_same_rank_weights(
    values_shape: Sequence[int], weights_shape: Sequence[int], *, values: str, weights: str
) -> None:
    """TF1's rule. Raises ``ValueError`` naming both shapes and the way out."""
    if len(weights_shape) == 0 or weights_shape == values_shape:
        return
    v, w = _shape(values_shape), _shape(weights_shape)
    if len(v) == len(w) and all(b in (1, a) for a, b in zip(v, w, strict=True)):
        return
    hint = ""
    if len(w) == len(v) - 1 and w == v[: len(w)]:
        hint = f" For per-example weights, reshape them to {(*w, 1)}."
    raise ValueError(
        f"Invalid `{weights}`: expected a scalar or an array of the same rank as `{values}` "
        f"({len(v)}) with every dimension 1 or equal to the losses' shape {v}, received shape "
        f"{w}.{hint}"
    )


def fix_weight_rank(
    xp: Namespace, values: Array, weights: Array, *, values_name: str, weights_name: str
) -> Array:
    """TF2's rank fix-up, then the check that the weights broadcast to the values' shape."""
    r, s = values.ndim, weights.ndim
    if r == s and weights.shape == values.shape:
        return weights
    if s == r + 1 and s > 0:
        if weights.shape[-1] != 1:
            raise ValueError(
                f"Invalid `{weights_name}`: with rank {s}, one more than `{values_name}` "
                f"({r}), the last dimension must be 1 to be squeezed; received shape "
                f"{_shape(weights.shape)} for losses of shape {_shape(values.shape)}."
            )
        weights = xp.squeeze(weights, axis=-1)
    elif r == s + 1 and s > 0:
        weights = xp.expand_dims(weights, axis=-1)
    check_broadcasts_to(values.shape, weights.shape, values=values_name, weights=weights_name)
    return weights


def keras3_same_rank(xp: Namespace, first: Array, second: Array) -> tuple[Array, Array]:
    """Keras 3's rank fix-up of a pair: ``[B, 1]`` against ``[B]`` gives ``[B, 1]`` and
    ``[B, 1]``; ``[B, T, 1]`` against ``[B, T]`` gives ``[B, T]`` twice; anything else is
    returned as it is."""
    r, s = first.ndim, second.ndim
    if r == s + 1 and first.shape[-1] == 1:
        if s == 1:
            return first, xp.expand_dims(second, axis=-1)
        return xp.squeeze(first, axis=-1), second
    if s == r + 1 and second.shape[-1] == 1:
        if r == 1:
            return xp.expand_dims(first, axis=-1), second
        return first, xp.squeeze(second, axis=-1)
    return first, second


def check_broadcasts_to(
    values_shape: Sequence[int], weights_shape: Sequence[int], *, values: str, weights: str
) -> None:
    v, w = _shape(values_shape), _shape(weights_shape)
    fits = len(w) <= len(v) and all(
        b in (1, a) for a, b in zip(v[len(v) - len(w) :], w, strict=True)
    )
    if not fits:
        raise ValueError(
            f"Invalid `{weights}`: expected a shape that broadcasts to the shape of `{values}` "
            f"{v} (after adding or removing one trailing axis), received shape {w}. Weights "
            "may not enlarge the losses: that would silently change the batch size."
        )
