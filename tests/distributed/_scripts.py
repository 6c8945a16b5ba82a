"""Running a JAX script in a subprocess (the CPU device count must be set before JAX
starts): JSON in on stdin, JSON out on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]


def run_json_script(script: Path, payload: Any, *, timeout: float = 900) -> Any:
    """``script``'s JSON output for ``payload``; its stderr's tail if it fails."""
    completed = subprocess.run(
        [sys.executable, str(script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def case_payload(
    engine: str, packed: bool, present: int, arrays: dict[str, Any], **settings: Any
) -> dict[str, Any]:
    """One case for an aggregation script: the engine, the layout, a window of 3
    micro-batches of which ``present`` are there, ``settings`` and the arrays as lists."""
    return {
        "engine": engine,
        "packed": packed,
        "present": present,
        "steps": 3,
        **settings,
        "data": {key: value.tolist() for key, value in arrays.items()},
    }
