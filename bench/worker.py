"""One benchmark worker: every case on one backend, in its own process; prints JSON.

    .venv/bin/python bench/worker.py --backend torch [--threads 2] [--quick]

``run.py`` starts one worker per backend, one after the other, and reads the last line of
its standard output. Only this backend's library (and NumPy, for the data) is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _backends
import _timing

MiB = 1 << 20


def _value(be: _backends.Backend, result: Any) -> float:
    if isinstance(result, tuple):  # (value, gradient)
        result = result[0]
    return be.to_float(result)


def _mmap_large_allocations(threshold: int = 1 << 20) -> bool:
    """Make glibc map every allocation >= ``threshold`` fresh and unmap it on free.

    By default glibc serves a freed 16 MiB block again from its heap, so a repeated
    temporary no longer raises the resident set; with a fixed mmap threshold every
    temporary >= 1 MiB shows up in the RSS high-water mark. Used by the memory pass only,
    as it changes timings (page faults).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3
        return bool(libc.mallopt(m_mmap_threshold, threshold))
    except (OSError, AttributeError):
        return False


def _time_case(be: _backends.Backend, case: Any, quick: bool) -> dict[str, Any]:
    if case.first_call is not None:
        started = time.perf_counter()
        be.sync(case.fns[case.first_call]())
        case.meta["first_call_seconds"] = time.perf_counter() - started
    if case.rounds is not None:
        rounds = case.rounds[1] if quick else case.rounds[0]
    else:
        rounds = (5 if quick else 31) if case.small else (3 if quick else 21)
    timings = _timing.measure(
        case.fns,
        rounds=rounds,
        sync=be.sync,
        min_sample=2e-3 if case.small else 5e-4,
    )
    entries: dict[str, Any] = {}
    for name, fn in case.fns.items():
        value = _value(be, be.sync(fn()))
        entries[name] = {
            **timings[name].as_dict(),
            "value": value,
            "rel_err": _timing.relative_error(value, case.reference),
        }
    return entries


def _isolated_probe(be: _backends.Backend, case: Any, name: str, threads: int, quick: bool) -> Any:
    """One entry's memory probe in a fresh worker process (``Case.memory_isolated``)."""
    command = [sys.executable, os.path.abspath(__file__), "--backend", be.name, "--memory"]
    command += ["--threads", str(threads), "--only", case.id, "--entry", name]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the memory probe of {case.id} / {name} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])["cases"][case.id]["entries"][name]


def _memory_case(
    be: _backends.Backend,
    case: Any,
    quick: bool,
    threads: int = 1,
    only_entry: str | None = None,
) -> dict[str, Any]:
    repeats = 1 if quick else 2
    rss_ok = _timing.rss_peak_available()
    entries: dict[str, Any] = {}
    for name, fn in case.fns.items():
        if case.memory_entries is not None and not name.startswith(case.memory_entries):
            continue
        if only_entry is not None and name != only_entry:
            continue
        if case.memory_isolated and only_entry is None:
            entries[name] = _isolated_probe(be, case, name, threads, quick)
            continue
        be.sync(fn())  # warm-up (compilation)
        entry: dict[str, Any] = {}
        if rss_ok:
            entry["rss_peak"] = _timing.rss_peak_delta(
                fn, be.sync, repeats=repeats, reset=case.grad_reset
            )
        if be.name == "numpy":
            entry["tracemalloc_peak"] = _timing.tracemalloc_peak(fn, repeats=repeats)
        if name in case.jitted and be.name == "jax":
            compiled, args = case.jitted[name]
            analysis = compiled.lower(*args).compile().memory_analysis()
            entry["xla_temp"] = int(analysis.temp_size_in_bytes)
        entries[name] = entry
    return entries


def run(
    backend: str,
    threads: int,
    quick: bool,
    only: set[str] | None,
    memory: bool = False,
    entry: str | None = None,
) -> dict[str, Any]:
    """Time every case (or, with ``memory``, probe the peak memory of the memory cases;
    ``entry`` restricts the probe to one entry, in this process)."""
    cpus = _backends.pin_cpus(threads)
    mmap_fixed = _mmap_large_allocations() if memory else False
    started = time.perf_counter()
    be = _backends.get(backend)
    info: dict[str, Any] = {"cpus": cpus, **be.setup(threads), **_timing.env_threads()}
    if memory:
        info["mmap_threshold_fixed"] = mmap_fixed
    import _registry  # after the thread setup: the cases build arrays

    results: dict[str, Any] = {}
    for case in _registry.build(be, only):
        if memory and not case.memory:
            continue
        case_started = time.perf_counter()
        if memory:
            probed = _memory_case(be, case, quick, threads, entry)
        else:
            probed = _time_case(be, case, quick)
        results[case.id] = {
            "reference": case.reference,
            "entries": probed,
            **({"meta": case.meta} if case.meta else {}),
        }
        results[case.id]["seconds"] = time.perf_counter() - case_started
        del case
    return {
        "backend": backend,
        "label": be.label,
        "info": info,
        "cases": results,
        "seconds": time.perf_counter() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, choices=_backends.BACKENDS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated case ids")
    parser.add_argument("--memory", action="store_true", help="peak-memory pass instead of timing")
    parser.add_argument("--entry", help="memory pass: probe only this entry (in this process)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    result = run(args.backend, args.threads, args.quick, only, args.memory, args.entry)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
