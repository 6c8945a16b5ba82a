"""Regularizers against the real tf_keras 2.21 and Keras 3.15 (TensorFlow backend).

1. Configs written by tf_keras (new and legacy format) and Keras 3 load in losskit, as dicts
   and JSON text, through ``deserialize`` and ``get``, into the equivalent object with the
   same penalty.
2. Configs written by losskit load in Keras 3 and tf_keras (``deserialize`` and ``get``)
   into the same class with the same penalty.
3. String identifiers resolve as in tf_keras and Keras 3 (where those two disagree, as the
   documented choice).
4. The Regularizer reference page's examples and the gradients with respect to the input.
5. Penalties of random inputs, every shape and dtype, against both Keras versions.

float32 penalties equal Keras's (rtol 1e-6). In float64, Keras multiplies by its factor
rounded to float32 (row ``regularizer-exact-factors``): losskit is checked against a float64
oracle with the exact factor of the config, and Keras against the same oracle with the
factor rounded to float32, so the two differ exactly by that rounding. The Keras side runs in
one subprocess per session (``_keras_oracle.py``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

import losskit
from losskit.regularizers import L1, L1L2, L2, OrthogonalRegularizer, deserialize, get, serialize
from tests._helpers import assert_close
from tests._page_examples import REGULARIZER_EXAMPLES
from tests.conformance import _keras_fixture
from tests.conformance._keras_cases import (
    ARRAYS,
    CONFIG_ARRAYS,
    CONFIG_SPECS,
    CUSTOM_KEYS,
    GRADIENT_ARRAY,
    GRADIENT_SPECS,
    IDENTIFIERS,
    ORTHOGONAL_ARRAYS,
    RANDOM_ARRAYS,
    RANDOM_ORTHOGONAL_SPECS,
    RANDOM_SPECS,
    L2Regularizer,
    Spec,
    arrays_for,
    dtype_of,
    fewer_than_two,
    float32,
    l1_reg,
    losskit_configs,
    oracle,
    register_customs,
)
from tests.conformance._outcomes import backend
from tests.conformance.deviations import table_rows

pytestmark = pytest.mark.tf

keras_results = _keras_fixture.keras_results

LIBRARIES = ("tf_keras", "keras3")
FLOAT32_RTOL = 1e-6
FLOAT64_RTOL = 1e-12
GRADIENT_RTOL = 1e-5

EXACT_FACTORS = "regularizer-exact-factors"
FACTOR_VALIDATION = "regularizer-factor-validation"
INTEGER_INPUTS = "regularizer-integer-inputs"
SINGLE_ROW = "orthogonal-single-row"
UNKNOWN_NAME = "unknown-regularizer-name"
UNREGISTERED = "regularizer-unregistered-serialization"
LOW_PRECISION = "low-precision-accumulation"
REGULARIZER_DEVIATIONS = (
    EXACT_FACTORS,
    FACTOR_VALIDATION,
    INTEGER_INPUTS,
    SINGLE_ROW,
    UNKNOWN_NAME,
    UNREGISTERED,
    LOW_PRECISION,
)

KERAS3_ORTHOGONAL_FLOAT64 = (
    "cannot compute Mul as input #1(zero-based) was expected to be a float tensor but is a "
    "double tensor"
)
"""Keras 3's OrthogonalRegularizer does not cast its float32 factor (docs/tf-semantics.md 4.4)."""


@pytest.fixture(autouse=True)
def _page_customs_registered() -> None:
    """Other tests register their own ``Custom>l1`` / ``Custom>l2``; ours must be current."""
    register_customs()


# ----------------------------------------------------------------------------- helpers


def _losskit_penalty(regularizer: Any, array: str) -> tuple[float, str]:
    result = regularizer(ARRAYS[array])
    return float(np.asarray(result, dtype=np.float64)), str(np.asarray(result).dtype)


def _keras_penalty(outcome: dict[str, Any], where: str) -> tuple[float, str]:
    assert "error" not in outcome, f"{where}: Keras raised {outcome}"
    return float(outcome["value"]), outcome["dtype"]


