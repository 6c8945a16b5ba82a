"""The two float64 oracles of the aggregation modes agree.

``tests/aggregation/_oracle.py`` (Python loops over tokens, for the planner's tests) and
``losskit.testing._oracle`` (vectorised over sequences, for the audit users run) were
written separately from the same definitions; a mistake in one would otherwise let the
planner or the audit drift with it. They must give the same coefficient to every token of
random layouts: padded and packed rows, empty sequences and micro-batches, groups spread
over replicas and micro-batches, ``count_empty`` both ways.
"""

from __future__ import annotations

import numpy as np
import pytest

from losskit.aggregation import MODES
from losskit.testing import random_layout
from losskit.testing._oracle import target_weights
from tests.aggregation import _oracle

MAX_LENGTH = 6.0


def _as_dicts(layout) -> _oracle.Layout:  # type: ignore[no-untyped-def]
    """The audit's ``Layout`` in the planner tests' nesting of dicts."""
    out: _oracle.Layout = []
    for r, masks in enumerate(layout.masks):
        batches = []
        for k, mask in enumerate(masks):
            seg = None if layout.segment_ids is None else np.asarray(layout.segment_ids[r][k])
            group = None if layout.group_ids is None else np.asarray(layout.group_ids[r][k])
            batches.append({"mask": np.asarray(mask) != 0, "seg": seg, "group": group})
        out.append(batches)
    return out


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("mode", MODES)
def test_the_planner_oracle_and_the_audit_oracle_agree(mode: str, packed: bool) -> None:
    differing = 0
    for seed in range(60):
        layout = random_layout(
            seed,
            ranks=1 + seed % 3,
            micro_steps=1 + seed % 2,
            packed=packed,
            num_groups=1 + seed % 4,
            rows=(0, 3),
            length=(1, 6),
        )
        for count_empty in (False, True):
            audit = target_weights(layout, mode, max_length=MAX_LENGTH, count_empty=count_empty)
            planner = _oracle.coefficients(
                _as_dicts(layout), mode, count_empty=count_empty, max_length=MAX_LENGTH
            )
            for r, (audit_r, planner_r) in enumerate(zip(audit, planner, strict=True)):
                for k, (a, p) in enumerate(zip(audit_r, planner_r, strict=True)):
                    np.testing.assert_allclose(
                        a, p, rtol=1e-12, atol=0, err_msg=f"seed {seed} r {r} k {k}"
                    )
            # not vacuous: some token carries weight
            differing += any(np.any(a != 0) for a_r in audit for a in a_r)
    assert differing > 60  # most of the 120 cases hold valid tokens
