"""Framework names for the aggregation modes: ``mode="verl:seq-mean-token-mean"`` and friends.

Each alias records the framework's formula as its source publishes it, the canonical mode
whose coefficients it means (with the options that make them equal), and, where the
published formula is not the objective its name claims (a local mean, a mean of
micro-batch means), a line saying why and the ``legacy:`` form that reproduces the old
numbers (:mod:`losskit.aggregation._legacy`).

Notation: l per-token loss, m loss mask, n_i valid tokens of sequence i, n_k of micro-batch
k, N of the whole step; R data-parallel replicas, GA (k) micro-steps of the window; "DDP
mean" is the engine's average of the replicas' gradients.

Sources were read at these commits (file and function named in each entry):

================== ============================================ ==========
repository         commit                                       date
================== ============================================ ==========
verl-project/verl  1dda039b9c6311889a9c9a26040677e1254814f9     2026-08-22
huggingface/trl    f2cd57710ae345ea6428ae95363267fcf38a3dc8     2026-07-24
OpenRLHF/OpenRLHF  3c3be6234e0cb353e76bb8019947db9dfe99fca7     2026-08-13
NVIDIA-NeMo/RL     7ea279abfbeb698b092856d0dab61e7cf39bc909     2026-08-22
NovaSky-AI/SkyRL   a9564572eb8e91076be43c1bd5e4615e3de17265     2026-08-21
google/tunix       c7d8950f12a9c55a976bf2e1a0d8b447d71c20b3     2026-08-21
pytorch/rl         ae9719f17b1517af5c2523a36c4616f003ee55cf     2026-08-22
================== ============================================ ==========

Example:
    >>> from losskit.aggregation._aliases import resolve
    >>> resolve("verl:seq-mean-token-mean")
    ('seq-mean-token-mean', {'count_empty': True})
    >>> resolve("prompt_mean")
    Traceback (most recent call last):
    ...
    ValueError: Invalid `mode`: 'prompt_mean' means different things in different frameworks...
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

from losskit._errors import describe
from losskit.aggregation._modes import MODES

__all__ = ["ALIASES", "CANONICAL_MODES", "FRAMEWORKS", "Alias", "resolve"]

CANONICAL_MODES = MODES

FRAMEWORKS = ("verl", "trl", "openrlhf", "nemo-rl", "skyrl", "tunix", "torchrl")

LEGACY_PREFIX = "legacy:"


@dataclasses.dataclass(frozen=True)
class Alias:
    """One framework's name for an aggregation.

    Attributes:
        name: ``"<framework>:<native name>"``.
        mode: the canonical mode the name means.
        options: keyword options that make the canonical mode equal the framework's
            objective (``{"count_empty": True}`` for a configured sequence count).
        requires: options the caller must give (``("max_length",)``).
        published: the formula as the framework's source computes it, per micro-step.
        source: repository, commit, file and function.
        differs: empty if the published formula is the objective the name claims; else why
            it is not, and when the alias still equals it.
        legacy: the ``legacy:`` form that reproduces the published numbers, if one can be
            computed from one window's data.
    """

    name: str
    mode: str
    published: str
    source: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    requires: tuple[str, ...] = ()
    differs: str = ""
    legacy: str | None = None

    @property
    def framework(self) -> str:
        return self.name.partition(":")[0]

    @property
    def native(self) -> str:
        return self.name.partition(":")[2]


_VERL = "verl-project/verl@1dda039"
_TRL = "huggingface/trl@f2cd577"
_OPENRLHF = "OpenRLHF/OpenRLHF@3c3be62"
_NEMO = "NVIDIA-NeMo/RL@7ea279a"
_SKYRL = "NovaSky-AI/SkyRL@a956457"
_TUNIX = "google/tunix@c7d8950"
_TORCHRL = "pytorch/rl@ae9719f"

_VERL_AGG = f"{_VERL} verl/trainer/ppo/core_algos.py agg_loss (l. 1140)"
_VERL_COUNT = (
    "global_batch_size = ppo_mini_batch_size x rollout.n, the configured count "
    "(verl/trainer/ppo/ray_trainer.py l. 1353)"
)
_VERL_EMPTY = (
    "the numerator drops fully masked sequences, the configured denominator counts them; "
    "equal to count_empty=True when the mini-batch holds its configured number of sequences"
)
_TRL_LOSS = f"{_TRL} trl/trainer/grpo_trainer.py GRPOTrainer._compute_loss (l. 3124-3150)"
_TRL_ROWS = (
    "a mean over each micro-batch's rows, averaged over micro-steps and ranks: equal to "
    "count_empty=True when every micro-batch holds the same number of rows "
    "(per_device_train_batch_size), fully masked rows (mask_truncated_completions) included"
)
_TRL_DAPO = (
    "N_gen spans the generation batch (steps_per_generation micro-steps), not the optimizer "
    "window: exact only when steps_per_generation == gradient_accumulation_steps "
    "(issue #5619). PR #6024 (merged after this commit) multiplies the normalizer by "
    "GA / steps_per_generation, the average window's count: exact only when every window of "
    "a generation batch holds the same number of tokens. No legacy form: the numbers need "
    "the generation batch, beyond one window"
)
_SKYRL_FN = (
    f"{_SKYRL} skyrl/backends/skyrl_train/utils/ppo_utils.py "
    "apply_loss_reduction_to_advantages_minibatch (l. 1152)"
)
_SKYRL_NOTE = "advantages are scaled by the coefficient centrally, then the loss is summed"
_TUNIX_FN = (
    f"{_TUNIX} tunix/rl/common.py aggregate_loss (l. 763) with "
    "tunix/sft/peft_trainer.py GradientAccumulator (sum of gradients / sum of denominators)"
)
_TORCHRL_FN = f"{_TORCHRL} torchrl/objectives/llm/grpo.py GRPOLoss._aggregate_loss_value (l. 776)"
_TORCHRL_CALL = (
    "computed over one loss call: exact across ranks and micro-batches only if you weight "
    "the calls yourself"
)
_NEMO_FN = (
    f"{_NEMO} nemo_rl/algorithms/loss/loss_functions.py ClippedPGLossFn (l. 678-693); counts "
    "in nemo_rl/models/automodel/data.py (one all-reduce of [valid seqs, valid toks] over DP)"
)
_OPENRLHF_FN = (
    f"{_OPENRLHF} openrlhf/models/loss.py aggregate_loss with "
    "openrlhf/utils/loss_utils.py iter_grad_accum_global_norm (window counts / gas)"
)


def _entries() -> list[Alias]:
    seq_empty = {"count_empty": True}
    norm = ("max_length",)
    return [
        # ------------------------------------------------------------------ verl
        Alias(
            "verl:token-mean",
            "token-mean",
            "sum m*l / batch_num_tokens * dp_size; batch_num_tokens = the mini-batch's "
            "mask sum all-reduced over DP (verl/workers/engine/*/transformer_impl.py "
            "forward_backward_batch)",
            _VERL_AGG,
            differs="the legacy FSDP actor (removed in #6067) divided each micro-batch by its "
            "own count times 1/GA, a mean of micro-batch means (issue #5625)",
            legacy="legacy:verl:token-mean",
        ),
        Alias("verl:token-sum", "token-sum", "sum m*l * dp_size (PR #7197)", _VERL_AGG),
        Alias(
            "verl:seq-mean-token-sum",
            "seq-mean-token-sum",
            f"sum_(i: n_i>0) sum_t m*l / global_batch_size * dp_size; {_VERL_COUNT}",
            _VERL_AGG,
            options=seq_empty,
            differs=_VERL_EMPTY,
        ),
        Alias(
            "verl:seq-mean-token-mean",
            "seq-mean-token-mean",
            "sum_(i: n_i>0) (sum_t m*l / (n_i + 1e-8)) / global_batch_size * dp_size; "
            + _VERL_COUNT,
            _VERL_AGG,
            options=seq_empty,
            differs=_VERL_EMPTY,
        ),
        Alias(
            "verl:seq-mean-token-sum-norm",
            "seq-mean-token-sum-norm",
            "sum_(i: n_i>0) sum_t m*l / global_batch_size * dp_size / loss_scale_factor; "
            "loss_scale_factor defaults to loss_mask.shape[-1]",
            _VERL_AGG,
            options=seq_empty,
            requires=norm,
            differs="the default loss_scale_factor is the micro-batch's padded width, which "
            "varies between micro-batches (PR #4360 made it configurable): give max_length = "
            f"loss_scale_factor. Also: {_VERL_EMPTY}",
            legacy="legacy:verl:seq-mean-token-sum-norm",
        ),
        # ------------------------------------------------------------------ TRL
        Alias(
            "trl:grpo",
            "seq-mean-token-mean",
            "mean_rows(sum_t m*l / max(n_i, 1)) / GA per micro-batch; DDP mean",
            _TRL_LOSS,
            options=seq_empty,
            differs=_TRL_ROWS,
            legacy="legacy:trl:grpo",
        ),
        Alias(
            "trl:sapo",
            "seq-mean-token-mean",
            "as grpo (the soft-gated per-token loss differs, not the aggregation)",
            _TRL_LOSS,
            options=seq_empty,
            differs=_TRL_ROWS,
            legacy="legacy:trl:grpo",
        ),
        Alias(
            "trl:bnpo",
            "token-mean",
            "sum m*l / max(sum m, 1) / GA per micro-batch; DDP mean",
            _TRL_LOSS,
            differs="the count is the micro-batch's own: a mean of per-micro-batch, per-rank "
            "token means (the docstring says results 'may slightly vary depending on the "
            "local batch size')",
            legacy="legacy:trl:bnpo",
        ),
        Alias(
            "trl:dr_grpo",
            "seq-mean-token-sum-norm",
            "sum m*l / (B_local * max_completion_length) / GA per micro-batch; DDP mean",
            _TRL_LOSS,
            options=seq_empty,
            requires=norm,
            differs="B_local is the micro-batch's row count: equal to count_empty=True with "
            "max_length = max_completion_length when every micro-batch holds the same "
            "number of rows",
            legacy="legacy:trl:dr_grpo",
        ),
        *(
            Alias(
                f"trl:{name}",
                "token-mean",
                "sum m*l / (max(N_gen, 1) / num_processes); N_gen = gather(mask.sum()).sum() "
                "over the generation batch; no division by GA",
                _TRL_LOSS,
                differs=_TRL_DAPO,
            )
            for name in ("dapo", "cispo", "vespo")
        ),
        Alias(
            "trl:luspo",
            "seq-mean-token-sum",
            "mean_rows(l_i * n_i) / GA with l_i the sequence-level loss "
            "(importance_sampling_level='sequence'); DDP mean",
            _TRL_LOSS,
            options=seq_empty,
            differs="equal to seq-mean-token-sum with count_empty=True when each sequence's "
            "per-token losses all equal its sequence loss l_i and every micro-batch holds "
            "the same number of rows",
        ),
        Alias(
            "trl:async-grpo",
            "token-mean",
            "sum m*l / max(N_step / world_size, 1) / GA, N_step = the micro-step's tokens "
            "over all ranks; DDP mean",
            f"{_TRL} trl/experimental/async_grpo/async_grpo_trainer.py "
            "AsyncGRPOTrainer.compute_loss (l. 911-954)",
            differs="each micro-step is normalized by its own token count, then averaged "
            "over micro-steps: a mean of micro-step means (issue #7206: 1.25 instead of 0.65)",
            legacy="legacy:trl:async-grpo",
        ),
        # ------------------------------------------------------------------ OpenRLHF
        Alias(
            "openrlhf:token_level_loss=true",
            "token-mean",
            "sum m*l / (N_window / gas) * dp_size, N_window over the optimizer window and DP",
            _OPENRLHF_FN,
        ),
        Alias(
            "openrlhf:token_level_loss=false",
            "seq-mean-token-mean",
            "sum_(i: n_i>0) (sum_t m*l / (n_i + 1e-8)) / (S_window / gas) * dp_size, "
            "S_window = non-empty sequences of the window over DP",
            _OPENRLHF_FN,
        ),
        Alias(
            "openrlhf:gspo",
            "seq-mean-token-mean",
            "policy_loss_type='gspo' forces token_level_loss=False",
            _OPENRLHF_FN,
        ),
        # ------------------------------------------------------------------ NeMo-RL
        Alias(
            "nemo-rl:token_level_loss=true",
            "token-mean",
            "sum m*l / global_valid_toks (masked_mean with global_normalization_factor); the "
            "backward multiplies by dp_size * cp_size",
            _NEMO_FN,
        ),
        Alias(
            "nemo-rl:token_level_loss=false",
            "seq-mean-token-mean",
            "sum_i sample_mask_i * (sum_t m*l / n_i) / global_valid_seqs, "
            "global_valid_seqs = sum of sample_mask over DP",
            _NEMO_FN,
            differs="global_valid_seqs counts samples with sample_mask = 1 even when their "
            "token mask is empty; losskit counts non-empty sequences (equal when every "
            "kept sample has a valid token)",
        ),
        # ------------------------------------------------------------------ SkyRL
        Alias(
            "skyrl:token_mean",
            "token-mean",
            f"A / max(N, 1) over the mini-batch; {_SKYRL_NOTE}",
            _SKYRL_FN,
        ),
        Alias(
            "skyrl:token_mean_legacy",
            "token-mean",
            "A / max(n_k, 1) / num_micro_batches for each micro-batch k of the mini-batch; "
            + _SKYRL_NOTE,
            _SKYRL_FN,
            differs="SkyRL's own legacy mode: a mean of micro-batch token means, not the "
            "token-mean it stands in for",
            legacy="legacy:skyrl:token_mean_legacy",
        ),
        Alias(
            "skyrl:sequence_mean",
            "seq-mean-token-mean",
            f"A / (batch_size * max(n_i, 1)), batch_size = every sequence; {_SKYRL_NOTE}",
            _SKYRL_FN,
            options=seq_empty,
        ),
        Alias(
            "skyrl:seq_mean_token_sum_norm",
            "seq-mean-token-sum-norm",
            f"A / (batch_size * max_seq_len); {_SKYRL_NOTE}",
            _SKYRL_FN,
            options=seq_empty,
            requires=norm,
        ),
        Alias(
            "skyrl:prompt_mean",
            "group-token-mean",
            "A / (num_prompts * max(tokens_in_prompt, 1)), num_prompts = every prompt of the "
            f"mini-batch; {_SKYRL_NOTE}",
            _SKYRL_FN,
            options=seq_empty,
        ),
        # ------------------------------------------------------------------ tunix
        Alias(
            "tunix:token-mean",
            "token-mean",
            "sum m*l, denominator sum m; accumulated sum of gradients / sum of denominators",
            _TUNIX_FN,
        ),
        Alias(
            "tunix:sequence-mean-token-mean",
            "seq-mean-token-mean",
            "sum_i sum_t m*l / max(n_i, 1), denominator = non-empty rows (active segments "
            "when packed)",
            _TUNIX_FN,
        ),
        Alias(
            "tunix:sequence-mean-token-scale",
            "seq-mean-token-sum-norm",
            "sum_i sum_t m*l / norm, denominator = non-empty rows; norm defaults to the row "
            "width (refused under packing)",
            _TUNIX_FN,
            requires=norm,
            differs="the default norm is the padded row width, not a constant: give "
            "max_length = norm",
        ),
        Alias(
            "tunix:seq-mean-token-sum",
            "seq-mean-token-sum",
            "sum_i sum_t m*l, denominator = non-empty rows (active segments when packed)",
            _TUNIX_FN,
        ),
        Alias(
            "tunix:sequence-mean-token-sum-norm",
            "seq-mean-token-sum",
            "sum m*l, denominator = norm, default the micro-batch's row count",
            _TUNIX_FN,
            options=seq_empty,
            differs="despite the name this is not Dr. GRPO's S*L: with the default norm "
            "the step divides by its row count (count_empty=True; under packing the default "
            "is the active segment count, count_empty=False); an explicit norm C divides by "
            "GA*C",
        ),
        # ------------------------------------------------------------------ torchrl
        Alias(
            "torchrl:token_mean",
            "token-mean",
            "masked mean over the call's tokens",
            _TORCHRL_FN,
            differs=_TORCHRL_CALL,
        ),
        Alias(
            "torchrl:prompt_mean",
            "seq-mean-token-mean",
            "mean over the call's samples of sum_t m*l / max(n_i, 1) (PR #3209)",
            _TORCHRL_FN,
            options=seq_empty,
            differs="named 'prompt' but a per-sample mean; " + _TORCHRL_CALL,
        ),
    ]


ALIASES: Mapping[str, Alias] = types.MappingProxyType({a.name: a for a in _entries()})


def resolve(name: str) -> tuple[str, dict[str, Any]]:
    """The canonical mode and options a mode name means.

    Canonical names map to themselves; ``"<framework>:<name>"`` aliases to their canonical
    mode and the options that make it equal the framework's objective. The options do not
    include ``requires`` (``max_length``): the caller must give those.

    Args:
        name: a canonical mode or a framework alias.

    Returns:
        ``(canonical mode, options)``.

    Raises:
        ValueError: a framework name without its prefix (listing the prefixed choices, and
            saying so when they mean different things), an unknown framework or name, or a
            ``legacy:`` form (those are functions, see ``losskit.aggregation._legacy``).

    Example:
        >>> resolve("skyrl:prompt_mean")
        ('group-token-mean', {'count_empty': True})
        >>> resolve("token-mean")
        ('token-mean', {})
    """
    if not isinstance(name, str):
        raise ValueError(_message(name, "a mode name (a string)"))
    if name in CANONICAL_MODES:
        return name, {}
    alias = ALIASES.get(name)
    if alias is not None:
        return alias.mode, dict(alias.options)
    if name.startswith(LEGACY_PREFIX):
        raise ValueError(
            _message(
                name,
                "a mode, not a legacy form",
                hint="Legacy forms are per-micro-batch functions that reproduce a "
                "framework's old numbers: look them up with "
                "losskit.aggregation._legacy.legacy_form(name).",
            )
        )
    framework, colon, _ = name.partition(":")
    if colon:
        if framework not in FRAMEWORKS:
            raise ValueError(
                _message(name, f"'<framework>:<name>' with a framework in {FRAMEWORKS}")
            )
        names = sorted(a.name for a in ALIASES.values() if a.framework == framework)
        raise ValueError(_message(name, f"one of {framework}'s names: {', '.join(names)}"))
    matches = [a for a in ALIASES.values() if _same(a.native, name)]
    if matches:
        choices = ", ".join(f"{a.name!r} ({_meaning(a)})" for a in matches)
        if len({(a.mode, tuple(sorted(a.options.items()))) for a in matches}) > 1:
            raise ValueError(
                f"Invalid `mode`: {name!r} means different things in different frameworks; "
                f"name the framework: {choices}."
            )
        raise ValueError(
            f"Invalid `mode`: {name!r} is a framework's name; give it with its framework "
            f"prefix: {choices}, or the canonical {matches[0].mode!r}."
        )
    raise ValueError(
        _message(
            name,
            f"a canonical mode {CANONICAL_MODES} or a framework alias "
            f"'<framework>:<name>' with a framework in {FRAMEWORKS}",
        )
    )


def _same(native: str, name: str) -> bool:
    def key(text: str) -> str:
        return text.lower().replace("-", "_")

    return key(native) == key(name)


def _meaning(alias: Alias) -> str:
    options = "".join(f", {k}={v}" for k, v in sorted(alias.options.items()))
    return f"{alias.mode}{options}"


def _message(name: object, expected: str, *, hint: str = "") -> str:
    text = f"Invalid `mode`: expected {expected}, received {describe(name)}."
    return f"{text} {hint}" if hint else text
