"""``tf.compat.v1.losses`` on the real TensorFlow: ``python _v1_tf_oracle.py IN.json OUT.json``.

Everything TensorFlow is imported inside :func:`main`, so importing this module stays
TensorFlow-free. Input: ``_v1_cases.payload()``. Output::

    {"versions": {...},
     "values": {case_id: {"weights|reduction": outcome}},       # eager, as users call it
     "graph": {case_id: {"weights": outcome}},                  # mean_pairwise_squared_error
                                                                # inside tf.function
     "gradients": {case_id: {"weights|reduction": {"predictions": outcome,
                                                    "weights": outcome}}},
     "probes": {name: outcome}}

An outcome is ``{"value": [...], "shape": [...], "dtype"}`` or ``{"error", "message"}``;
"reduction" is the TF1 key, or "default" when the argument is omitted.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from typing import Any

PREDICTIONS = {
    "hinge_loss": "logits",
    "sigmoid_cross_entropy": "logits",
    "softmax_cross_entropy": "logits",
    "sparse_softmax_cross_entropy": "logits",
}


def _encode(values: list[float]) -> list[Any]:
    return [v if math.isfinite(v) else str(v) for v in values]


def main(argv: list[str]) -> int:
    in_path, out_path = argv[1], argv[2]
    with open(in_path) as handle:
        payload = json.load(handle)

    import warnings

    warnings.simplefilter("ignore")

    import numpy as np
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    losses = tf.compat.v1.losses

    def array(spec: dict[str, Any]) -> Any:
        return np.asarray(spec["values"], np.float64).reshape(spec["shape"]).astype(spec["dtype"])

    def weight(spec: dict[str, Any] | None) -> Any:
        if spec is None or spec["kind"] == "python":
            return None if spec is None else spec["value"]
        if spec["kind"] == "numpy-scalar":
            return np.dtype(spec["dtype"]).type(spec["value"])
        return tf.constant(array(spec))

    def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
        try:
            result = tf.convert_to_tensor(fn())
        except Exception as error:  # the error itself is the result
            return {"error": type(error).__name__, "message": str(error)[:500]}
        return {
            "value": _encode(np.asarray(result.numpy(), np.float64).ravel().tolist()),
            "shape": list(result.shape),
            "dtype": result.dtype.name,
        }

    def call(case: dict[str, Any], labels: Any, predictions: Any, w: Any, reduction: Any) -> Any:
        kwargs = dict(case["options"])
        if w is not None:
            kwargs["weights"] = w
        if reduction is not None:
            kwargs["reduction"] = reduction
        return getattr(losses, case["function"])(labels, predictions, **kwargs)

    results: dict[str, Any] = {
        "versions": {"tensorflow": tf.__version__},
        "values": {},
        "graph": {},
        "gradients": {},
    }
    gradient_ids = set(payload["gradients"]["ids"])
    for case in payload["cases"]:
        labels = tf.constant(array(case["labels"]))
        predictions = tf.constant(array(case["predictions"]))

        def run(w: Any, r: Any, case: Any = case, t: Any = labels, p: Any = predictions) -> Any:
            return call(case, t, p, w, r)

        results["values"][case["id"]] = {
            f"{variant}|{reduction or 'default'}": outcome(
                functools.partial(run, weight(spec), reduction)
            )
            for variant, spec in case["weights"].items()
            for reduction in case["reductions"]
        }
        if case["function"] == "mean_pairwise_squared_error":
            results["graph"][case["id"]] = {
                variant: outcome(
                    tf.function(functools.partial(run, weight(spec), None), autograph=False)
                )
                for variant, spec in case["weights"].items()
            }
        if case["id"] in gradient_ids:
            results["gradients"][case["id"]] = _gradients(
                tf, case, labels, predictions, weight, outcome, call, payload["gradients"]
            )

    results["probes"] = _probes(tf, np, losses, outcome)
    with open(out_path, "w") as handle:
        json.dump(results, handle)
    return 0


def _gradients(
    tf: Any,
    case: dict[str, Any],
    labels: Any,
    predictions: Any,
    weight: Callable[[Any], Any],
    outcome: Callable[[Callable[[], Any]], dict[str, Any]],
    call: Callable[..., Any],
    plan: dict[str, Any],
) -> dict[str, Any]:
    """d loss / d predictions (logits) and d loss / d weights, for array weights."""
    found: dict[str, Any] = {}
    reductions = plan["reductions"] if case["function"] != "mean_pairwise_squared_error" else [None]
    for variant in plan["weights"]:
        for reduction in reductions:
            variable = tf.Variable(predictions)
            weights = tf.Variable(weight(case["weights"][variant]))
            try:
                with tf.GradientTape() as tape:
                    loss = call(case, labels, variable, weights, reduction)
                d_predictions, d_weights = tape.gradient(loss, [variable, weights])
            except Exception as error:
                found[f"{variant}|{reduction or 'default'}"] = {
                    "error": type(error).__name__,
                    "message": str(error)[:500],
                }
                continue
            found[f"{variant}|{reduction or 'default'}"] = {
                "predictions": outcome(lambda g=d_predictions, v=variable: _or_zeros(tf, g, v)),
                "weights": outcome(lambda g=d_weights, v=weights: _or_zeros(tf, g, v)),
            }
    return found


def _or_zeros(tf: Any, gradient: Any, variable: Any) -> Any:
    return tf.zeros_like(variable) if gradient is None else gradient


def _probes(
    tf: Any, np: Any, losses: Any, outcome: Callable[[Callable[[], Any]], dict[str, Any]]
) -> dict[str, Any]:
    """The inputs of the deviations of docs/deviations.md that concern losskit.v1."""
    lab = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]])
    pred = tf.constant([[1.0, 2.0, 4.0], [4.0, 5.0, 6.0]])
    labels01, logits = tf.constant([[1.0, 0.0]]), tf.constant([[1.0, -2.0]])
    scores = tf.constant([[0.1, -0.2, 0.0], [1.0, 2.0, 3.0]])
    return {
        # v1-pairwise-scalar-weight
        "pairwise_eager": outcome(lambda: losses.mean_pairwise_squared_error(lab, pred)),
        "pairwise_graph": outcome(
            tf.function(lambda: losses.mean_pairwise_squared_error(lab, pred), autograph=False)
        ),
        "pairwise_array_weights": outcome(
            lambda: losses.mean_pairwise_squared_error(lab, pred, tf.ones([2, 1]))
        ),
        # v1-float32-inputs
        "mse_float64": outcome(lambda: losses.mean_squared_error(np.array([0.1]), np.array([0.3]))),
        "absolute_int32": outcome(
            lambda: losses.absolute_difference(tf.constant([1, 9]), tf.constant([4, 8]))
        ),
        "sigmoid_float64": outcome(
            lambda: losses.sigmoid_cross_entropy(
                np.array([[1.0, 0.0]]), np.array([[0.1, -0.2]]), reduction="weighted_sum"
            )
        ),
        # v1-option-checks
        "smoothing_negative": outcome(
            lambda: losses.sigmoid_cross_entropy(labels01, logits, label_smoothing=-0.5)
        ),
        "smoothing_none": outcome(lambda: losses.sigmoid_cross_entropy(labels01, logits)),
        "smoothing_two": outcome(
            lambda: losses.sigmoid_cross_entropy(labels01, logits, label_smoothing=2.0)
        ),
        "huber_negative_delta": outcome(
            lambda: losses.huber_loss(tf.constant([1.0, 2.0]), tf.constant([2.0, 4.0]), delta=-1.0)
        ),
        "log_negative_epsilon": outcome(
            lambda: losses.log_loss(tf.constant([1.0, 0.0]), tf.constant([1.0, 0.0]), epsilon=-0.5)
        ),
        "cosine_bool_axis": outcome(
            lambda: losses.cosine_distance(
                tf.constant([[1.0, 0.0], [0.0, 1.0]]),
                tf.constant([[1.0, 0.0], [1.0, 0.0]]),
                axis=True,
            )
        ),
        # sparse-label-values
        "sparse_out_of_range": outcome(
            lambda: losses.sparse_softmax_cross_entropy(tf.constant([0, 3]), scores)
        ),
        "sparse_negative": outcome(
            lambda: losses.sparse_softmax_cross_entropy(tf.constant([0, -1]), scores)
        ),
        "sparse_int8_labels": outcome(
            lambda: losses.sparse_softmax_cross_entropy(tf.constant([0, 1], tf.int8), scores)
        ),
        # eager-loss-collections
        "total_of_nothing": outcome(lambda: losses.get_total_loss()),
        "losses_after_call": outcome(
            lambda: (losses.mean_squared_error(lab, pred), len(losses.get_losses()))[1]
        ),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))
