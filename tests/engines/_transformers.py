"""Rank code of the transformers tests: the docs' example, and the Trainer with the model's
own loss plus Keras's local penalties."""

from __future__ import annotations

import tempfile
from typing import Any

from tests.engines import _examples


def runs(rank: int, world: int, windows: list[int]) -> dict[str, Any]:
    found = _examples.train_and_naive("transformers", windows, naive)
    example = _examples.load("transformers")
    for steps in windows:
        found[f"plain K={steps}"] = plain(example, steps, row="sum")
        found[f"plain, accelerate row K={steps}"] = plain(example, steps, row="accelerate")
    found["errors"] = construction_errors(example)
    return found


def plain(example: dict[str, Any], steps: int, *, row: str) -> list[Any]:
    """The plain ``transformers.Trainer`` with the example's ``compute_loss_func`` (no
    penalties: it cannot hold them exactly), in ``torch_context(gradients="sum")`` as the
    contract table's row for it says, or in the context of its accelerate row
    (``accumulation="mean"``, what a user of the Trainer's accelerate back end would
    pick). The first label of every row is -100, so that the Trainer's count of labels (it
    does not shift them for a model it does not recognize) is the count of next-token
    targets."""
    import transformers

    from losskit.distribute import torch_context

    rows = example["dataset"]()
    for example_row in rows:
        example_row["labels"] = example_row["labels"].clone()
        example_row["labels"][0] = -100

    if row == "sum":
        context = {"gradients": "sum"}
    else:
        context = {"accumulation_steps": steps, "accumulation": "mean"}

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any) -> Any:
        with torch_context(**context):
            return example["token_loss"](outputs, labels, num_items_in_batch)

    net = example["model"]()
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = transformers.Trainer(
            model=net,
            args=_arguments(output_dir, steps),
            train_dataset=rows,
            compute_loss_func=loss,
        )
        trainer.train()
    return [p.detach().numpy().copy() for p in net.parameters()]


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
