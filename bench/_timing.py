"""Timing and memory probes of the benchmark workers.

Timings are *interleaved*: every round times each function once (in a shuffled order), and
the reported value is the median over rounds. On this 2-vCPU virtual machine the speed of a
multi-threaded kernel changes from one second to the next (host scheduling; medians of the
same kernel differ by up to 3x between processes), so only functions timed in the same
rounds are compared, as ratios.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import random
import re
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

Sync = Callable[[Any], Any]


def _no_sync(value: Any) -> Any:
    return value


@dataclasses.dataclass
class Timing:
    """Seconds per call: the median over rounds, and the quartiles as a noise indication."""

    median: float
    q1: float
    q3: float
    loops: int
    rounds: int
    samples: list[float]  # seconds per call, one per round, in round order

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _per_call(fn: Callable[[], Any], sync: Sync, loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        sync(fn())
    return (time.perf_counter() - start) / loops


def measure(
    functions: dict[str, Callable[[], Any]],
    *,
    rounds: int,
    sync: Sync = _no_sync,
    warmup: int = 2,
    min_sample: float = 5e-4,
    seed: int = 0,
) -> dict[str, Timing]:
    """Interleaved median timing of ``functions`` (each called without arguments).

    Every round calls each function once, in a random order.
    Each function is first called ``warmup`` times (compilation, allocator and page-cache
    warm-up), then calibrated: fast functions are looped so that one sample lasts at least
    ``min_sample`` seconds. ``sync`` is applied to every result (``block_until_ready`` for
    JAX) inside the timed region. The garbage collector is off while timing.
    """
    loops: dict[str, int] = {}
    for name, fn in functions.items():
        for _ in range(warmup):
            sync(fn())
        once = _per_call(fn, sync, 1)
        loops[name] = max(1, math.ceil(min_sample / max(once, 1e-9)))
        if loops[name] > 1:  # re-estimate with the loop to reduce timer noise
            estimate = _per_call(fn, sync, loops[name])
            loops[name] = max(1, math.ceil(min_sample / max(estimate, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in functions}
    names = list(functions)
    # A new random order every round (fixed seed): each function follows a different one
    # each time. A fixed or merely rotated order makes a function always pay for the same
    # predecessor (e.g. JAX releasing a predecessor's large temporaries during the next call).
    shuffle = random.Random(seed).shuffle
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            order = list(names)
            shuffle(order)
            for name in order:
                samples[name].append(_per_call(functions[name], sync, loops[name]))
    finally:
        if enabled:
            gc.enable()
    result = {}
    for name, values in samples.items():
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        result[name] = Timing(
            median=statistics.median(values),
            q1=quartiles[0],
            q3=quartiles[2],
            loops=loops[name],
            rounds=rounds,
            samples=values,
        )
    return result


# ----------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    if match is None:  # pragma: no cover - not Linux
        raise RuntimeError(f"/proc/self/status has no {field}")
    return int(match.group(1))


def rss_peak_available() -> bool:
    """Whether the resident-set high-water mark can be reset (Linux ``clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        _status_kib("VmHWM")
    except OSError:
        return False
    return True


def rss_peak_delta(
    fn: Callable[[], Any],
    sync: Sync = _no_sync,
    repeats: int = 3,
    reset: Callable[[], Any] | None = None,
) -> int:
    """Bytes by which the resident set grows above its level before ``fn()`` (min over repeats).

    Resets the kernel's high-water mark (``VmHWM``) through ``/proc/self/clear_refs``, calls
    ``fn`` once, and compares the new high-water mark with the resident set before the call.
    Large temporaries (>= 32 MiB with glibc) are mapped fresh and returned on free, so a
    full-size temporary shows up in full; the minimum over ``repeats`` drops one-off growth
    of caches and allocator pools. ``reset`` runs before each measurement (e.g. to drop a
    gradient left by the previous call, which ``fn`` would otherwise free and reuse).
    """
    best = None
    for _ in range(repeats):
        if reset is not None:
            reset()
        gc.collect()
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        before = _status_kib("VmRSS")
        result = sync(fn())
        peak = _status_kib("VmHWM")
        del result
        delta = max(0, peak - before) * 1024
        best = delta if best is None else min(best, delta)
    return int(best or 0)


def tracemalloc_peak(fn: Callable[[], Any], repeats: int = 2) -> int:
    """Peak bytes allocated during ``fn()`` as seen by tracemalloc (NumPy reports its buffers)."""
    best = None
    for _ in range(repeats):
        gc.collect()
        tracemalloc.start()
        try:
            result = fn()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        del result
        best = peak if best is None else min(best, peak)
    return int(best or 0)


# ----------------------------------------------------------------------------- misc


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of the per-round ratio (robust to slow drifts of machine speed)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def cpu_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine since boot (all CPUs, from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def relative_error(value: float, reference: float) -> float:
    if reference == 0:
        return abs(value)
    return abs(value - reference) / abs(reference)


def env_threads() -> dict[str, str]:
    """Thread-related environment variables as the worker saw them."""
    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS")
    return {k: os.environ[k] for k in keys if k in os.environ}


def first(iterable: Iterable[Any]) -> Any:
    return next(iter(iterable))
