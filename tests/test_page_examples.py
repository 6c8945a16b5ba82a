"""Every example of the reference pages gives TensorFlow's number on every backend.

The numbers are the ones recorded from TensorFlow 2.21 in ``tests/_page_examples.py`` (the
conformance suite checks that the live TensorFlow still gives them); here losskit computes
each example on NumPy, PyTorch, JAX (jitted) and array-api-strict, in float32.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests._helpers import Backend, assert_close
from tests._page_examples import EXAMPLES, REGULARIZER_EXAMPLES, Example

EXAMPLE_RTOL = 2e-6  # float32 results; summation order may differ in the last bit
RAISES = {"ValueError": (ValueError, r"^Invalid `")}
"""A recorded TensorFlow error: the error losskit raises, and how its message starts."""


@pytest.mark.parametrize(
    "example",
    [pytest.param(e, id=f"{e.page}: {e.name}") for e in (*EXAMPLES, *REGULARIZER_EXAMPLES)],
)
def test_example_gives_the_recorded_tensorflow_number(example: Example, xp: Backend) -> None:
    if isinstance(example.tensorflow, str):
        error, message = RAISES[example.tensorflow]
        with pytest.raises(error, match=message):
            xp.run(example.run, xp.xp)
        return
    got = xp.run(example.run, xp.xp)
    assert xp.dtype_name(got) == "float32"
    expected = np.asarray(example.tensorflow, dtype=np.float64)
    assert tuple(got.shape) == expected.shape
    assert_close(xp.numpy(got), expected, rtol=EXAMPLE_RTOL, atol=1e-7)
