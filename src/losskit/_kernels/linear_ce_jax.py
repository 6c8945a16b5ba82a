"""The JAX kernel of :func:`losskit.losses.linear_cross_entropy`: ``custom_vjp`` over chunks.

Imported only when the inputs are JAX arrays. The caller (``losses/_linear_ce.py``) hands
over validated 2-D ``hidden [N, d]``, ``weight [V, d]``, ``bias [V]`` or None, integer
``labels [N]`` made safe to gather and the per-token coefficients ``coef [N]`` (0 for
ignored tokens, NaN for out-of-range labels) in the accumulation dtype.

The tokens are swept in chunks by a ``fori_loop`` that reads each chunk in place (when the
chunk does not divide N, the last one starts early and its repeated tokens count 0).
Differentiated with ``reduction="sum"``, the forward computes the gradients with respect
to ``hidden``, ``weight``, ``bias`` and the coefficients chunk by chunk (``weight``'s and
``bias``'s accumulate in the loop's carry) and the backward only scales them: one pass
over the logits. With ``reduction="none"`` the backward sweeps the chunks again with the
incoming per-token gradients folded into the coefficients.
Undifferentiated calls sweep for the losses only.

float16 and bfloat16 multiply with float32 results (``preferred_element_type``) and keep
the softmax, the losses and the accumulated gradients in float32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class _Options(NamedTuple):
    smoothing: float
    z_loss: float
    chunk: int
    blocks: int = 8  # class blocks of the weight gradient's accumulation


def _accumulation_dtype(dtype: Any) -> Any:
    return jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype


def _chunk_terms(
    rows: jax.Array, weight: jax.Array, bias: jax.Array | None, labels: jax.Array, o: _Options
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """(unweighted losses, logits, their row maxima, sums of exp(logits - max), logsumexp)
    of one chunk. ``logits - max`` is never materialized: XLA:CPU then fuses the product
    with the maximum into one slow kernel (1.5x the whole forward, measured)."""
    acc = _accumulation_dtype(rows.dtype)
    contract_d = (((1,), (1,)), ((), ()))
    logits = lax.dot_general(rows, weight, contract_d, preferred_element_type=acc)
    if bias is not None:
        logits = logits + bias.astype(acc)
    top = lax.stop_gradient(jnp.max(logits, axis=1, keepdims=True))
    total = jnp.sum(jnp.exp(logits - top), axis=1)
    lse = jnp.log(total) + top[:, 0]
    picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    loss = lse - (1.0 - o.smoothing) * picked
    if o.smoothing:
        loss = loss - o.smoothing * jnp.mean(logits, axis=1)
    if o.z_loss:
        loss = loss + o.z_loss * lse * lse
    return loss, logits, top, total, lse


def _chunk_gradients(
    rows: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    labels: jax.Array,
    coef: jax.Array,
    o: _Options,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One chunk's losses, and the gradients of ``sum(coef * losses)`` with respect to its
    rows and to its logits ``[C, V]``."""
    loss, logits, top, total, lse = _chunk_terms(rows, weight, bias, labels, o)
    acc = logits.dtype
    classes = weight.shape[0]
    # d(c * loss)/dz = c * (softmax * (1 + 2 z lse) - eps / V) - c * (1 - eps) * onehot(y):
    # one elementwise pass, then a scatter-add of one entry per token (in place: a [C, V]
    # one-hot select would be a second pass, and XLA materializes its zeros).
    scale = coef / total if not o.z_loss else coef * (1.0 + 2.0 * o.z_loss * lse) / total
    grad = jnp.exp(logits - top) * scale[:, None]
    if o.smoothing:
        grad = grad - (coef * (o.smoothing / classes))[:, None]
    tokens = lax.iota(labels.dtype, labels.shape[0])
    grad = grad.at[tokens, labels].add(-coef * (1.0 - o.smoothing), unique_indices=True)
    grad_rows = lax.dot_general(
        grad.astype(weight.dtype), weight, (((1,), (0,)), ((), ())), preferred_element_type=acc
    ).astype(rows.dtype)
    return loss, grad_rows, grad