def check_penalty(
    spec: Spec,
    regularizer: Any,
    factors: dict[str, Any],
    keras_factors: dict[str, Any],
    keras: dict[str, Any],
    array: str,
    library: str,
) -> None:
    """losskit's ``regularizer`` on ``array`` against Keras's outcome ``keras`` for it.

    ``factors``: the arguments losskit must use (those of the config it read, or of the
    spec), never read back from ``regularizer`` itself; ``keras_factors``: the arguments of
    the Keras object (before Keras rounds them).
    """
    where = f"{spec.id} on {array} ({library})"
    x = ARRAYS[array]
    got, got_dtype = _losskit_penalty(regularizer, array)
    assert got_dtype == dtype_of(array), f"{where}: losskit returns {got_dtype}"
    if dtype_of(array) == "float32":
        value, dtype = _keras_penalty(keras, where)
        assert dtype == "float32", f"{where}: Keras returns {dtype}"
        assert_close(got, value, rtol=FLOAT32_RTOL)
        return
    # float64: each side against the float64 oracle of its own factors
    assert_close(got, oracle(spec.cls, factors, x), rtol=FLOAT64_RTOL)
    if library == "keras3" and spec.orthogonal:
        assert keras["error"] == "InvalidArgumentError", f"{where}: {keras}"
        assert KERAS3_ORTHOGONAL_FLOAT64 in keras["message"]
        return
    value, dtype = _keras_penalty(keras, where)
    assert dtype == "float64", f"{where}: Keras returns {dtype}"
    expected = oracle(spec.cls, keras_factors, x, keras=True)
    assert_close(value, expected, rtol=FLOAT64_RTOL)


def _same_factors(got: dict[str, Any], keras: dict[str, Any], *, rounded: bool) -> None:
    """``got`` (losskit's config) and ``keras`` (Keras's) name the same regularizer."""
    assert set(got) == set(keras), (got, keras)
    for key, value in keras.items():
        if isinstance(value, str):
            assert got[key] == value, (got, keras)
        elif rounded:
            assert float32(got[key]) == float32(value), (got, keras)
        else:
            assert got[key] == value, (got, keras)


def _spec_id(spec: Spec) -> str:
    return spec.id


# ----------------------------------------------------------------------------- 1. Keras -> losskit

WRITERS = [("tf_keras", "new"), ("tf_keras", "legacy"), ("keras3", "new")]
READERS = ["deserialize-dict", "deserialize-json", "get-dict", "get-json"]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("library", "fmt"), WRITERS, ids=[f"{lib}-{fmt}" for lib, fmt in WRITERS])
@pytest.mark.parametrize("spec", CONFIG_SPECS, ids=_spec_id)
def test_reads_keras_configs(
    spec: Spec, library: str, fmt: str, reader: str, keras_results: dict[str, Any]
) -> None:
    config = keras_results["written"][library][spec.id][fmt]
    function, form = reader.split("-")
    identifier = json.dumps(config) if form == "json" else copy.deepcopy(config)
    load = deserialize if function == "deserialize" else get
    regularizer = load(identifier)

    if spec.cls == "l1_reg":
        expected = (
            CUSTOM_KEYS["l1_reg"]
            if fmt == "legacy"
            else {
                "module": "builtins",
                "class_name": "function",
                "config": CUSTOM_KEYS["l1_reg"],
                "registered_name": "function",
            }
        )
        assert config == expected
        assert regularizer is l1_reg
    else:
        expected_type = (
            L2Regularizer
            if spec.cls == "L2Regularizer"
            else getattr(losskit.regularizers, spec.cls)
        )
        assert type(regularizer) is expected_type
        # losskit keeps exactly the float the config carries (tf_keras's are float32-rounded)
        assert regularizer.get_config() == config["config"]
        _same_factors(regularizer.get_config(), spec.arguments, rounded=True)
        if fmt == "new":
            assert config["registered_name"] == CUSTOM_KEYS.get(spec.cls)

    read = {} if spec.cls == "l1_reg" else config["config"]  # "the factor from the config"
    for array in arrays_for(spec, CONFIG_ARRAYS):
        keras = keras_results["penalties"][library][f"{spec.id}@{array}"]
        check_penalty(spec, regularizer, read, spec.arguments, keras, array, library)


def test_float64_differs_only_by_the_keras_rounding(keras_results: dict[str, Any]) -> None:
    """The float64 rule at work: a Keras 3 config carries the exact 0.3, Keras uses float32."""
    spec = Spec("L2", (("l2", 0.3),))
    config = keras_results["written"]["keras3"][spec.id]["new"]
    assert config["config"] == {"l2": 0.3}
    keras = keras_results["penalties"]["keras3"][f"{spec.id}@matrix:float64"]["value"]
    got, _ = _losskit_penalty(deserialize(config), "matrix:float64")
    x = ARRAYS["matrix:float64"]
    assert got == pytest.approx(0.3 * float((x * x).sum()), rel=FLOAT64_RTOL)
    assert keras == pytest.approx(float32(0.3) * float((x * x).sum()), rel=FLOAT64_RTOL)
    assert abs(got - keras) > 1e-9 * abs(got), "the documented difference is not there"


