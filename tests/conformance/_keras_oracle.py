"""Regularizers on the real tf_keras 2.21 and Keras 3: ``python _keras_oracle.py IN.json OUT.json``.

One process runs both Keras versions on the TensorFlow backend (``import tf_keras`` is Keras 2,
``import keras`` is Keras 3); they keep separate registries, so the page's custom function
``l1_reg`` and class ``L2Regularizer`` are registered once in each, as ``Custom>l1`` and
``Custom>l2``. Everything TensorFlow is imported inside :func:`main`, so importing this
module (pytest's doctest collection does) stays cheap and TensorFlow-free.

Input (written by ``_keras_cases.payload()``)::

    {"arrays": {name: {"dtype", "shape", "values"}},
     "specs": {spec_id: {"class": "L2", "kwargs": {...}}},
     "penalties": [[spec_id, array_name], ...],
     "written": [spec_id, ...],
     "loaded": {config_id: {"text": JSON text, "format": "new" | "legacy", "arrays": [...]}},
     "identifiers": [str, ...],
     "gradients": [[spec_id, array_name], ...]}

Output: ``{"versions", "penalties", "written", "loaded", "identifiers", "gradients",
"examples", "probes"}``, each keyed by library (``"tf_keras"``, ``"keras3"``) where it applies.
An outcome is ``{"value", "dtype"}`` or ``{"error", "message"}``; an object is described by
``{"kind": "regularizer" | "function" | "str" | "other", ...}``. Python's ``json`` writes NaN
and the infinities as ``NaN`` / ``Infinity``, which the parent reads back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

LIBRARIES = ("tf_keras", "keras3")


def main(argv: list[str]) -> int:
    in_path, out_path = argv[1], argv[2]
    with open(in_path) as handle:
        payload = json.load(handle)

    import warnings

    warnings.simplefilter("ignore")  # tf_keras warns when serializing a function

    import keras
    import numpy as np
    import tensorflow as tf
    import tf_keras

    tf.get_logger().setLevel("ERROR")
    modules = {"tf_keras": tf_keras, "keras3": keras}
    regularizers = {"tf_keras": tf_keras.regularizers, "keras3": keras.regularizers}
    customs = {
        "tf_keras": _customs(tf, tf_keras.regularizers, tf_keras.utils.register_keras_serializable),
        "keras3": _customs(tf, keras.regularizers, keras.saving.register_keras_serializable),
    }
    registered_name = {
        "tf_keras": tf_keras.utils.get_registered_name,
        "keras3": keras.saving.get_registered_name,
    }

    arrays = {
        name: tf.constant(
            np.asarray(spec["values"], np.float64).reshape(spec["shape"]).astype(spec["dtype"])
        )
        for name, spec in payload["arrays"].items()
    }

    def make(library: str, spec: dict[str, Any]) -> Any:
        name, kwargs = spec["class"], spec["kwargs"]
        if name in customs[library]:
            found = customs[library][name]
            return found if name == "l1_reg" else found(**kwargs)
        return getattr(regularizers[library], name)(**kwargs)

    def value(result: Any) -> dict[str, Any]:
        if isinstance(result, (int, float)):
            return {"value": float(result), "dtype": type(result).__name__}
        tensor = tf.convert_to_tensor(result)
        if tensor.dtype.is_floating:
            number = float(tf.cast(tensor, tf.float64).numpy())
        else:
            number = float(tensor.numpy())
        return {"value": number, "dtype": tensor.dtype.name}

    def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
        try:
            return value(fn())
        except Exception as error:  # the error itself is the result
            return {"error": type(error).__name__, "message": str(error)[:1000]}

    def describe(library: str, obj: Any) -> dict[str, Any]:
        if isinstance(obj, str):
            return {"kind": "str", "value": obj}
        if isinstance(obj, regularizers[library].Regularizer):
            return {"kind": "regularizer", "class": type(obj).__name__, "config": obj.get_config()}
        if callable(obj):
            return {"kind": "function", "registered_name": registered_name[library](obj)}
        return {"kind": "other", "repr": repr(obj)[:200]}

    def attempt(library: str, fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
        try:
            obj = fn()
        except Exception as error:
            return None, {"error": type(error).__name__, "message": str(error)[:1000]}
        return obj, describe(library, obj)

    results: dict[str, Any] = {
        "versions": {
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "keras3": keras.__version__,
            "keras3_backend": keras.backend.backend(),
        }
    }
    specs = payload["specs"]

    # Penalties of regularizers built in Keras.
    results["penalties"] = {
        library: {
            f"{spec_id}@{array}": outcome(
                lambda library=library, spec_id=spec_id, array=array: make(library, specs[spec_id])(
                    arrays[array]
                )
            )
            for spec_id, array in payload["penalties"]
        }
        for library in LIBRARIES
    }

    # Configs written by Keras.
    written: dict[str, Any] = {library: {} for library in LIBRARIES}
    for spec_id in payload["written"]:
        for library in LIBRARIES:
            obj = make(library, specs[spec_id])
            module = regularizers[library]
            configs = {"new": module.serialize(obj)}
            if library == "tf_keras":
                configs["legacy"] = module.serialize(obj, use_legacy_format=True)
            written[library][spec_id] = configs
    results["written"] = written

    # Configs written by losskit, loaded by Keras.
    loaded: dict[str, Any] = {}
    for config_id, item in payload["loaded"].items():
        text, legacy = item["text"], item["format"] == "legacy"
        # each loader gets its own copy: Keras may modify the dict it reads
        loaders = {
            "keras3.deserialize": (
                "keras3",
                lambda text=text: keras.regularizers.deserialize(json.loads(text)),
            ),
            "keras3.get": ("keras3", lambda text=text: keras.regularizers.get(json.loads(text))),
            "tf_keras.deserialize": (
                "tf_keras",
                lambda text=text, legacy=legacy: tf_keras.regularizers.deserialize(
                    json.loads(text), use_legacy_format=legacy
                ),
            ),
            "tf_keras.get": (
                "tf_keras",
                lambda text=text: tf_keras.regularizers.get(json.loads(text)),
            ),
        }
        loaded[config_id] = {}
        for loader, (library, fn) in loaders.items():
            obj, description = attempt(library, fn)
            if obj is not None and description["kind"] in ("regularizer", "function"):
                description["penalties"] = {
                    array: outcome(lambda obj=obj, array=array: obj(arrays[array]))
                    for array in item["arrays"]
                }
            loaded[config_id][loader] = description
    results["loaded"] = loaded

    # String identifiers through `get`.
    results["identifiers"] = {
        identifier: {
            library: attempt(
                library, lambda library=library, s=identifier: regularizers[library].get(s)
            )[1]
            for library in LIBRARIES
        }
        for identifier in payload["identifiers"]
    }

    # Gradients with respect to the input.
    gradients: dict[str, Any] = {library: {} for library in LIBRARIES}
    for spec_id, array in payload["gradients"]:
        for library in LIBRARIES:
            regularizer = make(library, specs[spec_id])
            x = tf.identity(arrays[array])
            with tf.GradientTape() as tape:
                tape.watch(x)
                penalty = regularizer(x)
            grad = tape.gradient(penalty, x)
            gradients[library][f"{spec_id}@{array}"] = {
                "value": float(tf.cast(penalty, tf.float64).numpy()),
                "grad": tf.cast(grad, tf.float64).numpy().tolist(),
            }
    results["gradients"] = gradients

    results["examples"] = {
        library: {
            key: outcome(fn)
            for key, fn in _page_examples(tf, modules[library], customs[library]).items()
        }
        for library in LIBRARIES
    }
    results["probes"] = {
        library: {key: outcome(fn) for key, fn in _probes(tf, np, regularizers[library]).items()}
        for library in LIBRARIES
    }

    with open(out_path, "w") as handle:
        json.dump(results, handle)
    return 0


def _customs(tf: Any, regularizers: Any, register: Callable[..., Any]) -> dict[str, Any]:
    """The page's custom function and class, registered as ``Custom>l1`` and ``Custom>l2``."""

    @register(package="Custom", name="l1")
    def l1_reg(weight_matrix: Any) -> Any:
        return 0.01 * tf.math.reduce_sum(tf.math.abs(weight_matrix))

    @register(package="Custom", name="l2")
    class L2Regularizer(regularizers.Regularizer):  # type: ignore[misc]
        def __init__(self, l2: float = 0.0) -> None:
            self.l2 = l2

        def __call__(self, x: Any) -> Any:
            return self.l2 * tf.math.reduce_sum(tf.math.square(x))

        def get_config(self) -> dict[str, Any]:
            return {"l2": float(self.l2)}

    return {"l1_reg": l1_reg, "L2Regularizer": L2Regularizer}


