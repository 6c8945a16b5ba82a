"""Activity penalties' denominators, shared by :mod:`losskit.torch` and :mod:`losskit.jax`.

A record is ``(penalty, batch)``: the regularizer's value on one output, undivided, and that
output's batch size (``shape[0]``; None for a 0-d output). Keras divides by the batch
(:func:`divide_by_batch`); under data parallelism the step's example count over every
replica and micro-batch gives the exact value (:func:`over_global_batch`).
"""

from __future__ import annotations

from typing import Any

import array_api_compat

__all__ = ["batch_of", "divide_by_batch", "over_global_batch"]


def batch_of(output: Any) -> Any:
    """The output's batch size, ``shape[0]`` (kept symbolic under tracing); None if 0-d."""
    return None if output.ndim == 0 else output.shape[0]


def divide_by_batch(penalty: Any, batch: Any) -> Any:
    """Keras's rule: divide by the batch size (``divide_no_nan``: an empty batch adds 0); a
    0-d output, ``batch=None``, is not divided (Keras 3's rule)."""
    if batch is None:
        return penalty
    if batch == 0:
        return penalty * 0.0
    return penalty / batch


def over_global_batch(records: list[tuple[Any, Any]], global_batch_size: Any) -> list[Any]:
    """Each penalty over ``global_batch_size`` and scaled for the current engine, like
    :func:`losskit.compute_average_loss`; a 0-d output's penalty is kept as it is."""
    if not records:
        return []
    from losskit._kernels.sums import divide_no_nan
    from losskit._state import step_split
    from losskit.average_loss import global_batch_size_of

    first = records[0][0]
    xp = array_api_compat.array_namespace(first)
    denominator = global_batch_size_of(xp, global_batch_size, first, first.dtype)
    scale = step_split()[2]
    if scale != 1:
        denominator = denominator / scale
    return [
        penalty if batch is None else divide_no_nan(xp, penalty, denominator)
        for penalty, batch in records
    ]
