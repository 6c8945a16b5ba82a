"""The regularizer cases: ``apply_regularization`` over real models' parameter lists.

Entry names (the report, ``_report.REG_SPECS``, reads their kind from the prefix):

* ``"losskit"``: the call under test; ``"losskit: ..."``: another losskit call of the same
  case (JAX eager, the L2 call that L1L2 is compared with, one tensor instead of many).
* ``"native: ..."``: a hand-written expression of the same library computing the same
  penalty (its relative error against float64 is printed).
* ``"read: ..."``: a plain pass over the same bytes that does not compute the penalty
  (a sum): together with the natives it measures the **read bandwidth** - the fastest of
  all ``read:`` and ``native:`` entries is the read-bandwidth anchor of its case.
* ``"tf: ..."``: TensorFlow / tf_keras, in the TensorFlow worker (information).
* ``"... [1 tensor]"``: the same call over one tensor holding every value (``reg_overhead``:
  per-tensor overhead = (many - one) / (tensors - 1), paired per round).

JAX entries are jitted unless their name says eager; NumPy and PyTorch entries are eager.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import _backends
import _data
import numpy as np
from _cases import Case, _bind, _jit_all

L1_FACTOR = 0.01
L2_FACTOR = 0.01
LOOP = "native: loop sum((p**2).sum())"  # the Python-loop anchor (eager everywhere)
ONE = " [1 tensor]"
HEAVY_ROUNDS = (7, 2)  # (full, --quick): GPT-2 calls take 15-800 ms each
GRAD_ROUNDS = (11, 3)

_ARRAYS: dict[tuple[str, str], tuple[list[Any], Any]] = {}


def _arrays(be: _backends.Backend, name: str) -> tuple[list[Any], Any]:
    """(the parameter arrays of set ``name``, one flat copy) in ``be``'s library, cached
    per worker so that the two GPT-2 cases share one copy."""
    key = (be.name, name)
    if key not in _ARRAYS:
        params = _data.params(name)
        _ARRAYS[key] = ([be.asarray(a) for a in params.arrays], be.asarray(params.flat))
    return _ARRAYS[key]


def _meta(params: _data.Params) -> dict[str, Any]:
    return {
        "tensors": len(params.arrays),
        "elements": params.size,
        "nbytes": params.nbytes,
        "largest_nbytes": params.largest_nbytes,
    }


def _regs() -> Any:
    from losskit import regularizers

    return regularizers


def _add_jitted(
    be: _backends.Backend, case: Case, args: tuple[Any, ...], fns: dict[str, Callable[..., Any]]
) -> None:
    """Jit (JAX) and bind ``fns`` into ``case`` next to the entries it already has."""
    _jit_all(be, case, args, fns)


def _add_eager(case: Case, args: tuple[Any, ...], fns: dict[str, Callable[..., Any]]) -> None:
    for name, fn in fns.items():
        case.fns[name] = _bind(fn, args)


# ----------------------------------------------------------------------------- natives


def _l2_natives(be: _backends.Backend) -> tuple[dict[str, Any], dict[str, Any]]:
    """(jitted-on-JAX, always eager) native ``l2 * sum_p sum(p*p)`` and read passes."""
    l2 = L2_FACTOR
    if be.name == "numpy":
        return {}, {
            "native: sum(np.dot(p.ravel(), p.ravel()))": lambda ps, flat: (
                l2 * sum(np.dot(p.ravel(), p.ravel()) for p in ps)
            ),
            LOOP: lambda ps, flat: l2 * sum((p**2).sum() for p in ps),
            "read: np.add.reduce per array": lambda ps, flat: sum(
                np.add.reduce(p, axis=None) for p in ps
            ),
            "read: np.add.reduce(flat copy)": lambda ps, flat: np.add.reduce(flat),
        }
    if be.name == "torch":
        import torch

        return {}, {
            "native: torch._foreach_norm(ps) squared": lambda ps, flat: (
                l2 * torch.stack(torch._foreach_norm(ps)).square().sum()
            ),
            LOOP: lambda ps, flat: l2 * sum((p**2).sum() for p in ps),
            "read: torch.sum per tensor": lambda ps, flat: torch.stack([p.sum() for p in ps]).sum(),
            "read: flat_copy.sum()": lambda ps, flat: flat.sum(),
        }
    import jax.numpy as jnp

    jitted = {
        "native: jit sum(jnp.sum(p*p))": lambda ps, flat: l2 * sum(jnp.sum(p * p) for p in ps),
        "read: jit sum(jnp.sum(p))": lambda ps, flat: sum(jnp.sum(p) for p in ps),
        "read: jit jnp.sum(flat copy)": lambda ps, flat: jnp.sum(flat),
    }
    eager = {LOOP + " (eager)": lambda ps, flat: l2 * sum((p**2).sum() for p in ps)}
    return jitted, eager


def _l1l2_natives(be: _backends.Backend) -> tuple[dict[str, Any], dict[str, Any]]:
    """Native ``sum_p l1*sum|p| + l2*sum(p*p)`` and a read pass."""
    l1, l2 = L1_FACTOR, L2_FACTOR
    if be.name == "numpy":
        return {}, {
            "native: loop l1*|p|.sum() + l2*np.dot(p, p)": lambda ps, flat: sum(
                l1 * np.abs(p).sum() + l2 * np.dot(p.ravel(), p.ravel()) for p in ps
            ),
            "read: np.add.reduce(flat copy)": lambda ps, flat: np.add.reduce(flat),
        }
    if be.name == "torch":
        import torch

        def foreach(ps: Sequence[Any], flat: Any) -> Any:
            ones = torch.stack(torch._foreach_norm(ps, 1)).sum()
            twos = torch.stack(torch._foreach_norm(ps, 2)).square().sum()
            return l1 * ones + l2 * twos

        return {}, {
            "native: loop l1*p.abs().sum() + l2*(p*p).sum()": lambda ps, flat: sum(
                l1 * p.abs().sum() + l2 * (p * p).sum() for p in ps
            ),
            "native: torch._foreach_norm ord 1 and 2": foreach,
            "read: flat_copy.sum()": lambda ps, flat: flat.sum(),
        }
    import jax.numpy as jnp

    jitted = {
        "native: jit sum(l1*jnp.sum(jnp.abs(p)) + l2*jnp.sum(p*p))": lambda ps, flat: sum(
            l1 * jnp.sum(jnp.abs(p)) + l2 * jnp.sum(p * p) for p in ps
        ),
        "read: jit jnp.sum(flat copy)": lambda ps, flat: jnp.sum(flat),
    }
    return jitted, {}


# ----------------------------------------------------------------------------- cases


def _gpt2_case(
    be: _backends.Backend,
    case_id: str,
    make_reg: Callable[[Any], Any],
    reference: float,
    natives: tuple[dict[str, Any], dict[str, Any]],
    tf_name: str,
) -> Case:
    params = _data.params("gpt2")
    case = Case(
        case_id,
        reference,
        {},
        memory=True,
        rounds=HEAVY_ROUNDS,
        meta=_meta(params),
        memory_entries=("losskit", "read: "),  # the slow loops would add ~10 s per worker
    )
    if be.name == "tensorflow":
        import tensorflow as tf
        import tf_keras

        reg = make_reg(tf_keras.regularizers)
        tensors, _ = _arrays(be, "gpt2")

        def tf_keras_sum(ps: Sequence[Any]) -> Any:
            return tf.add_n([reg(p) for p in ps])

        _add_eager(case, (tensors,), {f"tf: tf_keras {tf_name} per tensor, add_n": tf_keras_sum})
        compiled = tf.function(tf_keras_sum, jit_compile=False)
        _add_eager(case, (tensors,), {f"tf: tf_keras {tf_name} in tf.function": compiled})
        return case
    reg = make_reg(_regs())
    case.meta["constant_err"] = _constant_error(be, reg)
    arrays, flat = _arrays(be, "gpt2")
    jitted, eager = natives
    args = (tuple(arrays), flat)
    _add_jitted(be, case, args, {"losskit": lambda ps, f: _regs().apply_regularization(reg, ps)})
    if be.name == "jax":
        _add_eager(
            case,
            (arrays,),
            {"losskit: eager": lambda ps: _regs().apply_regularization(reg, ps)},
        )
    _add_jitted(be, case, args, jitted)
    _add_eager(case, args, eager)
    return case


CONSTANTS = ((1 << 22, 0.0123), (70_000, 3.3))  # (elements, value)


def _constant_error(be: _backends.Backend, reg: Any) -> float:
    """Relative error of ``reg`` over constant-valued tensors (information).

    Random values hide the rounding of a long float32 accumulation (errors cancel); equal
    values do not: a sum of 64K equal squares accumulated naively in a few SIMD lanes is
    off by up to ~1e-4.
    """
    arrays = [be.asarray(np.full(n, value, np.float32)) for n, value in CONSTANTS]
    l1 = getattr(reg, "l1", 0.0) or 0.0
    l2 = getattr(reg, "l2", 0.0) or 0.0
    exact = 0.0
    for n, value in CONSTANTS:
        v = float(np.float32(value))
        exact += n * (l1 * abs(v) + l2 * v * v)
    got = be.to_float(be.sync(_regs().apply_regularization(reg, arrays)))
    return abs(got - exact) / exact


def reg_l2_gpt2(be: _backends.Backend) -> Case:
    """L2 over GPT-2 small: against the read bandwidth and the Python loop."""
    params = _data.params("gpt2")
    return _gpt2_case(
        be,
        "reg_l2_gpt2",
        lambda module: module.L2(L2_FACTOR),
        params.reference(l2=L2_FACTOR),
        _l2_natives(be),
        "L2(0.01)",
    )


def reg_l1l2_gpt2(be: _backends.Backend) -> Case:
    """L1L2 over GPT-2 small: against losskit's own L2 call timed in the same rounds."""
    params = _data.params("gpt2")
    case = _gpt2_case(
        be,
        "reg_l1l2_gpt2",
        lambda module: module.L1L2(L1_FACTOR, L2_FACTOR),
        params.reference(l1=L1_FACTOR, l2=L2_FACTOR),
        _l1l2_natives(be),
        "L1L2(0.01, 0.01)",
    )
    if be.name != "tensorflow":
        arrays, flat = _arrays(be, "gpt2")
        l2 = _regs().L2(L2_FACTOR)
        _add_jitted(
            be,
            case,
            (tuple(arrays), flat),
            {"losskit: L2": lambda ps, f: _regs().apply_regularization(l2, ps)},
        )
    return case


