"""Verdicts on the peers' own test methods, kept as data next to their translations.

Each translated module names its upstream file (:class:`Upstream`) and maps every upstream
test method, ``"Class.test_method"``, to a verdict:

* :data:`PASSES`: the module has the translation, a test ``TestClass.test_method`` (the
  upstream class's name with ``Test`` moved to the front), asserting what upstream asserts
  with losskit's API (error-message patterns in losskit's wording);
* ``deviation(id)``: losskit deliberately differs; ``id`` is a row of ``docs/deviations.md``
  (the translation may exist and assert losskit's side);
* ``not_applicable(reason)``: the test exercises something losskit does not have (TensorFlow
  graphs, ragged tensors, Keras models), with the reason in one line.

``tests/conformance/peers/test_verdicts.py`` checks the data against the modules and against
the summary tables of ``docs/peers.md``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

PASSES = "passes"
DEVIATION = "deviation: "
NOT_APPLICABLE = "not applicable: "


@dataclasses.dataclass(frozen=True)
class Upstream:
    """The upstream file a module translates: repository, path, commit (and its tag)."""

    repository: str
    path: str
    commit: str
    tag: str


def deviation(row: str) -> str:
    return DEVIATION + row


def not_applicable(reason: str) -> str:
    return NOT_APPLICABLE + reason


def kind(verdict: str) -> str:
    """'passes', 'deviation' or 'not applicable'."""
    if verdict == PASSES:
        return "passes"
    if verdict.startswith(DEVIATION):
        return "deviation"
    if verdict.startswith(NOT_APPLICABLE):
        return "not applicable"
    raise ValueError(f"not a verdict: {verdict!r}")


def local_name(method: str) -> str:
    """``"MeanSquaredErrorTest.test_config"`` -> ``"TestMeanSquaredError.test_config"``;
    a module-level ``"test_x"`` stays ``"test_x"``."""
    if "." not in method:
        return method
    cls, name = method.split(".")
    return f"Test{cls.removesuffix('Test')}.{name}"


# ----------------------------------------------------------------------------- assertions
# The assertions of unittest / tf.test / keras.testing, with their tolerances.


def value(x: Any) -> np.ndarray:
    """A NumPy copy in float64 (from any backend)."""
    if hasattr(x, "detach"):
        x = x.detach().numpy()
    return np.asarray(x, np.float64)


def assert_almost_equal(actual: Any, expected: Any, places: int = 7) -> None:
    """unittest's ``assertAlmostEqual``: ``round(actual - expected, places) == 0``."""
    difference = float(value(actual)) - float(value(expected))
    assert round(abs(difference), places) == 0, f"{float(value(actual))} != {expected}"


def assert_all_close(actual: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """``tf.test.TestCase.assertAllClose`` / keras ``assertAllClose`` (rtol, atol 1e-6)."""
    np.testing.assert_allclose(value(actual), value(expected), rtol=rtol, atol=atol)


def assert_array_near(actual: Any, expected: Any, err: float) -> None:
    """``assertArrayNear``: every element within ``err``."""
    a, e = value(actual).ravel(), value(expected).ravel()
    assert a.shape == e.shape, (a.shape, e.shape)
    assert all(math.isclose(x, y, abs_tol=err, rel_tol=0) for x, y in zip(a, e, strict=True)), (
        a,
        e,
    )


def assert_decimal(actual: Any, expected: Any, decimal: int = 3) -> None:
    """Keras 3's ``assertAlmostEqual``: ``np.testing.assert_almost_equal`` (3 decimals)."""
    np.testing.assert_almost_equal(value(actual), value(expected), decimal=decimal)


def assert_class_serialization(instance: Any, module: Any = None) -> None:
    """Keras 3's ``run_class_serialization_test`` with losskit's API: ``get_config`` ->
    JSON -> ``from_config`` gives the same config and attributes; ``module.serialize`` ->
    JSON -> ``module.deserialize`` (``losskit.losses`` by default) gives the same config."""
    import json

    import losskit.losses

    module = losskit.losses if module is None else module
    cls = type(instance)
    config = json.dumps(instance.get_config())
    revived = cls.from_config(json.loads(config))
    assert json.dumps(revived.get_config()) == config
    assert set(dir(instance)) == set(dir(revived))
    serialized = json.dumps(module.serialize(instance))
    again = module.deserialize(json.loads(serialized))
    assert type(again) is cls
    assert json.dumps(again.get_config()) == config