# ----------------------------------------------------------------------------- 2. losskit -> Keras

SENT = losskit_configs()
KERAS_READERS = ["keras3.deserialize", "keras3.get", "tf_keras.deserialize", "tf_keras.get"]


@pytest.mark.parametrize("reader", KERAS_READERS)
@pytest.mark.parametrize("fmt", ["new", "legacy"])
@pytest.mark.parametrize("spec", CONFIG_SPECS, ids=_spec_id)
def test_keras_reads_losskit_configs(
    spec: Spec, fmt: str, reader: str, keras_results: dict[str, Any]
) -> None:
    regularizer = spec.losskit()
    config = serialize(regularizer, use_legacy_format=fmt == "legacy")
    if spec.cls != "l1_reg":
        assert config["config"] == spec.arguments  # the exact factors, as constructed
    loaded = keras_results["loaded"][f"{spec.id}|{fmt}"]
    assert json.dumps(config) == SENT[f"{spec.id}|{fmt}"]["text"], "the payload is stale"
    got = loaded[reader]
    library = reader.split(".")[0]

    if spec.cls == "l1_reg" and fmt == "legacy" and reader == "keras3.get":
        # Keras 3's `get` takes only its built-in names as strings (docs/tf-semantics.md 4.3);
        # its `deserialize` reads the same string.
        assert got == {
            "error": "ValueError",
            "message": "Could not interpret regularizer identifier: Custom>l1",
        }
        return
    assert "error" not in got, f"{reader} cannot read {config}: {got}"
    if spec.cls == "l1_reg":
        assert got["kind"] == "function"
        assert got["registered_name"] == CUSTOM_KEYS["l1_reg"]
    else:
        assert got["kind"] == "regularizer", got
        assert got["class"] == spec.cls
        _same_factors(regularizer.get_config(), got["config"], rounded=spec.builtin)
    for array in arrays_for(spec, CONFIG_ARRAYS):
        keras = got["penalties"][array]
        check_penalty(spec, regularizer, spec.arguments, spec.arguments, keras, array, library)


# ----------------------------------------------------------------------------- 3. identifiers

FOLLOWS = {
    "l1": LIBRARIES,
    "L1": LIBRARIES,
    "l2": LIBRARIES,
    "L2": LIBRARIES,
    "L1L2": LIBRARIES,
    "l1l2": ("keras3",),  # tf_keras returns the unknown string 'l1l2'
    "l1_l2": ("tf_keras",),  # Keras 3 refuses it; tf_keras: L1L2(0.01, 0.01)
    "orthogonal_regularizer": LIBRARIES,
    "OrthogonalRegularizer": LIBRARIES,
}
"""Which Keras versions losskit's `get(identifier)` agrees with (the docstrings' choices)."""

DISAGREEMENTS = {
    ("l1l2", "tf_keras"): {"kind": "str", "value": "l1l2"},
    ("l1_l2", "keras3"): {
        "error": "ValueError",
        "message": "Could not interpret regularizer identifier: l1_l2",
    },
}


def test_identifiers_cover_the_brief() -> None:
    assert set(FOLLOWS) == set(IDENTIFIERS)


@pytest.mark.parametrize("identifier", IDENTIFIERS)
def test_string_identifiers(identifier: str, keras_results: dict[str, Any]) -> None:
    got = get(identifier)
    for library in LIBRARIES:
        keras = keras_results["identifiers"][identifier][library]
        if library not in FOLLOWS[identifier]:
            assert keras == DISAGREEMENTS[(identifier, library)]
            continue
        assert keras["kind"] == "regularizer", keras
        assert type(got).__name__ == keras["class"]
        # Keras stores some defaults as float32 (0.009999999776482582)
        _same_factors(got.get_config(), keras["config"], rounded=True)
    expected = {"l1l2": L1L2(0.0, 0.0), "l1_l2": L1L2(0.01, 0.01)}.get(identifier)
    if expected is not None:
        assert got == expected


# ----------------------------------------------------------------------------- 4. the page


