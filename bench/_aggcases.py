"""The aggregation cases (``losskit.aggregation``, issue 12's speed targets).

* ``agg_plan_1M``: ``plan([mask], mode="seq-mean-token-mean", segment_ids=[ids])`` for one
  micro-batch of 1M tokens in packed rows (``[256, 4096]``, 8 sequences per row in sorted
  runs, a bool mask with 20% padding), one replica: the counts, value checks included where
  the library reads values without a sync (NumPy, PyTorch CPU eager). Anchor: **one
  bincount over the segment ids** on the same backend (``np.bincount``, ``torch.bincount``,
  jitted ``jnp.bincount`` with ``length`` the number of ids or the row length, whichever is
  faster). For information (not an anchor): the hand-written count of non-empty sequences
  (row offsets, a scatter-add over ``B * T`` bins, ``count_nonzero``). JAX builds the plan
  inside ``jit``.
* ``agg_loss_packed`` / ``agg_loss_padded``: ``Plan.loss(l, 0)`` on ``[64, 4096]`` float32
  losses (NaN at masked positions) with the plan built beforehand, seq-mean-token-mean, packed
  (per-token coefficients) and padded (per-row coefficients). Anchor: **the NaN-safe
  hand-written expression** ``sum(where(mask, l, 0) * w)`` with precomputed ``[64, 4096]``
  float32 weights. JAX jits both (the plan's coefficients are constants of the program).

References: the float64 count of non-empty sequences; the float64 objective.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import _backends
import numpy as np
from _cases import Case, _jit_all

PLAN_SHAPE = (256, 4096)
LOSS_SHAPE = (64, 4096)
SEQUENCES_PER_ROW = 8


def _packed(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.integers(0, SEQUENCES_PER_ROW, size=shape), axis=1)
    mask = rng.random(shape) < 0.8
    return ids, mask


def _non_empty(ids: np.ndarray, mask: np.ndarray) -> float:
    rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1]).reshape(ids.shape)
    return float(len({(int(r), int(i)) for r, i in zip(rows[mask], ids[mask], strict=True)}))


def agg_plan_1m(be: _backends.Backend) -> Case | None:
    if be.name == "tensorflow":
        return None
    ids, mask = _packed(PLAN_SHAPE, 12)
    if be.name == "jax":
        ids = ids.astype(np.int32)  # JAX's default integer
    case = Case("agg_plan_1M", _non_empty(ids, mask), {}, rounds=(21, 3))
    args = (be.asarray(ids), be.asarray(mask))
    rows, length = PLAN_SHAPE

    def losskit(ids: Any, mask: Any) -> Any:
        from losskit.aggregation import plan

        built = plan([mask], mode="seq-mean-token-mean", segment_ids=[ids])
        return built.counts["sequences"]

    fns: dict[str, Callable[..., Any]] = {"losskit": losskit}
    if be.name == "numpy":
        fns["native: bincount(ids)"] = lambda ids, mask: np.bincount(ids.reshape(-1))[0]

        def hand_written(ids: Any, mask: Any) -> Any:
            flat = ids + (np.arange(rows) * length)[:, None]
            counts = np.bincount(flat[mask], minlength=rows * length)
            return np.count_nonzero(counts)

    elif be.name == "torch":
        import torch

        fns["native: bincount(ids)"] = lambda ids, mask: torch.bincount(ids.reshape(-1))[0]

        def hand_written(ids: Any, mask: Any) -> Any:
            flat = (ids + (torch.arange(rows) * length)[:, None]).reshape(-1)
            counts = torch.zeros(rows * length, dtype=torch.int64)
            counts.index_add_(0, flat, mask.reshape(-1).to(torch.int64))
            return torch.count_nonzero(counts)

    else:
        import jax
        import jax.numpy as jnp

        fns["native: bincount(ids)"] = lambda ids, mask: jnp.bincount(
            ids.reshape(-1), length=SEQUENCES_PER_ROW
        )[0]
        fns["native: bincount(ids, length=T)"] = lambda ids, mask: jnp.bincount(
            ids.reshape(-1), length=length
        )[0]

        def hand_written(ids: Any, mask: Any) -> Any:
            flat = ids + (jnp.arange(rows, dtype=ids.dtype) * length)[:, None]
            counts = jax.ops.segment_sum(
                mask.reshape(-1).astype(jnp.int32), flat.reshape(-1), num_segments=rows * length
            )
            return jnp.count_nonzero(counts)

    fns["native: hand-written non-empty sequences"] = hand_written
    return _jit_all(be, case, args, fns)


def _loss_case(be: _backends.Backend, case_id: str, packed: bool) -> Case | None:
    if be.name == "tensorflow":
        return None
    from losskit.aggregation import plan

    ids, mask = _packed(LOSS_SHAPE, 13)
    rng = np.random.default_rng(14)
    losses = np.where(mask, rng.exponential(1.0, LOSS_SHAPE), np.nan).astype(np.float32)
    if be.name == "jax":
        ids = ids.astype(np.int32)
    built = plan(
        [be.asarray(mask)],
        mode="seq-mean-token-mean",
        segment_ids=[be.asarray(ids)] if packed else None,
    )
    weights = _host(built.weights(0))
    reference = float(np.sum(np.where(mask, losses.astype(np.float64), 0.0) * weights))
    case = Case(case_id, reference, {}, rounds=(31, 5))
    args = (be.asarray(losses), be.asarray(mask), be.asarray(weights.astype(np.float32)))
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda losses, mask, weights: built.loss(losses, 0),
    }
    xp = be.xp
    fns["native: sum(where(mask, l, 0) * w)"] = lambda losses, mask, weights: xp.sum(
        xp.where(mask, losses, 0.0) * weights
    )
    return _jit_all(be, case, args, fns)


def _host(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        return array.detach().numpy()
    return np.asarray(array)


def agg_loss_packed(be: _backends.Backend) -> Case | None:
    return _loss_case(be, "agg_loss_packed", packed=True)


def agg_loss_padded(be: _backends.Backend) -> Case | None:
    return _loss_case(be, "agg_loss_padded", packed=False)


__all__ = ["agg_loss_packed", "agg_loss_padded", "agg_plan_1m"]
