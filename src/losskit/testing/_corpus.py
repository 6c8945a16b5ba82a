"""Published loss-normalization bugs, each as a plain NumPy loss function and its fix.

Every entry reproduces one framework's per-micro-step loss as its source computes it,
written as ``loss_fn(per_token_loss, step)`` for :func:`losskit.testing.audit_loss`, with
a layout on which the bug shows (uneven micro-batches, empty sequences, a partial window,
packed rows ...) and the objective the framework means. ``audit()`` flags the buggy form and
passes the corrected one. The source of each bug is in its ``source`` field and above its
functions. Bugs of auxiliary terms (MoE load balancing, MTP) are audited term by term
against their coefficient; their tensor- and context-parallel factors are simulated
constants. Context-parallel layouts split each sequence over a sequence group
(``Layout(sequence_shards=...)``); a pipeline schedule's micro-batches are the window.

The functions read only what the framework's code reads: the micro-batch, the replica's
window of masks (prefetched), the engine description and an all-reduce for counts.

Example:
    >>> from losskit.testing import published_bugs
    >>> bug = next(b for b in published_bugs() if b.name == "trl-bnpo")
    >>> bug.audit().passed, bug.audit(fixed=True).passed
    (False, True)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from losskit.testing._audit import AuditReport, MicroStep, audit_loss
from losskit.testing._layout import Layout, random_layout

__all__ = ["PublishedBug", "published_bugs"]

LossFn = Callable[[Any, MicroStep], Any]

_TRL = "https://github.com/huggingface/trl/blob/f2cd57710ae345ea6428ae95363267fcf38a3dc8"
_VERL = "https://github.com/verl-project/verl/blob/1dda039b9c6311889a9c9a26040677e1254814f9"


@dataclasses.dataclass(frozen=True, eq=False)
class PublishedBug:
    """One published normalization bug.

    Attributes:
        name: a short id, ``<framework>-<what>``.
        source: the issue or pull request (and code) that documents it.
        what: the bug in one sentence.
        mode, max_length, count_empty: the objective the framework means.
        coefficient: for a term of a multi-term objective, the coefficient its weights
            must carry (the target is ``coefficient * c_t``).
        layout: a step on which the bug shows.
        buggy, fixed: ``loss_fn(per_token_loss, step)`` as published, and corrected.
        fixed_layout: the layout of the fix, where the fix changes how the data is laid
            out (None: ``layout``).
    """

    name: str
    source: str
    what: str
    mode: str
    layout: Layout = dataclasses.field(repr=False)
    buggy: LossFn = dataclasses.field(repr=False)
    fixed: LossFn = dataclasses.field(repr=False)
    max_length: float | None = None
    count_empty: bool = False
    coefficient: float = 1.0
    fixed_layout: Layout | None = dataclasses.field(default=None, repr=False)

    def audit(self, *, fixed: bool = False, library: str = "numpy") -> AuditReport:
        """:func:`~losskit.testing.audit_loss` of the buggy form on ``layout`` (or of the
        fixed form, on ``fixed_layout`` if there is one)."""
        layout = self.fixed_layout if fixed and self.fixed_layout is not None else self.layout
        return audit_loss(
            self.fixed if fixed else self.buggy,
            layout,
            mode=self.mode,
            max_length=self.max_length,
            count_empty=self.count_empty,
            library=library,
            coefficient=self.coefficient,
        )


# ----------------------------------------------------------------------------- helpers


def _sum(per_token_loss: Any, step: MicroStep) -> Any:
    return (per_token_loss * step.mask).sum()


def _tokens(mask: Any) -> float:
    return float(np.sum(np.asarray(mask)))


def _window_tokens(step: MicroStep) -> Any:
    """Valid tokens of the whole window over every replica (one all-reduce)."""
    return step.all_reduce(sum(_tokens(m) for m in step.window.masks))


def _window_rows(step: MicroStep, *, nonempty: bool) -> Any:
    rows = sum(
        float(np.sum(np.asarray(m).sum(axis=-1) > 0)) if nonempty else float(m.shape[0])
        for m in step.window.masks
    )
    return step.all_reduce(rows)


def _like(per_token_loss: Any, data: Any) -> Any:
    """Counts or weights computed in NumPy from the (gradient-free) masks and ids, as an
    array of the audited loss's library, dtype and device: the entries audit under
    ``library="torch"`` and ``"jax"`` as well."""
    xp = array_api_compat.array_namespace(per_token_loss)
    device = array_api_compat.device(per_token_loss)
    return xp.asarray(np.asarray(data), dtype=per_token_loss.dtype, device=device)


def _row_means(per_token_loss: Any, mask: Any, floor: float = 1.0) -> Any:
    counts = np.asarray(mask).sum(axis=-1)
    return (per_token_loss * mask).sum(axis=-1) / _like(per_token_loss, np.maximum(counts, floor))


def _token_mean(per_token_loss: Any, step: MicroStep) -> Any:
    """The exact token-mean under a replica-averaging engine: sum / N_window * R."""
    return _sum(per_token_loss, step) / _window_tokens(step) * step.num_ranks


# ------------------------------------------------------------------ TRL bnpo (local count)
# https://github.com/huggingface/trl/blob/f2cd57710ae345ea6428ae95363267fcf38a3dc8/trl/trainer/grpo_trainer.py#L3129
# (docstring: "results may slightly vary depending on the local batch size"; naming: PR #3256)


def trl_bnpo(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / max(_tokens(step.mask), 1.0) / step.micro_steps


def trl_dapo(per_token_loss: Any, step: MicroStep) -> Any:
    """TRL's dapo with steps_per_generation == GA: the window's global token count."""
    return _sum(per_token_loss, step) / (max(_window_tokens(step), 1.0) / step.num_ranks)


# ------------------------------------------------- TRL dapo: generation batch != window
# https://github.com/huggingface/trl/issues/5619, fixed by
# https://github.com/huggingface/trl/pull/6024 (commit da5d8632b): N_gen counts the whole
# generation batch (steps_per_generation micro-steps); the fix rescales it by
# GA / steps_per_generation, the *average* window's count, exact only for equal windows.


def trl_dapo_generation(
    per_token_loss: Any,
    step: MicroStep,
    *,
    other_windows: float,
    steps_per_generation: int,
    rescale: bool,
) -> Any:
    generation = _window_tokens(step) + other_windows  # gather(loss_mask.sum()).sum()
    normalizer = max(generation, 1.0) / step.num_ranks
    if rescale:  # PR #6024
        normalizer = normalizer * step.micro_steps / steps_per_generation
    return _sum(per_token_loss, step) / normalizer


# ------------------------------------------------------ TRL AsyncGRPO: mean of micro-steps
# https://github.com/huggingface/trl/issues/7206 (1.25 instead of 0.65); fix proposed in
# https://github.com/huggingface/trl/pull/7249


def trl_async_grpo(per_token_loss: Any, step: MicroStep) -> Any:
    step_tokens = step.all_reduce(_tokens(step.mask))  # global_n_tokens of this micro-step
    per_rank = max(step_tokens / step.num_ranks, 1.0)
    return _sum(per_token_loss, step) / per_rank / step.micro_steps


# ----------------------------------------------- verl legacy FSDP actor (#5625), fallback (#7321)
# https://github.com/verl-project/verl/issues/5625: agg_loss falls back to the micro-batch
# count (global_batch_info is empty), dp_actor scales by 1 / gradient_accumulation.
# https://github.com/verl-project/verl/issues/7321: with dp = 1 and no batch_num_tokens,
# each micro-batch is divided by its own count and the engine sums the micro-batches.


def verl_legacy_actor(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / _tokens(step.mask) / step.accumulation_steps


def verl_micro_batch_fallback(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / _tokens(step.mask) * step.num_ranks


# --------------------------------------------------- ms-swift #10117: a second division by GA
# https://github.com/modelscope/ms-swift/issues/10117 (fix: PR #10116): the dapo loss is
# already normalized over the window, then Trainer.training_step divides by the GA steps.


def ms_swift_double_division(per_token_loss: Any, step: MicroStep) -> Any:
    return trl_dapo(per_token_loss, step) / step.micro_steps


# ------------------------------------------- ms-swift #10084: configured GA in a partial window
# https://github.com/modelscope/ms-swift/pull/10084: the micro-batch mean is divided by the
# configured gradient_accumulation_steps, also in the last, shorter window (half the gradient
# with 2 of 4 micro-batches). The PR divides by current_gradient_accumulation_steps, which is
# exact here because every micro-batch of this layout holds the same number of tokens.


def ms_swift_configured_window(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / _tokens(step.mask) / step.accumulation_steps


def ms_swift_current_window(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / _tokens(step.mask) / step.micro_steps


# -------------------------------------------- miles #2796: +1 per fully masked sample
# https://github.com/radixark/miles/pull/2796: the denominator is sum_i max(n_i, 1), reduced
# globally, so each fully masked sample adds one token (4 + 1 instead of 4: 20% smaller).


def miles_clamped_samples(per_token_loss: Any, step: MicroStep) -> Any:
    local = sum(float(np.maximum(np.asarray(m).sum(axis=-1), 1.0).sum()) for m in step.window.masks)
    return _sum(per_token_loss, step) / step.all_reduce(local)


def miles_active_tokens(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / max(_window_tokens(step), 1.0)


# -------------------------------------------------- miles #3231: FSDP backpropagates raw sums
# https://github.com/radixark/miles/pull/3231: the per-token loss wrapper returns a token sum
# and a count; the FSDP backend dropped the count, so the gradient is N / dp_size times the
# token mean.


def miles_fsdp_raw_sum(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step)


# ------------------------------------------ NeMo-RL #3791: side term over micro-batch tokens
# https://github.com/NVIDIA-NeMo/RL/pull/3791: VAPO's positive-example NLL is normalized by
# the micro-batch's correct tokens while the trainer sums micro-batches and multiplies by
# dp_size: the term weighs (micro-batches x ranks) times too much (32x in the PR). The mask
# here is the correct-sample token mask, the per-token loss -log p.


def nemo_rl_local_side_term(per_token_loss: Any, step: MicroStep) -> Any:
    correct = _tokens(step.mask)
    if correct == 0:
        return 0.0 * _sum(per_token_loss, step)
    return _sum(per_token_loss, step) / (correct + 1e-8) * step.num_ranks


# -------------------------------------------- tunix #1662: a packed row taken as one sequence
# https://github.com/google/tunix/pull/1662: without segment ids, sequence-mean-token-mean
# averages each *row*; the accumulator then divides the window's summed gradients by the
# summed denominators (non-empty rows).


def _tunix(per_token_loss: Any, step: MicroStep, *, segmented: bool) -> Any:
    def units(mask: Any, segments: Any) -> tuple[np.ndarray, int]:
        """(unit index of each position, number of units): rows, or (row, segment)."""
        mask, segments = np.asarray(mask), np.asarray(segments)
        rows = np.repeat(np.arange(mask.shape[0])[:, None], mask.shape[1], axis=1)
        key = rows * (int(segments.max()) + 1) + segments if segmented else rows
        _, inverse = np.unique(key, return_inverse=True)
        return inverse.reshape(mask.shape), int(inverse.max()) + 1 if inverse.size else 0

    index, count = units(step.mask, step.segment_ids)
    n = np.bincount(index.ravel(), weights=np.asarray(step.mask).ravel(), minlength=count)
    per_unit = np.where(n > 0, 1.0 / np.maximum(n, 1.0), 0.0)
    weights = _like(per_token_loss, np.asarray(step.mask) * per_unit[index])
    unreduced = (per_token_loss * weights).sum()
    denominators = 0.0
    for mask, segments in zip(step.window.masks, step.window.segment_ids or (), strict=True):
        index, count = units(mask, segments)
        denominators += float(
            np.sum(np.bincount(index.ravel(), np.asarray(mask).ravel(), count) > 0)
        )
    return unreduced / max(denominators, 1.0)


# --------------------------------- verl / TRL: configured sequence counts with empty sequences
# verl seq modes divide by global_batch_size = ppo_mini_batch_size x rollout.n, the configured
# count, while the numerator drops fully masked sequences:
# https://github.com/verl-project/verl/blob/1dda039b9c6311889a9c9a26040677e1254814f9/verl/trainer/ppo/core_algos.py#L1194
# https://github.com/verl-project/verl/blob/1dda039b9c6311889a9c9a26040677e1254814f9/verl/trainer/ppo/ray_trainer.py#L1353
# TRL grpo averages over every row of the micro-batch, including rows that
# mask_truncated_completions masks out entirely:
# https://github.com/huggingface/trl/blob/f2cd57710ae345ea6428ae95363267fcf38a3dc8/trl/trainer/grpo_trainer.py#L3124
# https://github.com/huggingface/trl/blob/f2cd57710ae345ea6428ae95363267fcf38a3dc8/trl/trainer/grpo_trainer.py#L2417


def verl_seq_mean(per_token_loss: Any, step: MicroStep, *, configured: bool) -> Any:
    sequences = _window_rows(step, nonempty=not configured)
    means = _row_means(per_token_loss, step.mask, floor=1e-8)
    return means.sum() / max(sequences, 1.0) * step.num_ranks


def trl_grpo(per_token_loss: Any, step: MicroStep) -> Any:
    return _row_means(per_token_loss, step.mask).mean() / step.micro_steps


# --------------------------------------- verl: the default horizon of seq-mean-token-sum-norm
# https://github.com/verl-project/verl/pull/4360 (and issue #3741): loss_scale_factor defaults
# to loss_mask.shape[-1], the micro-batch's padded width, not Dr. GRPO's constant L.


def verl_sum_norm(per_token_loss: Any, step: MicroStep, *, horizon: float | None) -> Any:
    sequences = _window_rows(step, nonempty=False)  # the configured global_batch_size
    width = step.mask.shape[-1] if horizon is None else horizon
    return _sum(per_token_loss, step) / sequences * step.num_ranks / width


# ---------------------------------------------- unsloth-zoo #1286: 0/0 on an empty batch
# https://github.com/unslothai/unsloth-zoo/pull/1286: the dapo normalizer is not floored, so
# a generation batch whose completions are all masked gives a NaN loss and NaN gradients.


def unsloth_unfloored_dapo(per_token_loss: Any, step: MicroStep) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return _sum(per_token_loss, step) / (np.float64(_window_tokens(step)) / step.num_ranks)


# ------------------------------------------- verl #2776: DAPO's per-prompt token mean
# https://github.com/verl-project/verl/issues/2776: the DAPO recipe's token-mean normalizes
# over the batch, "not equivalent to the group-level loss in the DAPO paper" (tokens of each
# prompt averaged, then prompts). The fix needs per-group counts from every replica.


def group_token_mean(per_token_loss: Any, step: MicroStep) -> Any:
    num_groups = int(step.num_groups or 0)
    local = np.zeros(num_groups)
    for mask, groups in zip(step.window.masks, step.window.group_ids or (), strict=True):
        np.add.at(local, np.asarray(groups), np.asarray(mask).sum(axis=-1))
    per_group = np.asarray(step.all_reduce(local))  # N_g over the whole step
    live = float(np.sum(per_group > 0))
    weight = np.where(per_group > 0, 1.0 / (live * np.maximum(per_group, 1.0)), 0.0)
    rows = _like(
        per_token_loss, np.asarray(step.mask) * weight[np.asarray(step.group_ids)][:, None]
    )
    return (per_token_loss * rows).sum() * step.num_ranks


# ------------------------------------------- auxiliary terms of a multi-term objective
# Each of these audits one term on its own, against the weight its coefficient promises
# (``PublishedBug.coefficient``). A load-balancing term's audited per-token "loss" is the
# router probability p_t of one expert e at each routed token: with statistics over the
# global batch the term is coeff * E * f_e * sum_t p_t / T (T: routed tokens of the step),
# i.e. coeff * E * f_e times the token mean of p. Its layout routes every position (full
# masks) in equal micro-batches, so that per-micro-step and per-step statistics agree. The
# tensor- and context-parallel sizes are simulated factors (_TP, _CP): the audit's layouts
# have data-parallel replicas only.

_AUX = 1e-2 * 8 * 0.25  # moe_aux_loss_coeff x E = 8 experts x f_e = 0.25 of the audited expert
_MTP = 0.3  # mtp_loss_scaling_factor
_TP = 2  # simulated tensor-parallel size (sequence parallel: a router sees T / tp tokens)
_CP = 2  # simulated context-parallel size


# Megatron #3672: _apply_global_aux_loss averages over the global micro-batch's tokens
# (all-reduced over DP), and the DP gradient mean divides it once more: 1/dp.


def megatron_global_aux_loss(per_token_loss: Any, step: MicroStep, *, compensated: bool) -> Any:
    tokens = step.all_reduce(_tokens(step.mask))  # this micro-step's tokens over DP
    aux = _AUX * _sum(per_token_loss, step) / tokens / step.micro_steps
    return aux * step.num_ranks if compensated else aux


# Megatron PR #5047: under --calculate-per-token-loss the aux loss (a mean over the router's
# tokens) is multiplied by num_local_tokens before MoEAuxLossAutoScaler, and
# finalize_model_grads divides every gradient by the step's total tokens (DP sums; the
# post-hoc division is folded into the function here). With sequence parallelism the router
# of a TP rank holds T / tp of the micro-batch's tokens: 1/tp. The fix multiplies by tp_cp size.


def megatron_per_token_aux(per_token_loss: Any, step: MicroStep, *, compensated: bool) -> Any:
    tokens = _tokens(step.mask)  # the micro-batch's tokens on this DP rank
    aux = _AUX * _sum(per_token_loss, step) / tokens
    local_tokens = tokens / _TP
    scale = local_tokens * _TP if compensated else local_tokens
    return aux * scale / _window_tokens(step)


# Megatron PR #3959: MTPLossAutoScaler's scale is loss_scale / num_microbatches, and
# num_microbatches is inflated by cp_size under context parallelism; the MoE aux loss got the
# cp compensation (#2217), the MTP loss did not: 1/cp.


def megatron_mtp_under_cp(per_token_loss: Any, step: MicroStep, *, compensated: bool) -> Any:
    mtp = _MTP * _token_mean(per_token_loss, step)
    return mtp if compensated else mtp / _CP


# NeMo Automodel PR #1412: (1) MoEAuxLossAutoScaler.apply's result was discarded, so the value
# the trainer backpropagates carries no aux-loss gradient; (2) main_loss_backward_scale was
# never set, so FSDP's gradient mean divides the aux gradient by dp_group_size.


def automodel_aux_detached(per_token_loss: Any, step: MicroStep, *, attached: bool) -> Any:
    aux = _AUX * _sum(per_token_loss, step) / _window_tokens(step) * step.num_ranks
    return aux if attached else 0.0 * aux  # the main loss alone: no aux gradient


def automodel_aux_backward_scale(per_token_loss: Any, step: MicroStep, *, scaled: bool) -> Any:
    aux = _AUX * _sum(per_token_loss, step) / _window_tokens(step)
    return aux * step.num_ranks if scaled else aux


def _routed_layout(gradients: str = "mean") -> Layout:
    full = np.ones((2, 3))
    return Layout([[full, full] for _ in range(4)], gradients=gradients)


# ------------------------------------------ verl #5983: CP shards counted over the DP group
# https://github.com/verl-project/verl/issues/5983 (fix attempts: PRs #5993, #6049, closed):
# with static context parallelism each rank holds 1/CP of every sequence; batch_num_tokens
# is all-reduced over the pure DP group and dp_size is the pure DP size, while the gradients
# are averaged over DP x CP. Each CP shard is divided by the DP sum of its own shard's
# tokens: a mean over the shards of per-shard token means (N/CP on balanced shards).


def verl_cp_dp_group_count(per_token_loss: Any, step: MicroStep) -> Any:
    shard_tokens = step.data_all_reduce(sum(_tokens(m) for m in step.window.masks))
    data_parallel = step.num_ranks // step.sequence_shards
    return _sum(per_token_loss, step) / max(shard_tokens, 1.0) * data_parallel


def dp_cp_token_mean(per_token_loss: Any, step: MicroStep) -> Any:
    """The PRs' fix: this shard's tokens summed over DP x CP, dp_size = DP x CP."""
    return _token_mean(per_token_loss, step)


# --------------------------------- prime-rl #2562: whole micro-batches counted over DP x CP
# https://github.com/PrimeIntellect-ai/prime-rl/pull/2562 (review: "CP ranks in the same DP
# group load identical micro-batches. Summing those counts over dp_cp multiplies" them):
# every CP rank counts the whole micro-batch's loss mask, the count is summed over dp_cp,
# the loss is the rank's shard, FSDP's division is undone (a sum over ranks).


def prime_rl_whole_micro_batch_count(per_token_loss: Any, step: MicroStep) -> Any:
    counted = step.all_reduce(sum(_tokens(m) for m in step.window.unsharded_masks))
    return _sum(per_token_loss, step) / max(counted, 1.0)


def shard_token_count(per_token_loss: Any, step: MicroStep) -> Any:
    """Each rank counts the tokens of its own shard: every token once over dp_cp."""
    return _sum(per_token_loss, step) / max(_window_tokens(step), 1.0)


# ------------------------------------- Megatron #7513: CP-local counts in the averaged path
# https://github.com/NVIDIA/Megatron-LM/pull/7513: the micro-batch-averaged path divides
# each CP shard's loss sum by the shard's own valid tokens, and DDP averages over DP x CP:
# "with one valid token, CP=2 halves the gradient". The PR sums the count over the CP group
# and multiplies by the CP size to undo DDP's CP averaging.


def megatron_cp_local_count(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / max(_tokens(step.mask), 1.0) / step.micro_steps


def megatron_cp_group_count(per_token_loss: Any, step: MicroStep) -> Any:
    whole = step.sequence_all_reduce(_tokens(step.mask))
    return _sum(per_token_loss, step) / max(whole, 1.0) * step.sequence_shards / step.micro_steps


# --------------------------------------- transformers #48167: eval_loss cp_size times too big
# https://github.com/huggingface/transformers/pull/48167: evaluation ran without the
# context-parallel context, so every CP rank evaluated the whole micro-batch, while the
# loss kept the training path's scaling: num_items_in_batch (whole labels counted on every
# process, gathered, divided by cp_size) and ``loss *= num_processes`` (Trainer.compute_loss,
# transformers 5.23), then the mean over processes. The buggy layout holds each micro-batch
# on cp ranks (copies); the fix applies the context: the same data split over the CP ranks.


def transformers_eval_without_cp(per_token_loss: Any, step: MicroStep, *, cp_size: int) -> Any:
    items = step.all_reduce(sum(_tokens(m) for m in step.window.masks)) / cp_size
    return _sum(per_token_loss, step) / max(items, 1.0) * step.num_ranks


def transformers_eval_with_cp(per_token_loss: Any, step: MicroStep) -> Any:
    items = step.all_reduce(sum(_tokens(m) for m in step.window.unsharded_masks))
    items = items / step.sequence_shards  # counted before the split, on every CP rank
    return _sum(per_token_loss, step) / max(items, 1.0) * step.num_ranks


# -------------------------------------- torchtitan #2972: PP divides after schedule.step()
# https://github.com/pytorch/torchtitan/issues/2972: the pipeline schedule (scale_grads=False)
# backwards each micro-batch's raw loss sum on the last stage; "/ global_valid_tokens"
# happens after ``pp_schedule.step()``, for the logged loss only. FSDP sums (divide factor
# 1). Fixed as the non-PP path does (and Forge, torchtitan PR #4194): divide inside loss_fn.


def torchtitan_pp_sum(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step)


def torchtitan_pp_normalized(per_token_loss: Any, step: MicroStep) -> Any:
    return _sum(per_token_loss, step) / max(_window_tokens(step), 1.0)


# ----------------------------------------------------------------------------- the corpus


def _whole_rows(seed: int, data: int, micro_steps: int, rows: int, length: int) -> list[Any]:
    """``[data][micro-batch]`` masks of whole rows: a masked prompt of 2-5 tokens, then
    the completion's tokens, valid with probability 0.8 (more valid tokens late in a row)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(data):
        batches = []
        for _ in range(micro_steps):
            prompt = rng.integers(2, 6, size=(rows, 1))
            valid = (np.arange(length)[None, :] >= prompt) & (rng.random((rows, length)) < 0.8)
            batches.append(valid.astype(np.float64))
        out.append(batches)
    return out


