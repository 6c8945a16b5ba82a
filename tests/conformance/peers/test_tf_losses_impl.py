"""TensorFlow's own test of ``cosine_distance`` on reshaped input, translated to ``losskit.v1``.

Upstream: repository ``tensorflow/tensorflow``, path
``tensorflow/python/ops/losses/losses_impl_test.py``, commit
``18fa40467fabbb5b6351f013c677577a1e1e1421``.

Verdicts as data in :data:`VERDICTS` (see ``_tf_verdicts.py``).
"""

from __future__ import annotations

import numpy as np

from losskit import v1
from tests.conformance.peers._tf_verdicts import PASSES

UPSTREAM = {
    "repository": "tensorflow/tensorflow",
    "path": "tensorflow/python/ops/losses/losses_impl_test.py",
    "commit": "18fa40467fabbb5b6351f013c677577a1e1e1421",
}

VERDICTS: dict[str, str] = {"CosineDistanceTest.testReshapeInput": PASSES}


def test_CosineDistanceTest_testReshapeInput() -> None:
    # two logically orthogonal vectors with cosine distance 1 (not unit-normalized: the
    # loss does not normalize), as 1-D vectors and as [2, 2] arrays over both axes
    vec_a = np.array([1, 1, 1, 1], np.int32)
    vec_b = np.array([1, -1, 1, -1], np.int32)
    assert float(v1.cosine_distance(vec_a, vec_b, axis=0)) == 1.0
    square = v1.cosine_distance(vec_a.reshape(2, 2), vec_b.reshape(2, 2), axis=[0, 1])
    assert float(square) == 1.0
