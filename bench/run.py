"""losskit's speed, accuracy and memory benchmarks, as ratios against anchors of the same run.

    .venv/bin/python bench/run.py                    # full run (`make bench`), ~1-2 minutes
    .venv/bin/python bench/run.py --quick            # smoke run: 3 rounds per case
    .venv/bin/python bench/run.py --update-readme    # also rewrite the table in bench/README.md

Each backend (NumPy, PyTorch, JAX, TensorFlow) runs in its own worker process, one after the
other, so that no two libraries' thread pools share the two cores. Every timing is a median
over interleaved rounds; ratios against a native kernel are medians of per-round ratios.
PASS/MISS compares each ratio with the project issue's target; a MISS is a finding, not an
error (the exit status is 0 unless a worker fails, or ``--strict`` is given).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _data  # noqa: E402
import _registry  # noqa: E402  (builds nothing on import)
import _report  # noqa: E402
import _timing  # noqa: E402

README = os.path.join(HERE, "README.md")
RESULTS = os.path.join(HERE, "results", "latest.json")
SECTION = "bench-table"  # README markers: <!-- bench-table:begin --> ... <!-- bench-table:end -->
WORKER_TIMEOUT = 900
# parameter sets (bench/_data.py) that the regularizer cases read from the file cache
PARAM_SETS = {
    "reg_l2_gpt2": "gpt2",
    "reg_l1l2_gpt2": "gpt2",
    "reg_overhead": "tiny1000",
    "reg_grad_resnet50": "resnet50",
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_worker(
    backend: str,
    threads: int,
    quick: bool,
    only: str | None,
    memory: bool = False,
) -> dict[str, Any]:
    """Run one worker; add how busy the rest of the machine was meanwhile."""
    command = [
        sys.executable,
        os.path.join(HERE, "worker.py"),
        "--backend",
        backend,
        "--threads",
        str(threads),
    ]
    if quick:
        command.append("--quick")
    if memory:
        command.append("--memory")
    if only:
        command += ["--only", only]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    busy, own, start = _timing.cpu_busy_seconds(), _children_cpu(), time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=WORKER_TIMEOUT, cwd=ROOT
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the {backend} worker failed with exit status {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    others = (_timing.cpu_busy_seconds() - busy) - (_children_cpu() - own)
    result["other_load"] = max(0.0, others / elapsed)  # CPUs used by other processes
    result["wall_seconds"] = elapsed
    return result


MEMORY_BACKENDS = ("numpy", "torch", "jax")


def merge_memory(timing: dict[str, Any], memory: dict[str, Any]) -> None:
    """Add the memory pass's probes to the timing pass's entries."""
    for case_id, case in memory["cases"].items():
        entries = timing["cases"].get(case_id, {}).get("entries", {})
        for name, probe in case["entries"].items():
            entries.setdefault(name, {}).update(probe)
    timing["wall_seconds"] += memory["wall_seconds"]
    timing["memory_info"] = memory["info"]


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (src modified)" if dirty.strip() else "")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(results: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    lines = [
        f"command: {command}",
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}   "
        f"losskit revision: {_git_revision()}",
        f"machine: {_cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"threads per library: {args.threads}",
    ]
    for result in results.values():
        info = {k: v for k, v in result["info"].items() if k != "openblas"}
        lines.append(
            f"  {result['label']:10} {json.dumps(info)}  "
            f"[{result['wall_seconds']:.0f} s, other processes used "
            f"{result['other_load']:.2f} of {os.cpu_count()} CPUs meanwhile]"
        )
    return "\n".join(lines)


def update_readme(text: str, section: str) -> None:
    """Replace the text between ``<!-- section:begin -->`` and ``<!-- section:end -->``."""
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    with open(README) as handle:
        content = handle.read()
    if begin not in content or end not in content:
        raise RuntimeError(f"{README} has no {begin} ... {end} section")
    before, rest = content.split(begin, 1)
    _, after = rest.split(end, 1)
    with open(README, "w") as handle:
        handle.write(before + begin + "\n" + text + "\n" + end + after)


def write_json(results: dict[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(results, handle, indent=1)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: few rounds per case")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="intra-op threads per library (default: all CPUs)",
    )
    parser.add_argument(
        "--backends",
        default="numpy,torch,jax,tensorflow",
        help="comma-separated subset of numpy,torch,jax,tensorflow",
    )
    parser.add_argument("--only", help="comma-separated case ids (see _registry.BUILDERS)")
    parser.add_argument(
        "--json",
        help="raw results file (default bench/results/latest.json)",
    )
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="rewrite the results section of bench/README.md",
    )
    parser.add_argument("--strict", action="store_true", help="exit with 1 if a target is missed")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(_registry.BUILDERS) if args.only else set()
    if unknown:
        parser.error(
            f"unknown case ids {sorted(unknown)}; the cases: {', '.join(_registry.BUILDERS)}"
        )
    command = ".venv/bin/python bench/run.py" + (
        " " + shlex.join(sys.argv[1:] if argv is None else argv)
        if (sys.argv[1:] if argv is None else argv)
        else ""
    )
    started = time.perf_counter()
    wanted = set(args.only.split(",")) if args.only else set(PARAM_SETS)
    for name in sorted({PARAM_SETS[c] for c in wanted if c in PARAM_SETS}):
        _data.ensure_cached(name)  # once, before the workers (~4 s for GPT-2 the first time)
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        print(f"[bench] {backend}: timing ...", file=sys.stderr, flush=True)
        results[backend] = run_worker(backend, args.threads, args.quick, args.only)
        if backend in MEMORY_BACKENDS:
            print(f"[bench] {backend}: peak memory ...", file=sys.stderr, flush=True)
            memory = run_worker(backend, args.threads, args.quick, args.only, memory=True)
            merge_memory(results[backend], memory)
    rows = _report.rows_for(results)
    text = "\n".join(
        [
            header(results, args, command),
            "",
            _report.text_table(rows),
            "",
            _report.summary(rows) + f"  Total time {time.perf_counter() - started:.0f} s.",
            "  of which regularizer cases (R*): "
            + _report.summary([r for r in rows if r.case.startswith("R")]),
        ]
    )
    print(text)
    write_json({"command": command, "results": results}, args.json or RESULTS)
    if args.update_readme:
        update_readme("```text\n" + text + "\n```", SECTION)
    misses = any(r.result == "MISS" for r in rows)
    return 1 if (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
