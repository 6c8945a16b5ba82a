"""Random and hostile configs through ``losskit.regularizers.deserialize`` and ``get``.

Every call, with a dict or its JSON text, must

* return a regularizer or function from the allow-list (a built-in :class:`Regularizer`, a
  registered class's instance, a registered function; ``get(None)`` is ``None``), or raise
  ``ValueError`` / ``TypeError``, never any other exception;
* add nothing to ``sys.modules`` (a module named in a config is never imported);
* call nothing it was not allowed to: the sentinels of ``_sentinels.py`` (named in configs by
  module path and name, not registered) record every call, construction, attribute lookup
  and the import of ``_sentinel_module``; ``os.system``, ``os.popen`` and
  ``subprocess.Popen`` are replaced by recorders for the whole test, ``importlib``'s
  ``import_module``, ``marshal.loads`` and ``pickle.loads`` around each call.

The hostile templates follow the published Keras advisories: CVE-2024-3660 (a ``__lambda__``
config carrying marshalled bytecode), CVE-2025-1550 (``module``/``class_name`` naming an
arbitrary callable such as ``os.system``), CVE-2025-8747 and CVE-2025-9906 (configs that try
to switch safe mode off).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import marshal
import math
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losskit
from losskit.regularizers import L1, L1L2, L2, OrthogonalRegularizer, Regularizer
from losskit.regularizers import deserialize as regularizer_deserialize
from losskit.regularizers import get as regularizer_get
from losskit.serialization import get_registered_name, get_registered_object
from tests.property import _sentinels

SENTINELS = "tests.property._sentinels"
SENTINEL_MODULE = "tests.property._sentinel_module"
BUILT_IN_CLASSES = (L1, L2, L1L2, OrthogonalRegularizer, Regularizer)


# ----------------------------------------------------------------------------- registered objects


@losskit.register_serializable(package="Fuzz", name="registered_fn")
def registered_fn(x: Any) -> float:
    """A registered function: configs may name it, and get it back (uncalled)."""
    _sentinels.CALLS.append(("registered_fn called", None))
    return 0.0


@losskit.register_serializable(package="Fuzz", name="registered_class")
class RegisteredRegularizer(Regularizer):
    """A registered class: configs may build it."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def __call__(self, x: Any) -> Any:
        _sentinels.CALLS.append(("RegisteredRegularizer called", None))
        return 0.0

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale}


# ----------------------------------------------------------------------------- the property

FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "deserialize": regularizer_deserialize,
    "get": regularizer_get,
}


def _allowed(result: Any, identifier: Any, function: str) -> str | None:
    """Why ``result`` is not an allow-listed outcome, or None if it is."""
    if result is None:
        return None if function == "get" and identifier is None else "None for a non-None input"
    if isinstance(result, Regularizer):
        kind = type(result)
        if kind in BUILT_IN_CLASSES or get_registered_name(kind) is not None:
            return None
        return f"an instance of the unregistered class {kind!r}"
    if callable(result) and not isinstance(result, type):
        name = get_registered_name(result)
        if name is not None and get_registered_object(name) is result:
            return None
        return f"the unregistered callable {result!r}"
    return f"{result!r} ({type(result).__name__}) is neither a regularizer nor a function"


class Recorder:
    """Stands in for ``os.system`` & co: records, never runs anything."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((self.name, args, kwargs))
        raise AssertionError(f"{self.name} called with {args!r} {kwargs!r}")


@contextlib.contextmanager
def _call_guards() -> Iterator[list[Recorder]]:
    """``import_module``, ``marshal.loads`` and ``pickle.loads`` replaced by recorders."""
    recorders = [Recorder("importlib.import_module"), Recorder("marshal.loads")]
    recorders.append(Recorder("pickle.loads"))
    with (
        mock.patch.object(importlib, "import_module", recorders[0]),
        mock.patch.object(marshal, "loads", recorders[1]),
        mock.patch.object(pickle, "loads", recorders[2]),
    ):
        yield recorders


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Recorder]]:
    """For the whole test: ``os.system``, ``os.popen``, ``subprocess.Popen`` record; the
    sentinel module is forgotten and the sentinels' record emptied."""
    recorders = [Recorder("os.system"), Recorder("os.popen"), Recorder("subprocess.Popen")]
    monkeypatch.setattr(os, "system", recorders[0])
    monkeypatch.setattr(os, "popen", recorders[1])
    monkeypatch.setattr(subprocess, "Popen", recorders[2])
    monkeypatch.delitem(sys.modules, SENTINEL_MODULE, raising=False)
    _sentinels.CALLS.clear()
    yield recorders
    assert not [call for recorder in recorders for call in recorder.calls]
    assert not _sentinels.CALLS


