"""TensorFlow's own test of the loss collections' ``get_regularization_loss``, translated to
``losskit.v1``.

Upstream: repository ``tensorflow/tensorflow``, path
``tensorflow/python/ops/losses/util_test.py``, commit
``3315e2f15fd4051395482e0ab92b9060e25d812b``.

Verdicts as data in :data:`VERDICTS` (see ``_tf_verdicts.py``). The graph's
``REGULARIZATION_LOSSES`` collection becomes a ``losskit.v1.collect_losses()`` block.
"""

from __future__ import annotations

import numpy as np
import pytest

from losskit import v1
from tests.conformance.peers._tf_verdicts import deviation

UPSTREAM = {
    "repository": "tensorflow/tensorflow",
    "path": "tensorflow/python/ops/losses/util_test.py",
    "commit": "3315e2f15fd4051395482e0ab92b9060e25d812b",
}

VERDICTS: dict[str, str] = {
    # the empty total and the sum pass; the third part filters the collection by a graph
    # name scope, which eager arrays do not have
    "LossesUtilTest.testGetRegularizationLoss": deviation("eager-loss-collections"),
}


def test_LossesUtilTest_testGetRegularizationLoss() -> None:
    with v1.collect_losses():
        # an empty regularization collection evaluates to 0.0
        assert v1.get_regularization_loss() == 0.0
        # losses sum
        v1.add_loss(np.float32(2.0), v1.REGULARIZATION_LOSSES)
        v1.add_loss(np.float32(3.0), v1.REGULARIZATION_LOSSES)
        assert float(v1.get_regularization_loss()) == 5.0
        # TensorFlow's scope capture ('scope1' selects -1.0): refused, eager arrays have no
        # name scope
        v1.add_loss(np.float32(-1.0), v1.REGULARIZATION_LOSSES)
        with pytest.raises(ValueError, match=r"Invalid `scope`: expected None"):
            v1.get_regularization_loss("scope1")
