"""The layer-penalty case: ``losskit.torch.regularize`` on a ResNet-18 training step.

``layer_resnet18`` (PyTorch only): one forward+backward step of a ResNet-18 (11.7M
parameters, written out here: torchvision is not needed) on a [16, 3, 64, 64] batch with
cross-entropy, plus L2(1e-4) on every conv / linear kernel (BatchNorm left out, biases
unregularized) and L1(1e-3) on the logits divided by the batch size.

Entries:

* ``"losskit"``: the model with ``losskit.torch.regularize(model, kernel=L2, ...)`` and
  ``regularize(model, activity=L1)``; loss = CE + ``losskit.torch.penalty(model)``.
* ``"native: hand-written penalty"``: an identical, unhooked copy; loss = CE +
  ``l2 * sum(k.pow(2).sum() for k in kernels) + l1 * logits.abs().sum() / batch`` - the loop
  users write today (the issue's anchor: <= 1.10x).
* ``"native: no penalty"``: the same step without any penalty (information: what the
  penalty costs at all).

Every entry sets ``p.grad = None`` first. The float64 reference is the hand-written loss of
a float64 copy of the model.
"""

from __future__ import annotations

import copy
from typing import Any

import _backends
from _cases import Case

L2_FACTOR = 1e-4
L1_FACTOR = 1e-3
BATCH, SIZE, CLASSES = 16, 64, 1000
ROUNDS = (11, 3)


def _resnet18() -> Any:
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    def stage(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(Block(cin, cout, stride), Block(cout, cout, 1))

    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
        stage(64, 64, 1),
        stage(64, 128, 2),
        stage(128, 256, 2),
        stage(256, 512, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(512, CLASSES),
    )


def layer_resnet18(be: _backends.Backend) -> Case | None:
    if be.name != "torch":
        return None
    import torch
    from torch import nn

    import losskit.torch as lt
    from losskit.regularizers import L1, L2

    torch.manual_seed(0)
    plain = _resnet18()
    hooked = copy.deepcopy(plain)
    lt.regularize(hooked, kernel=L2(L2_FACTOR))
    lt.regularize(hooked, activity=L1(L1_FACTOR))
    kernels = [
        module.weight for module in plain.modules() if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=generator)
    y = torch.randint(0, CLASSES, (BATCH,), generator=generator)

    def reset(model: nn.Module) -> None:
        for parameter in model.parameters():
            parameter.grad = None

    def hand_written_loss(model: nn.Module, ks: list[Any], inputs: Any) -> Any:
        logits = model(inputs)
        penalty = L2_FACTOR * sum(k.pow(2).sum() for k in ks)
        activity = L1_FACTOR * logits.abs().sum() / logits.shape[0]
        return nn.functional.cross_entropy(logits, y) + penalty + activity

    def losskit_step() -> Any:
        reset(hooked)
        loss = nn.functional.cross_entropy(hooked(x), y) + lt.penalty(hooked)
        loss.backward()
        return loss

    def by_hand() -> Any:
        reset(plain)
        loss = hand_written_loss(plain, kernels, x)
        loss.backward()
        return loss

    def no_penalty() -> Any:
        reset(plain)
        loss = nn.functional.cross_entropy(plain(x), y)
        loss.backward()
        return loss

    wide = copy.deepcopy(plain).double()
    wide_kernels = [m.weight for m in wide.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        reference = float(hand_written_loss(wide, wide_kernels, x.double()))

    def reset_all() -> None:
        reset(plain)
        reset(hooked)

    return Case(
        "layer_resnet18",
        reference,
        {
            "losskit": losskit_step,
            "native: hand-written penalty": by_hand,
            "native: no penalty": no_penalty,
        },
        grad_reset=reset_all,
        rounds=ROUNDS,
        meta={
            "tensors": len(list(plain.parameters())),
            "elements": sum(p.numel() for p in plain.parameters()),
            "kernels": len(kernels),
        },
    )


__all__ = ["layer_resnet18"]
