"""Random windows for the objective tests: R replicas, each with its own number of
micro-batches (deferred windows need not agree), padded or packed rows, empty sequences and
micro-batches; and the helpers that run a step on simulated replicas and count its
all-reduces."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from losskit._state import enter
from losskit.distribute import get_context
from losskit.testing import run_replicas
from tests.aggregation import _layouts


def window(
    seed: int,
    present: list[int],
    *,
    packed: bool,
    density: float,
    num_groups: int = 3,
    max_rows: int = 3,
    max_length: int = 5,
) -> list[list[dict[str, Any]]]:
    """``layout[r][k]`` with ``present[r]`` micro-batches on replica r (0 rows: empty)."""
    rng = np.random.default_rng(seed)
    out = []
    for count in present:
        batches = []
        for _ in range(count):
            rows = int(rng.integers(0, max_rows + 1))
            length = int(rng.integers(1, max_length + 1))
            batches.append(
                _layouts.micro_batch(
                    rng, rows, length, packed=packed, num_groups=num_groups, density=density
                )
            )
        out.append(batches)
    return out


def engine_division(replicas: int, steps: int, gradients: str, accumulation: str) -> float:
    """What the engine's combination multiplies each replica's micro-step gradient by."""
    return (1.0 / replicas if gradients == "mean" else 1.0) * (
        1.0 / steps if accumulation == "mean" else 1.0
    )


def counting(step: Callable[[int, list[int]], Any]) -> Callable[[int], Any]:
    """``step(r, calls)`` run inside a copy of the simulated replica's context whose
    all-reduces are counted: ``calls[0]`` on the combining group, ``calls[1]`` on the
    sequence group."""

    def run(r: int) -> Any:
        base = get_context()
        assert base is not None
        calls = [0, 0]

        def counted(index: int, collective: Any) -> Any:
            def call(value: Any) -> Any:
                calls[index] += 1
                return collective(value)

            return call

        copy = dataclasses.replace(
            base,
            all_reduce=counted(0, base.all_reduce),
            sequence_all_reduce=counted(1, base.sequence_all_reduce),
        )
        with enter(copy):
            return step(r, calls)

    return run


def layout_and_losses(step: dict[str, Any], **options: Any) -> tuple[list, list]:
    """The random window of a hypothesis ``step`` (``seed``, ``present`` per replica,
    ``packed``, ``density``) and its per-token losses (garbage where masked)."""
    layout = window(
        step["seed"], step["present"], packed=step["packed"], density=step["density"], **options
    )
    return layout, _layouts.losses(step["seed"], layout)


def run_counted(
    replica: Callable[[int, list[int]], Any], step: dict[str, Any]
) -> tuple[list[Any], float]:
    """``replica(r, calls)`` on the step's simulated replicas and engine (``gradients``,
    ``steps``, ``accumulation``, sequence groups of ``shards`` consecutive replicas; sums
    and no split by default), all-reduces counted; and what the engine's combination
    multiplies each micro-step's gradient by (``replicas`` counts every rank)."""
    gradients = step.get("gradients", "sum")
    accumulation = step.get("accumulation", "sum")
    steps = step.get("steps", 1)
    results = run_replicas(
        counting(replica),
        step["replicas"],
        gradients=gradients,
        accumulation_steps=steps,
        accumulation=accumulation,
        sequence_shards=step.get("shards", 1),
    )
    return results, engine_division(step["replicas"], steps, gradients, accumulation)


def effective_weights(
    grads: dict[str, np.ndarray],
    division: float,
    expected: dict[str, Any],
    coefficients: dict[str, float],
    *,
    strength: float = 1.0,
) -> float:
    """Check one micro-step's effective coefficients (``division`` times the gradient
    with respect to each term's input) against ``strength`` times each term's coefficient
    times ``expected[name]`` (the single-device weights; ``"lbl"``, ``"lbm"``: the load
    balancing weights of the step); return the penalty ``"l2"``'s effective weight."""
    for name, target in expected.items():
        np.testing.assert_allclose(
            division * grads[name],
            strength * coefficients[name] * target,
            rtol=1e-12,
            atol=1e-15,
            err_msg=name,
        )
    return division * float(grads["l2"])
