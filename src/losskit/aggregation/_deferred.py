"""Deferred normalization: the window's counts are taken as its micro-steps run, summed with
one all-reduce at its end, and applied to the gradients once, in place.

A mode can be applied after the backward passes only if the part of its coefficient that
needs the whole step is **one number per step**: N (``token-mean``), S (the sequence modes;
their local :math:`1/n_i` and :math:`1/L` are applied per micro-step), or nothing
(``token-sum``). The group modes divide each group by its own count, a vector: a gradient
buffer that mixes the groups cannot be scaled afterwards, so they are refused. The running
count, and its collectives under context parallelism, live in ``_deferred_counts.py``.
"""

from __future__ import annotations

from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.aggregation._deferred_counts import DeferredCounts, micro_step
from losskit.aggregation._inputs import read_inputs, read_options
from losskit.aggregation._modes import Mode, spec
from losskit.aggregation._resolve import resolve_with_options

__all__ = ["DeferredPlan", "DeferredWindow", "deferrable", "deferred_plan"]

POST_HOC_MODES = (
    "token-mean",
    "token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)


def deferrable(mode: str, *, name: str = "mode") -> tuple[Mode, dict[str, Any]]:
    """The mode (and its alias options) if its global factor is one number per step; else
    a ``ValueError`` that says why and what to use instead."""
    canonical, options = resolve_with_options(mode)
    if canonical not in POST_HOC_MODES:
        raise ValueError(
            invalid(
                name,
                f"a mode whose step-wide factor is one number ({', '.join(POST_HOC_MODES)})",
                mode,
                hint="A group mode divides each group by its own global count, a vector that "
                "cannot be applied to summed gradients afterwards: build "
                "`losskit.aggregation.plan` before the first backward instead.",
            )
        )
    return spec(canonical), options


class DeferredWindow:
    """What every deferred window shares: its running count (``_counts``), the one
    all-reduce, the scaling of the gradients, and their attributes."""

    __slots__ = ("_counts",)

    def __init__(self, counts: DeferredCounts) -> None:
        self._counts = counts

    @property
    def scale(self) -> int:
        return self._counts.scale

    @property
    def micro_steps(self) -> int:
        return self._counts.micro_steps

    @property
    def finished(self) -> bool:
        return self._counts.finished

    @property
    def count(self) -> Any:
        return self._counts.total

    def finish(self) -> Any:
        """The factor ``scale / D`` the window's gradients are multiplied by, a 0-d array of
        the masks' library and widest floating dtype. The first call all-reduces the
        window's count (one collective; none for ``token-sum``; under context parallelism
        one more first, on the sequence group, for a window that counts only S); later
        calls return the same factor. After it, ``loss`` raises.

        Raises:
            RuntimeError: no micro-step was counted, or the context has no all-reduce.
        """
        return self._counts.finish()

    def scale_gradients(self, grads: Any) -> Any:
        """Multiply the window's gradients by :meth:`finish`'s factor.

        Call it after the engine has combined the window's gradients (after the last
        ``backward`` under DDP; after your ``psum``/``pmean`` under JAX, or before: the
        factor is the same on every replica), before clipping and the optimizer step.

        Args:
            grads: PyTorch: parameters (their ``.grad`` is scaled in place; None is
                skipped) or gradient tensors, e.g. ``model.parameters()``; NumPy: a list of
                gradient arrays (scaled in place); JAX: a gradient pytree.

        Returns:
            The scaled gradients: the list of tensors or arrays scaled in place, or the new
            pytree (JAX, and libraries without in-place arithmetic).

        Raises:
            TypeError: ``grads`` is one array, not a list, or holds arrays of another
                library.
            RuntimeError: as for :meth:`finish`.
        """
        return self._counts.scale_gradients(grads)


class DeferredPlan(DeferredWindow):
    r"""One optimizer step of a mode whose counts are taken as the micro-steps run.

    Built by :func:`deferred_plan` inside the engine's context, before the window's first
    micro-step, when the window's masks are not known in advance (asynchronous RL, a
    streaming loader, a window of unknown length).

    * ``loss(per_token_loss, mask)``: the value to call ``backward`` on for the micro-step:
      :math:`\sum_t a_t \ell_t` over its valid tokens, where :math:`a_t` is the part of
      :math:`c_t` the micro-batch knows (1; :math:`1/n_i`; :math:`1/L`). Its counts are
      added, on the device, to the window's.
    * ``scale_gradients(grads)``: once the engine has run the window's last backward, one
      all-reduce of the count (none for ``token-sum``) and one multiply of every gradient
      by :math:`\text{scale}/D` (D = N or S over every replica and micro-step): in place
      for PyTorch (``torch._foreach_mul_``) and NumPy, a new pytree for JAX. The
      gradients are then those of the planned mode (:func:`plan`).
    * Step-level terms (weight penalties) are added after the scaling, at their full
      strength, on every replica (their gradient is the same everywhere).

    The replicas may run different numbers of micro-steps; a replica without data runs
    ``loss`` on an empty ``[0, T]`` mask.

    Under context parallelism (a context with a sequence group: ``docs/objectives.md``)
    every sequence is counted once and its :math:`n_i` summed over the group:
    ``seq-mean-token-mean`` takes one all-reduce on the sequence group per micro-step
    (before its backward), the modes that need only S one at the window's end. The ranks
    of a sequence group run the same micro-steps.

    Attributes:
        mode: the canonical mode name.
        count_empty, max_length: the mode's options.
        scale: the engine scale included in the factor.
        micro_steps: micro-steps counted so far on this replica.
        finished: whether the window's count has been all-reduced.
        count: the global count D (N or S) once finished; None before, and for
            ``token-sum``.

    Example:
        >>> import numpy as np
        >>> from losskit.aggregation import deferred_plan
        >>> window = deferred_plan(mode="token-mean")
        >>> window.loss(np.array([[1.0, 2.0, 9.0]]), np.array([[1, 1, 0]]))  # a sum
        array(3.)
        >>> window.loss(np.array([[4.0, 9.0]]), np.array([[1, 0]]))
        array(4.)
        >>> grads = [np.array([6.0, 3.0])]  # the gradients of the two sums, accumulated
        >>> window.scale_gradients(grads)  # / N = 3 valid tokens
        [array([2., 1.])]
    """

    __slots__ = ("_settings", "mode")

    def __init__(self, mode: Mode, settings: dict[str, Any], counts: DeferredCounts) -> None:
        super().__init__(counts)
        self.mode = mode.name
        self._settings = settings

    @property
    def count_empty(self) -> bool:
        return bool(self._settings["count_empty"])

    @property
    def max_length(self) -> float | None:
        value = self._settings["max_length"]
        return None if value is None else float(value)

    def __repr__(self) -> str:
        return (
            f"DeferredPlan(mode={self.mode!r}, micro_steps={self.micro_steps}, "
            f"scale={self.scale}, finished={self.finished})"
        )

    def loss(self, per_token_loss: Any, mask: Any, *, segment_ids: Any = None) -> Any:
        """This micro-step's value to call ``backward`` on (its local weighted sum).

        Args:
            per_token_loss: ``[B, T]`` losses (the mask's shape), real floating or integer.
            mask: the micro-batch's ``[B, T]`` mask (bool or 0/1 numbers).
            segment_ids: packed rows: ``[B, T]`` integer sequence ids (see :func:`plan`).

        Returns:
            0-d array of the losses' library, device and floating dtype.

        Raises:
            RuntimeError: the window is finished.
            ValueError: shapes, masks or ids as for :func:`plan`; more micro-steps than
                ``accumulation_steps`` on an engine that averages micro-steps.
            TypeError: arrays of another library than the window's.
        """
        inputs = read_inputs(
            [mask],
            mode=self.mode,
            segment_ids=None if segment_ids is None else [segment_ids],
            group_ids=None,
            num_groups=None,
            max_length=self._settings["max_length"],
            count_empty=self.count_empty,
            sequence_shards=self._counts.shards,
        )
        ((weighted, result_dtype),) = micro_step(self._counts, [inputs], [per_token_loss])
        return ns.finish(inputs.xp, weighted, result_dtype)


def deferred_plan(
    *, mode: str, max_length: float | None = None, count_empty: bool | None = None
) -> DeferredPlan:
    r"""A window of ``mode`` whose counts are taken as its micro-steps run (deferred
    normalization): backward on sums, one all-reduce at the window's end, then the
    gradients scaled once (:class:`DeferredPlan`).

    Call it once per optimizer step, before the first micro-step, inside the engine's
    context (as for :func:`plan`; none for one device). Equal to :func:`plan` with the
    same mode on the same data (one rounding of the gradients more).

    ==============================  =======================  ==========================
    ``mode``                        per micro-step           after the window
    ==============================  =======================  ==========================
    ``token-mean``                  :math:`\sum \ell_t`       :math:`\times\,1/N`
    ``token-sum``                   :math:`\sum \ell_t`       (the engine scale only)
    ``seq-mean-token-mean``         :math:`\sum \ell_t/n_i`   :math:`\times\,1/S`
    ``seq-mean-token-sum``          :math:`\sum \ell_t`       :math:`\times\,1/S`
    ``seq-mean-token-sum-norm``     :math:`\sum \ell_t / L`   :math:`\times\,1/S`
    ==============================  =======================  ==========================

    Args:
        mode: one of the modes above, or a framework alias of one.
        max_length: ``seq-mean-token-sum-norm``: the constant L.
        count_empty: count empty sequences in S (default: the mode's own rule).

    Returns:
        A :class:`DeferredPlan`.

    Raises:
        ValueError: a group mode (its factor is a vector: use :func:`plan`), an unknown
            mode, or a missing or invalid ``max_length``.
        TypeError: ``count_empty`` not a bool or None.
        RuntimeError: in cross-replica context.

    Example:
        >>> import numpy as np
        >>> from losskit.aggregation import deferred_plan
        >>> from losskit.distribute import replica_context
        >>> # replica 0 of 2 under DDP (averaged gradients); the other replica holds 5 tokens
        >>> with replica_context(2, gradients="mean", all_reduce=lambda n: n + 5):
        ...     window = deferred_plan(mode="token-mean")
        ...     window.loss(np.array([[1.0, 2.0, 3.0]]), np.array([[1, 1, 1]]))
        ...     float(window.finish())  # scale 2 over N = 3 + 5 tokens
        array(6.)
        0.25
        >>> deferred_plan(mode="group-token-mean")
        Traceback (most recent call last):
        ...
        ValueError: Invalid `mode`: expected a mode whose step-wide factor is one number ...
    """
    chosen, options = deferrable(mode)
    if count_empty is None:
        count_empty = bool(options.get("count_empty", False))
    read_options(chosen.name, num_groups=None, max_length=max_length, count_empty=count_empty)
    settings = {"max_length": max_length, "count_empty": count_empty}
    counts = DeferredCounts("deferred_plan", chosen.denominator)
    return DeferredPlan(chosen, settings, counts)
