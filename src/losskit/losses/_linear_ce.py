r"""Fused linear cross-entropy: the language-model loss head without materialized logits.

The public function validates, folds ``ignore_index`` and the token weights into one
coefficient per token, and hands 2-D inputs to a kernel of the input's library
(``losskit/_kernels``): PyTorch and JAX are differentiable and single-pass for
``reduction="sum"``; other array libraries (NumPy, array-api-strict) get the forward only.
"""

from __future__ import annotations

from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.losses._numerics import index_dtype
from losskit.losses._options import check_non_negative, check_option, check_unit

__all__ = ["CHUNK_ELEMENTS", "default_chunk_size", "linear_cross_entropy"]

CHUNK_ELEMENTS = {"torch": 1 << 24, "other": 1 << 23}
"""Logits per default chunk. PyTorch: 64 MiB of float32 (512 tokens at a 32K vocabulary);
its chunked products lose least to a busy machine at 512 tokens (bench/README.md, F1).
JAX and the forward-only path: 32 MiB (XLA keeps two chunk-sized buffers)."""
MIN_CHUNK = 256
"""Fewest tokens per default chunk: smaller products run the matrix units below speed, and
every chunk adds a read and a write of the ``[V, d]`` gradient."""

_NAMES = ("hidden", "weight", "labels", "bias", "token_weights")


