"""One micro-batch's share of a mode as a pair (weighted sum, counts), and the objective of
pairs summed over a step: what deferred normalization backpropagates and a meter logs.

Every coefficient factors into a part known from the micro-batch alone and a part that
needs the whole step: :math:`c_t = a_t / D`. The local part :math:`a_t` is 1, the
sequence's own :math:`1/n_i` (a sequence lives in one micro-batch) or :math:`1/L`; the
global part is N or S (one number per step), or per group :math:`G N_g` or
:math:`G S_g` (a vector). The pair of a micro-batch is :math:`(\\sum_t a_t \\ell_t,
\\text{local counts})`, per group for the group modes; pairs add up over micro-batches
and replicas, and :func:`objective` divides the sums.
"""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit._kernels.sums import weighted_total
from losskit.aggregation._counts import Sequences, add_groups
from losskit.aggregation._inputs import Inputs
from losskit.aggregation._modes import Mode

__all__ = ["kept_losses", "local_factor", "objective", "pair", "safe"]


def safe(xp: ns.Namespace, count: Any) -> Any:
    """A count made a safe divisor: 1 where it is 0 (only masked tokens see those)."""
    return xp.where(count > 0, count, 1.0)


def kept_losses(
    inputs: Inputs, k: int, per_token_loss: Any, *, mask_name: str = "the mask"
) -> tuple[Any, Any, Any]:
    """``(losses, result dtype, accumulation dtype)``: micro-batch ``k``'s losses in the
    accumulation dtype, 0 at masked positions (NaN-safe: ``where``, never ``0 * inf``)."""
    xp, mask = inputs.xp, inputs.batches[k].mask
    values = ns.as_array(xp, per_token_loss, name="per_token_loss", like=mask)
    if tuple(values.shape) != tuple(mask.shape):
        raise ValueError(
            invalid(
                "per_token_loss",
                f"an array of the shape of {mask_name}, {tuple(mask.shape)}",
                values,
            )
        )
    result_dtype, dtype = ns.loss_dtypes(xp, values, name="per_token_loss")
    return xp.where(mask, ns.astype(xp, values, dtype), 0.0), result_dtype, dtype


def local_factor(inputs: Inputs, seqs: Sequences | None, k: int, dtype: Any) -> Any:
    """The local part :math:`a_t` of micro-batch ``k``'s coefficients: a Python float, or
    ``[B, 1]`` (padded) / ``[B, T]`` (packed) with ``1 / n_i``; finite everywhere."""
    xp, mode = inputs.xp, inputs.mode
    factor: Any = 1.0 / inputs.max_length if mode.needs_max_length else 1.0
    if mode.per_sequence:
        assert seqs is not None
        own = xp.astype(seqs.per_token(xp, inputs.batches[k]), dtype)
        factor = factor / safe(xp, own)
    return factor


def pair(inputs: Inputs, seqs: Sequences | None, per_token_loss: Any) -> tuple[Any, Any, Any]:
    """``(weighted sum, result dtype, accumulation dtype)`` of the one micro-batch of
    ``inputs``: :math:`\\sum_t a_t \\ell_t` (0-d), or per group (``[num_groups]``) for the
    group modes. Its counts are ``local_counts(inputs)``."""
    xp, mode = inputs.xp, inputs.mode
    kept, result_dtype, dtype = kept_losses(inputs, 0, per_token_loss)
    factor = local_factor(inputs, seqs, 0, dtype)
    if mode.group_count is None:
        return weighted_total(xp, kept, factor), result_dtype, dtype
    batch = inputs.batches[0]
    weighted = kept * factor
    if batch.packed:
        values, ids = weighted, batch.groups
    else:  # one group per row
        values, ids = xp.sum(weighted, axis=1), batch.groups
    member = ids[..., None] == xp.arange(inputs.num_groups, dtype=ids.dtype)
    spread = xp.where(member, values[..., None], xp.zeros((), dtype=dtype))
    axes = tuple(range(spread.ndim - 1))
    return xp.sum(spread, axis=axes), result_dtype, dtype


def objective(xp: ns.Namespace, mode: Mode, weighted_sum: Any, counts: dict[str, Any]) -> Any:
    """The mode's objective from summed pairs: the weighted sum divided by its count (N,
    S), or the mean over groups of each group's sum divided by its count; 0 without a
    valid token."""
    if mode.group_count is not None:
        per_group = counts[mode.group_count]
        groups = add_groups(xp, dict(counts))["groups"]
        shares = xp.where(per_group > 0, weighted_sum / safe(xp, per_group), 0.0)
        return xp.sum(shares) / safe(xp, groups)
    if mode.denominator is None:
        return weighted_sum
    return weighted_sum / safe(xp, counts[mode.denominator])