def _accumulate(total: jax.Array, grad: jax.Array, rows: jax.Array, blocks: int) -> jax.Array:
    """``total + grad.T @ rows``, one block of classes at a time, each added in place.

    XLA:CPU cannot fuse the accumulation into the product: ``total + grad.T @ rows`` at
    once keeps a second ``[V, d]`` temporary (96 MiB at V = 32K, d = 768, as much as the
    result). A loop over ``blocks`` blocks keeps one ``[V / blocks, d]`` product alive
    (unrolled, XLA schedules every block's product first). Blocks of ``ceil(V / blocks)``
    classes; when that does not divide ``V`` (a prime vocabulary such as GPT-2's 50257),
    the last block starts early, at ``V - size``, and adds nothing to the classes the block
    before it already added.
    """
    classes = total.shape[0]
    size = -(-classes // max(1, min(blocks, classes)))
    blocks = -(-classes // size)
    even = classes % size == 0
    contract_tokens = (((0,), (0,)), ((), ()))

    def add_block(j: jax.Array, total: jax.Array) -> jax.Array:
        nominal = j * size
        start = nominal if even else jnp.minimum(nominal, classes - size)
        part = lax.dot_general(
            lax.dynamic_slice_in_dim(grad, start, size, axis=1),
            rows,
            contract_tokens,
            preferred_element_type=total.dtype,
        )
        if not even:  # the overlap with the block before: already added there
            index = start + lax.iota(jnp.int32, size)
            part = jnp.where((index >= nominal)[:, None], part, jnp.zeros((), part.dtype))
        current = lax.dynamic_slice_in_dim(total, start, size, axis=0)
        return lax.dynamic_update_slice_in_dim(total, current + part, start, axis=0)

    accumulated: jax.Array = lax.fori_loop(0, blocks, add_block, total)
    return accumulated


def _sweep(
    n: int, chunk: int, body: Callable[[jax.Array, jax.Array, jax.Array, Any], Any], init: Any
) -> Any:
    """``body(start, fresh, i, carry)`` for the ``ceil(n / chunk)`` chunks of ``n`` tokens,
    each a ``chunk``-long window read in place (no padded copy of the inputs): when
    ``chunk`` does not divide ``n`` the last window starts early, at ``n - chunk``, and
    ``fresh`` (bool ``[chunk]``) marks the tokens the windows before it did not hold."""
    if n == 0:  # nothing to read (the body would not even trace)
        return init
    chunks = -(-n // chunk)
    even = n % chunk == 0
    offsets = lax.iota(jnp.int32, chunk)

    def step(i: jax.Array, carry: Any) -> Any:
        nominal = i * chunk
        start = nominal if even else jnp.minimum(nominal, n - chunk)
        return body(start, start + offsets >= nominal, i, carry)

    return lax.fori_loop(0, chunks, step, init)


def _window(array: jax.Array, start: jax.Array, chunk: int) -> jax.Array:
    return lax.dynamic_slice_in_dim(array, start, chunk, axis=0)


def _merge(total: jax.Array, part: jax.Array, start: jax.Array, fresh: jax.Array) -> jax.Array:
    """``total`` with the fresh rows of ``part`` written at ``start`` (in place)."""
    keep = fresh.reshape(fresh.shape + (1,) * (part.ndim - 1))
    merged = jnp.where(keep, part, _window(total, start, part.shape[0]))
    return lax.dynamic_update_slice_in_dim(total, merged, start, axis=0)


def _losses(
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    labels: jax.Array,
    o: _Options,
) -> jax.Array:
    """The unweighted per-token losses ``[N]``, chunk by chunk."""
    n, chunk = hidden.shape[0], o.chunk
    acc = _accumulation_dtype(hidden.dtype)

    def body(start: jax.Array, fresh: jax.Array, i: jax.Array, losses: jax.Array) -> jax.Array:
        rows, chunk_labels = _window(hidden, start, chunk), _window(labels, start, chunk)
        loss = _chunk_terms(rows, weight, bias, chunk_labels, o)[0]
        return _merge(losses, loss, start, fresh)

    losses: jax.Array = _sweep(n, chunk, body, jnp.zeros((n,), acc))
    return losses


def _gradients(
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    labels: jax.Array,
    coef: jax.Array,
    o: _Options,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array | None]:
    """(unweighted losses, d/d hidden, d/d weight, d/d bias) of ``sum(coef * losses)``;
    the gradients of ``weight`` and ``bias`` in the accumulation dtype."""
    acc = coef.dtype
    n, chunk = hidden.shape[0], o.chunk

    def body(start: jax.Array, fresh: jax.Array, i: jax.Array, carry: Any) -> Any:
        total_weight, total_bias, grad_hidden, losses = carry
        rows = _window(hidden, start, chunk)
        # tokens an earlier window held count 0 here: their gradients are already added
        rate = jnp.where(fresh, _window(coef, start, chunk), jnp.zeros((), acc))
        loss, grad_rows, grad = _chunk_gradients(
            rows, weight, bias, _window(labels, start, chunk), rate, o
        )
        total_weight = _accumulate(total_weight, grad, rows.astype(acc), o.blocks)
        if total_bias is not None:
            total_bias = total_bias + jnp.sum(grad, axis=0)
        grad_hidden = _merge(grad_hidden, grad_rows, start, fresh)
        return total_weight, total_bias, grad_hidden, _merge(losses, loss, start, fresh)

    init = (
        jnp.zeros(weight.shape, acc),
        None if bias is None else jnp.zeros(bias.shape, acc),
        jnp.zeros(hidden.shape, hidden.dtype),
        jnp.zeros((n,), acc),
    )
    grad_weight, grad_bias, grad_hidden, losses = _sweep(n, chunk, body, init)
    return losses, grad_hidden, grad_weight, grad_bias


def _cast(value: jax.Array | None, like: jax.Array | None) -> jax.Array | None:
    if value is None or like is None:
        return None
    return value.astype(like.dtype)


@functools.lru_cache(maxsize=64)
def _function(o: _Options, per_token: bool) -> Callable[..., jax.Array]:
    """The differentiable ``(hidden, weight, bias, labels, coef) -> loss`` for one set of
    options (cached: one ``custom_vjp`` object per configuration, so jit caches hit)."""

    @jax.custom_vjp
    def loss(
        hidden: jax.Array,
        weight: jax.Array,
        bias: jax.Array | None,
        labels: jax.Array,
        coef: jax.Array,
    ) -> jax.Array:
        losses = _losses(hidden, weight, bias, labels, o)
        return coef * losses if per_token else jnp.dot(coef, losses)

    def forward(
        hidden: jax.Array,
        weight: jax.Array,
        bias: jax.Array | None,
        labels: jax.Array,
        coef: jax.Array,
    ) -> tuple[jax.Array, Any]:
        if per_token:
            losses = _losses(hidden, weight, bias, labels, o)
            return coef * losses, (hidden, weight, bias, labels, coef, losses)
        losses, grad_h, grad_w, grad_b = _gradients(hidden, weight, bias, labels, coef, o)
        grads = (grad_h, _cast(grad_w, weight), _cast(grad_b, bias))
        return jnp.dot(coef, losses), (grads, losses)

    def backward(residuals: Any, grad_out: jax.Array) -> tuple[Any, ...]:
        grads: tuple[jax.Array | None, ...]
        if per_token:
            hidden, weight, bias, labels, coef, losses = residuals
            _, grad_h, grad_w, grad_b = _gradients(hidden, weight, bias, labels, coef * grad_out, o)
            grads = (grad_h, _cast(grad_w, weight), _cast(grad_b, bias))
        else:
            computed, losses = residuals
            grads = tuple(None if g is None else g * grad_out.astype(g.dtype) for g in computed)
        return (*grads, None, losses * grad_out)

    loss.defvjp(forward, backward)
    return loss  # type: ignore[no-any-return]


def linear_cross_entropy(
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    labels: jax.Array,
    coef: jax.Array,
    *,
    smoothing: float,
    z_loss: float,
    per_token: bool,
    chunk: int,
) -> jax.Array:
    """``sum(coef * losses)`` (0-d) or ``coef * losses`` ``[N]``, in the accumulation dtype."""
    options = _Options(float(smoothing), float(z_loss), max(1, min(chunk, hidden.shape[0])))
    return _function(options, per_token)(hidden, weight, bias, labels, coef)