PAGE_EXAMPLES: dict[str, tuple[float, Any]] = {
    example.name: (example.tensorflow, example.run) for example in REGULARIZER_EXAMPLES
}
"""The page's examples: (the number recorded from TensorFlow, run(xp))."""


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("example", list(PAGE_EXAMPLES))
def test_page_example_on_keras(example: str, library: str, keras_results: dict[str, Any]) -> None:
    value, dtype = _keras_penalty(keras_results["examples"][library][example], example)
    assert dtype == "float32"
    assert_close(value, PAGE_EXAMPLES[example][0], rtol=1e-7)


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("example", list(PAGE_EXAMPLES))
def test_page_example_on_losskit(
    example: str, backend_name: str, keras_results: dict[str, Any]
) -> None:
    xp = backend(backend_name)
    got = xp.run(lambda: PAGE_EXAMPLES[example][1](xp.xp))
    assert xp.dtype_name(got) == "float32"
    for library in LIBRARIES:
        value, _ = _keras_penalty(keras_results["examples"][library][example], example)
        assert_close(xp.numpy(got), value, rtol=FLOAT32_RTOL)


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
@pytest.mark.parametrize("spec", GRADIENT_SPECS, ids=_spec_id)
def test_gradients(spec: Spec, backend_name: str, keras_results: dict[str, Any]) -> None:
    xp = backend(backend_name)
    x = ARRAYS[GRADIENT_ARRAY]
    regularizer = spec.losskit()
    (grad,) = xp.grad(regularizer, xp.asarray(x, "float32"))
    value = xp.numpy(regularizer(xp.asarray(x, "float32")))
    for library in LIBRARIES:
        keras = keras_results["gradients"][library][f"{spec.id}@{GRADIENT_ARRAY}"]
        assert_close(value, keras["value"], rtol=FLOAT32_RTOL)
        assert_close(grad, keras["grad"], rtol=GRADIENT_RTOL)


# ----------------------------------------------------------------------------- 5. random inputs

RANDOM_CASES = [
    pytest.param(spec, array, id=f"{spec.id}-{array}")
    for spec in RANDOM_SPECS
    for array in RANDOM_ARRAYS
] + [
    pytest.param(spec, array, id=f"{spec.id}-{array}")
    for spec in RANDOM_ORTHOGONAL_SPECS
    for array in ORTHOGONAL_ARRAYS
]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize(("spec", "array"), RANDOM_CASES)
def test_random_penalties(
    spec: Spec, array: str, library: str, keras_results: dict[str, Any]
) -> None:
    keras = keras_results["penalties"][library][f"{spec.id}@{array}"]
    regularizer = spec.losskit()
    if fewer_than_two(spec, ARRAYS[array]):
        _check_single_row(regularizer, keras, array, library)
        return
    check_penalty(spec, regularizer, spec.arguments, spec.arguments, keras, array, library)


def _check_single_row(regularizer: Any, keras: dict[str, Any], array: str, library: str) -> None:
    """Row `orthogonal-single-row`: no pair of rows; Keras divides 0 by 0, losskit gives 0."""
    got, dtype = _losskit_penalty(regularizer, array)
    assert (got, dtype) == (0.0, dtype_of(array))
    if library == "keras3" and dtype_of(array) == "float64":
        assert keras["error"] == "InvalidArgumentError", keras
        return
    value, keras_dtype = _keras_penalty(keras, array)
    assert np.isnan(value), f"Keras no longer gives NaN on {array}: {keras}; see {SINGLE_ROW}"
    assert keras_dtype == dtype_of(array)


# ----------------------------------------------------------------------------- the deviations


def test_regularizer_deviation_ids_are_in_the_table() -> None:
    missing = sorted(set(REGULARIZER_DEVIATIONS) - set(table_rows()))
    assert not missing, f"regularizer deviation ids missing from docs/deviations.md: {missing}"