def check(
    identifier: Any,
    function: str,
    recorders: list[Recorder],
    call: Callable[[Any], Any] | None = None,
) -> Any:
    """Run ``function(identifier)`` and assert the fuzz properties; the result or the error.

    ``call`` replaces the function (the guards' self-test only).
    """
    allowed: tuple[type[BaseException], ...] = (ValueError, TypeError)
    before = set(sys.modules)
    outcome: Any
    with _call_guards() as call_recorders:
        try:
            outcome = (call or FUNCTIONS[function])(identifier)
        except allowed as error:
            outcome = error
        except BaseException as error:
            shown = repr(identifier)[:300]
            raise AssertionError(
                f"{function}({shown}) raised {type(error).__name__}: {str(error)[:300]} "
                "(only ValueError or TypeError are allowed)"
            ) from error
    imported = sorted(set(sys.modules) - before)
    assert not imported, f"{function}({identifier!r:.300}) imported {imported}"
    made = [made for recorder in recorders + call_recorders for made in recorder.calls]
    assert not made, f"{function}({identifier!r:.300}) called {made}"
    assert not _sentinels.CALLS, f"{function}({identifier!r:.300}) used {_sentinels.CALLS}"
    if not isinstance(outcome, BaseException):
        problem = _allowed(outcome, identifier, function)
        assert problem is None, f"{function}({identifier!r:.300}) returned {problem}"
    return outcome


def check_all_forms(value: Any, recorders: list[Recorder]) -> list[Any]:
    """``check`` on the value and, where it is JSON data, on its JSON text, with both
    functions."""
    forms = [value]
    with contextlib.suppress(TypeError, ValueError, RecursionError):
        forms.append(json.dumps(value))
    return [check(form, function, recorders) for form in forms for function in FUNCTIONS]


def _warm_up() -> None:
    """Run every path once, so that lazy imports of the standard library happen now."""
    for identifier in (
        "l2",
        '{"class_name": "L2", "config": {"l2": 0.1}}',
        {"module": "os", "class_name": "system", "config": {}},
        {"class_name": "__lambda__", "config": {}},
        {"class_name": "function", "config": "nothing"},
        b"\xff",
        "[" * 10,
        3.5,
    ):
        for function in FUNCTIONS.values():
            with contextlib.suppress(ValueError, TypeError):
                function(identifier)


_warm_up()


