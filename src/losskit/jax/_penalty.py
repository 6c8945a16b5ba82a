"""``penalty(params, spec)`` and ``decay_mask(params, spec)`` over parameter pytrees."""

from __future__ import annotations

import functools
import operator
import sys
from typing import Any

import jax
import jax.numpy as jnp

from losskit.jax._paths import named_leaves, parameters_of, path_name
from losskit.jax._spec import as_spec
from losskit.regularizers._apply import grouped, grouped_penalty

__all__ = ["decay_mask", "penalty"]


def penalty(params: Any, spec: Any) -> Any:
    """The weight penalty of a parameter pytree: the sum of each selected leaf's regularizer.

    Works on raw dicts (``{"params": {...}}`` of flax linen), flax ``nnx.Module``s (their
    ``nnx.Param`` state), ``nnx.State``, equinox modules (non-array leaves skipped) and any
    other pytree, eagerly and under ``jax.jit`` / ``jax.grad`` (paths are read while
    tracing). Leaves that share a built-in regularizer are reduced in one fused call.
    Pass the trainable parameters: every array leaf that ``spec`` selects is regularized.

    Args:
        params: the parameter pytree (or an ``nnx.Module``).
        spec: a :class:`losskit.jax.Spec`, or a ``{pattern: regularizer}`` dict.

    Returns:
        A 0-d array (float32 for float32 or low-precision parameters), 0.0 if nothing is
        selected.

    Raises:
        TypeError: ``spec`` is neither a Spec nor a dict.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from losskit.jax import Spec, penalty
        >>> from losskit.regularizers import L1
        >>> params = {"dense": {"kernel": jnp.ones((5, 5)), "bias": jnp.zeros(5)}}
        >>> float(penalty(params, Spec(kernel=L1(0.01))))
        0.25
        >>> grads = jax.grad(penalty)(params, {"*.kernel": "l2"})
        >>> round(float(grads["dense"]["kernel"][0, 0]), 6)  # 2 * 0.01 * 1
        0.02
    """
    chosen = as_spec(spec)
    named = named_leaves(parameters_of(params))
    groups = grouped((chosen.regularizer_for(name), leaf) for name, leaf in named)
    if not groups:
        return jnp.zeros((), jnp.float32)
    return functools.reduce(operator.add, grouped_penalty(groups))


def decay_mask(params: Any, spec: Any) -> Any:
    """The pytree of bools that ``spec`` selects: an optax mask for decoupled weight decay
    (``optax.adamw(learning_rate, weight_decay=..., mask=decay_mask(params, spec))``).

    "Penalty in the loss" is :func:`penalty`; "decay in the optimizer" is this mask; use one.

    Args:
        params: the parameter pytree (an ``nnx.Module`` gives a mask over its Param state).
        spec: a :class:`losskit.jax.Spec` or a ``{pattern: regularizer}`` dict.

    Returns:
        A pytree of ``params``'s structure with ``True`` where a regularizer applies,
        ``False`` elsewhere (and on non-array leaves).

    Example:
        >>> import jax.numpy as jnp
        >>> from losskit.jax import Spec, decay_mask
        >>> params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)},
        ...           "LayerNorm_0": {"scale": jnp.ones(2), "bias": jnp.zeros(2)}}
        >>> decay_mask(params, Spec(kernel="l2", bias="l2"))
        {'LayerNorm_0': {'bias': False, 'scale': False}, 'dense': {'bias': True, 'kernel': True}}
    """
    chosen = as_spec(spec)

    def selected(path: tuple[Any, ...], leaf: Any) -> bool:
        is_array = isinstance(leaf, jax.Array) or (
            hasattr(leaf, "shape") and hasattr(leaf, "dtype")
        )
        return is_array and chosen.regularizer_for(path_name(path)) is not None

    mask = jax.tree_util.tree_map_with_path(selected, parameters_of(params))
    return _unwrap_variables(mask)


def _unwrap_variables(tree: Any) -> Any:
    """flax nnx: a State of plain bools (optax sees the parameters without their Variable
    wrappers), not of Variables holding bools."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is None:
        return tree

    def unwrap(leaf: Any) -> Any:
        return leaf.get_value() if isinstance(leaf, nnx.Variable) else leaf

    is_variable = lambda leaf: isinstance(leaf, nnx.Variable)  # noqa: E731
    return jax.tree_util.tree_map(unwrap, tree, is_leaf=is_variable)
