"""Replica contexts: how many replicas share a step, and where the code runs."""

from losskit.distribute._context import (
    DistributionContext,
    cross_replica_context,
    get_context,
    num_replicas_in_sync,
    replica_context,
)

__all__ = [
    "DistributionContext",
    "cross_replica_context",
    "get_context",
    "num_replicas_in_sync",
    "replica_context",
]