def fuzz(count: int) -> settings:
    """``count`` examples, or more when the loaded profile asks for more
    (HYPOTHESIS_PROFILE=explore); the profile's other settings (derandomize) are kept."""
    return settings(
        max_examples=max(count, settings().max_examples),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ----------------------------------------------------------------------------- strategies

KEYS = ("module", "class_name", "config", "registered_name")
NAMES = (
    # built-ins and their spellings
    *("L1", "l1", "L2", "l2", "L1L2", "l1l2", "l1_l2", "Regularizer", "regularizer"),
    *("OrthogonalRegularizer", "orthogonal_regularizer", "L2 ", "l2\x00", "ＬＩ"),
    # registered here and by Keras's page
    *("Fuzz>registered_fn", "Fuzz>registered_class", "Fuzz>", ">registered_fn", "Custom>l1"),
    # Keras's special class names
    *("function", "__lambda__", "__tensor__", "__numpy__", "__typespec__", "__bytes__"),
    # modules
    *("keras.regularizers", "keras.src.regularizers.regularizers", "tf_keras.regularizers"),
    *("losskit.regularizers", "builtins", "os", "posix", "subprocess", "importlib", "sys"),
    *("keras.config", "keras.src.saving", "keras.saving", SENTINELS, SENTINEL_MODULE),
    # callables
    *("system", "Popen", "run", "eval", "exec", "__import__", "getattr", "import_module"),
    *("enable_unsafe_deserialization", "load_model", "loads", *_sentinels.NAMES),
    *(f"{SENTINELS}.{name}" for name in _sentinels.NAMES),
    *(f"{SENTINELS}>{name}" for name in _sentinels.NAMES),
    *("os.system", "builtins.eval", "keras.config.enable_unsafe_deserialization"),
    # arguments
    *("l", "factor", "mode", "rows", "columns", "safe_mode", "command", "scale", ""),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, 1, -1, 2**53 + 1, 2**1023, 2**1024, -(2**1024), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.01, 0.3, 1e-300, 5e-324, 1e308, math.nan, math.inf]),
    st.text(max_size=20),
    st.sampled_from(NAMES),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(NAMES + KEYS), st.text(max_size=8)), children, max_size=4
        ),
    ),
    max_leaves=16,
)
arguments = st.dictionaries(
    st.sampled_from(("l1", "l2", "l", "factor", "mode", "scale", "safe_mode", "command", "x")),
    json_like,
    max_size=3,
)
four_keys = st.fixed_dictionaries(
    {},
    optional={
        "module": st.one_of(st.sampled_from(NAMES), json_like),
        "class_name": st.one_of(st.sampled_from(NAMES), json_like),
        "config": st.one_of(arguments, st.sampled_from(NAMES), json_like),
        "registered_name": st.one_of(st.sampled_from(NAMES), json_like),
    },
)
factor_like = st.one_of(
    scalars,
    st.floats(0.0, 10.0),
    st.sampled_from(["rows", "columns", "diag"]),
    st.lists(scalars, max_size=2),
)
shaped = st.fixed_dictionaries(
    {"class_name": st.sampled_from(NAMES)},
    optional={
        "module": st.one_of(st.none(), st.sampled_from(NAMES)),
        "config": st.one_of(
            st.dictionaries(
                st.sampled_from(("l1", "l2", "l", "factor", "mode", "scale", "safe_mode", "x")),
                factor_like,
                max_size=3,
            ),
            st.none(),
            st.sampled_from(NAMES),
        ),
        "registered_name": st.one_of(st.none(), st.sampled_from(NAMES)),
    },
)
"""Configs close to the real shape, so that the fuzz also reaches the constructors."""
with_extra_key = st.builds(
    lambda config, key, value: {**config, key: value},
    four_keys,
    st.sampled_from(("safe_mode", "custom_objects", "build_config", "compile_config", "x")),
    json_like,
)


# ----------------------------------------------------------------------------- hostile templates


def _lambda_code(fn: Callable[..., Any]) -> str:
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


# If ever unmarshalled and run: imports the os module, or the recording sentinel module.
OS_CODE = _lambda_code(lambda: __import__("os"))
SENTINEL_CODE = _lambda_code(lambda: __import__(SENTINEL_MODULE))

LAMBDA_TEMPLATES: list[Any] = [
    # tf_keras: (code, defaults, closure); Keras 3: {"code", "defaults", "closure"}
    {"class_name": "__lambda__", "config": {"value": [OS_CODE, None, None]}},
    {"class_name": "__lambda__", "config": {"value": [SENTINEL_CODE, None, None]}},
    {
        "module": "builtins",
        "class_name": "__lambda__",
        "config": {"code": SENTINEL_CODE, "defaults": None, "closure": None},
        "registered_name": "__lambda__",
    },
    {
        "module": "keras.regularizers",
        "class_name": "L2",
        "config": {"class_name": "__lambda__", "config": {"value": [SENTINEL_CODE, None, None]}},
        "registered_name": "__lambda__",
    },
    {"class_name": "L2", "config": {"l2": {"class_name": "__lambda__", "config": [OS_CODE]}}},
    {"class_name": "function", "config": SENTINEL_CODE, "module": "builtins"},
]

