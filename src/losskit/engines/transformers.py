"""transformers: the exact loss and layer penalties in the ``Trainer``
(``docs/engines/transformers.md``).

The Trainer fetches each accumulation window ahead and counts its labels over every
process (``num_items_in_batch``), but a ``compute_loss_func`` sees neither the window's size
nor its example count, and the Trainer rescales what it returns (times the process count,
no division by the accumulation steps). :class:`ExactLossMixin` (and :class:`Trainer`, the
mixin on ``transformers.Trainer``) computes the training loss itself: your
``compute_loss_func(outputs, labels, num_items_in_batch)`` inside the engine's
:func:`losskit.distribute.torch_context`, plus the model's :mod:`losskit.torch` penalties
(activity penalties over the window's examples, weight penalties through
``scale_regularization_loss``), and nothing rescales it.

Example:
    >>> import tempfile, transformers, losskit.engines.transformers
    >>> config = transformers.GPT2Config(vocab_size=8, n_positions=4, n_embd=4, n_layer=1, n_head=1)
    >>> with tempfile.TemporaryDirectory() as output_dir:
    ...     losskit.engines.transformers.Trainer(
    ...         model=transformers.GPT2LMHeadModel(config),
    ...         args=transformers.TrainingArguments(output_dir, use_cpu=True, report_to="none"),
    ...     )
    Traceback (most recent call last):
    ...
    ValueError: Invalid `compute_loss_func`: expected a function (outputs, labels, ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import transformers
from accelerate.utils import DistributedType

from losskit._errors import invalid
from losskit.engines._window import Engine, Window, window_of
from losskit.reduction import Reduction

__all__ = ["ExactLossMixin", "Trainer"]

_SUPPORTED = (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)


class ExactLossMixin:
    """Put it before ``transformers.Trainer`` in a subclass's bases (or use :class:`Trainer`).

    Training losses are ``compute_loss_func(outputs, labels, num_items_in_batch)``,
    computed inside the engine's context (DDP's mean over processes, micro-batches added
    up), plus ``window.penalty(model)``; ``num_items_in_batch`` is the window's count over
    every process of ``token_weights(batch)`` (non-zero entries), or without
    ``token_weights`` the Trainer's own count (its labels other than -100, over every
    process; shifted by one only for the causal-LM losses transformers recognizes). In that
    function, divide the summed token losses by it: ``losskit.compute_average_loss(
    per_token, mask, global_batch_size=num_items_in_batch)`` with the same mask.

    Args:
        *args: ``transformers.Trainer``'s arguments (``compute_loss_func`` is required).
        token_weights: a function of a (collated) batch giving the mask (or weights) of
            the token losses your ``compute_loss_func`` computes, e.g. ``lambda batch:
            batch["labels"][:, 1:] != -100`` for next-token losses.
        **kwargs: ``transformers.Trainer``'s keyword arguments.

    Raises:
        ValueError: at construction, without ``compute_loss_func``, with
            ``average_tokens_across_devices=False`` and no ``token_weights`` (the count
            would be this process's), with several GPUs in one process
            (``DataParallel``), or on a distributed type other than DDP or one process.
        TypeError: ``token_weights`` is not callable.
    """

    _losskit_window: Window | None

    def __init__(
        self, *args: Any, token_weights: Callable[[Any], Any] | None = None, **kwargs: Any
    ) -> None:
        if token_weights is not None and not callable(token_weights):
            raise TypeError(
                invalid("token_weights", "a function of a batch, or None", token_weights)
            )
        super().__init__(*args, **kwargs)
        self._token_weights = token_weights
        trainer: Any = self
        if trainer.compute_loss_func is None:
            raise ValueError(
                invalid(
                    "compute_loss_func",
                    "a function (outputs, labels, num_items_in_batch) -> loss",
                    None,
                    hint="e.g. losskit.compute_average_loss(per_token, labels != -100, "
                    "global_batch_size=num_items_in_batch).",
                )
            )
        training = trainer.args
        if token_weights is None and not training.average_tokens_across_devices:
            raise ValueError(
                invalid(
                    "args.average_tokens_across_devices",
                    "True (num_items_in_batch counted over every process)",
                    False,
                )
            )
        kind = trainer.accelerator.distributed_type
        if training.n_gpu > 1 or kind not in _SUPPORTED:
            raise ValueError(
                invalid(
                    "args",
                    "DDP or one process, one device each",
                    f"distributed_type={kind}, n_gpu={training.n_gpu}",
                    hint="Other engines rescale the loss differently and are untested.",
                )
            )
        trainer.loss_is_scaled_for_ga = True  # the Trainer must not divide by the steps
        self._losskit_window = None

    def get_batch_samples(
        self, epoch_iterator: Iterator[Any], num_batches: int, device: torch.device
    ) -> tuple[list[Any], Any]:
        """The Trainer's window, plus its example count over every process (one all-reduce)."""
        trainer: Any = self
        batches, items = super().get_batch_samples(  # type: ignore[misc]
            epoch_iterator, num_batches, device
        )
        if batches and items is not None:
            engine = Engine(
                gradients="mean",
                accumulation="sum",  # neither the Trainer nor accelerate divides by K here
                accumulation_steps=trainer.args.gradient_accumulation_steps,
                device=device,
            )
            self._losskit_window = window_of(
                batches,
                engine,
                weights=self._token_weights,
                examples=lambda batch: batch["labels"].shape[0],
                reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                denominator=items if self._token_weights is None else None,
            )
        return batches, items

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """Training: the exact loss (see the class); otherwise the Trainer's own."""
        trainer: Any = self
        window = self._losskit_window
        if not model.training or window is None or num_items_in_batch is None:
            return super().compute_loss(  # type: ignore[misc]
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        with window.context():
            loss = trainer.compute_loss_func(outputs, labels, num_items_in_batch=window.denominator)
        loss = loss + window.penalty(model)
        return (loss, outputs) if return_outputs else loss


class Trainer(ExactLossMixin, transformers.Trainer):
    """``transformers.Trainer`` with :class:`ExactLossMixin`: pass ``compute_loss_func``."""
