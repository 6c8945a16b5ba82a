"""Runs the conformance cases on the real TensorFlow: ``python _tf_oracle.py IN.json OUT.json``.

A separate process because TensorFlow must configure its logical CPU devices before it
initialises, and must not share a process with PyTorch or JAX. Everything TensorFlow is
imported inside :func:`main`, so importing this module (pytest's doctest collection does)
stays cheap and TensorFlow-free.

Input: ``{"cases": [...], "examples": {...}, "gradients": [...]}`` as written by
``conftest.py``. Output: for every case id, ``{"value", "dtype", "shape"}`` or
``{"error", "message"}``; NaN and infinities are encoded as strings.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

DEVICES = 4


def _encode(value: Any) -> Any:
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, complex):
        return {"re": _encode(value.real), "im": _encode(value.imag)}
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def main(argv: list[str]) -> int:
    in_path, out_path = argv[1], argv[2]
    with open(in_path) as handle:
        payload = json.load(handle)

    import numpy as np
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(DEVICES)]
    )
    import tf_keras
    from keras.src.losses.loss import reduce_weighted_values
    from tf_keras.src.utils import losses_utils

    tf.get_logger().setLevel("ERROR")  # "Using MirroredStrategy eagerly has ... overhead"
    strategies: dict[int, Any] = {}

    def strategy(replicas: int) -> Any:
        if replicas not in strategies:
            devices = [f"/cpu:{i}" for i in range(replicas)]
            strategies[replicas] = tf.distribute.MirroredStrategy(devices)
        return strategies[replicas]

    def in_context(context: str, replicas: int, fn: Callable[[], Any]) -> Any:
        if context == "replica":
            chosen = strategy(replicas)
            return chosen.experimental_local_results(chosen.run(fn))[0]
        if context == "cross":
            with strategy(replicas).scope():
                return fn()
        return fn()

    def host(spec: dict[str, Any]) -> Any:
        values = np.asarray(_decode(spec["values"]))
        if spec["imag"] is not None:
            values = values + 1j * np.asarray(_decode(spec["imag"]))
        return values.reshape(spec["shape"])

    def build(spec: dict[str, Any] | None) -> Any:
        kind = spec["kind"] if spec else None
        if kind in ("python", "literal"):
            return _decode(spec["value"])
        if kind == "none":
            return None
        dtype = spec["dtype"]
        if kind == "numpy":
            return host(spec).astype(dtype)
        if dtype.startswith("complex"):
            return tf.constant(host(spec).astype(dtype))
        if dtype == "bool":
            return tf.constant(host(spec).astype(bool))
        # float64/int64 host values are exact in `dtype` (the generator rounded them)
        return tf.cast(tf.constant(host(spec)), getattr(tf, dtype))

    def describe(tensor: Any) -> dict[str, Any]:
        if isinstance(tensor, int | float):
            return {"value": _encode(tensor), "dtype": type(tensor).__name__, "shape": []}
        tensor = tf.convert_to_tensor(tensor)
        dtype = tensor.dtype
        if dtype.is_complex:
            value = np.asarray(tensor.numpy()).astype(complex).tolist()
        elif dtype.is_floating:
            value = tf.cast(tensor, tf.float64).numpy().tolist()
        else:
            value = tensor.numpy().tolist()
        return {"value": _encode(value), "dtype": dtype.name, "shape": list(tensor.shape)}

    def call(case: dict[str, Any]) -> Any:
        api, oracle = case["api"], case["oracle"]
        losses = build(case["losses"])
        weights_spec, gbs_spec = case["weights"], case["gbs"]
        if api == "collections":
            tf.compat.v1.losses.compute_weighted_loss(
                losses, build(weights_spec), reduction=case["tf_reduction"]
            )
            return len(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.LOSSES))
        if api == "srl":
            return tf.nn.scale_regularization_loss(losses)
        if api == "cal":
            kwargs: dict[str, Any] = {}
            if weights_spec is not None:
                kwargs["sample_weight"] = build(weights_spec)
            if gbs_spec is not None and gbs_spec["kind"] == "traced":
                traced = tf.function(
                    lambda gbs: tf.nn.compute_average_loss(losses, global_batch_size=gbs, **kwargs)
                )
                return traced(build(dict(gbs_spec, kind="array")))
            if gbs_spec is not None:
                kwargs["global_batch_size"] = build(gbs_spec)
            return tf.nn.compute_average_loss(losses, **kwargs)
        weights = 1.0 if weights_spec is None else build(weights_spec)
        if oracle == "tf1":
            return tf.compat.v1.losses.compute_weighted_loss(
                losses, weights, reduction=case["tf_reduction"]
            )
        if oracle == "tf_keras":
            sample_weight = None if weights_spec is None else weights
            return losses_utils.compute_weighted_loss(
                losses, sample_weight=sample_weight, reduction=case["tf_reduction"]
            )
        if oracle == "keras3":
            sample_weight = None if weights_spec is None else weights
            return reduce_weighted_values(
                losses, sample_weight=sample_weight, reduction=case["tf_reduction"]
            )
        raise ValueError(f"unknown oracle {oracle!r}")

    def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
        try:
            return describe(fn())
        except Exception as error:  # the error itself is the result
            return {"error": type(error).__name__, "message": str(error)[:2000]}

    results: dict[str, Any] = {"cases": {}, "examples": {}, "gradients": {}}
    for case in payload["cases"]:
        results["cases"][case["id"]] = outcome(
            lambda case=case: in_context(case["context"], case["replicas"], lambda: call(case))
        )

    pages = _page_examples(tf, tf_keras, payload["examples"], strategy)
    for key in payload["examples"]["keys"]:
        fn = pages.get(key)
        if fn is None:
            results["examples"][key] = {"error": "MissingTensorFlowExample", "message": key}
        else:
            results["examples"][key] = outcome(fn)

    for gradient in payload["gradients"]:
        results["gradients"][gradient["id"]] = _gradient(tf, gradient, build, describe)

    results["versions"] = {
        "tensorflow": tf.__version__,
        "tf_keras": tf_keras.__version__,
        "logical_cpus": len(tf.config.list_logical_devices("CPU")),
    }
    with open(out_path, "w") as handle:
        json.dump(results, handle)
    return 0


def _page_examples(
    tf: Any, tf_keras: Any, data: dict[str, Any], strategy: Callable[[int], Any]
) -> dict[str, Callable[[], Any]]:
    """The reference pages' examples, each written the way its page writes it."""
    labels = tf.constant(data["labels"])
    predictions = tf.constant(data["predictions"], tf.float32)
    sample_weight = tf.constant(data["sample_weight"], tf.float32)
    kernel = tf.constant(data["kernel"], tf.float32)
    losses_v = tf.constant(data["losses"], tf.float32)
    weights_v = tf.constant(data["weights"], tf.float32)
    matrix = tf.constant(data["matrix"], tf.float32)
    row_weights = tf.constant(data["row_weights"], tf.float32)
    negative = tf.constant(data["negative"], tf.float32)
    gbs, replicas = data["global_batch_size"], data["num_replicas"]
    one_hot = tf.one_hot(labels, predictions.shape[1])
    reduction = tf_keras.losses.Reduction
    cwl = tf.compat.v1.losses.compute_weighted_loss
    v1 = tf.compat.v1.losses.Reduction

    def cce(key: Any) -> Any:
        return tf_keras.losses.CategoricalCrossentropy(reduction=key)(one_hot, predictions)

    def per_example() -> Any:
        return tf_keras.losses.sparse_categorical_crossentropy(labels, predictions)

    def on_replica(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            chosen = strategy(replicas)
            return chosen.experimental_local_results(chosen.run(fn))[0]

        return run

    def compute_loss() -> Any:
        return tf.nn.compute_average_loss(
            per_example(), sample_weight=sample_weight, global_batch_size=gbs
        )

    def penalty() -> Any:
        return tf.nn.scale_regularization_loss(tf.nn.l2_loss(kernel))

    def regularized() -> Any:
        loss = compute_loss()
        loss += penalty()
        return loss

    reduction_page = "tf.keras.losses.Reduction"
    average_page = "tf.nn.compute_average_loss"
    scale_page = "tf.nn.scale_regularization_loss"
    weighted_page = "tf.compat.v1.losses.compute_weighted_loss"
    return {
        f"{reduction_page}: NONE": lambda: cce(reduction.NONE),
        f"{reduction_page}: SUM": lambda: cce(reduction.SUM),
        f"{reduction_page}: SUM_OVER_BATCH_SIZE": lambda: cce(reduction.SUM_OVER_BATCH_SIZE),
        f"{reduction_page}: AUTO": lambda: cce(reduction.AUTO),
        f"{reduction_page}: AUTO, 2 replicas": on_replica(
            lambda: tf_keras.losses.CategoricalCrossentropy()(one_hot, predictions)
        ),
        f"{reduction_page}: global batch by hand": lambda: (
            tf.reduce_sum(cce(reduction.NONE)) * (1.0 / gbs)
        ),
        f"{reduction_page}: global batch": lambda: tf.nn.compute_average_loss(
            cce(reduction.NONE), global_batch_size=gbs
        ),
        f"{average_page}: compute_loss": on_replica(compute_loss),
        f"{average_page}: default batch": on_replica(lambda: tf.nn.compute_average_loss(losses_v)),
        f"{scale_page}: penalty": on_replica(penalty),
        f"{scale_page}: compute_loss": on_replica(regularized),
        f"{weighted_page}: NONE": lambda: cwl(losses_v, weights_v, reduction=v1.NONE),
        f"{weighted_page}: SUM": lambda: cwl(losses_v, weights_v, reduction=v1.SUM),
        f"{weighted_page}: MEAN": lambda: cwl(losses_v, weights_v, reduction=v1.MEAN),
        f"{weighted_page}: SUM_OVER_BATCH_SIZE": lambda: cwl(
            losses_v, weights_v, reduction=v1.SUM_OVER_BATCH_SIZE
        ),
        f"{weighted_page}: SUM_BY_NONZERO_WEIGHTS": lambda: cwl(losses_v, weights_v),
        f"{weighted_page}: MEAN, weights sum to 0": lambda: cwl(
            losses_v, negative, reduction=v1.MEAN
        ),
        f"{weighted_page}: SUM_BY_NONZERO_WEIGHTS, negative": lambda: cwl(losses_v, negative),
        f"{weighted_page}: scalar weight 0": lambda: cwl(losses_v, 0.0),
        f"{weighted_page}: per-row weights": lambda: cwl(matrix, row_weights),
        f"{weighted_page}: per-row weights, SUM_OVER_BATCH_SIZE": lambda: cwl(
            matrix, row_weights, reduction=v1.SUM_OVER_BATCH_SIZE
        ),
        f"{weighted_page}: rank mismatch": lambda: cwl(matrix, tf.constant([1.0, 0.0])),
    }


def _gradient(
    tf: Any,
    spec: dict[str, Any],
    build: Callable[[dict[str, Any]], Any],
    describe: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """The loss and its gradients with respect to the losses and the weights."""
    losses, weights = build(spec["losses"]), build(spec["weights"])
    try:
        with tf.GradientTape() as tape:
            tape.watch([losses, weights])
            if spec["api"] == "cal":
                loss = tf.nn.compute_average_loss(
                    losses, sample_weight=weights, global_batch_size=spec["gbs"]
                )
            else:
                loss = tf.compat.v1.losses.compute_weighted_loss(
                    losses, weights, reduction=spec["tf_reduction"]
                )
        grads = tape.gradient(loss, [losses, weights])
    except Exception as error:  # reported, and the test fails on it
        return {"error": type(error).__name__, "message": str(error)[:2000]}
    # An input the loss does not depend on has no gradient (None): it is zero.
    d_losses = tf.zeros_like(losses) if grads[0] is None else grads[0]
    d_weights = tf.zeros_like(weights) if grads[1] is None else grads[1]
    return {
        "loss": describe(loss),
        "d_losses": describe(d_losses),
        "d_weights": describe(d_weights),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))
