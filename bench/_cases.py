"""The benchmark cases: what losskit, the native kernels and TensorFlow compute for each.

Every case is built per backend as a dict ``name -> zero-argument callable``: ``"losskit"``
is losskit's call, every ``"native: ..."`` entry is a hand-written expression of the same
backend computing the same number, ``"tf"`` is TensorFlow's own API (in the TensorFlow
worker only). The report compares ``losskit`` with the fastest native entry and with
``tf``. JAX callables are jitted (compiled during warm-up) unless the case says eager.
The regularizer cases (``reg_*``) live in ``_regcases.py`` and add entry kinds of their own
(``"losskit: ..."``, ``"read: ..."``, ``"tf: ..."``; see there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import _backends
import _data
import numpy as np


@dataclasses.dataclass
class Case:
    id: str
    reference: float
    fns: dict[str, Callable[[], Any]]
    small: bool = False  # microsecond-scale: more rounds, looped samples
    memory: bool = False  # also measure the peak memory of every entry
    grad_reset: Callable[[], Any] | None = None  # drops gradients before a memory probe
    jitted: dict[str, Any] = dataclasses.field(default_factory=dict)  # JAX: for memory_analysis
    rounds: tuple[int, int] | None = None  # (full, --quick) rounds instead of the defaults
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)  # copied into the JSON
    memory_entries: tuple[str, ...] | None = None  # probe only these (name prefixes)
    first_call: str | None = None  # time this entry's first call (JAX: trace and compile)
    memory_isolated: bool = False  # probe each entry's memory in a fresh worker process


# (id, title, target text) - the order of the report.
CASES: tuple[tuple[str, str], ...] = (
    ("avg16M", "compute_average_loss, 16M f32, [N] weights"),
    ("cwl16M", "compute_weighted_loss SUM_OVER_BATCH_SIZE, 16M f32, [N] weights"),
    ("cwl16M_nonzero", "compute_weighted_loss default (SUM_BY_NONZERO_WEIGHTS), 16M f32"),
    ("tok_rows", "compute_weighted_loss, [1024,4096] losses, [1024,1] weights"),
    ("tok_mask", "compute_weighted_loss, [1024,4096] losses, [1024,4096] float mask"),
    ("small32", "compute_average_loss, 32 elements"),
    ("small32_jit", "compute_average_loss, 32 elements, jitted"),
    ("grad16M", "forward+backward of compute_average_loss, 16M f32"),
    ("reg_l2_gpt2", "apply_regularization(L2(0.01)) over GPT-2 small's 148 parameters"),
    ("reg_l1l2_gpt2", "apply_regularization(L1L2(0.01, 0.01)) over GPT-2 small's parameters"),
    ("reg_overhead", "apply_regularization(L2) over 1000 tensors [4] vs one tensor [4000]"),
    ("reg_grad_resnet50", "forward+backward of L2 over ResNet-50's 161 parameters (PyTorch)"),
    ("layer_resnet18", "ResNet-18 training step with losskit.torch layer penalties (PyTorch)"),
    ("loss_sparse_ce", "SparseCategoricalCrossentropy from logits [4096,1000] f32, fwd+bwd"),
    ("lce_fused", "fused linear cross-entropy N=4096 d=768 V=32768 f32, fwd+bwd"),
)

SOBS = "sum_over_batch_size"


def _losskit() -> Any:
    import losskit

    return losskit


def build(be: _backends.Backend, names: set[str] | None = None) -> list[Case]:
    """The cases for backend ``be`` (``names`` restricts them, for quick experiments)."""
    import _layercases  # the layer-penalty case (losskit.torch)
    import _lcecases  # the fused linear cross-entropy case
    import _losscases  # the loss catalog case
    import _regcases  # the regularizer cases (they use Case and the helpers below)

    builders: dict[str, Callable[[_backends.Backend], Case | None]] = {
        "avg16M": _avg16m,
        "cwl16M": _cwl16m,
        "cwl16M_nonzero": _cwl16m_nonzero,
        "tok_rows": _tok_rows,
        "tok_mask": _tok_mask,
        "small32": _small32,
        "small32_jit": _small32_jit,
        "grad16M": _grad16m,
        "reg_l2_gpt2": _regcases.reg_l2_gpt2,
        "reg_l1l2_gpt2": _regcases.reg_l1l2_gpt2,
        "reg_overhead": _regcases.reg_overhead,
        "reg_grad_resnet50": _regcases.reg_grad_resnet50,
        "layer_resnet18": _layercases.layer_resnet18,
        "loss_sparse_ce": _losscases.loss_sparse_ce,
        "lce_fused": _lcecases.lce_fused,
    }
    cases = []
    for case_id, builder in builders.items():
        if names is not None and case_id not in names:
            continue
        case = builder(be)
        if case is not None:
            cases.append(case)
    return cases


# ----------------------------------------------------------------------------- helpers


def _jit_all(
    be: _backends.Backend, case: Case, args: tuple[Any, ...], fns: dict[str, Callable[..., Any]]
) -> Case:
    """Jit (JAX) each ``fn(*args)`` and bind the arguments."""
    for name, fn in fns.items():
        compiled = be.jit(fn)
        case.jitted[name] = (compiled, args)
        case.fns[name] = _bind(compiled, args)
    return case


def _bind(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], Any]:
    def call() -> Any:
        return fn(*args)

    return call


def _native_dot(be: _backends.Backend) -> dict[str, Callable[[Any, Any], Any]]:
    """Native same-shape weighted sums: a BLAS-style dot and the elementwise product."""
    if be.name == "numpy":
        return {
            "native: np.dot": lambda a, b: np.dot(a.reshape(-1), b.reshape(-1)),
            "native: (l*w).sum()": lambda a, b: (a * b).sum(),
        }
    if be.name == "torch":
        import torch

        return {
            "native: torch.dot": lambda a, b: torch.dot(a.reshape(-1), b.reshape(-1)),
            "native: (l*w).sum()": lambda a, b: (a * b).sum(),
        }
    if be.name == "jax":
        import jax.numpy as jnp

        return {
            "native: jnp.dot": lambda a, b: jnp.dot(a.reshape(-1), b.reshape(-1)),
            "native: jnp.sum(l*w)": lambda a, b: jnp.sum(a * b),
        }
    return {}


def _inputs(be: _backends.Backend, data: _data.Inputs) -> tuple[Any, Any]:
    return be.asarray(data.losses), be.asarray(data.weights)


# ----------------------------------------------------------------------------- cases


def _avg16m(be: _backends.Backend) -> Case:
    data = _data.large()
    n = data.size
    args = _inputs(be, data)
    case = Case("avg16M", data.reference / n, {}, memory=True)
    if be.name == "tensorflow":
        import tensorflow as tf

        return _jit_all(
            _eager(be),
            case,
            args,
            {
                "tf": lambda a, b: tf.nn.compute_average_loss(
                    a, sample_weight=b, global_batch_size=n
                )
            },
        )
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda a, b: _losskit().compute_average_loss(a, b, global_batch_size=n)
    }
    for name, kernel in _native_dot(be).items():
        fns[name] = lambda a, b, kernel=kernel: kernel(a, b) / n
    return _jit_all(be, case, args, fns)


def _cwl16m(be: _backends.Backend) -> Case:
    data = _data.large()
    n = data.size
    args = _inputs(be, data)
    case = Case("cwl16M", data.reference / n, {})
    if be.name == "tensorflow":
        import tensorflow as tf

        red = tf.compat.v1.losses.Reduction.SUM_OVER_BATCH_SIZE
        return _jit_all(
            _eager(be),
            case,
            args,
            {"tf": lambda a, b: tf.compat.v1.losses.compute_weighted_loss(a, b, reduction=red)},
        )
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda a, b: _losskit().compute_weighted_loss(a, b, reduction=SOBS)
    }
    for name, kernel in _native_dot(be).items():
        fns[name] = lambda a, b, kernel=kernel: kernel(a, b) / n
    return _jit_all(be, case, args, fns)


def _cwl16m_nonzero(be: _backends.Backend) -> Case:
    data = _data.large()
    count = int(np.count_nonzero(data.weights))
    args = _inputs(be, data)
    case = Case("cwl16M_nonzero", data.reference / count, {})
    if be.name == "tensorflow":
        import tensorflow as tf

        return _jit_all(
            _eager(be),
            case,
            args,
            {"tf": lambda a, b: tf.compat.v1.losses.compute_weighted_loss(a, b)},
        )
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda a, b: _losskit().compute_weighted_loss(a, b)
    }
    xp_count = _count_nonzero(be)
    for name, kernel in _native_dot(be).items():
        fns[name + " / count_nonzero(w)"] = lambda a, b, kernel=kernel: kernel(a, b) / xp_count(b)
    # count_nonzero of a float array is slower than of a bool one (NumPy: 2x)
    first = next(iter(_native_dot(be).items()))
    fns[first[0] + " / count_nonzero(w != 0)"] = lambda a, b: first[1](a, b) / xp_count(b != 0)
    return _jit_all(be, case, args, fns)


def _count_nonzero(be: _backends.Backend) -> Callable[[Any], Any]:
    if be.name == "torch":
        import torch

        return lambda b: torch.count_nonzero(b).to(torch.float32)
    if be.name == "jax":
        import jax.numpy as jnp

        return lambda b: jnp.count_nonzero(b).astype(jnp.float32)
    return lambda b: np.float32(np.count_nonzero(b))


def _tok_rows(be: _backends.Backend) -> Case:
    data = _data.tokens_row_weights()
    n = data.size
    args = _inputs(be, data)
    case = Case("tok_rows", data.reference / n, {}, memory=True)
    if be.name == "tensorflow":
        import tensorflow as tf

        red = tf.compat.v1.losses.Reduction.SUM_OVER_BATCH_SIZE
        return _jit_all(
            _eager(be),
            case,
            args,
            {"tf": lambda a, b: tf.compat.v1.losses.compute_weighted_loss(a, b, reduction=red)},
        )
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda a, b: _losskit().compute_weighted_loss(a, b, reduction=SOBS)
    }
    if be.name == "numpy":
        fns["native: (w[:,0] @ l).sum()"] = lambda a, b: np.sum(b[:, 0] @ a) / n
        fns["native: l.sum(1) @ w[:,0]"] = lambda a, b: (a.sum(axis=1) @ b[:, 0]) / n
    elif be.name == "torch":
        import torch

        fns["native: torch.mv(l.T, w[:,0]).sum()"] = lambda a, b: torch.mv(a.T, b[:, 0]).sum() / n
        fns["native: l.sum(1) @ w[:,0]"] = lambda a, b: (a.sum(dim=1) @ b[:, 0]) / n
    else:
        import jax.numpy as jnp

        fns["native: (w[:,0] @ l).sum()"] = lambda a, b: jnp.sum(b[:, 0] @ a) / n
        fns["native: l.sum(1) @ w[:,0]"] = lambda a, b: (a.sum(axis=1) @ b[:, 0]) / n
    fns["native: (l*w).sum()"] = lambda a, b: (a * b).sum() / n
    return _jit_all(be, case, args, fns)


def _tok_mask(be: _backends.Backend) -> Case:
    data = _data.tokens_mask()
    n = data.size
    args = _inputs(be, data)
    case = Case("tok_mask", data.reference / n, {}, memory=True)
    if be.name == "tensorflow":
        import tensorflow as tf

        red = tf.compat.v1.losses.Reduction.SUM_OVER_BATCH_SIZE
        return _jit_all(
            _eager(be),
            case,
            args,
            {"tf": lambda a, b: tf.compat.v1.losses.compute_weighted_loss(a, b, reduction=red)},
        )
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda a, b: _losskit().compute_weighted_loss(a, b, reduction=SOBS)
    }
    for name, kernel in _native_dot(be).items():
        fns[name] = lambda a, b, kernel=kernel: kernel(a, b) / n
    return _jit_all(be, case, args, fns)


def _small32(be: _backends.Backend) -> Case:
    """Eager on every backend: the per-call overhead of losskit's Python."""
    return _small(be, "small32", _eager(be))


