"""Tools for your own CI: simulate replicas in one process, check replica invariance, run
real ``torch.distributed`` processes with a deadline (``docs/distributed.md``)."""

from losskit.testing._invariance import InvarianceReport
from losskit.testing._invariance import check_replica_invariance
from losskit.testing._processes import ProcessFailure
from losskit.testing._processes import run_processes
from losskit.testing._threads import run_replicas

__all__ = [
    "InvarianceReport",
    "ProcessFailure",
    "check_replica_invariance",
    "run_processes",
    "run_replicas",
]
