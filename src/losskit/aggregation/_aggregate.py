"""``aggregate``: one micro-batch's loss under a mode (a one-entry plan)."""

from __future__ import annotations

from typing import Any

from losskit.aggregation._plan import plan

__all__ = ["aggregate"]


def aggregate(
    per_token_loss: Any,
    mask: Any,
    *,
    mode: str,
    segment_ids: Any = None,
    group_ids: Any = None,
    num_groups: int | None = None,
    max_length: float | None = None,
    count_empty: bool | None = None,
) -> Any:
    """The loss of one micro-batch under ``mode``: ``plan([mask], ...).loss(per_token_loss, 0)``.

    The arguments are those of :func:`plan` for a single micro-batch (arrays, not lists).
    Inside an engine context the counts are summed over the replicas and the value is
    scaled for the engine, as for a window of one micro-batch: with gradient accumulation,
    build one :func:`plan` for the window's micro-batches instead (a mean per micro-batch
    is the bug this package exists to avoid).

    Returns:
        0-d array of the losses' library, device and floating dtype.

    Raises:
        ValueError: the errors of :func:`plan` and :meth:`Plan.loss` (shapes, masks, ids,
            modes, options).
        TypeError: the errors of :func:`plan` and :meth:`Plan.loss` (types, libraries).

    Example:
        >>> import numpy as np
        >>> from losskit.aggregation import aggregate
        >>> losses = np.array([[1.0, 3.0, 9.0], [4.0, np.nan, np.nan]])
        >>> mask = np.array([[True, True, False], [True, False, False]])
        >>> float(aggregate(losses, mask, mode="token-mean"))  # (1 + 3 + 4) / 3
        2.6666666666666665
        >>> float(aggregate(losses, mask, mode="seq-mean-token-mean"))  # (2 + 4) / 2
        3.0
        >>> float(aggregate(losses, mask, mode="group-token-mean",  # rows in groups 1, 0
        ...                 group_ids=np.array([1, 0]), num_groups=2))  # (4/2 + 4/1) / 2
        3.0
    """
    built = plan(
        [mask],
        mode=mode,
        segment_ids=None if segment_ids is None else [segment_ids],
        group_ids=None if group_ids is None else [group_ids],
        num_groups=num_groups,
        max_length=max_length,
        count_empty=count_empty,
    )
    return built.loss(per_token_loss, 0)
