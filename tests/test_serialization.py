"""get / serialize / deserialize and the registry: Keras formats, round trips, refusals."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import losskit
from losskit.regularizers import (
    L1,
    L1L2,
    L2,
    OrthogonalRegularizer,
    Regularizer,
    deserialize,
    get,
    serialize,
)
from losskit.serialization import get_registered_name, get_registered_object


@losskit.register_serializable(package="Tests", name="scaled_l2")
class ScaledL2(Regularizer):
    def __init__(self, scale: float = 1.0, power: int = 2) -> None:
        self.scale = scale
        self.power = power

    def __call__(self, x: Any) -> Any:
        return self.scale * np.sum(np.abs(x) ** self.power)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "power": self.power}


@losskit.register_serializable(package="Tests")
def half_l1(x: Any) -> Any:
    return 0.5 * np.sum(np.abs(x))


CONFIGURABLE = [
    L1(0.3),
    L2(0.01),
    L1L2(0.25, 0.5),
    L1L2(),
    OrthogonalRegularizer(0.2, mode="columns"),
    ScaledL2(0.5, 3),
]


def assert_round_trip(obj: Any) -> None:
    """get_config -> JSON -> from_config, and serialize -> JSON -> deserialize, both exact."""
    config = json.loads(json.dumps(obj.get_config()))
    rebuilt = type(obj).from_config(config)
    assert rebuilt == obj
    assert rebuilt.get_config() == obj.get_config()
    for legacy in (False, True):
        text = json.dumps(serialize(obj, use_legacy_format=legacy))
        again = deserialize(text)
        assert type(again) is type(obj)
        assert again.get_config() == obj.get_config()
        x = np.array([[1.0, -2.0], [0.5, 3.0]])
        assert float(again(x)) == float(obj(x))


@pytest.mark.parametrize("obj", CONFIGURABLE, ids=repr)
def test_round_trips(obj) -> None:
    assert_round_trip(obj)


def test_registered_function_round_trip() -> None:
    config = serialize(half_l1)
    assert config == {
        "module": "builtins",
        "class_name": "function",
        "config": "Tests>half_l1",
        "registered_name": "function",
    }
    assert deserialize(json.dumps(config)) is half_l1
    assert serialize(half_l1, use_legacy_format=True) == "Tests>half_l1"
    assert get("Tests>half_l1") is half_l1


def test_serialize_formats() -> None:
    assert serialize(L2(0.3)) == {
        "module": "keras.regularizers",
        "class_name": "L2",
        "config": {"l2": 0.3},
        "registered_name": None,
    }
    assert serialize(ScaledL2()) == {
        "module": __name__,
        "class_name": "ScaledL2",
        "config": {"scale": 1.0, "power": 2},
        "registered_name": "Tests>scaled_l2",
    }
    assert serialize(ScaledL2(), use_legacy_format=True) == {
        "class_name": "Tests>scaled_l2",
        "config": {"scale": 1.0, "power": 2},
    }
    assert serialize(None) is None


# ------------------------------------------------------------------ reading Keras configs

KERAS_CONFIGS = [
    # tf_keras / Keras 3 new format (factors as tf_keras writes them: float32-rounded)
    (
        {
            "module": "keras.regularizers",
            "class_name": "L2",
            "config": {"l2": 0.30000001192092896},
            "registered_name": None,
        },
        L2(0.30000001192092896),
    ),
    (
        {
            "module": "keras.regularizers",
            "class_name": "L1",
            "config": {"l1": 0.009999999776482582},
            "registered_name": None,
        },
        L1(0.009999999776482582),
    ),
    (
        {
            "module": "keras.regularizers",
            "class_name": "L1L2",
            "config": {"l1": 0.01, "l2": 0.02},
            "registered_name": None,
        },
        L1L2(0.01, 0.02),
    ),
    (
        {
            "module": "keras.regularizers",
            "class_name": "OrthogonalRegularizer",
            "config": {"factor": 0.5, "mode": "columns"},
            "registered_name": None,
        },
        OrthogonalRegularizer(0.5, "columns"),
    ),
    (
        {
            "module": "keras.src.regularizers.regularizers",
            "class_name": "L2",
            "config": {"l2": 0.5},
            "registered_name": None,
        },
        L2(0.5),
    ),
    # legacy format and the lower-case names Keras resolves
    ({"class_name": "L2", "config": {"l2": 0.1}}, L2(0.1)),
    ({"class_name": "l2", "config": {"l2": 0.3}}, L2(0.3)),
    ({"class_name": "L1", "config": {"l": 0.3}}, L1(0.3)),  # tf_keras legacy kwarg
    ({"class_name": "Tests>scaled_l2", "config": {"scale": 2.0, "power": 1}}, ScaledL2(2.0, 1)),
    # Keras 3: the registered name wins over class_name and module
    (
        {
            "module": "keras.regularizers",
            "class_name": "L2",
            "config": {"scale": 3.0},
            "registered_name": "Tests>scaled_l2",
        },
        ScaledL2(3.0),
    ),
]


@pytest.mark.parametrize(("config", "expected"), KERAS_CONFIGS)
def test_reads_keras_configs(config, expected) -> None:
    assert deserialize(config) == expected
    assert deserialize(json.dumps(config)) == expected
    assert get(config) == expected


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("l1", L1(0.01)),
        ("L1", L1(0.01)),
        ("l2", L2(0.01)),
        ("L2", L2(0.01)),
        ("L1L2", L1L2(0.0, 0.0)),
        ("l1l2", L1L2(0.0, 0.0)),  # Keras 3's name for the class
        ("l1_l2", L1L2(0.01, 0.01)),  # tf_keras's function (Keras 3 rejects the string)
        ("orthogonal_regularizer", OrthogonalRegularizer(0.01, "rows")),
        ("OrthogonalRegularizer", OrthogonalRegularizer(0.01, "rows")),
        ("Tests>scaled_l2", ScaledL2()),
        (L2, L2(0.01)),
        (ScaledL2, ScaledL2()),
    ],
)
def test_get_names_and_classes(identifier, expected) -> None:
    assert get(identifier) == expected


def test_get_passes_callables_and_none_through() -> None:
    regularizer = L2(0.5)
    assert get(regularizer) is regularizer
    assert get(half_l1) is half_l1
    assert get(None) is None


def test_custom_objects() -> None:
    class Local(Regularizer):
        def __init__(self, a: float = 1.0) -> None:
            self.a = a

        def get_config(self) -> dict[str, Any]:
            return {"a": self.a}

    config = {
        "module": None,
        "class_name": "Local",
        "config": {"a": 2.0},
        "registered_name": "Local",
    }
    with pytest.raises(ValueError, match=r"Unknown regularizer 'Local'.*register_serializable"):
        deserialize(config)
    assert deserialize(config, custom_objects={"Local": Local}).a == 2.0


# ------------------------------------------------------------------ the registry


def test_registry_names() -> None:
    assert get_registered_name(ScaledL2) == "Tests>scaled_l2"
    assert get_registered_name(ScaledL2()) == "Tests>scaled_l2"
    assert get_registered_name(half_l1) == "Tests>half_l1"
    assert get_registered_name(L2) is None
    assert get_registered_object("Tests>scaled_l2") is ScaledL2


def test_reregistering_replaces() -> None:
    @losskit.register_serializable(package="Tests", name="again")
    def first(x):
        return 1.0

    @losskit.register_serializable(package="Tests", name="again")
    def second(x):
        return 2.0

    assert get("Tests>again") is second
    assert get_registered_name(first) is None


def test_registering_a_class_without_get_config() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Cannot register a class that does not have a get_config\(\) method: .*NoConfig",
    ):

        @losskit.register_serializable()
        class NoConfig:
            pass


@pytest.mark.parametrize(
    ("package", "name", "match"),
    [
        ("", None, r"Invalid `package`"),
        ("a>b", None, r"Invalid `package`"),
        ("Custom", "", r"Invalid `name`"),
        ("Custom", "x>y", r"Invalid `name`"),
        (3, None, r"Invalid `package`"),
    ],
)
def test_register_arguments(package, name, match) -> None:
    with pytest.raises(ValueError, match=match + r": expected a non-empty string without '>'"):
        losskit.register_serializable(package=package, name=name)


def test_registering_a_lambda() -> None:
    with pytest.raises(ValueError, match=r"Invalid `obj`: expected a named class or function"):
        losskit.register_serializable()(lambda x: x)


# ------------------------------------------------------------------ refusals


def unregistered(x):
    return 0.0


class Unregistered(Regularizer):
    def get_config(self) -> dict[str, Any]:
        return {}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


REFUSED = [
    (
        "unknown-name",
        lambda: get("foo"),
        ValueError,
        r"^Could not interpret regularizer identifier: 'foo'\. Expected one of 'Regularizer'",
    ),
    ("int", lambda: get(5), ValueError, r"^Could not interpret regularizer identifier: 5$"),
    (
        "non-regularizer-class",
        lambda: get(dict),
        ValueError,
        r"^Could not interpret regularizer identifier: <class 'dict'>$",
    ),
    (
        "lambda-config",
        lambda: deserialize(
            {"class_name": "__lambda__", "config": {"value": ["4wEAAAAAAAA=", None, None]}}
        ),
        ValueError,
        r"^Refusing to deserialize a Python lambda: .* never executes code",
    ),
    (
        "foreign-module",
        lambda: deserialize(
            {"module": "os", "class_name": "system", "config": {}, "registered_name": None}
        ),
        ValueError,
        r"^Refusing module 'os' for regularizer 'system': losskit never imports",
    ),
    (
        "foreign-module-known-class",
        lambda: deserialize({"module": "evil.regularizers", "class_name": "L2", "config": {}}),
        ValueError,
        r"^Refusing module 'evil.regularizers'",
    ),
    (
        "function-not-registered",
        lambda: deserialize(
            {
                "module": "builtins",
                "class_name": "function",
                "config": "os.system",
                "registered_name": "function",
            }
        ),
        ValueError,
        r"^Could not interpret regularizer function 'os.system': it is not a registered",
    ),
    (
        "function-foreign-module",
        lambda: deserialize(
            {"module": "subprocess", "class_name": "function", "config": "Tests>half_l1"}
        ),
        ValueError,
        r"^Invalid config: a function is named by its registered name",
    ),
    (
        "safe-mode-kwarg",
        lambda: deserialize({"class_name": "L2", "config": {"l2": 0.1, "safe_mode": False}}),
        TypeError,
        r"unexpected keyword argument 'safe_mode'",
    ),
    (
        "unsafe-switch-as-class",
        lambda: deserialize(
            {"module": "keras.config", "class_name": "enable_unsafe_deserialization", "config": {}}
        ),
        ValueError,
        r"^Refusing module 'keras.config'",
    ),
    (
        "extra-key",
        lambda: deserialize({"class_name": "L2", "config": {}, "safe_mode": False}),
        ValueError,
        r"^Invalid config: unexpected keys \['safe_mode'\]",
    ),
    (
        "non-json",
        lambda: deserialize({"class_name": "L2", "config": {"l2": object()}}),
        TypeError,
        r"^Invalid config: only JSON data .* at config\.config\.l2\.$",
    ),
    (
        "bad-json",
        lambda: deserialize('{"class_name": "L2", '),
        ValueError,
        r"^Invalid config: not valid JSON",
    ),
    (
        "class-name-missing",
        lambda: deserialize({"config": {}}),
        ValueError,
        r"^Invalid `class_name`: expected a non-empty string, received None\.$",
    ),
    (
        "config-not-dict",
        lambda: deserialize({"class_name": "L2", "config": [1]}),
        TypeError,
        r"^Invalid `config`: expected a dict of L2 arguments, received \[1\]\.$",
    ),
    (
        "bad-factor",
        lambda: deserialize({"class_name": "L2", "config": {"l2": -1.0}}),
        ValueError,
        r"^Invalid `l2`: expected a finite number >= 0, received -1\.0\.$",
    ),
    (
        "deep",
        lambda: deserialize({"class_name": "L2", "config": {"a": _nested(20)}}),
        ValueError,
        r"^Invalid config: nested deeper than 16 levels",
    ),
    (
        "serialize-unregistered-function",
        lambda: serialize(unregistered),
        ValueError,
        r"^Cannot serialize the unregistered function .*register_serializable",
    ),
    (
        "serialize-lambda",
        lambda: serialize(lambda x: x),
        ValueError,
        r"^Cannot serialize the unregistered function",
    ),
    (
        "serialize-unregistered-class",
        lambda: serialize(Unregistered()),
        ValueError,
        r"^Cannot serialize Unregistered: it is neither a built-in regularizer nor registered",
    ),
    (
        "serialize-no-config",
        lambda: serialize(Regularizer()),
        NotImplementedError,
        r"does not implement get_config",
    ),
    (
        "non-config-type",
        lambda: deserialize(3.5),
        TypeError,
        r"^Invalid `config`: expected a dict, a JSON text or a name, received 3\.5\.$",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "match"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
