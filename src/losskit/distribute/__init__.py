"""Distributed engines: how many replicas share a step, how their gradients are combined,
and the step's exact global denominator (``docs/distributed.md``)."""

from losskit._state import DistributionContext
from losskit._state import get_context
from losskit._state import num_replicas_in_sync
from losskit.distribute._check import LayoutError
from losskit.distribute._check import check_layout
from losskit.distribute._context import cross_replica_context
from losskit.distribute._context import replica_context
from losskit.distribute._denominator import global_denominator
from losskit.distribute._engines import jax_context
from losskit.distribute._engines import torch_context

__all__ = [
    "DistributionContext",
    "LayoutError",
    "check_layout",
    "cross_replica_context",
    "get_context",
    "global_denominator",
    "jax_context",
    "num_replicas_in_sync",
    "replica_context",
    "torch_context",
]
