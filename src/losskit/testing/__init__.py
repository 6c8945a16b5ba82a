"""Tools for your own CI: simulate replicas in one process, check replica invariance, run
real ``torch.distributed`` processes with a deadline (``docs/distributed.md``), and audit
who weighs what in an aggregated loss (``docs/audit.md``)."""

from losskit.testing._audit import AuditReport
from losskit.testing._audit import MicroStep
from losskit.testing._audit import TokenLocation
from losskit.testing._audit import Window
from losskit.testing._audit import audit_loss
from losskit.testing._corpus import PublishedBug
from losskit.testing._corpus import published_bugs
from losskit.testing._invariance import InvarianceReport
from losskit.testing._invariance import check_replica_invariance
from losskit.testing._layout import Layout
from losskit.testing._layout import random_layout
from losskit.testing._processes import ProcessFailure
from losskit.testing._processes import run_processes
from losskit.testing._threads import run_replicas

__all__ = [
    "AuditReport",
    "InvarianceReport",
    "Layout",
    "MicroStep",
    "ProcessFailure",
    "PublishedBug",
    "TokenLocation",
    "Window",
    "audit_loss",
    "check_replica_invariance",
    "published_bugs",
    "random_layout",
    "run_processes",
    "run_replicas",
]
