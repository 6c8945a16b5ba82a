r"""MoE load balancing over the global batch: expert counts summed over the replicas without
gradient, then a term linear in the router probabilities.

For layer l with E experts and ``top_k`` assignments per token, over the batch the counts
:math:`c_{l,e}` cover (:math:`T_l = \sum_e c_{l,e} / k` tokens):

.. math:: \text{LBL} = E \sum_l \sum_e f_{l,e} P_{l,e}, \qquad
   f_{l,e} = \frac{c_{l,e}}{\sum_{e'} c_{l,e'}}, \qquad
   P_{l,e} = \frac{1}{T_l} \sum_t p_{t,l,e}

(Switch Transformer; Megatron's ``switch_load_balancing_loss_func`` per layer). The
:math:`f` and :math:`T` are counts, constants for differentiation; the term's gradient
reaches the router through the probability sums :math:`\sum_t p_{t,l,e}` alone.
"""

from __future__ import annotations

from typing import Any

from losskit import _backends
from losskit import _namespace as ns
from losskit._errors import invalid
from losskit.aggregation._local import safe

__all__ = ["as_layers", "balance_value", "balance_weights"]


def as_layers(xp: ns.Namespace, value: Any, name: str, *, like: Any = None) -> Any:
    """``value`` as a ``[layers, experts]`` array: ``[experts]`` is one layer."""
    array = ns.as_array(xp, value, name=name, like=like)
    if array.ndim == 1:
        array = xp.reshape(array, (1, array.shape[0]))
    if array.ndim != 2 or array.shape[-1] < 1:
        raise ValueError(invalid(name, "a [layers, experts] (or [experts]) array", array))
    return array


def balance_weights(xp: ns.Namespace, counts: Any, top_k: int) -> Any:
    """:math:`E f_{l,e} / T_l` from global counts ``[L, E]`` (0 for a layer without
    tokens); no gradient."""
    counts = _backends.of(xp).stop_gradient(counts)
    experts = counts.shape[-1]
    assigned = xp.sum(counts, axis=-1, keepdims=True)  # k T_l
    tokens = assigned / top_k
    return experts * (counts / safe(xp, assigned)) / safe(xp, tokens)


def balance_value(
    xp: ns.Namespace, probability_sums: Any, weights: Any, *, name: str
) -> tuple[Any, Any]:
    """``(sum(weights * probability_sums), result dtype)``: the term's share from this
    micro-batch's ``[L, E]`` router probability sums."""
    sums = as_layers(xp, probability_sums, name)
    if tuple(sums.shape) != tuple(weights.shape):
        raise ValueError(
            invalid(
                name,
                f"router probability sums of the expert counts' shape {tuple(weights.shape)}",
                sums,
            )
        )
    result_dtype, dtype = ns.loss_dtypes(xp, sums, name=name)
    total = xp.sum(ns.astype(xp, sums, dtype) * xp.astype(weights, dtype))
    return total, result_dtype