def reg_overhead(be: _backends.Backend) -> Case:
    """1000 tensors of shape [4] against one tensor of 4000: the cost of each extra tensor.

    Eager calls on every backend (losskit's JAX path then dispatches its cached jitted
    reduction with 1000 arguments); a fully jitted call is information on JAX.
    """
    params = _data.params("tiny1000")
    reference = params.reference(l2=L2_FACTOR)
    many = [be.asarray(a) for a in params.arrays]
    one = [be.asarray(params.flat)]
    case = Case("reg_overhead", reference, {}, small=True, meta=_meta(params))
    if be.name == "tensorflow":
        import tensorflow as tf
        import tf_keras

        keras_l2 = tf_keras.regularizers.L2(L2_FACTOR)

        def tf_keras_sum(ps: Sequence[Any]) -> Any:
            return tf.add_n([keras_l2(p) for p in ps])

        name = "tf: tf_keras L2(0.01) per tensor, add_n"
        case.fns = {name: _bind(tf_keras_sum, (many,)), name + ONE: _bind(tf_keras_sum, (one,))}
        case.small, case.rounds = False, (7, 2)  # ~100 ms per call
        return case
    reg = _regs().L2(L2_FACTOR)
    fns: dict[str, Callable[..., Any]] = {
        "losskit": lambda ps: _regs().apply_regularization(reg, ps),
        LOOP: lambda ps: L2_FACTOR * sum((p**2).sum() for p in ps),
    }
    if be.name == "torch":
        import torch

        fns["native: torch._foreach_norm(ps) squared"] = lambda ps: (
            L2_FACTOR * torch.stack(torch._foreach_norm(ps)).square().sum()
        )
    if be.name == "numpy":
        fns["native: sum(np.dot(p.ravel(), p.ravel()))"] = lambda ps: (
            L2_FACTOR * sum(np.dot(p.ravel(), p.ravel()) for p in ps)
        )
    for name, fn in fns.items():
        case.fns[name] = _bind(fn, (many,))
        case.fns[name + ONE] = _bind(fn, (one,))
    # the first call traces and compiles on JAX (1000 arguments: seconds), which the warm-up
    # of the timing hides: the worker times it once before
    case.first_call = "losskit"
    if be.name == "jax":
        import jax
        import jax.numpy as jnp

        # The dispatch of one jitted call with 1000 arguments. Compiling losskit's call under
        # jax.jit (or a chain of 1000 jnp.sum) takes 6-15 s for 1000 arguments, so the
        # harness times a concatenation instead (1.4 s to compile; README: "The kernel study").
        def native_jit(ps: Sequence[Any]) -> Any:
            flat = jnp.concatenate([p.ravel() for p in ps])
            return L2_FACTOR * jnp.dot(flat, flat)

        name = "native: jit dot(concatenate(p.ravel()))"
        compiled = jax.jit(native_jit)
        case.fns[name] = _bind(compiled, (tuple(many),))
        case.fns[name + ONE] = _bind(compiled, (tuple(one),))
    return case


