"""The public surface: names, docs with runnable examples, and an import that loads no framework."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import losskit
import losskit.aggregation
import losskit.distribute
import losskit.engines.accelerate
import losskit.engines.deepspeed
import losskit.engines.fsdp
import losskit.engines.lightning
import losskit.engines.transformers
import losskit.engines.window
import losskit.jax
import losskit.losses
import losskit.objectives
import losskit.regularizers
import losskit.serialization
import losskit.testing
import losskit.torch
import losskit.typing
import losskit.v1

API = {
    "losskit": [
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
    ],
    "losskit.v1": [
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
    ],
    "losskit.aggregation": [
        "MODES",
        "DeferredPlan",
        "LossMeter",
        "MeterReading",
        "Plan",
        "aggregate",
        "deferred_plan",
        "plan",
        "resolve_mode",
    ],
    "losskit.objectives": [
        "DeferredObjective",
        "Objective",
        "ObjectivePlan",
        "Term",
    ],
    "losskit.distribute": [
        "DistributionContext",
        "LayoutError",
        "check_layout",
        "cross_replica_context",
        "get_context",
        "global_denominator",
        "jax_context",
        "num_replicas_in_sync",
        "replica_context",
        "torch_context",
    ],
    "losskit.testing": [
        "AuditReport",
        "InvarianceReport",
        "Layout",
        "MicroStep",
        "ProcessFailure",
        "PublishedBug",
        "TokenLocation",
        "Window",
        "audit_loss",
        "check_replica_invariance",
        "published_bugs",
        "random_layout",
        "run_processes",
        "run_replicas",
    ],
    "losskit.losses": [
        "BinaryCrossentropy",
        "BinaryFocalCrossentropy",
        "CTC",
        "CategoricalCrossentropy",
        "CategoricalFocalCrossentropy",
        "CategoricalGeneralizedCrossEntropy",
        "CategoricalHinge",
        "Circle",
        "CosineSimilarity",
        "Dice",
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
    "losskit.typing": ["Array", "ArrayLike", "ArrayT"],
    "losskit.torch": [
        "NORM_LAYERS",
        "Regularization",
        "losses",
        "param_groups",
        "penalty",
        "regularize",
    ],
    "losskit.jax": [
        "Collector",
        "Spec",
        "activity",
        "decay_mask",
        "penalty",
    ],
    "losskit.engines.accelerate": ["windows"],
    "losskit.engines.lightning": ["EvenShards", "WindowLoader", "windows"],
    "losskit.engines.transformers": ["ExactLossMixin", "Trainer"],
    "losskit.engines.deepspeed": ["windows"],
    "losskit.engines.fsdp": ["sum_gradients", "windows"],
    "losskit.engines.window": ["Window"],
}

MODULES = {
    "losskit": losskit,
    "losskit.aggregation": losskit.aggregation,
    "losskit.objectives": losskit.objectives,
    "losskit.distribute": losskit.distribute,
    "losskit.losses": losskit.losses,
    "losskit.regularizers": losskit.regularizers,
    "losskit.serialization": losskit.serialization,
    "losskit.torch": losskit.torch,
    "losskit.jax": losskit.jax,
    "losskit.testing": losskit.testing,
    "losskit.typing": losskit.typing,
    "losskit.v1": losskit.v1,
    "losskit.engines.accelerate": losskit.engines.accelerate,
    "losskit.engines.lightning": losskit.engines.lightning,
    "losskit.engines.transformers": losskit.engines.transformers,
    "losskit.engines.deepspeed": losskit.engines.deepspeed,
    "losskit.engines.fsdp": losskit.engines.fsdp,
    "losskit.engines.window": losskit.engines.window,
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
        "import sys, losskit, losskit.aggregation, losskit.distribute, losskit.testing,"
        " losskit.engines, losskit.objectives\n"
        "loaded = sorted(m for m in ('torch', 'jax', 'tensorflow', 'cupy', 'array_api_strict',"
        " 'accelerate', 'lightning', 'transformers', 'deepspeed') if m in sys.modules)\n"
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


# old dotted name -> the name that replaced it (CHANGELOG.md lists every move)
MOVED = {
    "losskit.torch.from_config": "losskit.torch.Regularization.from_config",
    "losskit.torch.regularizations": "losskit.torch.Regularization.attached",
    "losskit.jax.collect": "losskit.jax.Collector.wrap",
    "losskit.jax.collect_activity": "losskit.jax.Collector",
}


def _resolve(dotted: str) -> Any:
    module_name = dotted.rpartition(".")[0]
    for owner_name in (module_name, module_name.rpartition(".")[0]):
        if owner_name in MODULES:
            owner = MODULES[owner_name]
            rest = dotted[len(owner_name) + 1 :].split(".")
            found = owner
            for part in rest:
                found = getattr(found, part)
            return found
    raise KeyError(dotted)


@pytest.mark.parametrize(("old", "new"), list(MOVED.items()))
def test_moved_names_still_work_with_a_warning_naming_the_new_one(old: str, new: str) -> None:
    module_name, _, attribute = old.rpartition(".")
    with pytest.warns(
        DeprecationWarning,
        match=rf"^`{re.escape(old)}` is deprecated .* use `{re.escape(new)}` instead\.$",
    ):
        found = getattr(MODULES[module_name], attribute)
    assert found == _resolve(new)
    assert attribute not in MODULES[module_name].__all__
    assert old in (Path(__file__).parents[1] / "CHANGELOG.md").read_text()


def test_unknown_names_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'losskit.torch' has no attribute 'nope'"):
        losskit.torch.nope  # noqa: B018
