"""``apply_regularization``: one regularizer (or a tree of them) over many parameter arrays.

The leaves are grouped by regularizer; the built-in ``L1``, ``L2`` and ``L1L2`` are then
computed for a whole group at once by the backend's fused kernel
(:meth:`losskit._backends.Backend.fused_penalty`), any other regularizer leaf by leaf.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._errors import describe
from losskit._trees import Path, walk
from losskit.regularizers._lookup import get
from losskit.regularizers._penalties import L1, L1L2, L2

__all__ = ["apply_regularization", "group_penalty", "grouped", "grouped_penalty"]


def _is_leaf(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple)) and (
        hasattr(value, "shape") or isinstance(value, (int, float))
    )


def _leaves(tree: Any) -> Iterator[tuple[Path, Any]]:
    """(path, array) for every array of a nested dict / list / tuple, or of a JAX pytree."""
    for path, value in walk(tree):
        if value is None:
            continue
        if _is_leaf(value):
            yield path, value
            continue
        flat = _backends.pytree_leaves(value)  # flax / equinox modules, other pytrees
        if flat is None:
            raise TypeError(
                f"Invalid `weights`: expected an array or a dict, list or tuple of arrays, "
                f"received {describe(value)} at {_show(path)}."
            )
        for key_path, leaf in flat:
            yield (*path, *key_path), leaf


def _show(path: Path) -> str:
    return "weights" + "".join(f"[{key!r}]" for key in path) if path else "weights"


def _regularizer_for(spec: Any, path: Path) -> Any:
    """The regularizer that a (possibly nested) mapping of regularizers assigns to ``path``."""
    for key in path:
        if not isinstance(spec, Mapping):
            break  # a regularizer for this whole sub-tree
        if key not in spec:
            return None
        spec = spec[key]
    if isinstance(spec, Mapping):
        raise ValueError(
            f"Invalid `regularizer`: the mapping goes deeper than `weights` at {_show(path)}."
        )
    return get(spec)


def grouped(pairs: Iterable[tuple[Any, Any]]) -> list[tuple[Any, list[Any]]]:
    """``(regularizer, leaves)`` groups of ``(regularizer, leaf)`` pairs, None skipped: equal
    built-in configs share one group (one fused kernel call), any other regularizer object
    is its own group. losskit.torch and losskit.jax group their parameters here too."""
    groups: dict[Any, tuple[Any, list[Any]]] = {}
    # id -> (regularizer, group key): each regularizer object is hashed once, and holding
    # the object keeps its id from being reused by another one
    keys: dict[int, tuple[Any, Any]] = {}
    for chosen, leaf in pairs:
        if chosen is None:
            continue
        found = keys.get(id(chosen))
        if found is None:
            # equal configs share a group (Regularizer.__eq__/__hash__)
            key = chosen if isinstance(chosen, (L1, L2, L1L2)) else id(chosen)
            found = keys[id(chosen)] = (chosen, key)
        groups.setdefault(found[1], (chosen, []))[1].append(leaf)
    return list(groups.values())


def grouped_penalty(groups: list[tuple[Any, list[Any]]]) -> list[Any]:
    """The penalty of each group of :func:`grouped` (one fused call per built-in group)."""
    xp = _namespace_of([leaf for _, leaves in groups for leaf in leaves])
    return [group_penalty(xp, chosen, leaves) for chosen, leaves in groups]


def apply_regularization(regularizer: Any, weights: Any) -> Any:
    r"""The total penalty of ``regularizer`` over every array in ``weights``.

    TensorFlow 1's ``apply_regularization`` for a list, dict or pytree of parameters:
    :math:`\sum_p R_p(w_p)`. ``regularizer`` is one regularizer for all arrays (anything
    :func:`losskit.regularizers.get` accepts), or a mapping that mirrors the dicts of
    ``weights``: its leaves give each sub-tree's regularizer, and a missing key or ``None``
    leaves that sub-tree unregularized.

    Built-in ``L1``, ``L2`` and ``L1L2`` penalties of many arrays are computed together
    (PyTorch: ``torch._foreach_*`` kernels with a closed-form gradient; JAX: one jitted
    reduction; NumPy: blocked BLAS dot products), accurate to about 1e-7 relative in float32.

    Args:
        regularizer: a regularizer (or identifier), or a mapping of them.
        weights: an array, or a (nested) dict, list or tuple of arrays, or a JAX pytree
            (flax parameters, equinox modules).

    Returns:
        A 0-d array of the arrays' library and promoted floating dtype (float16/bfloat16
        groups accumulate in float32), or the Python float 0.0 if nothing is regularized.

    Raises:
        ValueError: an invalid regularizer identifier, or a mapping deeper than ``weights``.
        TypeError: arrays from different libraries, or a leaf that is not an array.

    Example:
        >>> import numpy as np
        >>> from losskit.regularizers import L1, L2, apply_regularization
        >>> params = {"dense": {"kernel": np.ones((5, 5)), "bias": np.zeros(5)},
        ...           "head": {"kernel": np.full((5, 2), 2.0)}}
        >>> float(apply_regularization(L2(0.01), params))  # 0.01 * (25 + 40)
        0.65
        >>> float(apply_regularization({"dense": {"kernel": L1(0.01)}, "head": "l2"}, params))
        0.65
    """
    if isinstance(regularizer, Mapping):
        return _apply_tree(regularizer, weights)
    single = get(regularizer)
    if single is None:
        return 0.0
    leaves = _flat_arrays(weights)
    if leaves is None:
        leaves = [leaf for _, leaf in _leaves(weights)]
    if not leaves:
        return 0.0
    return group_penalty(_namespace_of(leaves), single, leaves)


def _apply_tree(regularizer: Mapping[Any, Any], weights: Any) -> Any:
    groups = grouped((_regularizer_for(regularizer, path), leaf) for path, leaf in _leaves(weights))
    if not groups:
        return 0.0
    return functools.reduce(operator.add, grouped_penalty(groups))


_ARRAY_TYPE: dict[type, bool] = {}


def _is_array_type(kind: type) -> bool:
    """Whether instances of ``kind`` are array leaves (cached per type)."""
    found = _ARRAY_TYPE.get(kind)
    if found is None:
        found = (
            not issubclass(kind, (Mapping, list, tuple, str, bytes))
            and hasattr(kind, "shape")
            and hasattr(kind, "dtype")
        )
        _ARRAY_TYPE[kind] = found
    return found


def _flat_arrays(weights: Any) -> list[Any] | None:
    """The arrays of one array or of a flat list, tuple or dict of arrays (the common case,
    with one type check per leaf type); None for anything that needs the full walk."""
    kind = type(weights)
    if kind is list or kind is tuple:
        items = list(weights)
    elif kind is dict:
        items = list(weights.values())
    elif _is_array_type(kind):
        return [weights]
    else:
        return None
    return items if all(map(_is_array_type, set(map(type, items)))) else None


def _namespace_of(leaves: list[Any]) -> ns.Namespace:
    if len(set(map(type, leaves))) == 1:
        return ns.namespace(leaves[0])
    return ns.namespace(*leaves, names=[f"weights leaf {i}" for i in range(len(leaves))])


def _factors(regularizer: L1 | L2 | L1L2) -> tuple[float | None, float | None]:
    """(l1, l2) factors, None for a term the regularizer does not compute at all."""
    if isinstance(regularizer, L1):
        return regularizer.l1, None
    if isinstance(regularizer, L2):
        return None, regularizer.l2
    return regularizer.l1 or None, regularizer.l2 or None  # L1L2 skips zero terms


def group_penalty(
    xp: ns.Namespace, regularizer: Callable[[Any], Any], leaves: Sequence[Any]
) -> Any:
    """One regularizer's penalty over ``leaves`` (built-in ones: one fused kernel call)."""
    if isinstance(regularizer, (L1, L2, L1L2)):
        l1, l2 = _factors(regularizer)
        if not all(
            ns.namespace(leaf) is xp for leaf in {type(leaf): leaf for leaf in leaves}.values()
        ):
            leaves = [ns.as_array(xp, leaf, name="weights") for leaf in leaves]
        return _backends.of(xp).fused_penalty(xp, leaves, l1, l2)
    penalties = [regularizer(leaf) for leaf in leaves]
    return functools.reduce(operator.add, penalties)
