"""Keras's layer regularizers for PyTorch modules: ``regularize(module, kernel=..., ...)``
and ``losses(module)``, without wrapping or subclassing the model.

Imports torch; ``import losskit`` does not import this package (import it explicitly).
See docs/layer_penalties.md.

Example:
    >>> import torch, losskit.torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> rule = losskit.torch.regularize(model, kernel="l2", activity="l1", include=["2"])
    >>> rule.names
    {'kernel': ['2.weight'], 'bias': [], 'activity': ['2']}
"""

from losskit._deprecation import moved_names
from losskit.torch._attach import NORM_LAYERS
from losskit.torch._attach import Regularization
from losskit.torch._attach import regularize
from losskit.torch._groups import param_groups
from losskit.torch._losses import losses
from losskit.torch._losses import penalty

__all__ = [
    "NORM_LAYERS",
    "Regularization",
    "losses",
    "param_groups",
    "penalty",
    "regularize",
]

__getattr__ = moved_names(
    "losskit.torch",
    {
        "from_config": (
            "losskit.torch.Regularization.from_config",
            lambda: Regularization.from_config,
        ),
        "regularizations": (
            "losskit.torch.Regularization.attached",
            lambda: Regularization.attached,
        ),
    },
)
