"""The Keras loss catalog for every array library: function and class forms.

Classes weight and reduce through :func:`losskit.compute_weighted_loss` (every
:class:`losskit.Reduction`); functions return the per-sample losses. Public names are
re-exported here, one per line.
"""

from losskit.losses._base import Loss
from losskit.losses._circle import Circle
from losskit.losses._circle import circle
from losskit.losses._ctc import CTC
from losskit.losses._ctc import ctc
from losskit.losses._generalized import CategoricalGeneralizedCrossEntropy
from losskit.losses._generalized import categorical_generalized_cross_entropy
from losskit.losses._hinge import CategoricalHinge
from losskit.losses._hinge import Hinge
from losskit.losses._hinge import SquaredHinge
from losskit.losses._hinge import categorical_hinge
from losskit.losses._hinge import hinge
from losskit.losses._hinge import squared_hinge
from losskit.losses._linear_ce import linear_cross_entropy
from losskit.losses._lookup import deserialize
from losskit.losses._lookup import get
from losskit.losses._lookup import serialize
from losskit.losses._overlap import Dice
from losskit.losses._overlap import Tversky
from losskit.losses._overlap import dice
from losskit.losses._overlap import tversky
from losskit.losses._probabilistic import BinaryCrossentropy
from losskit.losses._probabilistic import BinaryFocalCrossentropy
from losskit.losses._probabilistic import CategoricalCrossentropy
from losskit.losses._probabilistic import CategoricalFocalCrossentropy
from losskit.losses._probabilistic import KLDivergence
from losskit.losses._probabilistic import Poisson
from losskit.losses._probabilistic import SparseCategoricalCrossentropy
from losskit.losses._probabilistic import binary_crossentropy
from losskit.losses._probabilistic import binary_focal_crossentropy
from losskit.losses._probabilistic import categorical_crossentropy
from losskit.losses._probabilistic import categorical_focal_crossentropy
from losskit.losses._probabilistic import kl_divergence
from losskit.losses._probabilistic import poisson
from losskit.losses._probabilistic import sparse_categorical_crossentropy
from losskit.losses._regression import CosineSimilarity
from losskit.losses._regression import Huber
from losskit.losses._regression import LogCosh
from losskit.losses._regression import MeanAbsoluteError
from losskit.losses._regression import MeanAbsolutePercentageError
from losskit.losses._regression import MeanSquaredError
from losskit.losses._regression import MeanSquaredLogarithmicError
from losskit.losses._regression import cosine_similarity
from losskit.losses._regression import huber
from losskit.losses._regression import log_cosh
from losskit.losses._regression import mean_absolute_error
from losskit.losses._regression import mean_absolute_percentage_error
from losskit.losses._regression import mean_squared_error
from losskit.losses._regression import mean_squared_logarithmic_error

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

__all__ = [
    "CTC",
    "KLD",
    "MAE",
    "MAPE",
    "MSE",
    "MSLE",
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "CategoricalHinge",
    "Circle",
    "CosineSimilarity",
    "Dice",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "Tversky",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "categorical_hinge",
    "circle",
    "cosine_similarity",
    "ctc",
    "deserialize",
    "dice",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "kullback_leibler_divergence",
    "linear_cross_entropy",
    "log_cosh",
    "logcosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "poisson",
    "serialize",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "tversky",
]
