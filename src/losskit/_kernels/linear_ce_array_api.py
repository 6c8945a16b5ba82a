"""The forward-only kernel of :func:`losskit.losses.linear_cross_entropy` for array
libraries without autograd (NumPy, array-api-strict, ...): array-API calls over token chunks.

Inputs as for the framework kernels (``losses/_linear_ce.py`` validates and prepares them).
float16 and bfloat16 are computed in float32 (a float32 copy of ``weight``: this path does
not aim at large shapes).
"""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns


def linear_cross_entropy(
    xp: ns.Namespace,
    hidden: Any,
    weight: Any,
    bias: Any | None,
    labels: Any,
    coef: Any,
    *,
    smoothing: float,
    z_loss: float,
    per_token: bool,
    chunk: int,
) -> Any:
    """``sum(coef * losses)`` (0-d) or ``coef * losses`` ``[N]``, in ``coef``'s dtype."""
    acc = coef.dtype
    weight_t = xp.matrix_transpose(ns.astype(xp, weight, acc))
    bias = None if bias is None else ns.astype(xp, bias, acc)
    n = hidden.shape[0]
    parts = []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)  # the standard leaves out-of-bounds slice stops open
        logits = ns.astype(xp, hidden[start:stop, ...], acc) @ weight_t
        if bias is not None:
            logits = logits + bias
        top = xp.max(logits, axis=1, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(logits - top), axis=1)) + top[:, 0]
        loss = lse - (1.0 - smoothing) * _take_class(xp, logits, labels[start:stop])
        if smoothing:
            loss = loss - smoothing * xp.mean(logits, axis=1)
        if z_loss:
            loss = loss + z_loss * lse * lse
        parts.append(loss)
    losses = xp.concat(parts) if parts else xp.zeros_like(coef)
    return coef * losses if per_token else xp.sum(coef * losses)


def _take_class(xp: ns.Namespace, values: Any, labels: Any) -> Any:
    """``values[i, labels[i]]`` for each row (a gather along the last axis)."""
    picked = xp.take_along_axis(values, xp.expand_dims(labels, axis=-1), axis=-1)
    return xp.squeeze(picked, axis=-1)
