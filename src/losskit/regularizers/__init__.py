"""Keras regularizers for every array library: L1, L2, L1L2, OrthogonalRegularizer.

Public names are re-exported here, one per line.
"""

from losskit.regularizers._apply import apply_regularization
from losskit.regularizers._base import Regularizer
from losskit.regularizers._lookup import deserialize
from losskit.regularizers._lookup import get
from losskit.regularizers._lookup import serialize
from losskit.regularizers._orthogonal import OrthogonalRegularizer
from losskit.regularizers._penalties import L1
from losskit.regularizers._penalties import L1L2
from losskit.regularizers._penalties import L2
from losskit.regularizers._penalties import l1_l2

l1 = L1
l2 = L2
orthogonal_regularizer = OrthogonalRegularizer

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "apply_regularization",
    "deserialize",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "orthogonal_regularizer",
    "serialize",
]
