"""Adapters for the training engines people run: each makes losskit's exact loss the easy path.

Import the adapter of your engine explicitly; ``import losskit`` and ``import losskit.engines``
import no engine (each adapter imports its engine, and torch, at its top):

* :mod:`losskit.engines.accelerate`: ``windows(accelerator, loader, model, ...)`` for a
  loop over a prepared data loader (``pip install losskit[accelerate]``).
* :mod:`losskit.engines.lightning`: ``windows(trainer, dataset, ...)`` for a
  ``LightningModule``'s ``train_dataloader`` (``losskit[lightning]``).
* :mod:`losskit.engines.transformers`: ``Trainer`` (or ``ExactLossMixin``) for the
  transformers Trainer and its ``compute_loss_func`` (``losskit[transformers]``).
* :mod:`losskit.engines.deepspeed`: ``windows(engine, loader, ...)`` for a DeepSpeed
  engine, ZeRO stages 0 to 3 (``losskit[deepspeed]``).
* :mod:`losskit.engines.fsdp`: ``windows(model, loader, ...)`` for PyTorch's FSDP2
  (``fully_shard``), and ``sum_gradients(model)``.

Each hands out :class:`~losskit.engines.window.Window` objects: one optimizer step's
micro-batches on this rank, fetched ahead, with the step's global loss denominator and
example count attached; ``window.average(losses, mask)`` and ``window.penalty(model)``
give each micro-batch's exact share. See ``docs/engines/`` for a page per engine.
"""

__all__: list[str] = []  # the adapters are modules of their own: import them explicitly
