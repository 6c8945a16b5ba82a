"""``run_processes``: a ``torch.distributed`` job on this machine that cannot hang forever."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import queue
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from losskit._errors import invalid
from losskit._state import check_count

__all__ = ["ProcessFailure", "run_processes"]


class ProcessFailure(RuntimeError):
    """A rank of :func:`run_processes` raised, died, or missed the deadline.

    Attributes:
        rank: the first rank that failed (None: the deadline passed).
        details: that rank's traceback, or what is known.

    Example:
        >>> from losskit.testing import ProcessFailure
        >>> failure = ProcessFailure("rank 1 of 2 failed", rank=1, details="ValueError: ...")
        >>> failure.rank, str(failure)
        (1, 'rank 1 of 2 failed')
    """

    def __init__(self, message: str, *, rank: int | None, details: str) -> None:
        super().__init__(message)
        self.rank = rank
        self.details = details


def run_processes(
    fn: Callable[..., Any],
    world_size: int,
    *,
    args: Sequence[Any] = (),
    timeout: float = 120.0,
    collective_timeout: float = 30.0,
    backend: str = "gloo",
) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` on ``world_size`` processes joined by
    ``torch.distributed`` (``backend`` on 127.0.0.1), and return their results by rank.

    Each rank also sees torchrun's environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), so that engines which read it
    (DeepSpeed, Lightning, accelerate) join the process group instead of refusing to start
    or launching processes of their own.

    Nothing hangs forever: if a rank raises or dies, the launcher stops every other rank
    at once and raises :class:`ProcessFailure` with that rank's traceback; if a rank hangs,
    the others fail at their next collective after ``collective_timeout`` seconds (the
    process group's timeout), and the launcher stops everything after ``timeout`` seconds
    at the latest. A rank whose launcher dies exits within a second.

    Args:
        fn: a module-level function (it is pickled to spawned processes); its return value
            must be picklable.
        world_size: the number of processes.
        args: extra arguments for ``fn``.
        timeout: seconds for the whole job, start-up included.
        collective_timeout: the process group's timeout for each collective.
        backend: the ``torch.distributed`` backend (``"gloo"`` on CPU).

    Returns:
        ``[fn(0, ...), ..., fn(world_size - 1, ...)]``.

    Raises:
        ProcessFailure: a rank raised, died, or the deadline passed.
        ValueError: ``world_size`` is not a positive integer or a timeout is not positive.

    Example:
        >>> import operator
        >>> from losskit.testing import run_processes
        >>> run_processes(operator.mul, 2)  # rank * world_size on each of 2 gloo ranks
        [0, 2]
    """
    count = check_count(world_size, "world_size")
    for name, value in (("timeout", timeout), ("collective_timeout", collective_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(invalid(name, "a positive number of seconds", value))
    spawn = multiprocessing.get_context("spawn")
    messages: Any = spawn.Queue()
    port = _free_port()
    processes = [
        spawn.Process(
            target=_rank_main,
            args=(fn, rank, count, port, tuple(args), messages, collective_timeout, backend),
            name=f"losskit-rank-{rank}",
            daemon=True,
        )
        for rank in range(count)
    ]
    for process in processes:
        process.start()
    results: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(results) < count:
            try:
                rank, ok, payload = messages.get(timeout=0.2)
            except queue.Empty:
                _check_alive(processes, results, messages, deadline, timeout)
                continue
            if not ok:
                rank, details = _first_failure(rank, payload, messages)
                raise ProcessFailure(
                    f"rank {rank} of {count} failed; the other ranks were stopped.\n{details}",
                    rank=rank,
                    details=details,
                )
            results[rank] = payload
    finally:
        _stop(processes)
    return [results[rank] for rank in range(count)]


def _first_failure(rank: int, payload: tuple[float, str], messages: Any) -> tuple[int, str]:
    """The failure that came first in time: one rank's error fails the others' collectives
    moments later, and their reports may arrive first."""
    failures = [(payload[0], rank, payload[1])]
    grace = time.monotonic() + _GRACE
    while time.monotonic() < grace:
        try:
            other, ok, data = messages.get(timeout=0.1)
        except queue.Empty:
            continue
        if not ok:
            failures.append((data[0], other, data[1]))
    _, first, details = min(failures)
    return first, details


_GRACE = 1.0


def _check_alive(
    processes: list[Any], results: dict[int, Any], messages: Any, deadline: float, timeout: float
) -> None:
    for rank, process in enumerate(processes):
        if rank not in results and not process.is_alive():
            time.sleep(0.5)  # its message may still be in the pipe
            if messages.empty():
                details = f"exit code {process.exitcode}"
                raise ProcessFailure(
                    f"rank {rank} of {len(processes)} died ({details}) without a result; the "
                    "other ranks were stopped.",
                    rank=rank,
                    details=details,
                )
            return
    if time.monotonic() > deadline:
        pending = [rank for rank in range(len(processes)) if rank not in results]
        raise ProcessFailure(
            f"ranks {pending} did not finish within timeout={timeout:g} s; every rank was stopped.",
            rank=None,
            details=f"pending ranks: {pending}",
        )


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join(2.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _orphan_watch(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def _rank_main(
    fn: Callable[..., Any],
    rank: int,
    world_size: int,
    port: int,
    args: tuple[Any, ...],
    messages: Any,
    collective_timeout: float,
    backend: str,
) -> None:
    threading.Thread(target=_orphan_watch, args=(os.getppid(),), daemon=True).start()
    # torchrun's variables: engines that read them (DeepSpeed, Lightning, accelerate) start
    # on the group made here instead of refusing or spawning processes of their own
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size),
    )
    import torch.distributed as dist

    try:
        dist.init_process_group(
            backend,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=collective_timeout),
        )
    except BaseException:
        messages.put((rank, False, (time.time(), traceback.format_exc())))
        return
    try:
        result = fn(rank, world_size, *args)
    except BaseException:
        # reported before the group is torn down, which fails the other ranks' collectives
        messages.put((rank, False, (time.time(), traceback.format_exc())))
        return
    finally:
        dist.destroy_process_group()
    messages.put((rank, True, result))
