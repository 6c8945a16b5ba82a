"""Keras's layer regularizers for JAX: penalties over parameter pytrees by path pattern
(raw dicts, flax linen and nnx, equinox), activity penalties through a collector, and the
same selection as an optax mask for decoupled weight decay.

Imports jax; ``import losskit`` does not import this package (import it explicitly).
See docs/layer_penalties.md.

Example:
    >>> import jax.numpy as jnp, losskit.jax
    >>> from losskit.regularizers import L1
    >>> params = {"params": {"Dense_0": {"kernel": jnp.ones((5, 5)), "bias": jnp.zeros(5)}}}
    >>> float(losskit.jax.penalty(params, losskit.jax.Spec(kernel=L1(0.01))))
    0.25
"""

from losskit._deprecation import moved_names
from losskit.jax._activity import Collector
from losskit.jax._activity import activity
from losskit.jax._penalty import decay_mask
from losskit.jax._penalty import penalty
from losskit.jax._spec import Spec

__all__ = [
    "Collector",
    "Spec",
    "activity",
    "decay_mask",
    "penalty",
]

__getattr__ = moved_names(
    "losskit.jax",
    {
        "collect": ("losskit.jax.Collector.wrap", lambda: Collector.wrap),
        "collect_activity": ("losskit.jax.Collector", lambda: Collector),
    },
)
