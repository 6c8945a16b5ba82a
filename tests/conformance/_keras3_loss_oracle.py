"""Keras 3 (TensorFlow backend) on the losses tf_keras lacks:
``python _keras3_loss_oracle.py IN.json OUT.json``.

Everything TensorFlow is imported inside :func:`main`. Input: ``_keras3_loss_cases.payload()``.
Output::

    {"versions": {...},
     "values": {case_id: {"reduction|variant": outcome}},
     "gradients": {case_id: outcome},     # d SOBS loss (weights [B] or a scalar) / d y_pred
     "functions": {case_id: outcome},
     "configs": {case_id: Keras 3's serialize() of the class with reduction "sum"},
     "loaded": {case_id: {"class", "config", "value"} or {"error"}},  # losskit's config
     "probes": {probe_id: {"tf_keras": outcome, "keras3": outcome}},
     "aliases": {"keras3": [...], "tf_keras": [...]}}

An outcome is ``{"value": [...], "shape": [...], "dtype"}`` or ``{"error", "message"}``.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any


def main(argv: list[str]) -> int:
    in_path, out_path = argv[1], argv[2]
    with open(in_path) as handle:
        payload = json.load(handle)

    import warnings

    warnings.simplefilter("ignore")

    import keras
    import tensorflow as tf
    import tf_keras
    from keras.src.losses import ALL_OBJECTS_DICT

    tf.get_logger().setLevel("ERROR")
    from _tf_values import masked, outcome, tensor  # this script's folder

    results: dict[str, Any] = {
        "versions": {"tensorflow": tf.__version__, "keras3": keras.__version__},
        "values": {},
        "gradients": {},
        "functions": {},
        "configs": {},
        "loaded": {},
        "probes": {},
    }
    for case in payload["cases"]:
        y_true, y_pred = tensor(case["y_true"]), tensor(case["y_pred"])
        weights = {name: tensor(w) for name, w in case["weights"].items()}
        mask = tf.cast(tensor(case["mask"]), tf.bool)
        cls = getattr(keras.losses, case["class"])
        found: dict[str, Any] = {}
        for reduction in payload["reductions"]:
            loss = cls(reduction=reduction, **case["kwargs"])
            for variant, is_masked in case["variants"]:
                weight = weights.get(variant.removeprefix("mask+"))
                prediction = masked(y_pred, mask) if is_masked else y_pred
                found[f"{reduction}|{variant}"] = outcome(
                    lambda loss=loss, t=y_true, p=prediction, w=weight: loss(t, p, sample_weight=w)
                )
        results["values"][case["id"]] = found

        def gradient(
            cls: Any = cls,
            kwargs: dict[str, Any] = case["kwargs"],
            t: Any = y_true,
            p: Any = y_pred,
            w: Any = weights["B1"] if "B1" in weights else weights["scalar"],
        ) -> Any:
            loss = cls(reduction="sum_over_batch_size", **kwargs)
            variable = tf.Variable(p)
            with tf.GradientTape() as tape:
                value = loss(t, variable, sample_weight=w)
            return tape.gradient(value, variable)

        results["gradients"][case["id"]] = outcome(gradient)
        function = getattr(keras.losses, case["function"])
        results["functions"][case["id"]] = outcome(
            lambda f=function, t=y_true, p=y_pred, k=case["kwargs"]: f(
                t, p, **({"q": 0.5} | k if "q" in inspect.signature(f).parameters else k)
            )
        )
        own = keras.losses.serialize(cls(reduction="sum", **case["kwargs"]))
        results["configs"][case["id"]] = own
        for key, config in (("loaded", case["losskit_config"]), ("loaded_own", own)):
            results.setdefault(key, {})
            try:
                obj = keras.losses.deserialize(json.loads(json.dumps(config)))
                if not isinstance(obj, keras.losses.Loss):
                    raise TypeError(f"deserialize returned {obj!r}")
            except Exception as error:
                results[key][case["id"]] = {"error": type(error).__name__, "message": str(error)}
                continue
            results[key][case["id"]] = {
                "class": type(obj).__name__,
                "config": json.loads(json.dumps(keras.losses.serialize(obj.get_config()))),
                "value": outcome(lambda obj=obj, t=y_true, p=y_pred: obj(t, p)),
            }

    for name, probe in payload["probes"].items():
        y_true, y_pred = tensor(probe["y_true"]), tensor(probe["y_pred"])
        found = {}
        for library, module in (("tf_keras", tf_keras.losses), ("keras3", keras.losses)):
            if "class" in probe:
                weight = tensor(probe["sample_weight"]) if "sample_weight" in probe else None
                cls = getattr(module, probe["class"], None)
                if cls is None:
                    continue
                found[library] = outcome(
                    lambda c=cls, t=y_true, p=y_pred, w=weight: c()(t, p, sample_weight=w)
                )
                continue
            function = getattr(module, probe["function"], None)
            if function is None:
                continue
            options = probe.get("kwargs", {})
            found[library] = outcome(lambda f=function, t=y_true, p=y_pred, k=options: f(t, p, **k))
        results["probes"][name] = found

    import tf_keras.src.losses as tf_keras_losses

    tf_keras_names = []
    for name, obj in vars(tf_keras_losses).items():
        if name.startswith("_") or inspect.ismodule(obj) or not callable(obj):
            continue
        try:
            tf_keras.losses.get(name)
        except Exception:
            continue
        tf_keras_names.append(name)
    results["aliases"] = {"keras3": sorted(ALL_OBJECTS_DICT), "tf_keras": sorted(tf_keras_names)}

    with open(out_path, "w") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
