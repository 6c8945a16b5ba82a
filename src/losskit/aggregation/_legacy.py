"""``legacy:`` forms: frameworks' published formulas that are not the objective they claim.

Each form is a small function over one micro-batch that returns that micro-batch's
**contribution to the combined objective**: the framework's per-micro-step loss divided by
what its engine divides it by (the DDP mean over ``num_replicas``, the accumulation).
Summed over every replica and micro-batch of a window the contributions give the
framework's combined loss, and their gradients its combined gradient, so a caller scales
them for its own engine exactly as it scales an exact mode's coefficients.

A form exists only where its numbers follow from one window's data. The extra statistics
some forms need are window counts a planner takes in its one all-reduce:

=================== ===========================================================
``num_replicas``    data-parallel replicas R
``micro_steps``     micro-batches of this window, k (TRL's
                    ``current_gradient_accumulation_steps``)
``accumulation_steps`` configured micro-batches per window, GA
``max_length``      the constant L of a ``*-norm`` mode
``step_tokens``     valid tokens of this micro-step summed over the replicas
``num_sequences``   every sequence of the window over the replicas (count_empty)
=================== ===========================================================

Masked positions are replaced by zero before anything is summed, so padding that holds
NaN or infinity contributes nothing; where the framework divides a fully masked
micro-batch's zero by zero (NaN), the form returns 0.

Example:
    >>> import numpy as np
    >>> from losskit.aggregation._legacy import legacy_form
    >>> form = legacy_form("legacy:trl:bnpo")
    >>> losses, mask = np.array([[1.0, 3.0, 7.0]]), np.array([[1, 1, 0]])
    >>> float(form.function(losses, mask, num_replicas=2, micro_steps=1))  # (1+3)/2 / 2
    1.0
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any

from losskit import _namespace as ns
from losskit._errors import invalid

__all__ = ["LEGACY", "LegacyForm", "legacy_form"]


@dataclasses.dataclass(frozen=True)
class LegacyForm:
    """A framework's published per-micro-batch formula, as a contribution function.

    Attributes:
        name: ``"legacy:<framework>:<name>"``.
        function: ``(per_token_loss, mask, **requires) -> 0-d array``.
        requires: the keyword statistics ``function`` takes.
        contribution: the value ``function`` returns, as a formula.
        source: repository, commit, file and function of the published formula.
    """

    name: str
    function: Callable[..., Any]
    requires: tuple[str, ...]
    contribution: str
    source: str


def _parts(per_token_loss: Any, mask: Any) -> tuple[Any, Any, Any]:
    """``(xp, where(mask, l, 0), mask as 0/1 in l's dtype)``."""
    xp = ns.namespace(per_token_loss, mask, names=("per_token_loss", "mask"))
    mask = ns.as_array(xp, mask, name="mask", like=per_token_loss)
    if tuple(mask.shape) != tuple(per_token_loss.shape) or len(mask.shape) != 2:
        raise ValueError(
            invalid(
                "mask", f"a [B, T] array shaped like per_token_loss {per_token_loss.shape}", mask
            )
        )
    valid = mask if ns.is_bool(xp, mask.dtype) else mask != 0
    masked = xp.where(valid, per_token_loss, xp.zeros_like(per_token_loss))
    return xp, masked, xp.astype(valid, per_token_loss.dtype)


def _at_least_one(xp: ns.Namespace, count: Any) -> Any:
    return xp.where(count > 0, count, xp.ones_like(count))


def _token_mean_over(per_token_loss: Any, mask: Any, divisor: Any) -> Any:
    """The micro-batch's own token mean (0 when it has no valid token), over ``divisor``."""
    xp, masked, valid = _parts(per_token_loss, mask)
    return xp.sum(masked) / _at_least_one(xp, xp.sum(valid)) / divisor


def trl_bnpo(per_token_loss: Any, mask: Any, *, num_replicas: int, micro_steps: int) -> Any:
    """TRL ``bnpo``: ``sum m*l / max(sum m, 1) / GA`` per micro-batch, averaged over ranks."""
    return _token_mean_over(per_token_loss, mask, num_replicas * micro_steps)


def skyrl_token_mean_legacy(
    per_token_loss: Any, mask: Any, *, num_replicas: int, micro_steps: int
) -> Any:
    """SkyRL ``token_mean_legacy``: each micro-batch's token mean over the mini-batch's
    ``num_micro_batches`` = replicas x micro-steps."""
    return _token_mean_over(per_token_loss, mask, num_replicas * micro_steps)


def verl_token_mean(
    per_token_loss: Any, mask: Any, *, num_replicas: int, accumulation_steps: int
) -> Any:
    """verl's legacy FSDP actor: ``agg_loss`` with the local count, times ``1/GA``."""
    return _token_mean_over(per_token_loss, mask, num_replicas * accumulation_steps)


def trl_grpo(per_token_loss: Any, mask: Any, *, num_replicas: int, micro_steps: int) -> Any:
    """TRL ``grpo``: ``mean_rows(sum_t m*l / max(n_i, 1)) / GA``, averaged over ranks."""
    xp, masked, valid = _parts(per_token_loss, mask)
    rows = xp.sum(masked, axis=-1) / _at_least_one(xp, xp.sum(valid, axis=-1))
    return xp.sum(rows) / max(int(rows.shape[0]), 1) / (num_replicas * micro_steps)


def trl_dr_grpo(
    per_token_loss: Any, mask: Any, *, num_replicas: int, micro_steps: int, max_length: float
) -> Any:
    """TRL ``dr_grpo``: ``sum m*l / (B_local * max_completion_length) / GA``, averaged over
    ranks."""
    xp, masked, _ = _parts(per_token_loss, mask)
    rows = max(int(masked.shape[0]), 1)
    return xp.sum(masked) / (rows * max_length) / (num_replicas * micro_steps)


def trl_async_grpo(
    per_token_loss: Any, mask: Any, *, num_replicas: int, micro_steps: int, step_tokens: Any
) -> Any:
    """TRL ``AsyncGRPOTrainer``: ``sum m*l / max(N_step / world_size, 1) / GA``, averaged
    over ranks."""
    xp, masked, _ = _parts(per_token_loss, mask)
    per_rank = xp.asarray(step_tokens, dtype=masked.dtype) / num_replicas
    per_rank = xp.where(per_rank > 1, per_rank, xp.ones_like(per_rank))
    return xp.sum(masked) / per_rank / (micro_steps * num_replicas)


def verl_seq_mean_token_sum_norm(per_token_loss: Any, mask: Any, *, num_sequences: Any) -> Any:
    """verl ``seq-mean-token-sum-norm`` with the default ``loss_scale_factor``: the
    micro-batch's padded width ``T_k`` instead of a constant."""
    xp, masked, _ = _parts(per_token_loss, mask)
    width = max(int(masked.shape[-1]), 1)
    return xp.sum(masked) / (xp.asarray(num_sequences, dtype=masked.dtype) * width)


_TRL = "huggingface/trl@f2cd577"
_TRL_LOSS = f"{_TRL} trl/trainer/grpo_trainer.py GRPOTrainer._compute_loss"


def _forms() -> list[LegacyForm]:
    local = ("num_replicas", "micro_steps")
    return [
        LegacyForm(
            "legacy:trl:bnpo",
            trl_bnpo,
            local,
            "sum m*l / max(n_k, 1) / (R * k)",
            f"{_TRL_LOSS} (bnpo branch)",
        ),
        LegacyForm(
            "legacy:trl:grpo",
            trl_grpo,
            local,
            "mean_rows(sum_t m*l / max(n_i, 1)) / (R * k)",
            f"{_TRL_LOSS} (grpo/sapo branch)",
        ),
        LegacyForm(
            "legacy:trl:dr_grpo",
            trl_dr_grpo,
            (*local, "max_length"),
            "sum m*l / (B_k * L) / (R * k)",
            f"{_TRL_LOSS} (dr_grpo branch)",
        ),
        LegacyForm(
            "legacy:trl:async-grpo",
            trl_async_grpo,
            (*local, "step_tokens"),
            "sum m*l / max(N_step / R, 1) / (k * R)",
            f"{_TRL} trl/experimental/async_grpo/async_grpo_trainer.py "
            "AsyncGRPOTrainer.compute_loss; issue #7206",
        ),
        LegacyForm(
            "legacy:verl:token-mean",
            verl_token_mean,
            ("num_replicas", "accumulation_steps"),
            "sum m*l / n_k / (R * GA)",
            "verl-project/verl@7db6aad verl/workers/actor/dp_actor.py update_policy "
            "(loss_scale_factor = 1 / gradient_accumulation, l. 591) with agg_loss's "
            "micro-batch count; issue #5625",
        ),
        LegacyForm(
            "legacy:verl:seq-mean-token-sum-norm",
            verl_seq_mean_token_sum_norm,
            ("num_sequences",),
            "sum m*l / (global_batch_size * T_k), T_k the micro-batch's padded width",
            "verl-project/verl@1dda039 verl/trainer/ppo/core_algos.py agg_loss "
            "(loss_scale_factor=None); PR #4360",
        ),
        LegacyForm(
            "legacy:skyrl:token_mean_legacy",
            skyrl_token_mean_legacy,
            local,
            "sum m*l / max(n_k, 1) / (R * k)",
            "NovaSky-AI/SkyRL@a956457 skyrl/backends/skyrl_train/utils/ppo_utils.py "
            "apply_loss_reduction_to_advantages_minibatch (token_mean_legacy)",
        ),
    ]


LEGACY: Mapping[str, LegacyForm] = types.MappingProxyType({f.name: f for f in _forms()})


def legacy_form(name: str) -> LegacyForm:
    """The ``legacy:`` form called ``name``.

    Raises:
        ValueError: no such form (the message lists them).

    Example:
        >>> legacy_form("legacy:trl:bnpo").requires
        ('num_replicas', 'micro_steps')
    """
    form = LEGACY.get(name) if isinstance(name, str) else None
    if form is None:
        raise ValueError(invalid("mode", f"one of the legacy forms {sorted(LEGACY)}", name))
    return form
