"""Layer regularizers on the real tf_keras 2.21 and Keras 3 (``python SCRIPT IN.json OUT.json``).

For each case, both Keras versions build a ``Dense`` or ``Conv2D`` layer with the given
kernel and bias (Keras layouts), kernel / bias / activity regularizers and ``trainable``
flag, call it on the given input under a ``GradientTape``, and report ``layer.losses`` and
the gradients of their sum with respect to the kernel, the bias and the input. Everything
TensorFlow is imported inside :func:`main` (pytest's doctest collection imports this file).

Input: ``{"cases": [{"id", "layer": "dense" | "conv2d" | "sum", "kernel": {"shape", "values"},
"bias": {...}, "x": {...}, "kernel_regularizer": spec | None, "bias_regularizer": ...,
"activity_regularizer": ..., "trainable": bool}]}``; a spec is ``{"class": "L2",
"kwargs": {...}}`` (``l1_reg`` and ``L2Regularizer`` are the page's customs).

Output: ``{"versions", "cases": {library: {id: {"losses": [...], "grads": {"kernel",
"bias", "x"}} | {"error", "message"}}}}``; a gradient that is None is reported as None.
"""

from __future__ import annotations

import json
import sys
from typing import Any

LIBRARIES = ("tf_keras", "keras3")


def main(argv: list[str]) -> int:
    with open(argv[1]) as handle:
        payload = json.load(handle)

    import warnings

    warnings.simplefilter("ignore")

    import keras
    import numpy as np
    import tensorflow as tf
    import tf_keras

    tf.get_logger().setLevel("ERROR")
    modules = {"tf_keras": tf_keras, "keras3": keras}

    def array(spec: dict[str, Any]) -> Any:
        return np.asarray(spec["values"], np.float32).reshape(spec["shape"])

    def customs(library: str) -> dict[str, Any]:
        regularizers = modules[library].regularizers

        def l1_reg(weight_matrix: Any) -> Any:
            return 0.01 * tf.math.reduce_sum(tf.math.abs(weight_matrix))

        class L2Regularizer(regularizers.Regularizer):  # type: ignore[misc,name-defined]
            def __init__(self, l2: float = 0.0) -> None:
                self.l2 = l2

            def __call__(self, x: Any) -> Any:
                return self.l2 * tf.math.reduce_sum(tf.math.square(x))

        return {"l1_reg": l1_reg, "L2Regularizer": L2Regularizer}

    def make(library: str, spec: dict[str, Any] | None) -> Any:
        if spec is None:
            return None
        found = customs(library)
        if spec["class"] == "l1_reg":
            return found["l1_reg"]
        if spec["class"] in found:
            return found[spec["class"]](**spec["kwargs"])
        return getattr(modules[library].regularizers, spec["class"])(**spec["kwargs"])

    def run_sum(library: str, case: dict[str, Any]) -> dict[str, Any]:
        """A layer whose output is 0-d (the sum of its input), with an activity regularizer."""
        layer = modules[library].layers.Lambda(
            lambda x: tf.reduce_sum(x),
            activity_regularizer=make(library, case["activity_regularizer"]),
        )
        layer(tf.constant(array(case["x"])))
        return {"losses": [float(tf.cast(loss, tf.float64).numpy()) for loss in layer.losses]}

    def run(library: str, case: dict[str, Any]) -> dict[str, Any]:
        if case["layer"] == "sum":
            return run_sum(library, case)
        layers = modules[library].layers
        kernel, bias = array(case["kernel"]), array(case["bias"])
        options = {
            "kernel_initializer": modules[library].initializers.Constant(kernel),
            "bias_initializer": modules[library].initializers.Constant(bias),
            "kernel_regularizer": make(library, case["kernel_regularizer"]),
            "bias_regularizer": make(library, case["bias_regularizer"]),
            "activity_regularizer": make(library, case["activity_regularizer"]),
        }
        if case["layer"] == "dense":
            layer = layers.Dense(kernel.shape[1], **options)
        else:
            layer = layers.Conv2D(kernel.shape[3], kernel.shape[:2], **options)
        x = tf.constant(array(case["x"]))
        layer.build(x.shape)
        layer.trainable = case["trainable"]
        variables = [layer.kernel, layer.bias]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            layer(x)
            losses = list(layer.losses)
            total = tf.add_n(losses) if losses else tf.constant(0.0)
        grads = tape.gradient(total, [*variables, x])
        return {
            "losses": [float(tf.cast(loss, tf.float64).numpy()) for loss in losses],
            "grads": {
                key: None if grad is None else tf.cast(grad, tf.float64).numpy().tolist()
                for key, grad in zip(("kernel", "bias", "x"), grads, strict=True)
            },
        }

    results: dict[str, Any] = {
        "versions": {"tf_keras": tf_keras.__version__, "keras3": keras.__version__},
        "cases": {library: {} for library in LIBRARIES},
    }
    for case in payload["cases"]:
        for library in LIBRARIES:
            try:
                outcome = run(library, case)
            except Exception as error:  # the error itself is the result
                outcome = {"error": type(error).__name__, "message": str(error)[:1000]}
            results["cases"][library][case["id"]] = outcome
    with open(argv[2], "w") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
