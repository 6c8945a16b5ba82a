"""TensorFlow 1's loss surface (``tf.compat.v1.losses``) for every array library.

The loss functions keep TensorFlow 1's names, arguments and argument order
(``labels``, ``predictions``, ``logits``, ``weights``, ``scope``, ``loss_collection``,
``reduction``), its ``Reduction`` names and value strings, and its weight rule (a scalar,
or the rank of the losses with every dimension 1 or equal), so TF1 code ports line by
line; the arithmetic is :func:`losskit.compute_weighted_loss`'s. Inside a
:func:`collect_losses` block every result is also recorded in its ``loss_collection``, as
TensorFlow 1 records it in a graph collection. See ``docs/v1.md``.

Example:
    >>> import numpy as np
    >>> from losskit import v1
    >>> labels, predictions = np.array([[0.0], [1.0]]), np.array([[0.5], [2.0]])
    >>> with v1.collect_losses():
    ...     _ = v1.mean_squared_error(labels, predictions)
    ...     _ = v1.add_loss(np.array(0.1), v1.REGULARIZATION_LOSSES)
    ...     round(float(v1.get_total_loss()), 6)
    0.725
"""

from losskit.v1._collections import LOSSES
from losskit.v1._collections import REGULARIZATION_LOSSES
from losskit.v1._collections import LossCollections
from losskit.v1._collections import add_loss
from losskit.v1._collections import clear_losses
from losskit.v1._collections import collect_losses
from losskit.v1._collections import get_losses
from losskit.v1._collections import get_regularization_loss
from losskit.v1._collections import get_regularization_losses
from losskit.v1._collections import get_total_loss
from losskit.v1._crossentropy import sigmoid_cross_entropy
from losskit.v1._crossentropy import softmax_cross_entropy
from losskit.v1._crossentropy import sparse_softmax_cross_entropy
from losskit.v1._pairwise import mean_pairwise_squared_error
from losskit.v1._reduction import Reduction
from losskit.v1._regression import absolute_difference
from losskit.v1._regression import cosine_distance
from losskit.v1._regression import hinge_loss
from losskit.v1._regression import huber_loss
from losskit.v1._regression import log_loss
from losskit.v1._regression import mean_squared_error
from losskit.v1._weighted import compute_weighted_loss

__all__ = [
    "LOSSES",
    "REGULARIZATION_LOSSES",
    "LossCollections",
    "Reduction",
    "absolute_difference",
    "add_loss",
    "clear_losses",
    "collect_losses",
    "compute_weighted_loss",
    "cosine_distance",
    "get_losses",
    "get_regularization_loss",
    "get_regularization_losses",
    "get_total_loss",
    "hinge_loss",
    "huber_loss",
    "log_loss",
    "mean_pairwise_squared_error",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]