def _page_examples(tf: Any, keras: Any, customs: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The examples of the Regularizer reference page, written the way the page writes them."""
    regularizers = keras.regularizers

    def layer_losses(**kwargs: Any) -> Callable[[], Any]:
        def run() -> Any:
            layer = keras.layers.Dense(5, input_dim=5, kernel_initializer="ones", **kwargs)
            layer(tf.ones(shape=(5, 5)))
            (loss,) = layer.losses
            return loss

        return run

    def dense_example() -> Any:
        layer = keras.layers.Dense(
            5,
            input_dim=5,
            kernel_initializer="ones",
            kernel_regularizer=regularizers.L1(0.01),
            activity_regularizer=regularizers.L2(0.01),
        )
        tensor = tf.ones(shape=(5, 5)) * 2.0
        layer(tensor)
        return tf.math.reduce_sum(layer.losses)

    twos = tf.ones(shape=(5, 5)) * 2.0
    return {
        "dense layer": dense_example,
        "L2(2.) on ones": lambda: regularizers.L2(2.0)(tf.ones(shape=(5, 5))),
        "l1_reg kernel": layer_losses(kernel_regularizer=customs["l1_reg"]),
        "L2Regularizer kernel": layer_losses(kernel_regularizer=customs["L2Regularizer"](l2=0.5)),
        "L1(0.3)": lambda: regularizers.L1(0.3)(twos),
        "L2(0.1)": lambda: regularizers.L2(0.1)(twos),
        "L1L2(0.01, 0.01)": lambda: regularizers.L1L2(l1=0.01, l2=0.01)(twos),
    }


def _probes(tf: Any, np: Any, regularizers: Any) -> dict[str, Callable[[], Any]]:
    """The inputs behind the regularizer rows of docs/deviations.md, on one Keras version.

    Each returns a number: a penalty, or 1.0 where the probe only asks "was it accepted?"
    (a refusal is the error outcome).
    """

    def accepted(make: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            make()
            return 1.0

        return run

    def unknown_name() -> Any:
        found = regularizers.get("foo")
        if isinstance(found, str):
            raise LookupError(f"returned the string {found!r}")
        return 1.0

    def unregistered_round_trip() -> Any:
        def unregistered_fn(x: Any) -> Any:
            return 0.0

        config = regularizers.serialize(unregistered_fn)
        if config != {
            "module": "builtins",
            "class_name": "function",
            "config": "unregistered_fn",
            "registered_name": "function",
        }:
            raise AssertionError(f"unexpected config {config!r}")
        back = regularizers.deserialize(config)
        if isinstance(back, str):
            raise LookupError(f"serialized, and loaded back as the string {back!r}")
        return 1.0

    def lambda_serialization() -> Any:
        config = regularizers.serialize(lambda x: 0.0)
        if config.get("class_name") != "__lambda__":
            raise AssertionError(f"unexpected config {config!r}")
        return 1.0  # serialized, as marshalled bytecode

    int32 = tf.constant([1, 2], tf.int32)
    f16 = tf.fill((512,), tf.constant(300.0, tf.float16))
    return {
        "negative factor": accepted(lambda: regularizers.L2(-0.1)),
        "nan factor": accepted(lambda: regularizers.L2(float("nan"))),
        "inf factor": accepted(lambda: regularizers.L1(float("inf"))),
        "bool factor": accepted(lambda: regularizers.L2(True)),
        "numpy float32 factor": accepted(lambda: regularizers.L2(np.float32(0.5))),
        "numpy float64 factor": accepted(lambda: regularizers.L2(np.float64(0.5))),
        "negative orthogonal factor": accepted(lambda: regularizers.OrthogonalRegularizer(-1.0)),
        "L1 on int32": lambda: regularizers.L1(0.1)(int32),
        "L2 on int32": lambda: regularizers.L2(0.1)(int32),
        "L1L2 on int32": lambda: regularizers.L1L2(0.1, 0.1)(int32),
        "unknown name": unknown_name,
        "unregistered function round trip": unregistered_round_trip,
        "lambda serialization": lambda_serialization,
        "L2 on float16": lambda: regularizers.L2(1e-3)(f16),
        "orthogonal one row": lambda: regularizers.OrthogonalRegularizer(1.0)(tf.ones((1, 3))),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))
