"""Training objectives with several terms, each with its own normalizer and coefficient,
exact on every engine and layout (``docs/objectives.md``): per-token terms reduced by an
aggregation mode, step-level penalties, and MoE load balancing over the global batch;
planned (counts before the first backward, one all-reduce) or deferred (gradients scaled
once after the window).

Public names are re-exported here, one per line.
"""

from losskit.objectives._deferred import DeferredObjective
from losskit.objectives._objective import Objective
from losskit.objectives._planned import ObjectivePlan
from losskit.objectives._terms import Term

__all__ = [
    "DeferredObjective",
    "Objective",
    "ObjectivePlan",
    "Term",
]
