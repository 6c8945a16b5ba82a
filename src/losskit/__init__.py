"""losskit: TensorFlow's loss reductions and regularization for every array library.

Public names are re-exported here, one per line; the implementation modules are private
or one concept each.
"""

from losskit import distribute
from losskit import losses
from losskit import regularizers
from losskit import serialization
from losskit import v1
from losskit._deprecation import moved_to_v1 as _moved_to_v1
from losskit.average_loss import compute_average_loss
from losskit.average_loss import scale_regularization_loss
from losskit.reduction import Reduction
from losskit.serialization import register_serializable
from losskit.weighted_loss import compute_weighted_loss

__version__ = "0.1.0.dev0"

__all__ = [
    "Reduction",
    "compute_average_loss",
    "compute_weighted_loss",
    "distribute",
    "losses",
    "register_serializable",
    "regularizers",
    "scale_regularization_loss",
    "serialization",
    "v1",
]

# The names that moved to losskit.v1 (losskit.add_loss, ...), deprecated
__getattr__ = _moved_to_v1(__name__)