def _split(whole: list[Any], shards: int, **engine: Any) -> Layout:
    """Each data replica's rows split along T into ``shards`` contiguous shards."""
    masks = [
        [np.split(mask, shards, axis=1)[c] for mask in batches]
        for batches in whole
        for c in range(shards)
    ]
    return Layout(masks, sequence_shards=shards, **engine)


def _copied(whole: list[Any], replicas: int, **engine: Any) -> Layout:
    """Each data replica's micro-batches held whole by ``replicas`` ranks."""
    masks = [batches for batches in whole for _ in range(replicas)]
    return Layout(masks, replicas=replicas, **engine)


def _one_valid_token() -> Layout:
    whole = np.zeros((2, 8))
    whole[0, 1] = 1.0  # on the first of 2 shards
    return _split([[whole]], 2)


def _uniform_partial_window() -> Layout:
    full = np.ones((2, 3))
    return Layout([[full, full], [full, full]], accumulation_steps=4)


def _empty_window() -> Layout:
    return Layout([[np.zeros((2, 3)), np.zeros((1, 4))], [np.zeros((3, 2)), np.zeros((2, 2))]])


def _tokens_of(layout: Layout) -> float:
    return float(sum(np.sum(mask) for _, _, mask, _, _ in layout.pieces()))


@functools.cache
def published_bugs() -> tuple[PublishedBug, ...]:
    """The corpus: every entry's buggy form fails its audit, its fixed form passes.

    Example:
        >>> from losskit.testing import published_bugs
        >>> len(published_bugs()) >= 12
        True
    """
    busy = random_layout(11, ranks=3, micro_steps=2, rows=(1, 4), length=(2, 7), empty=0.0)
    sparse = random_layout(12, ranks=2, micro_steps=3, rows=(2, 4), length=(2, 6), empty=0.4)
    single = random_layout(13, ranks=1, micro_steps=3, rows=(1, 3), length=(2, 6), empty=0.0)
    packed = random_layout(
        14, ranks=1, micro_steps=2, rows=(1, 3), length=(6, 9), packed=True, empty=0.0
    )
    deep = random_layout(15, ranks=2, micro_steps=4, rows=(1, 3), length=(2, 6), empty=0.0)
    widths = random_layout(16, ranks=2, micro_steps=2, rows=(1, 3), length=(2, 6), empty=0.3)
    grouped = random_layout(
        17, ranks=3, micro_steps=2, rows=(1, 3), length=(2, 7), empty=0.1, num_groups=4
    )
    trl_rows = random_layout(18, ranks=2, micro_steps=2, rows=(3, 3), length=(3, 6), empty=0.4)
    window = _tokens_of(busy)
    generation = functools.partial(trl_dapo_generation, steps_per_generation=4)
    prompts = _whole_rows(19, data=2, micro_steps=2, rows=2, length=8)
    evaluated = _whole_rows(20, data=2, micro_steps=1, rows=3, length=8)
    pipelined = random_layout(
        21, ranks=2, micro_steps=2, rows=(1, 3), length=(2, 6), empty=0.0, gradients="sum"
    )
    return (
        PublishedBug(
            "trl-bnpo",
            f"{_TRL}/trl/trainer/grpo_trainer.py#L3129",
            "bnpo divides each micro-batch by its own token count, then by GA: a mean of "
            "per-rank, per-micro-batch token means",
            "token-mean",
            busy,
            trl_bnpo,
            trl_dapo,
        ),
        PublishedBug(
            "trl-dapo-generation-batch",
            "https://github.com/huggingface/trl/issues/5619",
            "dapo divides by the generation batch's tokens, which spans steps_per_generation=4 "
            "micro-steps while the window has 2: 0.5x with equal windows",
            "token-mean",
            busy,
            functools.partial(generation, other_windows=window, rescale=False),
            trl_dapo,
        ),
        PublishedBug(
            "trl-dapo-average-window",
            "https://github.com/huggingface/trl/pull/6024",
            "the #6024 fix divides by the average window's count (N_gen x GA / spg), not this "
            "window's: off when the generation batch's windows differ",
            "token-mean",
            busy,
            functools.partial(generation, other_windows=2 * window, rescale=True),
            trl_dapo,
        ),
        PublishedBug(
            "trl-async-grpo",
            "https://github.com/huggingface/trl/issues/7206",
            "AsyncGRPO normalizes each micro-step by its own token count and averages the "
            "micro-steps: a mean of micro-step means",
            "token-mean",
            busy,
            trl_async_grpo,
            trl_dapo,
        ),
        PublishedBug(
            "verl-legacy-actor",
            "https://github.com/verl-project/verl/issues/5625",
            "the legacy FSDP actor divides each micro-batch by its local token count and by "
            "GA, with no global count",
            "token-mean",
            busy,
            verl_legacy_actor,
            _token_mean,
        ),
        PublishedBug(
            "verl-micro-batch-fallback",
            "https://github.com/verl-project/verl/issues/7321",
            "without batch_num_tokens (dp = 1) each micro-batch is divided by its own count "
            "and the micro-batches are summed",
            "token-mean",
            single,
            verl_micro_batch_fallback,
            _token_mean,
        ),
        PublishedBug(
            "ms-swift-double-division",
            "https://github.com/modelscope/ms-swift/issues/10117",
            "the window-normalized dapo loss is divided again by GA in "
            "Trainer.training_step: g / GA",
            "token-mean",
            busy,
            ms_swift_double_division,
            trl_dapo,
        ),
        PublishedBug(
            "ms-swift-partial-window",
            "https://github.com/modelscope/ms-swift/pull/10084",
            "the last window has 2 of 4 micro-batches but the loss is divided by the "
            "configured 4: half the gradient",
            "token-mean",
            _uniform_partial_window(),
            ms_swift_configured_window,
            ms_swift_current_window,
        ),
        PublishedBug(
            "miles-masked-samples",
            "https://github.com/radixark/miles/pull/2796",
            "the token denominator sums max(n_i, 1), so every fully masked sample adds one token",
            "token-mean",
            dataclasses.replace(sparse, gradients="sum"),
            miles_clamped_samples,
            miles_active_tokens,
        ),
        PublishedBug(
            "miles-fsdp-raw-sum",
            "https://github.com/radixark/miles/pull/3231",
            "the FSDP backend backpropagates raw token sums: N / dp_size times the token mean",
            "token-mean",
            busy,
            miles_fsdp_raw_sum,
            _token_mean,
        ),
        PublishedBug(
            "nemo-rl-side-term",
            "https://github.com/NVIDIA-NeMo/RL/pull/3791",
            "the VAPO NLL side term is normalized by the micro-batch's correct tokens: "
            "(micro-batches x ranks) times too heavy",
            "token-mean",
            deep,
            nemo_rl_local_side_term,
            _token_mean,
        ),
        PublishedBug(
            "tunix-packed-rows",
            "https://github.com/google/tunix/pull/1662",
            "sequence-mean-token-mean on packed rows averages each row, as if it were one sequence",
            "seq-mean-token-mean",
            packed,
            functools.partial(_tunix, segmented=False),
            functools.partial(_tunix, segmented=True),
        ),
        PublishedBug(
            "verl-configured-sequence-count",
            f"{_VERL}/verl/trainer/ppo/core_algos.py#L1194",
            "seq-mean-token-mean divides by the configured batch size, which counts the "
            "fully masked sequences the numerator drops",
            "seq-mean-token-mean",
            sparse,
            functools.partial(verl_seq_mean, configured=True),
            functools.partial(verl_seq_mean, configured=False),
        ),
        PublishedBug(
            "trl-grpo-masked-rows",
            f"{_TRL}/trl/trainer/grpo_trainer.py#L3124",
            "grpo averages over every row of a micro-batch, also the rows that "
            "mask_truncated_completions masks out",
            "seq-mean-token-mean",
            trl_rows,
            trl_grpo,
            functools.partial(verl_seq_mean, configured=False),
        ),
        PublishedBug(
            "verl-default-horizon",
            "https://github.com/verl-project/verl/pull/4360",
            "seq-mean-token-sum-norm divides by the micro-batch's padded width instead of a "
            "constant L",
            "seq-mean-token-sum-norm",
            widths,
            functools.partial(verl_sum_norm, horizon=None),
            functools.partial(verl_sum_norm, horizon=8.0),
            max_length=8.0,
            count_empty=True,
        ),
        PublishedBug(
            "unsloth-empty-batch",
            "https://github.com/unslothai/unsloth-zoo/pull/1286",
            "the dapo normalizer is not floored: a fully masked batch gives 0/0 = NaN",
            "token-mean",
            _empty_window(),
            unsloth_unfloored_dapo,
            trl_dapo,
        ),
        PublishedBug(
            "verl-dapo-prompt-mean",
            "https://github.com/verl-project/verl/issues/2776",
            "DAPO's token-level loss averages each prompt's tokens, then the prompts; the "
            "recipe's token-mean averages the whole batch",
            "group-token-mean",
            grouped,
            _token_mean,
            group_token_mean,
        ),
        PublishedBug(
            "megatron-global-aux-loss",
            "https://github.com/NVIDIA/Megatron-LM/issues/3672",
            "the global-batch aux loss averages over the global micro-batch's tokens and the DP "
            "gradient mean divides it again: 1/dp too weak",
            "token-mean",
            _routed_layout(),
            functools.partial(megatron_global_aux_loss, compensated=False),
            functools.partial(megatron_global_aux_loss, compensated=True),
            coefficient=_AUX,
        ),
        PublishedBug(
            "megatron-per-token-aux-tp",
            "https://github.com/NVIDIA/Megatron-LM/pull/5047",
            "per-token-loss mode scales the aux loss by the router's local tokens, T/tp under "
            "sequence parallelism (simulated tp=2), before dividing by all tokens: 1/tp",
            "token-mean",
            _routed_layout("sum"),
            functools.partial(megatron_per_token_aux, compensated=False),
            functools.partial(megatron_per_token_aux, compensated=True),
            coefficient=_AUX,
        ),
        PublishedBug(
            "megatron-mtp-cp",
            "https://github.com/NVIDIA/Megatron-LM/pull/3959",
            "the MTP loss scale divides by num_microbatches, inflated by cp_size under context "
            "parallelism (simulated cp=2): 1/cp",
            "token-mean",
            busy,
            functools.partial(megatron_mtp_under_cp, compensated=False),
            functools.partial(megatron_mtp_under_cp, compensated=True),
            coefficient=_MTP,
        ),
        PublishedBug(
            "automodel-aux-never-flows",
            "https://github.com/NVIDIA-NeMo/Automodel/pull/1412",
            "MoEAuxLossAutoScaler.apply's result is discarded: no aux-loss gradient reaches "
            "the router",
            "token-mean",
            _routed_layout(),
            functools.partial(automodel_aux_detached, attached=False),
            functools.partial(automodel_aux_detached, attached=True),
            coefficient=_AUX,
        ),
        PublishedBug(
            "automodel-aux-backward-scale",
            "https://github.com/NVIDIA-NeMo/Automodel/issues/1408",
            "main_loss_backward_scale is never set, so FSDP's gradient mean divides the aux "
            "gradient by dp_group_size: the coefficient shrinks with parallelism",
            "token-mean",
            _routed_layout(),
            functools.partial(automodel_aux_backward_scale, scaled=False),
            functools.partial(automodel_aux_backward_scale, scaled=True),
            coefficient=_AUX,
        ),
        PublishedBug(
            "verl-cp-undercount",
            "https://github.com/verl-project/verl/issues/5983",
            "with CP the token count is summed over the pure DP group and dp_size leaves CP "
            "out: each CP shard is divided by its own shards' count (N / CP on balanced "
            "shards), a mean of per-shard token means",
            "token-mean",
            _split(prompts, 2),
            verl_cp_dp_group_count,
            dp_cp_token_mean,
        ),
        PublishedBug(
            "prime-rl-cp-overcount",
            "https://github.com/PrimeIntellect-ai/prime-rl/pull/2562",
            "every CP rank counts the whole micro-batch it loaded and the counts are summed "
            "over dp x cp: N counted CP times, the gradient 1 / CP too small",
            "token-mean",
            _split(prompts, 2, gradients="sum"),
            prime_rl_whole_micro_batch_count,
            shard_token_count,
        ),
        PublishedBug(
            "megatron-cp-local-count",
            "https://github.com/NVIDIA/Megatron-LM/pull/7513",
            "each CP shard's loss is divided by the shard's own valid tokens, then averaged "
            "over DP x CP: with one valid token, CP=2 halves the gradient",
            "token-mean",
            _one_valid_token(),
            megatron_cp_local_count,
            megatron_cp_group_count,
        ),
        PublishedBug(
            "transformers-cp-eval-loss",
            "https://github.com/huggingface/transformers/pull/48167",
            "evaluation skipped the CP context: every CP rank evaluated the whole micro-batch "
            "with the training path's scaling, so eval_loss is cp_size times too large",
            "token-mean",
            _copied(evaluated, 2),
            functools.partial(transformers_eval_without_cp, cp_size=2),
            transformers_eval_with_cp,
            fixed_layout=_split(evaluated, 2),
        ),
        PublishedBug(
            "torchtitan-pp-after-step",
            "https://github.com/pytorch/torchtitan/issues/2972",
            "the pipeline schedule backwards raw loss sums; the division by "
            "global_valid_tokens comes after schedule.step(): gradients N times too large",
            "token-mean",
            pipelined,
            torchtitan_pp_sum,
            torchtitan_pp_normalized,
        ),
    )
