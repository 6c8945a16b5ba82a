"""losskit: TensorFlow's loss reductions and regularization for every array library.

Public names are re-exported here, one per line; the implementation modules are private
or one concept each.
"""

from losskit import distribute
from losskit import losses
from losskit import regularizers
from losskit import serialization
from losskit.average_loss import compute_average_loss
from losskit.average_loss import scale_regularization_loss
from losskit.loss_collections import LOSSES
from losskit.loss_collections import REGULARIZATION_LOSSES
from losskit.loss_collections import LossCollections
from losskit.loss_collections import add_loss
from losskit.loss_collections import clear_losses
from losskit.loss_collections import collect_losses
from losskit.loss_collections import get_losses
from losskit.loss_collections import get_total_loss
from losskit.reduction import Reduction
from losskit.serialization import register_serializable
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
    "losses",
    "register_serializable",
    "regularizers",
    "scale_regularization_loss",
    "serialization",
]
