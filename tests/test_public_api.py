"""The public surface: names, docs with runnable examples, and an import that loads no framework."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import losskit
import losskit.distribute
import losskit.jax
import losskit.losses
import losskit.regularizers
import losskit.serialization
import losskit.testing
import losskit.torch

API = {
    "losskit": [
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
    ],
    "losskit.distribute": [
        "DistributionContext",
        "cross_replica_context",
        "get_context",
        "global_denominator",
        "jax_context",
        "num_replicas_in_sync",
        "replica_context",
        "torch_context",
    ],
    "losskit.testing": [
        "InvarianceReport",
        "ProcessFailure",
        "check_replica_invariance",
        "run_processes",
        "run_replicas",
    ],
    "losskit.losses": [
        "BinaryCrossentropy",
        "BinaryFocalCrossentropy",
        "CategoricalCrossentropy",
        "CategoricalFocalCrossentropy",
        "CategoricalHinge",
        "CosineSimilarity",
        "Hinge",
        "Huber",
        "KLD",
        "KLDivergence",
        "LogCosh",
        "Loss",
        "MAE",
        "MAPE",
        "MSE",
        "MSLE",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredError",
        "MeanSquaredLogarithmicError",
        "Poisson",
        "SparseCategoricalCrossentropy",
        "SquaredHinge",
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "categorical_hinge",
        "cosine_similarity",
        "deserialize",
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
    ],
    "losskit.regularizers": [
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
    ],
    "losskit.serialization": [
        "get_registered_name",
        "get_registered_object",
        "register_serializable",
    ],
    "losskit.torch": [
        "NORM_LAYERS",
        "Regularization",
        "from_config",
        "losses",
        "param_groups",
        "penalty",
        "regularizations",
        "regularize",
    ],
    "losskit.jax": [
        "Collector",
        "Spec",
        "activity",
        "collect",
        "collect_activity",
        "decay_mask",
        "penalty",
    ],
}

MODULES = {
    "losskit": losskit,
    "losskit.distribute": losskit.distribute,
    "losskit.losses": losskit.losses,
    "losskit.regularizers": losskit.regularizers,
    "losskit.serialization": losskit.serialization,
    "losskit.torch": losskit.torch,
    "losskit.jax": losskit.jax,
    "losskit.testing": losskit.testing,
}


def test_api_snapshot() -> None:
    for name, module in MODULES.items():
        assert sorted(module.__all__) == sorted(API[name]), name
        for public in module.__all__:
            assert hasattr(module, public), f"{name}.{public}"


def test_every_public_callable_has_a_runnable_example() -> None:
    # The examples run as doctests (pytest --doctest-modules over src/ and docs/).
    missing = []
    for name, module in MODULES.items():
        for public in module.__all__:
            obj = getattr(module, public)
            if not callable(obj) or inspect.ismodule(obj):
                continue
            doc = inspect.getdoc(obj) or ""
            owner = inspect.getdoc(inspect.getmodule(obj)) or ""
            if ">>>" not in doc and ">>>" not in owner:
                missing.append(f"{name}.{public}")
    assert missing == []


def test_import_loads_no_array_framework() -> None:
    code = (
        "import sys, losskit, losskit.distribute, losskit.testing\n"
        "loaded = sorted(m for m in ('torch', 'jax', 'tensorflow', 'cupy', 'array_api_strict')"
        " if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_package_is_typed() -> None:
    assert (Path(losskit.__file__).parent / "py.typed").is_file()


def test_version() -> None:
    assert isinstance(losskit.__version__, str)
