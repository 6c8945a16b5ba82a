"""Rank code of the transformers tests: the docs' example, and the Trainer with the model's
own loss plus Keras's local penalties."""

from __future__ import annotations

import tempfile
from typing import Any

from tests.engines import _examples


def runs(rank: int, world: int, windows: list[int]) -> dict[str, Any]:
    found = _examples.train_and_naive("transformers", windows, naive)
    found["errors"] = construction_errors(_examples.load("transformers"))
    return found


def _arguments(output_dir: str, steps: int, **changes: Any) -> Any:
    import transformers

    options = {
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": steps,
        "num_train_epochs": 1,
        "optim": "sgd",
        "learning_rate": 0.1,
        "lr_scheduler_type": "constant",
        "max_grad_norm": 0.0,
        "train_sampling_strategy": "sequential",
        "use_cpu": True,
        "ddp_backend": "gloo",
        "report_to": "none",
        "save_strategy": "no",
        "logging_strategy": "no",
        "disable_tqdm": True,
    }
    return transformers.TrainingArguments(output_dir, **{**options, **changes})


def naive(example: dict[str, Any], steps: int) -> list[Any]:
    import transformers

    import losskit.torch

    class Naive(transformers.Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
            return loss + losskit.torch.penalty(model)

    net = example["model"]()
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = Naive(
            model=net, args=_arguments(output_dir, steps), train_dataset=example["dataset"]()
        )
        trainer.train()
    return [p.detach().numpy().copy() for p in net.parameters()]


def construction_errors(example: dict[str, Any]) -> list[str]:
    """What ``losskit.engines.transformers.Trainer`` says to settings it cannot make exact."""
    import losskit.engines.transformers

    found = []
    for changes, loss in (({}, None), ({"average_tokens_across_devices": False}, "given")):
        with tempfile.TemporaryDirectory() as output_dir:
            try:
                losskit.engines.transformers.Trainer(
                    model=example["model"](),
                    args=_arguments(output_dir, 2, **changes),
                    compute_loss_func=example["token_loss"] if loss else None,
                )
            except ValueError as error:
                found.append(str(error))
    return found
