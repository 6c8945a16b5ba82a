"""The loss catalog case: ``loss_sparse_ce``, sparse categorical crossentropy from logits.

Logits ``[4096, 1000]`` float32 (normal, scale 3) and integer labels; one forward+backward
(the gradient with respect to the logits) of the mean loss:

* PyTorch: ``SparseCategoricalCrossentropy(from_logits=True)(labels, logits).backward()``
  against ``torch.nn.functional.cross_entropy(logits, labels).backward()`` (eager; ``.grad``
  reset before each call); the function form ``.mean()`` for information.
* JAX: ``jax.jit(jax.value_and_grad(...))`` of the class against the same of
  ``optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()``.
* TensorFlow: tf_keras 2.21's ``SparseCategoricalCrossentropy(from_logits=True)`` under a
  ``GradientTape``, eager (the issue's anchor: losskit must be at least 2x faster).

The reference value is the float64 mean crossentropy of the same numbers.
"""

from __future__ import annotations

from typing import Any

import _backends
import numpy as np
from _cases import Case, _jit_all

BATCH, CLASSES = 4096, 1000


def _data() -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(2026)
    logits = (rng.normal(size=(BATCH, CLASSES)) * 3.0).astype(np.float32)
    labels = rng.integers(0, CLASSES, size=BATCH)
    wide = logits.astype(np.float64)
    top = wide.max(axis=1, keepdims=True)
    normalizer = np.log(np.exp(wide - top).sum(axis=1)) + top[:, 0]
    reference = float((normalizer - wide[np.arange(BATCH), labels]).mean())
    return logits, labels, reference


def loss_sparse_ce(be: _backends.Backend) -> Case | None:
    if be.name == "numpy":
        return None  # no autograd
    logits, labels, reference = _data()
    case = Case("loss_sparse_ce", reference, {}, rounds=(15, 3))
    if be.name == "tensorflow":
        import tensorflow as tf
        import tf_keras

        x, y = tf.constant(logits), tf.constant(labels.astype(np.int32))
        tf_loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def tape_step() -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = tf_loss(y, x)
            return value, tape.gradient(value, x)

        case.fns = {"tf": tape_step}
        return case

    from losskit.losses import SparseCategoricalCrossentropy, sparse_categorical_crossentropy

    loss = SparseCategoricalCrossentropy(from_logits=True)
    if be.name == "torch":
        import torch

        leaf = torch.from_numpy(logits).clone().requires_grad_(True)
        target = torch.from_numpy(labels).clone()

        def step(fn: Any) -> Any:
            def run() -> Any:
                leaf.grad = None
                value = fn()
                value.backward()
                return value

            return run

        case.fns = {
            "losskit": step(lambda: loss(target, leaf)),
            "losskit: function form .mean()": step(
                lambda: sparse_categorical_crossentropy(target, leaf, from_logits=True).mean()
            ),
            "native: F.cross_entropy": step(
                lambda: torch.nn.functional.cross_entropy(leaf, target)
            ),
        }

        def reset() -> None:
            leaf.grad = None

        case.grad_reset = reset
        return case

    import jax
    import jax.numpy as jnp
    import optax

    args = (jnp.asarray(logits), jnp.asarray(labels.astype(np.int32)))
    return _jit_all(
        be,
        case,
        args,
        {
            "losskit": jax.value_and_grad(lambda p, t: loss(t, p)),
            "native: optax": jax.value_and_grad(
                lambda p, t: optax.softmax_cross_entropy_with_integer_labels(p, t).mean()
            ),
        },
    )


__all__ = ["loss_sparse_ce"]
