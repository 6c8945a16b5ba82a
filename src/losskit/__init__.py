"""losskit: TensorFlow's loss reductions and regularization for every array library.

Public names are re-exported here, one per line; the implementation modules are private
or one concept each.
"""

from losskit import distribute
from losskit.average_loss import compute_average_loss, scale_regularization_loss
from losskit.loss_collections import (
    LOSSES,
    REGULARIZATION_LOSSES,
    LossCollections,
    add_loss,
    clear_losses,
    collect_losses,
    get_losses,
    get_total_loss,
)
from losskit.reduction import Reduction
from losskit.weighted_loss import compute_weighted_loss

__version__ = "0.1.0.dev0"

__all__ = [
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "LossCollections",
    "Reduction",
    "add_loss",
    "clear_losses",
    "collect_losses",
    "compute_average_loss",
    "compute_weighted_loss",
    "distribute",
    "get_losses",
    "get_total_loss",
    "scale_regularization_loss",
]
