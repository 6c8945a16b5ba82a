"""Replica contexts: how many replicas share a step, and where the code runs."""

from losskit.distribute._context import DistributionContext
from losskit.distribute._context import cross_replica_context
from losskit.distribute._context import get_context
from losskit.distribute._context import num_replicas_in_sync
from losskit.distribute._context import replica_context

__all__ = [
    "DistributionContext",
    "cross_replica_context",
    "get_context",
    "num_replicas_in_sync",
    "replica_context",
]
