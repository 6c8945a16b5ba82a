"""The benchmark cases: what losskit, the native kernels and TensorFlow compute for each.

Every case is built per backend as a dict ``name -> zero-argument callable``: ``"losskit"``
is losskit's call, every ``"native: ..."`` entry is a hand-written expression of the same
backend computing the same number, ``"tf"`` is TensorFlow's own API (in the TensorFlow
worker only). The report compares ``losskit`` with the fastest native entry and with
``tf``. JAX callables are jitted (compiled during warm-up) unless the case says eager.
This module holds :class:`Case`, the helpers every case module shares, and the weighted and
average loss cases; the regularizer cases (``reg_*``, ``_regcases.py``) add entry kinds of
their own (``"losskit: ..."``, ``"read: ..."``, ``"tf: ..."``; see there). ``_registry.py``
lists every case.
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


SOBS = "sum_over_batch_size"


def _losskit() -> Any:
    import losskit

    return losskit


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


def avg16m(be: _backends.Backend) -> Case:
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


def cwl16m(be: _backends.Backend) -> Case:
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


def cwl16m_nonzero(be: _backends.Backend) -> Case:
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


def tok_rows(be: _backends.Backend) -> Case:
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


def tok_mask(be: _backends.Backend) -> Case:
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


def small32(be: _backends.Backend) -> Case:
    """Eager on every backend: the per-call overhead of losskit's Python."""
    return _small(be, "small32", _eager(be))


def small32_jit(be: _backends.Backend) -> Case | None:
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


def grad16m(be: _backends.Backend) -> Case | None:
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
