"""JAX on 8 CPU devices (a subprocess), mesh ("data", "seq") = 2 x 4, each sequence split
along T over the 4 "seq" devices (load-balanced "zigzag" columns): every aggregation mode,
padded and packed rows, full and partial windows, gradients combined by ``psum`` and by
``pmean`` over both axes, inside ``jax_context(("data", "seq"), sequence_axis="seq")``.
The combined gradient equals the float64 gradient of the single-device objective on the
unsharded rows; without the sequence axis the sequence modes differ; the plan adds one
psum over ("data", "seq") and, for the modes that need each sequence's tokens, one over
"seq". On two of the cases, a multi-term objective (with a seq-mean term), a meter and
deferred windows of seq-mean-token-mean and seq-mean-token-sum-norm match the oracle too,
with their psums per axis counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from losskit.aggregation import MODES
from tests.aggregation import _layouts, _oracle, _split
from tests.distributed._scripts import case_payload, run_json_script

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("_parallel_shard_map.py")
DEFERRED = ("seq-mean-token-mean", "seq-mean-token-sum-norm")
DATA, SEQ, ROWS, LENGTH, FEATURES, GROUPS, MAX_LENGTH = 2, 4, 2, 16, 2, 3, 6.0
VARIANTS = [(mode, count_empty) for mode in MODES for count_empty in (False, True)]
W = [0.75, -0.5]
NEEDS_SEQUENCES = (
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "group-seq-mean",
)


def _renumbered(block: np.ndarray) -> np.ndarray:
    return np.stack([np.unique(row, return_inverse=True)[1] for row in block])


def _case(seed: int, engine: str, packed: bool, present: int) -> dict:
    rng = np.random.default_rng(seed)
    whole = [  # [data][micro-batch]; uneven densities over the data replicas
        [
            _layouts.micro_batch(
                rng, ROWS, LENGTH, packed=packed, num_groups=GROUPS, density=[0.8, 0.4][d]
            )
            for _ in range(present)
        ]
        for d in range(DATA)
    ]
    order = np.concatenate(_split.columns(rng, LENGTH, SEQ, "zigzag"))  # device s: 4 columns

    def global_array(key: str) -> np.ndarray:  # [k, data * rows, T]: columns in device order
        return np.stack(
            [
                np.concatenate([whole[d][k][key][:, order] for d in range(DATA)])
                for k in range(present)
            ]
        )

    shape = (present, DATA * ROWS, LENGTH)
    arrays = {
        "mask": global_array("mask").astype(int),
        "x": rng.normal(size=(*shape, FEATURES)),
        "y": rng.normal(size=shape),
    }
    if packed:
        arrays["group"] = global_array("group")
        arrays["seg"] = global_array("seg")
        width = LENGTH // SEQ
        local = arrays["seg"].copy()
        for s in range(SEQ):  # what a user does without a sequence axis: ids per shard
            for k in range(present):
                block = local[k, :, s * width : (s + 1) * width]
                local[k, :, s * width : (s + 1) * width] = _renumbered(block)
        arrays["seg_local"] = local
    else:
        arrays["group"] = np.stack(
            [np.concatenate([whole[d][k]["group"] for d in range(DATA)]) for k in range(present)]
        )
    case = case_payload(
        engine, packed, present, arrays, num_groups=GROUPS, max_length=MAX_LENGTH, w=W
    )
    return {"case": case, "whole": whole, "order": order, "arrays": arrays}


def _coefficients(built: dict, mode: str, count_empty: bool = False) -> np.ndarray:
    """The unsharded oracle's c_t laid out as the global arrays, ``[k, data * rows, T]``."""
    whole, order = built["whole"], built["order"]
    c = _oracle.coefficients(whole, mode, count_empty=count_empty, max_length=MAX_LENGTH)
    return np.stack(
        [np.concatenate([c[d][k][:, order] for d in range(DATA)]) for k in range(len(c[0]))]
    )