RCE_MODULES = (
    *("os", "posix", "builtins", "subprocess", "importlib", "sys", "shutil", "pickle"),
    *("marshal", "runpy", "keras.src.saving", "keras.src.saving.serialization_lib"),
    *("keras.saving", "keras.config", "keras.utils", "tf_keras.src.saving", SENTINELS),
    *(SENTINEL_MODULE, f"{SENTINELS}.Sentinel", "keras.regularizers.os", ""),
)
RCE_CLASS_NAMES = (
    *("system", "popen", "Popen", "run", "check_output", "import_module", "eval", "exec"),
    *("__import__", "getattr", "loads", "load_model", "get_file", "rmtree"),
    *("enable_unsafe_deserialization", "SafeModeScope", *_sentinels.NAMES),
)
RCE_CONFIGS = (
    {"command": "echo losskit-fuzz > /dev/null"},
    {"args": ["echo", "losskit-fuzz"]},
    {"name": SENTINEL_MODULE},
    {"source": "__import__('os').system('true')"},
    {"filepath": "/tmp/model.keras", "safe_mode": False},
    {},
    "echo losskit-fuzz",
    ["echo", "losskit-fuzz"],
)
RCE_REGISTERED = (
    None,
    "os.system",
    "os>system",
    f"{SENTINELS}.record",
    f"{SENTINELS}>record",
    f"{SENTINELS}>Sentinel",
    "function",
    "builtins>eval",
)
rce_configs = st.builds(
    lambda module, class_name, config, registered: {
        "module": module,
        "class_name": class_name,
        "config": config,
        "registered_name": registered,
    },
    st.sampled_from(RCE_MODULES),
    st.sampled_from(RCE_CLASS_NAMES),
    st.sampled_from(RCE_CONFIGS),
    st.sampled_from(RCE_REGISTERED),
)

SAFE_MODE_TEMPLATES: list[Any] = [
    {
        "module": "keras.config",
        "class_name": "enable_unsafe_deserialization",
        "config": {},
        "registered_name": None,
    },
    {"module": "keras.config", "class_name": "enable_unsafe_deserialization", "config": None},
    {
        "module": "keras.src.saving.serialization_lib",
        "class_name": "enable_unsafe_deserialization",
        "config": {},
        "registered_name": "keras.config.enable_unsafe_deserialization",
    },
    {
        "module": "builtins",
        "class_name": "function",
        "config": "keras.config.enable_unsafe_deserialization",
        "registered_name": "function",
    },
    {"class_name": "function", "config": "keras.config.enable_unsafe_deserialization"},
    {"class_name": "function", "config": f"{SENTINELS}.enable_unsafe_deserialization"},
    {"class_name": "function", "config": f"{SENTINELS}>enable_unsafe_deserialization"},
    {
        "module": "keras.src.saving.serialization_lib",
        "class_name": "SafeModeScope",
        "config": {"safe_mode": False},
    },
    {"class_name": "L2", "config": {"l2": 0.1}, "safe_mode": False},
    {"class_name": "L2", "config": {"l2": 0.1, "safe_mode": False}},
    {
        "module": "keras.regularizers",
        "class_name": "L2",
        "config": {"l2": 0.1},
        "registered_name": None,
        "safe_mode": False,
    },
    {
        "class_name": "__lambda__",
        "config": {"value": [SENTINEL_CODE, None, None]},
        "safe_mode": False,
    },
    {
        "class_name": "L1L2",
        "config": {
            "l1": {
                "module": "keras.config",
                "class_name": "enable_unsafe_deserialization",
                "config": {},
            },
            "l2": 0.1,
        },
    },
    {
        "module": "keras.saving",
        "class_name": "load_model",
        "config": {"filepath": "/tmp/x.keras", "safe_mode": False},
        "registered_name": None,
    },
]

