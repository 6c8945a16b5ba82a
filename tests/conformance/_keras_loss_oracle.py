"""Losses on the real tf_keras 2.21 and Keras 3: ``python _keras_loss_oracle.py IN.json OUT.json``.

One process runs both Keras versions on the TensorFlow backend. Everything TensorFlow is
imported inside :func:`main`, so importing this module stays TensorFlow-free.

Input: ``_loss_cases.payload()``. Output::

    {"versions": {...},
     "values": {case_id: {library: {"reduction|variant": outcome}}},
     "gradients": {case_id: {library: outcome}},   # d SOBS loss (weights [B]) / d y_pred
     "extremes": {spec_id: {"value": outcome, "gradient": outcome}},   # tf_keras, "none"
     "configs": {spec_id: {"tf_keras": {...}, "tf_keras_legacy": {...}, "keras3": {...}}}}

An outcome is ``{"value": [...], "shape": [...], "dtype"}`` or ``{"error", "message"}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

TF_KERAS_REDUCTIONS = ("auto", "none", "sum", "sum_over_batch_size")
KERAS3_REDUCTIONS = ("sum_over_batch_size", "none", "sum", "mean", "mean_with_sample_weight")


def main(argv: list[str]) -> int:
    in_path, out_path = argv[1], argv[2]
    with open(in_path) as handle:
        payload = json.load(handle)

    import warnings

    warnings.simplefilter("ignore")

    import keras
    import tensorflow as tf
    import tf_keras

    tf.get_logger().setLevel("ERROR")
    from _tf_values import masked, outcome, tensor  # this script's folder

    losses = {"tf_keras": tf_keras.losses, "keras3": keras.losses}
    reductions = {"tf_keras": TF_KERAS_REDUCTIONS, "keras3": KERAS3_REDUCTIONS}

    results: dict[str, Any] = {
        "versions": {
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "keras3": keras.__version__,
        },
        "values": {},
        "gradients": {},
        "extremes": {},
        "configs": {},
    }
    for case in payload["cases"]:
        y_true, y_pred = tensor(case["y_true"]), tensor(case["y_pred"])
        weights = {name: tensor(w) for name, w in case["weights"].items()}
        mask = tf.cast(tensor(case["mask"]), tf.bool)
        per_library: dict[str, Any] = {}
        gradients: dict[str, Any] = {}
        for library in ("tf_keras", "keras3"):
            if library == "keras3" and not case["keras3"]:
                continue
            cls = getattr(losses[library], case["class"])
            found: dict[str, Any] = {}
            for reduction in reductions[library]:
                loss = cls(reduction=reduction, **case["kwargs"])
                for variant, is_masked in case["variants"]:
                    weight = weights.get(variant.removeprefix("mask+"))
                    prediction = masked(y_pred, mask) if is_masked else y_pred
                    found[f"{reduction}|{variant}"] = outcome(
                        lambda loss=loss, t=y_true, p=prediction, w=weight: loss(
                            t, p, sample_weight=w
                        )
                    )
            per_library[library] = found

            def gradient(
                cls: Any = cls,
                library: str = library,
                kwargs: dict[str, Any] = case["kwargs"],
                t: Any = y_true,
                p: Any = y_pred,
                w: Any = weights["B"],
            ) -> Any:
                reduction = "auto" if library == "tf_keras" else "sum_over_batch_size"
                loss = cls(reduction=reduction, **kwargs)
                variable = tf.Variable(p)
                with tf.GradientTape() as tape:
                    value = loss(t, variable, sample_weight=w)
                return tape.gradient(value, variable)

            gradients[library] = outcome(gradient)
        results["values"][case["id"]] = per_library
        results["gradients"][case["id"]] = gradients

    for case in payload["extremes"]:
        y_true, y_pred = tensor(case["y_true"]), tensor(case["y_pred"])
        extremes: dict[str, Any] = {}
        for library in ("tf_keras", "keras3"):
            loss = getattr(losses[library], case["class"])(reduction="none", **case["kwargs"])

            def extreme_gradient(loss: Any = loss, t: Any = y_true, p: Any = y_pred) -> Any:
                variable = tf.Variable(p)
                with tf.GradientTape() as tape:
                    value = tf.reduce_sum(loss(t, variable))
                return tape.gradient(value, variable)

            extremes[library] = {
                "value": outcome(lambda loss=loss, t=y_true, p=y_pred: loss(t, p)),
                "gradient": outcome(extreme_gradient),
            }
        results["extremes"][case["id"]] = extremes

    # Probes of the deviations: every label ignored, every entry masked, y_true [B] against
    # y_pred [B, 1] with [B] weights.
    labels = tf.constant([0, 0, 0], tf.int32)
    scores = tf.constant([[1.0, 2.0], [0.5, 0.0], [3.0, 1.0]])
    everything_masked = masked(tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.zeros([2], tf.bool))
    probes: dict[str, Any] = {}
    for library in ("tf_keras", "keras3"):
        module = losses[library]
        default = "auto" if library == "tf_keras" else "sum_over_batch_size"
        probes[library] = {
            "all_ignored": outcome(
                lambda m=module, r=default: m.SparseCategoricalCrossentropy(
                    from_logits=True, ignore_class=0, reduction=r
                )(labels, scores)
            ),
            "all_masked": outcome(
                lambda m=module, r=default: m.MeanSquaredError(reduction=r)(
                    tf.zeros([2, 2]), everything_masked
                )
            ),
            "label_rank": outcome(
                lambda m=module, r=default: m.MeanSquaredError(reduction=r)(
                    tf.constant([0.0, 1.0, 2.0]),
                    tf.constant([[1.0], [1.0], [0.0]]),
                    sample_weight=tf.constant([1.0, 0.0, 3.0]),
                )
            ),
        }
    results["probes"] = probes

    # losskit's configs loaded by Keras: the class and config Keras builds, and its value on
    # the rank-1 case's inputs
    loaded: dict[str, Any] = {}
    first_case = {case["id"].rsplit("@", 1)[0]: case for case in reversed(payload["cases"])}
    for spec_id, config in payload["losskit_configs"].items():
        case = first_case[spec_id]
        y_true, y_pred = tensor(case["y_true"]), tensor(case["y_pred"])
        loaded[spec_id] = {}
        for library in ("tf_keras", "keras3"):
            try:
                obj = losses[library].deserialize(json.loads(json.dumps(config)))
            except Exception as error:
                loaded[spec_id][library] = {"error": type(error).__name__, "message": str(error)}
                continue
            loaded[spec_id][library] = {
                "class": type(obj).__name__,
                "config": obj.get_config(),
                "value": outcome(lambda obj=obj, t=y_true, p=y_pred: obj(t, p)),
            }
    results["loaded"] = loaded

    functions: dict[str, Any] = {}
    for case in payload["functions"]:
        y_true, y_pred = tensor(case["y_true"]), tensor(case["y_pred"])
        function = {library: getattr(losses[library], case["function"]) for library in losses}
        functions[case["id"]] = {
            library: outcome(
                lambda f=function[library], t=y_true, p=y_pred, k=case["kwargs"]: f(t, p, **k)
            )
            for library in ("tf_keras", "keras3")
        }
    results["functions"] = functions

    for spec in payload["configs"]:
        tf_loss = getattr(tf_keras.losses, spec["class"])(reduction="sum", **spec["kwargs"])
        k3_loss = getattr(keras.losses, spec["class"])(reduction="sum", **spec["kwargs"])
        results["configs"][spec["id"]] = {
            "tf_keras": tf_keras.losses.serialize(tf_loss),
            "tf_keras_legacy": tf_keras.losses.serialize(tf_loss, use_legacy_format=True),
            "keras3": keras.losses.serialize(k3_loss),
        }

    with open(out_path, "w") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