def reg_grad_resnet50(be: _backends.Backend) -> Case | None:
    """``loss = apply_regularization(L2, params); loss.backward()`` over ResNet-50 (PyTorch).

    Every entry first sets ``p.grad = None`` (a training step zeroes the gradients), then
    computes the value and writes the gradient into ``p.grad``.
    """
    if be.name != "torch":
        return None
    import torch

    params = _data.params("resnet50")
    l2 = L2_FACTOR
    leaves = [be.asarray(a).requires_grad_(True) for a in params.arrays]
    reg = _regs().L2(l2)

    def reset() -> None:
        for leaf in leaves:
            leaf.grad = None

    def losskit_step() -> Any:
        reset()
        loss = _regs().apply_regularization(reg, leaves)
        loss.backward()
        return loss

    def by_hand() -> Any:
        reset()
        with torch.no_grad():
            value = l2 * torch.stack(torch._foreach_norm(leaves)).square().sum()
            grads = torch._foreach_mul(leaves, 2.0 * l2)
        for leaf, grad in zip(leaves, grads, strict=True):
            leaf.grad = grad
        return value

    def naive() -> Any:
        reset()
        loss = l2 * sum((p * p).sum() for p in leaves)
        loss.backward()
        return loss

    case = Case(
        "reg_grad_resnet50",
        params.reference(l2=l2),
        {
            "losskit": losskit_step,
            "native: hand-written (_foreach_norm value, _foreach_mul grad)": by_hand,
            "native: autograd l2 * sum((p*p).sum())": naive,
        },
        memory=True,
        grad_reset=reset,
        rounds=GRAD_ROUNDS,
        meta=_meta(params),
    )
    case.meta["grad_err"] = _gradient_errors(leaves, l2)
    reset()
    return case


def _gradient_errors(leaves: list[Any], l2: float) -> dict[str, float]:
    """Max |losskit gradient - closed form| / max |closed form| for L2 and L1L2 (PyTorch).

    Closed forms: ``2 * l2 * p`` and ``l1 * sign(p) + 2 * l2 * p`` (sign(0) = 0: the zero
    BatchNorm biases must get exactly ``0`` from the L1 term).
    """
    import torch

    regs = _regs()
    errors = {}
    for label, reg, l1 in (("L2", regs.L2(l2), 0.0), ("L1L2", regs.L1L2(L1_FACTOR, l2), L1_FACTOR)):
        for leaf in leaves:
            leaf.grad = None
        regs.apply_regularization(reg, leaves).backward()
        worst = scale = 0.0
        with torch.no_grad():
            for leaf in leaves:
                expected = 2.0 * l2 * leaf.double() + l1 * torch.sign(leaf.double())
                worst = max(worst, float((leaf.grad.double() - expected).abs().max()))
                scale = max(scale, float(expected.abs().max()))
        errors[label] = worst / scale
    return errors


__all__ = ["reg_grad_resnet50", "reg_l1l2_gpt2", "reg_l2_gpt2", "reg_overhead"]