def _oracle_gradients(built: dict) -> np.ndarray:
    """[variants, FEATURES]: d/dw of sum_t c_t (x_t . w - y_t)^2 over the unsharded rows."""
    x, y = built["arrays"]["x"], built["arrays"]["y"]
    residual = x @ np.asarray(W) - y
    return np.stack(
        [
            np.einsum("kbt,kbtf->f", 2 * _coefficients(built, *variant) * residual, x)
            for variant in VARIANTS
        ]
    )


def test_data_by_sequence_mesh_matches_the_single_device_objective() -> None:
    engines = [("psum", False, 3), ("pmean", True, 2), ("pmean", False, 2), ("psum", True, 3)]
    built = [_case(seed, *engine) for seed, engine in enumerate(engines)]
    for b in built[:2]:  # a multi-term objective, a meter and deferred windows too
        b["case"]["objectives"] = True
    results = run_json_script(SCRIPT, [b["case"] for b in built])
    check_objectives(built[:2], results[:2])
    for b, result in zip(built, results, strict=True):
        expected = _oracle_gradients(b)
        label = f"{b['case']['engine']} packed={b['case']['packed']}"
        got, naive = np.asarray(result["losskit"]), np.asarray(result["naive"])
        for v, (mode, count_empty) in enumerate(VARIANTS):
            where = f"{label} {mode} count_empty={count_empty}"
            np.testing.assert_allclose(got[v], expected[v], rtol=1e-9, atol=1e-12, err_msg=where)
            if mode in NEEDS_SEQUENCES:  # each shard's piece taken for a sequence
                assert np.max(np.abs(naive[v] - expected[v])) > 1e-4, where
            else:  # counts of tokens need no sequence axis
                np.testing.assert_allclose(naive[v], expected[v], rtol=1e-9, atol=1e-12)
            psums = {"data,seq": int(mode != "token-sum")}
            if mode in NEEDS_SEQUENCES:
                psums["seq"] = 1
            assert result["collectives"][v] == {k: n for k, n in psums.items() if n}, where


def check_objectives(built: list[dict], results: list[dict]) -> None:
    """The objective part: a planned objective (token-mean residual + 0.3 seq-mean-token-
    mean squared prediction + 0.05 |w|^2) and deferred windows of the residual equal the
    float64 gradients on the unsharded rows; the meter reads the seq-mean term; the psums
    per window and axis."""
    for b, result in zip(built, results, strict=True):
        found = result["objectives"]
        x, y, w = b["arrays"]["x"], b["arrays"]["y"], np.asarray(W)
        prediction = x @ w
        residual = prediction - y
        seq = _coefficients(b, "seq-mean-token-mean")
        expected = (
            np.einsum("kbt,kbtf->f", 2 * _coefficients(b, "token-mean") * residual, x)
            + 0.3 * np.einsum("kbt,kbtf->f", 2 * seq * prediction, x)
            + 2 * 0.05 * w
        )
        label = f"{b['case']['engine']} packed={b['case']['packed']}"
        np.testing.assert_allclose(
            found["objective"], expected, rtol=1e-9, atol=1e-12, err_msg=label
        )
        assert found["meter"] == pytest.approx(float(np.sum(seq * prediction**2)), rel=1e-9)
        for got, mode in zip(found["deferred"], DEFERRED, strict=True):
            c = _coefficients(b, mode)
            np.testing.assert_allclose(
                got, np.einsum("kbt,kbtf->f", 2 * c * residual, x), rtol=1e-9, atol=1e-12
            )
        present = b["case"]["present"]
        collectives = found["collectives"]
        assert collectives["plan"] == {"data,seq": 1, "seq": 1}, label  # every term at once
        assert collectives["seq-mean-token-mean"] == {"data,seq": 1, "seq": present}, label
        assert collectives["seq-mean-token-sum-norm"] == {"data,seq": 1, "seq": 1}, label