FUNCTION_CONFIGS = (
    *("os.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "posix.system"),
    *("importlib.import_module", "keras.saving.load_model", "system", "eval", "record"),
    *(f"{SENTINELS}.{name}" for name in _sentinels.NAMES),
    *(f"{SENTINELS}>{name}" for name in _sentinels.NAMES),
    *(f"{SENTINEL_MODULE}.system", f"{SENTINEL_MODULE}>system", "Custom>nothing"),
)
function_configs = st.builds(
    lambda config, module, registered: {
        "module": module,
        "class_name": "function",
        "config": config,
        "registered_name": registered,
    },
    st.sampled_from(FUNCTION_CONFIGS),
    st.sampled_from((None, "builtins", "os", SENTINELS, SENTINEL_MODULE)),
    st.sampled_from(("function", None, f"{SENTINELS}.record", "os.system")),
)
registered_paths = st.builds(
    lambda class_name, module, registered: {
        "module": module,
        "class_name": class_name,
        "config": {},
        "registered_name": registered,
    },
    st.sampled_from(("Sentinel", "SentinelRegularizer", "record", "L2", "system")),
    st.sampled_from((None, "keras.regularizers", SENTINELS, "os")),
    st.sampled_from(
        (
            *(f"{SENTINELS}.{name}" for name in _sentinels.NAMES),
            *(f"{SENTINELS}>{name}" for name in _sentinels.NAMES),
            *(f"{SENTINEL_MODULE}>system", "os>system", "builtins>eval", "os.system"),
        )
    ),
)

LONG = 1 << 20  # losskit reads JSON text up to 1 MiB


def _long_configs() -> list[Any]:
    huge = "A" * (LONG + 10)
    return [
        huge,
        huge.encode(),
        "{" + " " * (LONG + 10) + "}",
        '"' + huge + '"',
        {"class_name": huge, "config": {}},
        {"module": huge, "class_name": "L2", "config": {}},
        {"class_name": "function", "config": huge},
        {"class_name": "L2", "config": {huge[:1000]: 0.1}},
        {"class_name": "L2", "config": {"l2": 0.1, "x": [huge]}},
        f"{SENTINELS}.record" * 10_000,
    ]


def test_long_registered_name_falls_back_to_the_built_in(guarded: list[Recorder]) -> None:
    """Keras 3's rule: a registered name that is not registered leaves class_name to decide."""
    config = {"class_name": "L2", "config": {"l2": 0.1}, "registered_name": "A" * (LONG + 10)}
    for function in FUNCTIONS:
        assert check(config, function, guarded) == L2(0.1)


def _nested(depth: int, leaf: Any = 0.1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth: int) -> Any:
    value: Any = {"module": SENTINELS, "class_name": "record", "config": {}}
    for _ in range(depth):
        value = {"class_name": "L2", "config": {"l2": value}}
    return value


def _deep_text(depth: int) -> str:
    return '{"class_name": "L2", "config": {"l2": ' + "[" * depth + "]" * depth + "}}"


DEEP_DEPTHS = (1, 15, 16, 17, 100, 900)
DEEP_TEXT_DEPTHS = (1, 15, 16, 17, 100, 150, 3000)


# ----------------------------------------------------------------------------- the fuzz tests


@fuzz(400)
@given(value=json_like)
def test_random_json_like_values(guarded: list[Recorder], value: Any) -> None:
    check_all_forms(value, guarded)


@fuzz(500)
@given(config=st.one_of(four_keys, shaped, with_extra_key))
def test_random_four_key_configs(guarded: list[Recorder], config: dict[str, Any]) -> None:
    check_all_forms(config, guarded)


@fuzz(300)
@given(config=rce_configs)
def test_cve_2025_1550_arbitrary_callables_are_refused(
    guarded: list[Recorder], config: dict[str, Any]
) -> None:
    for outcome in check_all_forms(config, guarded):
        assert isinstance(outcome, ValueError | TypeError), f"{config} gave {outcome!r}"


@fuzz(200)
@given(config=st.one_of(function_configs, registered_paths))
def test_functions_and_registered_names_by_path_are_refused(
    guarded: list[Recorder], config: dict[str, Any]
) -> None:
    for outcome in check_all_forms(config, guarded):
        if config["class_name"] == "L2" and isinstance(outcome, L2):
            continue  # the built-in, found after the registered name was not
        assert isinstance(outcome, ValueError | TypeError), f"{config} gave {outcome!r}"


@fuzz(200)
@given(
    config=st.sampled_from(LAMBDA_TEMPLATES + SAFE_MODE_TEMPLATES),
    extra=st.dictionaries(st.sampled_from((*KEYS, "safe_mode")), json_like, max_size=2),
)
def test_hostile_templates_with_random_changes(
    guarded: list[Recorder], config: dict[str, Any], extra: dict[str, Any]
) -> None:
    check_all_forms({**config, **extra}, guarded)


@pytest.mark.parametrize(
    "config",
    LAMBDA_TEMPLATES + SAFE_MODE_TEMPLATES,
    ids=[f"lambda-{i}" for i in range(len(LAMBDA_TEMPLATES))]
    + [f"safe-mode-{i}" for i in range(len(SAFE_MODE_TEMPLATES))],
)
def test_cve_2024_3660_2025_8747_2025_9906_templates_are_refused(
    guarded: list[Recorder], config: dict[str, Any]
) -> None:
    for outcome in check_all_forms(config, guarded):
        assert isinstance(outcome, ValueError | TypeError), f"{config} gave {outcome!r}"


def test_lambda_refusal_says_why(guarded: list[Recorder]) -> None:
    outcome = check(LAMBDA_TEMPLATES[0], "deserialize", guarded)
    assert isinstance(outcome, ValueError)
    assert str(outcome).startswith("Refusing to deserialize a Python lambda")


@pytest.mark.parametrize("index", range(len(_long_configs())))
def test_very_long_strings(guarded: list[Recorder], index: int) -> None:
    for function in FUNCTIONS:
        outcome = check(_long_configs()[index], function, guarded)
        assert isinstance(outcome, ValueError | TypeError), outcome


@pytest.mark.parametrize("depth", DEEP_DEPTHS)
def test_deep_nesting_as_data(guarded: list[Recorder], depth: int) -> None:
    for value in (
        {"class_name": "L2", "config": {"l2": _nested(depth)}},
        {"class_name": "L2", "config": _nested(depth)},
        _nested_dict(depth),
        _nested(depth, {"module": "os", "class_name": "system"}),
    ):
        for function in FUNCTIONS:
            outcome = check(value, function, guarded)
            assert isinstance(outcome, ValueError | TypeError), outcome


@pytest.mark.parametrize("depth", DEEP_TEXT_DEPTHS)
def test_deep_nesting_as_text(guarded: list[Recorder], depth: int) -> None:
    for text in (
        _deep_text(depth),
        "[" * depth + "]" * depth,
        '{"a": ' * depth + "1" + "}" * depth,
    ):
        for function in FUNCTIONS:
            outcome = check(text, function, guarded)
            assert isinstance(outcome, ValueError | TypeError), outcome


def test_the_allow_list_is_reachable(guarded: list[Recorder]) -> None:
    """The fuzz targets can succeed: what the allow-list names comes back, uncalled."""
    assert check("Fuzz>registered_fn", "get", guarded) is registered_fn
    config = {"class_name": "function", "config": "Fuzz>registered_fn", "module": "builtins"}
    assert check(config, "deserialize", guarded) is registered_fn
    built = check({"class_name": "Fuzz>registered_class", "config": {"scale": 2.0}}, "get", guarded)
    assert isinstance(built, RegisteredRegularizer)
    assert built.scale == 2.0
    assert check('{"class_name": "L2", "config": {"l2": 0.5}}', "deserialize", guarded) == L2(0.5)
    assert check(None, "get", guarded) is None


def test_the_guards_see_what_they_guard(
    guarded: list[Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks are live: an import, a sentinel call and a guarded call are all noticed."""
    with pytest.raises(AssertionError, match="imported"):
        check(SENTINEL_MODULE, "deserialize", guarded, call=importlib.__import__)
    monkeypatch.delitem(sys.modules, SENTINEL_MODULE)
    _sentinels.CALLS.clear()
    with pytest.raises(AssertionError, match="used"):
        check(None, "deserialize", guarded, call=lambda _: _sentinels.record())
    _sentinels.CALLS.clear()
    with pytest.raises(AssertionError, match=r"raised AssertionError: os\.system called"):
        check("true", "deserialize", guarded, call=lambda command: os.system(command))
    guarded[0].calls.clear()
    with pytest.raises(AssertionError, match=r"raised AssertionError: marshal\.loads called"):
        check(OS_CODE, "deserialize", guarded, call=lambda code: marshal.loads(code))


# ------------------------------------------------- regressions: found by this fuzz test, fixed


@pytest.mark.parametrize(
    "identifier",
    [
        {"class_name": "L2", "config": {"l2": 10**400}},
        {"class_name": "L1", "config": {"l": -(10**400)}},
        {"class_name": "OrthogonalRegularizer", "config": {"factor": 2**1024}},
        '{"class_name": "L1L2", "config": {"l1": 1' + "0" * 400 + "}}",
        _deep_text(3000),
        "[" * 3000 + "]" * 3000,
    ],
    ids=["L2-dict", "L1-legacy-l", "orthogonal-2**1024", "L1L2-json", "deep-L2", "deep-list"],
)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_huge_integers_and_deep_text_are_value_errors(identifier: Any, function: str) -> None:
    # were OverflowError (float() of a 400-digit int) and RecursionError (json.loads)
    with pytest.raises(ValueError, match=r"a finite number >= 0|nested deeper than 16"):
        FUNCTIONS[function](identifier)