def default_chunk_size(classes: int, library: str = "other") -> int:
    """Tokens per chunk when ``chunk_size`` is None: ``CHUNK_ELEMENTS[library] // classes``
    (``library`` "torch" or any other), at least ``MIN_CHUNK``."""
    elements = CHUNK_ELEMENTS.get(library, CHUNK_ELEMENTS["other"])
    return max(MIN_CHUNK, elements // max(classes, 1))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _per_token(reduction: Any) -> bool:
    if reduction == "mean":
        raise ValueError(
            invalid(
                "reduction",
                "'sum' or 'none'",
                reduction,
                hint="A fused kernel cannot know the global token count of a mean (other "
                "ranks, other micro-batches): pass the aggregation plan's per-token "
                "coefficients as `token_weights` (losskit.aggregation, `Plan.weights(k)`; "
                "for a local token mean, 1 / count) and use reduction='sum'.",
            )
        )
    check_option("reduction", reduction, "'sum' or 'none'", lambda v: v in ("sum", "none"))
    return bool(reduction == "none")


def _chunk(value: Any) -> int | None:
    def ok(v: Any) -> bool:
        return v is None or (_is_int(v) and v > 0)

    return check_option("chunk_size", value, "a positive integer or None", ok)  # type: ignore[no-any-return]


def _shape(array: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in array.shape)


def _float_array(xp: ns.Namespace, value: Any, name: str, like: Any = None) -> Any:
    array = ns.as_array(xp, value, name=name, like=like)
    if not ns.is_real_floating(xp, array.dtype):
        raise TypeError(invalid(name, "an array of real floating dtype", array))
    return array


def _inputs(
    xp: ns.Namespace, hidden: Any, weight: Any, labels: Any, bias: Any, token_weights: Any
) -> tuple[Any, Any, Any, Any, Any]:
    """The five inputs as arrays of ``xp``, their dtypes and shapes checked."""
    hidden = _float_array(xp, hidden, "hidden")
    if hidden.ndim < 2:
        raise ValueError(invalid("hidden", "an array [N, d] or [B, T, d]", hidden))
    d = int(hidden.shape[-1])
    weight = _float_array(xp, weight, "weight", like=hidden)
    if weight.ndim != 2 or int(weight.shape[1]) != d:
        expected = f"an array [V, {d}] (torch.nn.Linear's layout, d of `hidden`)"
        raise ValueError(invalid("weight", expected, weight))
    classes = int(weight.shape[0])
    if bias is not None:
        bias = _float_array(xp, bias, "bias", like=hidden)
        if _shape(bias) != (classes,):
            raise ValueError(invalid("bias", f"an array [{classes}] (V of `weight`)", bias))
    for name, array in (("weight", weight), ("bias", bias)):
        if array is not None and array.dtype != hidden.dtype:
            raise TypeError(invalid(name, f"the dtype of `hidden` ({hidden.dtype})", array))
    labels = ns.as_array(xp, labels, name="labels", like=hidden)
    if not ns.is_integral(xp, labels.dtype):
        raise TypeError(invalid("labels", "integer class indices (int32 or int64)", labels))
    if _shape(labels) != _shape(hidden)[:-1]:
        expected = f"the shape of `hidden` without its last axis, {_shape(hidden)[:-1]}"
        raise ValueError(invalid("labels", expected, labels))
    if token_weights is not None:
        token_weights = ns.as_array(xp, token_weights, name="token_weights", like=hidden)
        ns.check_weight_dtype(xp, token_weights, name="token_weights")
        if _shape(token_weights) not in ((), _shape(labels)):
            expected = f"one weight per token (shape {_shape(labels)}) or a scalar"
            raise ValueError(invalid("token_weights", expected, token_weights))
    return hidden, weight, labels, bias, token_weights


def _host_value(xp: ns.Namespace, array: Any) -> float | None:
    """A 0-d array's value where reading it costs no device sync and no trace, else None."""
    return _backends.of(xp).host_float(array)


def _check_labels_on_host(xp: ns.Namespace, outside: Any, labels: Any, message: str) -> None:
    """Raise if a label is out of range, where that can be read without a device sync or a
    trace (NumPy, CPU tensors outside ``torch.compile``, concrete CPU JAX arrays)."""
    count = _host_value(xp, xp.sum(xp.astype(outside, index_dtype(xp, labels))))
    if not count:
        return
    info = xp.iinfo(labels.dtype)
    low = _host_value(xp, xp.min(xp.where(outside, labels, xp.full_like(labels, info.max))))
    high = _host_value(xp, xp.max(xp.where(outside, labels, xp.full_like(labels, info.min))))
    raise ValueError(
        f"Invalid `labels`: expected {message}, received {int(count)} label(s) outside it "
        f"(smallest {int(low or 0)}, largest {int(high or 0)})."
    )


def linear_cross_entropy(
    hidden: Any,
    weight: Any,
    labels: Any,
    *,
    bias: Any = None,
    token_weights: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    reduction: str = "sum",
    chunk_size: int | None = None,
) -> Any:
    r"""Cross-entropy of a linear layer's logits, computed in token chunks, never all at once.

    With :math:`z = h W^\top + b` (``V`` classes) and :math:`\ell = \operatorname{logsumexp}(z)`,
    token :math:`t` with label :math:`y` costs

    .. math::
        c_t \left[(1 - \varepsilon)(\ell - z_y)
        + \varepsilon \tfrac{1}{V} \textstyle\sum_v (\ell - z_v) + \zeta\, \ell^2\right]

    (PyTorch's ``label_smoothing`` :math:`\varepsilon`, PaLM's z-loss :math:`\zeta`), 0 at
    ``ignore_index``, where :math:`c_t` is ``token_weights`` (1 if None): e.g. an aggregation
    plan's exact per-token coefficients, which make the sum the global mean over ranks and
    micro-batches. ``reduction="sum"`` returns :math:`\sum_t`, ``"none"`` the per-token terms.
    There is no ``"mean"``: a fused kernel only sees its own tokens, so the denominator
    belongs in ``token_weights``.

    PyTorch and JAX inputs are differentiable with respect to ``hidden``, ``weight``,
    ``bias`` and ``token_weights``. For ``"sum"`` the gradients are computed chunk by chunk
    during the forward (with the token weights folded into the logits' gradient) and the
    backward only scales them: one pass over the logits, and memory for one chunk of logits
    plus the gradients. A PyTorch graph through it can be backpropagated once (no
    ``retain_graph`` reuse); evaluate under ``torch.no_grad()`` to skip the gradients.
    ``"none"`` recomputes the chunks in the backward (it needs the per-token incoming
    gradients). NumPy and other array-API libraries get the forward only. float32 and
    float64 compute in their own dtype; float16 and bfloat16 multiply in their dtype and
    accumulate the softmax, the losses and the weight gradient in float32; the result has
    ``hidden``'s dtype.

    Labels outside ``[0, V)`` (other than ``ignore_index``) raise a ``ValueError`` where
    they can be checked without a device sync (NumPy, CPU tensors and CPU JAX arrays
    outside ``torch.compile``/``jax.jit``); elsewhere their tokens' terms, the sum and the
    gradients are NaN.

    Args:
        hidden: ``[N, d]`` or ``[B, T, d]`` (any leading axes) hidden states.
        weight: ``[V, d]`` (``torch.nn.Linear``'s layout), the dtype of ``hidden``.
        labels: integer class indices, the shape of ``hidden`` without its last axis.
        bias: ``[V]`` or None.
        token_weights: per-token coefficients (the shape of ``labels``) or a scalar.
        ignore_index: a label whose tokens contribute 0.
        label_smoothing: :math:`\varepsilon` in [0, 1].
        z_loss: :math:`\zeta \ge 0`.
        reduction: ``"sum"`` or ``"none"``.
        chunk_size: tokens per chunk; None: ``max(256, 2**24 // V)`` on PyTorch (512 at
            V = 32K), ``max(256, 2**23 // V)`` elsewhere.

    Returns:
        ``"sum"``: a 0-d array; ``"none"``: the shape of ``labels``; ``hidden``'s dtype.

    Raises:
        TypeError: non-floating ``hidden``/``weight``/``bias`` or different dtypes,
            non-integer ``labels``, non-numeric ``token_weights``, or arrays of two libraries.
        ValueError: shapes that do not fit, an option out of range, ``reduction="mean"``,
            or labels out of range (where checked).

    Example:
        >>> import torch
        >>> from losskit.losses import linear_cross_entropy
        >>> hidden = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], requires_grad=True)
        >>> weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], requires_grad=True)
        >>> labels = torch.tensor([0, 1, -100])  # the last token is padding
        >>> total_tokens = 2  # e.g. counted over every rank and micro-batch
        >>> loss = linear_cross_entropy(hidden, weight, labels, token_weights=1 / total_tokens)
        >>> reference = torch.nn.functional.cross_entropy(hidden @ weight.T, labels)
        >>> bool(torch.isclose(loss, reference))
        True
        >>> loss.backward()
        >>> weight.grad.shape
        torch.Size([3, 2])
    """
    smoothing = check_unit("label_smoothing", label_smoothing)
    z = check_non_negative("z_loss", z_loss)
    ignore = int(check_option("ignore_index", ignore_index, "an integer", _is_int))
    per_token = _per_token(reduction)
    chunk = _chunk(chunk_size)
    xp = ns.namespace(hidden, weight, labels, bias, token_weights, names=_NAMES)
    hidden, weight, labels, bias, token_weights = _inputs(
        xp, hidden, weight, labels, bias, token_weights
    )
    classes, d = int(weight.shape[0]), int(weight.shape[1])
    acc = ns.loss_dtypes(xp, hidden, name="hidden")[1]
    flat_labels = xp.reshape(labels, (-1,))
    rows = xp.reshape(hidden, (-1, d))
    valid = flat_labels != ignore
    outside = valid & ((flat_labels < 0) | (flat_labels >= classes))
    expected = f"class indices in [0, {classes}) or `ignore_index` ({ignore})"
    _check_labels_on_host(xp, outside, flat_labels, expected)
    if token_weights is None:
        coef = xp.astype(valid, acc)
    else:
        weights = xp.broadcast_to(ns.astype(xp, token_weights, acc), _shape(labels))
        coef = xp.where(valid, xp.reshape(weights, (-1,)), xp.zeros_like(flat_labels, dtype=acc))
    coef = xp.where(outside, xp.full_like(coef, float("nan")), coef)
    safe = xp.where(valid & ~outside, flat_labels, xp.zeros_like(flat_labels))
    backend = _backends.of(xp)
    result = backend.linear_cross_entropy(
        xp,
        rows,
        weight,
        bias,
        safe,
        coef,
        smoothing=smoothing,
        z_loss=z,
        per_token=per_token,
        chunk=chunk or default_chunk_size(classes, backend.name),
    )
    if per_token:
        result = xp.reshape(result, _shape(labels))
    return ns.finish(xp, result, hidden.dtype)