def _small32_jit(be: _backends.Backend) -> Case | None:
    """JAX and TensorFlow only: the same call compiled (jax.jit, tf.function)."""
    if be.name not in ("jax", "tensorflow"):
        return None
    return _small(be, "small32_jit", be)


def _small(be: _backends.Backend, case_id: str, runner: _backends.Backend) -> Case:
    """compute_average_loss on 32 elements and its anchors, run by ``runner`` (eager or
    compiled)."""
    data = _data.small()
    n = data.size
    args = _inputs(be, data)
    case = Case(case_id, data.reference / n, {}, small=True)
    if be.name == "tensorflow":
        import tensorflow as tf

        return _jit_all(
            runner,
            case,
            args,
            {
                "tf": lambda a, b: tf.nn.compute_average_loss(
                    a, sample_weight=b, global_batch_size=n
                )
            },
        )
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda a, b: _losskit().compute_average_loss(a, b, global_batch_size=n)
    }
    for name, kernel in _native_dot(be).items():
        fns[name] = lambda a, b, kernel=kernel: kernel(a, b) / n
    return _jit_all(runner, case, args, fns)


def _grad16m(be: _backends.Backend) -> Case | None:
    """Value and gradient w.r.t. the losses of ``sum(l * w) / N``."""
    data = _data.large()
    n = data.size
    scale = 1.0 / n
    case = Case("grad16M", data.reference / n, {}, memory=True)
    if be.name == "numpy":
        return None
    if be.name == "torch":
        import torch

        w = be.asarray(data.weights)
        leaf = be.asarray(data.losses).requires_grad_(True)

        def reset() -> None:
            leaf.grad = None

        def autograd(loss_fn: Callable[[Any], Any]) -> Callable[[], Any]:
            def step() -> Any:
                leaf.grad = None
                loss = loss_fn(leaf)
                loss.backward()
                return loss

            return step

        def by_hand() -> Any:
            with torch.no_grad():
                return torch.dot(leaf, w) * scale, w * scale

        case.grad_reset = reset
        case.fns = {
            "losskit": autograd(
                lambda x: _losskit().compute_average_loss(x, w, global_batch_size=n)
            ),
            "native: hand-written gradient": by_hand,
            "native: autograd (l*w).sum()": autograd(lambda x: (x * w).sum() * scale),
            "native: autograd torch.dot": autograd(lambda x: torch.dot(x, w) * scale),
        }
        return case
    if be.name == "jax":
        import jax
        import jax.numpy as jnp

        args = _inputs(be, data)
        fns: dict[str, Callable[..., Any]] = {
            "losskit": jax.value_and_grad(
                lambda a, b: _losskit().compute_average_loss(a, b, global_batch_size=n)
            ),
            "native: hand-written gradient": lambda a, b: (jnp.dot(a, b) * scale, b * scale),
            "native: grad jnp.sum(l*w)": jax.value_and_grad(lambda a, b: jnp.sum(a * b) * scale),
        }
        return _jit_all(be, case, args, fns)
    import tensorflow as tf

    losses, weights = _inputs(be, data)

    def tape_step() -> Any:
        with tf.GradientTape() as tape:
            tape.watch(losses)
            loss = tf.nn.compute_average_loss(losses, sample_weight=weights, global_batch_size=n)
        return loss, tape.gradient(loss, losses)

    case.fns = {"tf": tape_step}
    return case


def _eager(be: _backends.Backend) -> _backends.Backend:
    """``be`` with ``jit`` switched off."""

    class Eager(type(be)):  # type: ignore[misc]
        def jit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
            return fn

    return Eager()
