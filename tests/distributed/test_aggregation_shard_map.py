"""JAX on 8 CPU devices (a subprocess) for every aggregation mode: ``shard_map`` with the
gradients combined by ``psum`` and by ``pmean``, and ``jit`` over global arrays; padded and
packed rows, uneven shards (devices whose rows are all padding), groups spread over devices
and micro-batches, full and partial windows. The combined gradient equals the float64
gradient of the single-device objective; the naive per-micro-batch formula differs; the
plan adds one psum per window (none for token-sum)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from losskit.aggregation import MODES
from tests.aggregation import _layouts, _oracle
from tests.distributed._scripts import case_payload, run_json_script

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("_aggregation_shard_map.py")
DEVICES, ROWS, LENGTH, FEATURES, GROUPS, MAX_LENGTH = 8, 2, 5, 2, 6, 5.0
VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]
W = [0.75, -0.5]


def _case(seed: int, engine: str, packed: bool, present: int) -> dict:
    rng = np.random.default_rng(seed)
    layout = []
    for device in range(DEVICES):
        density = [0.0, 0.9, 0.3, 0.7][device % 4]  # uneven: device 0 holds only padding
        layout.append(
            [
                _layouts.micro_batch(
                    rng, ROWS, LENGTH, packed=packed, num_groups=GROUPS, density=density
                )
                for _ in range(present)
            ]
        )

    def global_array(key: str) -> np.ndarray:  # [k, devices * rows, ...]
        return np.stack(
            [np.concatenate([layout[d][k][key] for d in range(DEVICES)]) for k in range(present)]
        )

    shape = (present, DEVICES * ROWS, LENGTH)
    data = {
        "mask": global_array("mask").astype(int),
        "group": global_array("group"),
        "x": rng.normal(size=(*shape, FEATURES)),
        "y": rng.normal(size=shape),
    }
    if packed:
        data["seg"] = global_array("seg")
    case = case_payload(
        engine, packed, present, data, num_groups=GROUPS, max_length=MAX_LENGTH, w=W
    )
    return {"case": case, "layout": layout, "data": data}


def _oracle_gradients(built: dict) -> np.ndarray:
    """[variants, FEATURES]: d/dw of sum_t c_t (x_t . w - y_t)^2, float64."""
    x, y, layout = built["data"]["x"], built["data"]["y"], built["layout"]
    residual = x @ np.asarray(W) - y
    out = []
    for mode, count_empty in VARIANTS:
        c = _oracle.coefficients(layout, mode, count_empty=count_empty, max_length=MAX_LENGTH)
        # device d's rows of micro-batch k are rows d*ROWS ... of the global arrays
        coefficients = np.stack(
            [np.concatenate([c[d][k] for d in range(DEVICES)]) for k in range(len(c[0]))]
        )
        out.append(np.einsum("kbt,kbtf->f", 2 * coefficients * residual, x))
    return np.stack(out)


def engine_is(built: dict, engine: str) -> bool:
    return built["case"]["engine"] == engine


def test_shard_map_and_jit_gradients_equal_single_device() -> None:
    built = [
        _case(0, "psum", packed=False, present=3),
        _case(1, "pmean", packed=True, present=2),
        _case(2, "pmean", packed=False, present=2),
        _case(3, "psum", packed=True, present=3),
        _case(4, "jit", packed=True, present=2),
        _case(5, "jit", packed=False, present=3),
    ]
    results = run_json_script(SCRIPT, [b["case"] for b in built])
    for b, result in zip(built, results, strict=True):
        expected = _oracle_gradients(b)
        label = f"{b['case']['engine']} packed={b['case']['packed']}"
        got = np.asarray(result["losskit"])
        for v, variant in enumerate(VARIANTS):
            np.testing.assert_allclose(
                got[v], expected[v], rtol=1e-9, atol=1e-12, err_msg=f"{label} {variant}"
            )
        if b["case"]["engine"] == "jit":
            continue
        naive = np.asarray(result["naive"])
        for v, variant in enumerate(VARIANTS):
            mode, count_empty = variant
            # With pmean, fixed padded shapes and count_empty, the sequence modes count the
            # same rows on every device and micro-batch: the naive mean of means is exact
            # there (TRL's grpo with equal batches), and only there.
            exact = engine_is(b, "pmean") and not b["case"]["packed"] and count_empty
            if not (exact and mode.startswith("seq-")):
                assert np.max(np.abs(naive[v] - expected[v])) > 1e-4, f"{label} {variant} naive"
            assert result["collectives"][v] == int(variant[0] != "token-sum"), f"{label} {variant}"
