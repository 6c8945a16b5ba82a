"""Token, sequence and group aggregation modes for LLM and RL losses, exact over replicas,
accumulation micro-batches and packed rows (``docs/aggregation.md``).

Every mode is a fixed per-token coefficient that depends only on masks and batch structure;
:func:`plan` computes them for one optimizer step from a few global counts (one all-reduce).

Public names are re-exported here, one per line.
"""

from losskit.aggregation._aggregate import aggregate
from losskit.aggregation._deferred import DeferredPlan
from losskit.aggregation._deferred import deferred_plan
from losskit.aggregation._meter import LossMeter
from losskit.aggregation._meter import MeterReading
from losskit.aggregation._modes import MODES
from losskit.aggregation._plan import Plan
from losskit.aggregation._plan import plan
from losskit.aggregation._resolve import resolve_mode

__all__ = [
    "MODES",
    "DeferredPlan",
    "LossMeter",
    "MeterReading",
    "Plan",
    "aggregate",
    "deferred_plan",
    "plan",
    "resolve_mode",
]
