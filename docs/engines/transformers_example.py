"""The transformers Trainer with the exact loss and Keras-style layer penalties.

Run it on 2 CPU processes:  torchrun --nproc-per-node 2 transformers_example.py
Every rank prints the same parameter norms: those of one process stepping on each window's
whole global batch (the last window is partial). No download: the model is built from a config.
"""

import tempfile

import torch
import transformers

import losskit
import losskit.engines.transformers
import losskit.torch
from losskit.regularizers import L1, L2


def dataset(n: int = 20, seed: int = 5) -> list[dict[str, torch.Tensor]]:
    """Token sequences of 6; the labels of the padding (a random tail) are -100."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for length in torch.randint(2, 7, (n,), generator=g).tolist():
        ids = torch.randint(0, 13, (6,), generator=g)
        rows.append({"input_ids": ids, "labels": torch.where(torch.arange(6) < length, ids, -100)})
    return rows


def model() -> transformers.GPT2LMHeadModel:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=13, n_positions=8, n_embd=8, n_layer=1, n_head=2,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="eager",
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    net = transformers.GPT2LMHeadModel(config).double()
    losskit.torch.regularize(net, kernel=L2(0.05), include="transformer.h.0.mlp.*")
    losskit.torch.regularize(net, activity=L1(0.1), include="transformer.h.0.mlp.c_fc")
    return net


def token_loss(outputs, labels, num_items_in_batch):
    """Next-token cross-entropy summed over the real tokens, over the window's token count."""
    logits, targets = outputs.logits[:, :-1], labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), targets.clamp(min=0), reduction="none"
    )
    return losskit.compute_average_loss(
        per_token, targets != -100, global_batch_size=num_items_in_batch
    )


def train(accumulation_steps: int = 3) -> list[torch.Tensor]:
    net = model()
    with tempfile.TemporaryDirectory() as output_dir:
        args = transformers.TrainingArguments(
            output_dir,
            per_device_train_batch_size=2,  # 20 examples: 5 batches a process, none repeated
            gradient_accumulation_steps=accumulation_steps,
            num_train_epochs=1,
            optim="sgd",
            learning_rate=0.1,
            lr_scheduler_type="constant",
            max_grad_norm=0.0,  # no clipping: the step is the plain gradient step
            train_sampling_strategy="sequential",
            use_cpu=True,
            ddp_backend="gloo",
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
        )
        trainer = losskit.engines.transformers.Trainer(
            model=net,
            args=args,
            train_dataset=dataset(),
            compute_loss_func=token_loss,
            token_weights=lambda batch: batch["labels"][:, 1:] != -100,  # what token_loss counts
        )
        trainer.train()
    return [p.detach().clone() for p in net.parameters()]


if __name__ == "__main__":
    for parameter in train():
        print(round(float(parameter.norm()), 6))