def _probe(keras_results: dict[str, Any], library: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = keras_results["probes"][library][name]
    return result


def _exact_factors(keras_results: dict[str, Any]) -> None:
    written = keras_results["written"]
    assert written["tf_keras"]["L1(0.01)"]["new"]["config"] == {"l1": 0.009999999776482582}
    assert written["keras3"]["L1(0.01)"]["new"]["config"] == {"l1": 0.009999999776482582}
    assert serialize(L1(0.01))["config"] == {"l1": 0.01}
    assert serialize(OrthogonalRegularizer(0.3))["config"] == {"factor": 0.3, "mode": "rows"}
    keras = keras_results["penalties"]["tf_keras"]["L2(0.3)@matrix:float64"]["value"]
    got, _ = _losskit_penalty(L2(0.3), "matrix:float64")
    assert got != pytest.approx(keras, rel=1e-9)
    assert got == pytest.approx(keras / float32(0.3) * 0.3, rel=FLOAT64_RTOL)


def _factor_validation(keras_results: dict[str, Any]) -> None:
    def accepted(library: str, name: str) -> bool:
        return "error" not in _probe(keras_results, library, name)

    assert accepted("tf_keras", "negative factor")
    assert accepted("tf_keras", "negative orthogonal factor")
    assert accepted("keras3", "bool factor")
    assert accepted("tf_keras", "bool factor")
    assert not accepted("keras3", "numpy float32 factor")
    assert not accepted("tf_keras", "numpy float32 factor")
    for make in (
        lambda: L2(-0.1),
        lambda: OrthogonalRegularizer(-1.0),
        lambda: L2(float("nan")),
        lambda: L1(float("inf")),
        lambda: L2(True),
    ):
        with pytest.raises(ValueError, match=r"expected a finite number >= 0"):
            make()
    assert L2(np.float32(0.5)).l2 == 0.5
    assert L2(np.float64(0.5)).l2 == 0.5


def _integer_inputs(keras_results: dict[str, Any]) -> None:
    assert _probe(keras_results, "keras3", "L2 on int32") == {"value": 0.0, "dtype": "int32"}
    assert _probe(keras_results, "tf_keras", "L2 on int32")["error"] == "InvalidArgumentError"
    got = L2(0.1)(np.array([1, 2], np.int32))
    assert float(got) == pytest.approx(0.5)
    assert np.asarray(got).dtype.kind == "f"


def _single_row(keras_results: dict[str, Any]) -> None:
    for library in LIBRARIES:
        assert np.isnan(_probe(keras_results, library, "orthogonal one row")["value"])
    assert float(OrthogonalRegularizer(1.0)(np.ones((1, 3), np.float32))) == 0.0


def _unknown_name(keras_results: dict[str, Any]) -> None:
    assert _probe(keras_results, "tf_keras", "unknown name") == {
        "error": "LookupError",
        "message": "returned the string 'foo'",
    }
    assert _probe(keras_results, "keras3", "unknown name")["error"] == "ValueError"
    with pytest.raises(ValueError, match=r"Could not interpret regularizer identifier: 'foo'"):
        get("foo")


def _unregistered(keras_results: dict[str, Any]) -> None:
    for library in LIBRARIES:
        assert _probe(keras_results, library, "unregistered function round trip") == {
            "error": "LookupError",
            "message": "serialized, and loaded back as the string 'unregistered_fn'",
        }

        assert _probe(keras_results, library, "lambda serialization") == {
            "value": 1.0,
            "dtype": "float",
        }

    def unregistered_fn(x: Any) -> Any:
        return 0.0

    for function in (unregistered_fn, lambda x: 0.0):
        with pytest.raises(ValueError, match=r"Cannot serialize the unregistered function"):
            serialize(function)


def _low_precision(keras_results: dict[str, Any]) -> None:
    for library in LIBRARIES:
        result = _probe(keras_results, library, "L2 on float16")
        assert result == {"value": float("inf"), "dtype": "float16"}
    got = L2(1e-3)(np.full((512,), 300.0, np.float16))
    assert np.asarray(got).dtype == np.float16
    assert float(got) == pytest.approx(1e-3 * 300.0**2 * 512, rel=1e-3)


DEVIATION_CHECKS = {
    EXACT_FACTORS: _exact_factors,
    FACTOR_VALIDATION: _factor_validation,
    INTEGER_INPUTS: _integer_inputs,
    SINGLE_ROW: _single_row,
    UNKNOWN_NAME: _unknown_name,
    UNREGISTERED: _unregistered,
    LOW_PRECISION: _low_precision,
}


@pytest.mark.parametrize("deviation", REGULARIZER_DEVIATIONS)
def test_deviation_is_real(deviation: str, keras_results: dict[str, Any]) -> None:
    """Keras really behaves as the row says, losskit as documented, and the row exists."""
    DEVIATION_CHECKS[deviation](keras_results)
    assert deviation in table_rows(), f"no row {deviation!r} in docs/deviations.md"


def test_keras_versions(keras_results: dict[str, Any]) -> None:
    versions = keras_results["versions"]
    assert versions["tensorflow"].startswith("2.21"), versions
    assert versions["tf_keras"].startswith("2.21"), versions
    assert versions["keras3"].startswith("3."), versions
    assert versions["keras3_backend"] == "tensorflow", versions
