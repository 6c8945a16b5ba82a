"""``plan``: one optimizer step's per-token coefficients, from one all-reduce of counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from losskit import _namespace as ns
from losskit._collectives import sequence_shards, sum_over_replicas, window_context
from losskit._errors import invalid
from losskit._kernels.sums import weighted_total
from losskit._state import get_context
from losskit.aggregation._counts import Sequences, joint_counts, window_counts
from losskit.aggregation._inputs import Inputs, read_inputs
from losskit.aggregation._local import kept_losses, safe

__all__ = ["Plan", "build_plans", "plan"]


class Plan:
    r"""The coefficients :math:`c_t` of one optimizer step, for this replica's micro-batches.

    Built by :func:`plan` before the first backward. Its counts are global (every replica,
    every micro-batch of the step), on the masks' device, without gradient.

    * ``loss(per_token_loss, k)``: the value to call ``backward`` on for micro-batch ``k``:
      :math:`\text{scale} \cdot \sum_t c_t \ell_t` over the valid tokens, where
      ``scale`` undoes the engine's averaging (as for :func:`losskit.compute_average_loss`).
      Combined by the engine over replicas and micro-steps, its gradient is that of the
      single-device objective :math:`\sum_t c_t \ell_t`.
    * ``unscaled_loss(per_token_loss, k)``: :math:`\sum_t c_t \ell_t` without the engine
      scale: this micro-batch's share of the objective (summed over replicas and
      micro-batches it is the objective), for logging.
    * ``weights(k)``: :math:`\text{scale} \cdot c_t`, shaped like the mask (0 at masked
      positions), so that ``sum(weights * l) == loss(l, k)`` for finite ``l``.

    Masked positions contribute nothing, even where the loss there is NaN or infinite, to
    the value and to the gradient. A micro-batch or step without a valid token gives 0,
    still connected to the autograd graph.

    Attributes:
        mode: the canonical mode name.
        count_empty: whether empty sequences and groups were counted.
        micro_batches: the micro-batches of this replica's window.
        scale: the engine scale included in ``loss`` and ``weights``.
        counts: the global counts the mode uses, as arrays: ``"tokens"`` (N),
            ``"sequences"`` (S), ``"groups"`` (G), ``"group_tokens"`` (N_g),
            ``"group_sequences"`` (S_g), ``"group_present"``.

    Example:
        >>> import numpy as np
        >>> from losskit.aggregation import plan
        >>> from losskit.distribute import replica_context
        >>> mask = np.array([[True, True, False], [True, False, False]])
        >>> losses = np.array([[1.0, 3.0, np.nan], [5.0, np.inf, np.inf]])
        >>> # replica 0 of 2 under DDP (gradients averaged); the other holds 4 more tokens
        >>> with replica_context(2, gradients="mean", all_reduce=lambda n: n + 4):
        ...     p = plan([mask], mode="token-mean")
        >>> p, float(p.counts["tokens"])
        (Plan(mode='token-mean', count_empty=False, micro_batches=1, scale=2), 7.0)
        >>> print(f"{float(p.loss(losses, 0)):.6f} = 2 * 9 / 7")
        2.571429 = 2 * 9 / 7
        >>> print(f"{float(p.unscaled_loss(losses, 0)):.6f} = 9 / 7")
        1.285714 = 9 / 7
    """

    __slots__ = ("_factors", "_inputs", "_sequences", "counts", "scale")

    def __init__(
        self,
        inputs: Inputs,
        sequences: Sequence[Sequences | None],
        counts: dict[str, Any],
        scale: int,
    ) -> None:
        self._inputs = inputs
        self._sequences = tuple(sequences)
        self.counts = counts
        self.scale = scale
        self._factors: dict[tuple[int, bool, Any], Any] = {}

    @property
    def mode(self) -> str:
        return self._inputs.mode.name

    @property
    def count_empty(self) -> bool:
        return self._inputs.count_empty

    @property
    def micro_batches(self) -> int:
        return len(self._inputs.batches)

    def __repr__(self) -> str:
        return (
            f"Plan(mode={self.mode!r}, count_empty={self.count_empty}, "
            f"micro_batches={self.micro_batches}, scale={self.scale})"
        )

    def loss(self, per_token_loss: Any, micro_batch: int) -> Any:
        """Micro-batch ``micro_batch``'s loss, scaled for the engine (see the class).

        Args:
            per_token_loss: ``[B, T]`` losses of that micro-batch (the mask's shape), real
                floating or integer dtype.
            micro_batch: its index in the ``masks`` given to :func:`plan`.

        Returns:
            0-d array of the losses' library, device and floating dtype.

        Raises:
            IndexError: ``micro_batch`` out of range.
            ValueError: the losses' shape differs from the mask's.
            TypeError: losses of another library, or of bool/complex dtype.
        """
        return self._total(per_token_loss, micro_batch, scaled=True)

    def unscaled_loss(self, per_token_loss: Any, micro_batch: int) -> Any:
        """This micro-batch's share of the objective, without the engine scale (logging)."""
        return self._total(per_token_loss, micro_batch, scaled=False)

    def weights(self, micro_batch: int) -> Any:
        """The coefficients times the engine scale, shaped like the mask, in the plan's
        floating dtype (float64 where the library has it); 0 at masked positions."""
        k = self._index(micro_batch)
        xp, mask = self._inputs.xp, self._inputs.batches[k].mask
        return xp.astype(mask, self._inputs.dtype) * self._factor(k, True, self._inputs.dtype)

    # ------------------------------------------------------------------ internals

    def _index(self, micro_batch: Any) -> int:
        count = len(self._inputs.batches)
        if type(micro_batch) is not int or not 0 <= micro_batch < count:
            raise IndexError(
                invalid(
                    "micro_batch",
                    f"an integer in [0, {count}) (the index of a mask given to `plan`)",
                    micro_batch,
                )
            )
        return micro_batch

    def _total(self, per_token_loss: Any, micro_batch: int, *, scaled: bool) -> Any:
        k = self._index(micro_batch)
        kept, result_dtype, dtype = kept_losses(
            self._inputs, k, per_token_loss, mask_name=f"masks[{k}]"
        )
        total = weighted_total(self._inputs.xp, kept, self._factor(k, scaled, dtype))
        return ns.finish(self._inputs.xp, total, result_dtype)

    def _factor(self, k: int, scaled: bool, dtype: Any) -> Any:
        """``c_t`` (times the scale if ``scaled``) of micro-batch ``k``: a Python float, a
        0-d, ``[B, 1]`` or ``[B, T]`` array of ``dtype``; finite everywhere (masked
        positions hold an arbitrary finite value). Computed once per plan."""
        key = (k, scaled, dtype)
        found = self._factors.get(key)
        if found is None:
            found = _coefficients(self._inputs, self._sequences[k], self.counts, k)
            if scaled and self.scale != 1:
                found = found * self.scale
            if not isinstance(found, float):
                found = ns.astype(self._inputs.xp, found, dtype)
            self._factors[key] = found
        return found


def _coefficients(inputs: Inputs, seqs: Sequences | None, counts: dict[str, Any], k: int) -> Any:
    xp, mode, batch = inputs.xp, inputs.mode, inputs.batches[k]
    shape = tuple(batch.mask.shape)
    divisor = None  # per-token or per-row counts
    if mode.per_sequence:
        assert seqs is not None
        divisor = xp.astype(seqs.per_token(xp, batch), inputs.dtype)
    if mode.group_count is not None:
        per_group = counts[mode.group_count]
        if batch.packed:
            found = xp.reshape(xp.take(per_group, xp.reshape(batch.groups, (-1,))), shape)
        else:
            found = xp.take(per_group, batch.groups)[:, None]
        divisor = found if divisor is None else divisor * found
    if mode.denominator is None:
        numerator: Any = 1.0
    else:
        denominator = counts[mode.denominator]
        if mode.needs_max_length:
            denominator = denominator * inputs.max_length
        numerator = 1.0 / safe(xp, denominator)
    if divisor is None:
        return numerator
    return numerator / safe(xp, divisor)


def plan(
    masks: Sequence[Any],
    *,
    mode: str,
    segment_ids: Sequence[Any] | None = None,
    group_ids: Sequence[Any] | None = None,
    num_groups: int | None = None,
    max_length: float | None = None,
    count_empty: bool | None = None,
) -> Plan:
    r"""The per-token coefficients of one optimizer step, exact over replicas and
    micro-batches, from one all-reduce of counts.

    Call it once per optimizer step, before the first backward, inside the engine's context
    (:func:`losskit.distribute.replica_context`, ``torch_context``, ``jax_context``; none
    for one device or ``jit`` over global arrays), with the masks of every micro-batch this
    replica runs in the step. Then call ``plan.loss(per_token_loss, k)`` on micro-batch
    ``k`` and ``backward`` on it (see :class:`Plan`).

    ==============================  ===========================================
    ``mode``                        coefficient :math:`c_t` of a valid token
    ==============================  ===========================================
    ``token-mean``                  :math:`1/N`
    ``token-sum``                   :math:`1`
    ``seq-mean-token-mean``         :math:`1/(S\,n_i)`
    ``seq-mean-token-sum``          :math:`1/S`
    ``seq-mean-token-sum-norm``     :math:`1/(S\,L)`
    ``group-token-mean``            :math:`1/(G\,N_g)`
    ``group-seq-mean``              :math:`1/(G\,S_g\,n_i)`
    ==============================  ===========================================

    Over the whole step: N valid tokens; S sequences with a valid token; :math:`n_i` valid
    tokens of sequence i; G groups with a valid token; :math:`N_g` valid tokens and
    :math:`S_g` non-empty sequences of group g; L = ``max_length``. With
    ``count_empty=True``, S, :math:`S_g` and G count every sequence and group present in
    the step, empty or not (verl's configured batch, Dr. GRPO).

    Layouts: **padded**, each row of a ``[B, T]`` mask is one sequence, ``group_ids[k]``
    has shape ``[B]``. **Packed**, ``segment_ids[k]`` (``[B, T]`` integers in ``[0, T)``)
    names the sequences of each row: ``(row, id)`` is one sequence, every id (0 included)
    is a real sequence, padding comes only from the mask; ``group_ids[k]`` is then ``[B,
    T]``, constant over each sequence. Group ids are global prompt indices in
    ``[0, num_groups)``, ``num_groups`` the same on every replica.

    Args:
        masks: this replica's micro-batch masks for the step, ``[B, T]`` each (bool or 0/1
            numbers; B and T may differ between micro-batches; ``[0, T]`` is an empty
            micro-batch).
        mode: a mode name (:data:`MODES`) or a framework alias such as ``"verl:token-mean"``
            or ``"trl:grpo"`` (``docs/aggregation_aliases.md``).
        segment_ids: packed layout: one ``[B, T]`` integer array per mask.
        group_ids: group modes: one array per mask (``[B]`` padded, ``[B, T]`` packed).
        num_groups: group modes: the number of groups of the step.
        max_length: ``seq-mean-token-sum-norm``: the constant L (a positive number).
        count_empty: count empty sequences and groups in S, :math:`S_g` and G. None (the
            default): the mode's own rule, False for a canonical mode, what the framework
            does for an alias (e.g. ``verl:seq-mean-token-mean`` counts them).

    Returns:
        A :class:`Plan`.

    Raises:
        ValueError: an unknown mode, list lengths that differ from ``masks``, more masks
            than the context's ``accumulation_steps``, shapes that do not match the masks,
            masks that are not 0/1, ids out of range or a sequence in two groups (values
            are checked where readable without a device sync: not under ``jax.jit`` or
            ``torch.compile``, not on a GPU), a missing ``group_ids``/``num_groups``/
            ``max_length``.
        TypeError: ``masks`` not a list, non-integer ids, arrays of two libraries.
        RuntimeError: in cross-replica context, or in a multi-replica context that has no
            all-reduce.

    Example:
        >>> import numpy as np
        >>> from losskit.aggregation import plan
        >>> masks = [np.array([[1, 1, 0], [0, 0, 0]]), np.array([[1, 0, 0]])]
        >>> losses = [np.array([[2.0, 4.0, np.nan], [np.nan, 7.0, 1.0]]),
        ...           np.array([[3.0, np.inf, 0.0]])]
        >>> p = plan(masks, mode="seq-mean-token-mean")  # S = 2 non-empty sequences
        >>> [float(p.loss(l, k)) for k, l in enumerate(losses)]  # (6/2 + 3/1) / 2
        [1.5, 1.5]
        >>> p.weights(0)
        array([[0.25, 0.25, 0.  ],
               [0.  , 0.  , 0.  ]])
    """
    inputs = read_inputs(
        masks,
        mode=mode,
        segment_ids=segment_ids,
        group_ids=group_ids,
        num_groups=num_groups,
        max_length=max_length,
        count_empty=count_empty,
        sequence_shards=sequence_shards(get_context()),
    )
    return build_plans([inputs], caller="plan")[0][0]


def build_plans(
    inputs: Sequence[Inputs], extra: Sequence[dict[str, Any]] = (), *, caller: str
) -> tuple[list[Plan], list[dict[str, Any]]]:
    """The plans of several checked inputs over the same window (a multi-term objective's
    masks and modes), and the sums of ``extra`` local count sets (e.g. expert counts), all
    with **one** all-reduce in the current context (and, under context parallelism, one
    more on the sequence group for every entry's per-sequence counts). The one place where
    a window's counts are taken and combined over the replicas."""
    steps = len(inputs[0].batches)
    context = window_context(caller, steps, "masks")
    counted = window_counts(inputs, context, caller=caller)

    def reduce(vector: Any) -> Any:
        return sum_over_replicas(context, vector, steps=steps, caller=caller)

    locals_ = [counts for counts, _ in counted] + list(extra)
    totals = joint_counts(inputs[0].xp, locals_, reduce)
    scale = 1 if context is None else context.loss_scale
    plans = [
        Plan(entry, sequences, total, scale)
        for entry, (_, sequences), total in zip(inputs, counted, totals, strict=False)
    ]
    return plans, totals[len(inputs) :]
