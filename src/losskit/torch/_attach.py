"""``regularize``: attach Keras's kernel, bias and activity regularizers to an ``nn.Module``.

Selection (one rule per call):

* **kernel** regularizer: parameters whose last name component is ``weight`` (or
  ``weight_*`` / ``*_weight``, e.g. ``weight_ih_l0``, ``in_proj_weight``); **bias**
  regularizer: ``bias`` (``bias_*`` / ``*_bias``). Parameters of normalization layers
  (``BatchNorm*``, ``LayerNorm``, ``GroupNorm``, ``InstanceNorm*``, ``RMSNorm``) are left
  out unless ``norms=True`` or ``include`` names their type, as Keras's ``Dense``/``Conv``
  regularizers never see a norm's scale and offset (a glob such as ``"encoder.*"`` does
  not bring them in).
* **activity** regularizer: the output of the module passed in, or of every submodule that
  ``include`` selects.
* ``include`` (if given) keeps only what it selects, ``exclude`` removes what it selects.
  A selector is a glob on dotted names (``"encoder.*.weight"``, ``"*.bias"``; a pattern
  that matches a module's name, e.g. ``"encoder.0"``, also selects that module's own
  parameters; the root module's name is ``""``) or a module type (a parameter is selected
  by the type of the module that owns it directly).

A parameter (or output) has at most one regularizer per role: a later ``regularize`` call
that selects it again replaces the earlier one, and removing the later one restores it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from torch import nn

from losskit import _selectors
from losskit._errors import invalid
from losskit.torch._state import ATTRIBUTE, ModuleState, state_of

__all__ = ["NORM_LAYERS", "Regularization", "from_config", "regularizations", "regularize"]

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
    nn.LocalResponseNorm,
)
"""Normalization layers: their parameters are not kernels or biases unless included."""

_CONFIG_KEYS = frozenset({"kernel", "bias", "activity", "include", "exclude", "norms"})
_IDS = itertools.count()


def type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


_MRO_NAMES: dict[type, frozenset[str]] = {}


def _mro_names(kind: type) -> frozenset[str]:
    found = _MRO_NAMES.get(kind)
    if found is None:
        found = _MRO_NAMES[kind] = frozenset(type_name(base) for base in kind.__mro__)
    return found


def _is_module_type(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, nn.Module)


class _Selector:
    """Patterns and module types (by qualified name, so configs need no import)."""

    def __init__(self, argument: str, value: Any) -> None:
        items = _selectors.pattern_list(argument, value, allow=_is_module_type)
        self.patterns = [item for item in items if isinstance(item, str)]
        self.types = frozenset(type_name(item) for item in items if not isinstance(item, str))
        self.match_name = _selectors.compile_patterns(self.patterns)
        self.given = bool(items)

    def selects(self, name: str, owner: nn.Module, prefix: str | None = None) -> bool:
        """Whether the parameter (or module) ``name`` of ``owner`` (named ``prefix``) is
        selected: by its name, its module's name, or its module's type."""
        if self.match_name(name) or bool(self.types & _mro_names(type(owner))):
            return True
        return prefix is not None and self.match_name(prefix)

    def selects_type(self, owner: nn.Module) -> bool:
        return bool(self.types & _mro_names(type(owner)))

    def config(self) -> list[Any]:
        return [*self.patterns, *({"type": name} for name in sorted(self.types))]


class Regularization:
    """The handle of one :func:`regularize` call: what it selected, ``remove()``,
    ``get_config()``.

    Attributes:
        module: the module it was attached to.
        kernel, bias, activity: the regularizers (None where not given).
        names: ``{"kernel": [...], "bias": [...], "activity": [...]}``, the dotted names of
            the parameters and modules it selected (``""`` is the module itself).

    Example:
        >>> import torch, losskit.torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        >>> rule = losskit.torch.regularize(model, kernel="l2", bias="l1", activity="l2")
        >>> rule  # doctest: +ELLIPSIS
        Regularization(kernel=L2(l2=0.01), bias=L1(l1=0.01), ...; 1 kernel, 1 bias, 1 activity)
        >>> rule.names
        {'kernel': ['0.weight'], 'bias': ['0.bias'], 'activity': ['']}
    """

    def __init__(
        self,
        module: nn.Module,
        kernel: Any,
        bias: Any,
        activity: Any,
        include: _Selector,
        exclude: _Selector,
        norms: bool = False,
    ) -> None:
        self.module = module
        self.norms = norms
        self.kernel, self.bias, self.activity = kernel, bias, activity
        self._include, self._exclude = include, exclude
        self.names: dict[str, list[str]] = {"kernel": [], "bias": [], "activity": []}
        self._states: list[ModuleState] = []
        self.id = next(_IDS)
        self.removed = False

    def __repr__(self) -> str:
        parts = [f"{role}={getattr(self, role)!r}" for role in ("kernel", "bias", "activity")]
        counts = ", ".join(f"{len(names)} {role}" for role, names in self.names.items())
        state = "removed" if self.removed else counts
        return f"Regularization({', '.join(parts)}; {state})"

    # -- attaching ----------------------------------------------------------------------
    def _attach(self) -> None:
        roles = {"kernel": self.kernel, "bias": self.bias}
        touched: dict[int, tuple[nn.Module, ModuleState]] = {}

        def state(owner: nn.Module) -> ModuleState:
            if id(owner) not in touched:
                found = state_of(owner, create=True)
                assert found is not None
                touched[id(owner)] = (owner, found)
            return touched[id(owner)][1]

        for prefix, owner in self.module.named_modules():
            norm = isinstance(owner, NORM_LAYERS)
            for leaf, parameter in owner._parameters.items():
                role = _selectors.leaf_role(leaf)
                if parameter is None or role is None or roles[role] is None:
                    continue
                name = f"{prefix}.{leaf}" if prefix else leaf
                included = self._include.selects(name, owner, prefix)
                if self._include.given and not included:
                    continue
                if norm and not (self.norms or self._include.selects_type(owner)):
                    continue
                if self._exclude.selects(name, owner, prefix):
                    continue
                state(owner).weights.setdefault(leaf, []).append((self, roles[role]))
                self.names[role].append(name)
            if self.activity is not None and self._activity_target(prefix, owner):
                state(owner).activity.append((self, self.activity))
                self.names["activity"].append(prefix)
        if not any(self.names.values()):
            raise ValueError(self._nothing_selected())  # nothing was added anywhere
        state(self.module)  # the root clears its subtree's records at each outermost forward
        hooked = {id(self.module)} | {
            id(owner)
            for owner, found in touched.values()
            if any(rule is self for rule, _ in found.activity)
        }
        for key in hooked:
            owner, found = touched[key]
            found.hook(owner, self)
        self._states = [found for _, found in touched.values()]
        for found in self._states:
            found.rules.append(self)

    def _activity_target(self, prefix: str, owner: nn.Module) -> bool:
        if self._include.given:
            chosen = self._include.selects(prefix, owner)
        else:
            chosen = owner is self.module
        return chosen and not self._exclude.selects(prefix, owner)

    def _nothing_selected(self) -> str:
        hint = (
            f"Nothing in {type(self.module).__name__} was selected for "
            f"kernel={self.kernel!r}, bias={self.bias!r}, activity={self.activity!r}."
        )
        if not self._include.given and not self._exclude.given:
            return invalid(
                "module",
                "a module with weight or bias parameters for the given regularizers",
                self.module,
                hint=hint,
            )
        chosen = self._include if self._include.given else self._exclude
        argument = "include" if self._include.given else "exclude"
        return invalid(
            argument,
            "selectors that leave at least one parameter or module to regularize",
            chosen.config(),
            hint=hint,
        )

    # -- public -------------------------------------------------------------------------
    def remove(self) -> None:
        """Detach: this call's regularizers and hooks go; earlier attachments come back.
        Removing twice does nothing."""
        if self.removed:
            return
        for found in self._states:
            for stack in found.weights.values():
                stack[:] = [entry for entry in stack if entry[0] is not self]
            found.activity = [entry for entry in found.activity if entry[0] is not self]
            found.unhook(self)
            found.rules = [rule for rule in found.rules if rule is not self]
        for owner in self.module.modules():
            left = state_of(owner)
            if left is not None and left.empty():
                del owner.__dict__[ATTRIBUTE]
        self.removed = True

    def get_config(self) -> dict[str, Any]:
        """JSON data: the regularizers' Keras-format configs and the selectors (module
        types as ``{"type": "torch.nn.modules.linear.Linear"}``)."""
        return {
            "kernel": _selectors.encode_regularizer(self.kernel),
            "bias": _selectors.encode_regularizer(self.bias),
            "activity": _selectors.encode_regularizer(self.activity),
            "include": self._include.config(),
            "exclude": self._exclude.config(),
            "norms": self.norms,
        }


def _selector_from_config(argument: str, items: Any) -> _Selector:
    if not isinstance(items, list):
        raise TypeError(invalid(argument, "a list of patterns and {'type': name} dicts", items))
    patterns: list[str] = []
    types: list[str] = []
    for item in items:
        if isinstance(item, str):
            patterns.append(item)
        elif isinstance(item, dict) and set(item) == {"type"} and isinstance(item["type"], str):
            types.append(item["type"])
        else:
            raise TypeError(
                invalid(argument, "pattern strings or {'type': qualified name} dicts", item)
            )
    selector = _Selector(argument, patterns)
    selector.types = frozenset(types)
    selector.given = bool(items)
    return selector


def _check_module(module: Any) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(invalid("module", "a torch.nn.Module", module))
    return module


def _check_norms(norms: Any) -> bool:
    if not isinstance(norms, bool):
        raise TypeError(invalid("norms", "True or False", norms))
    return norms


def _build(
    module: nn.Module,
    kernel: Any,
    bias: Any,
    activity: Any,
    include: _Selector,
    exclude: _Selector,
    norms: bool,
) -> Regularization:
    if kernel is None and bias is None and activity is None:
        raise ValueError(
            invalid(
                "kernel, bias, activity",
                "at least one regularizer",
                None,
                hint="Pass e.g. kernel=losskit.regularizers.L2(1e-4).",
            )
        )
    rule = Regularization(module, kernel, bias, activity, include, exclude, norms)
    rule._attach()
    return rule


def regularize(
    module: nn.Module,
    *,
    kernel: Any = None,
    bias: Any = None,
    activity: Any = None,
    include: Any = None,
    exclude: Any = None,
    norms: bool = False,
) -> Regularization:
    """Attach Keras's ``kernel_regularizer``, ``bias_regularizer`` and
    ``activity_regularizer`` to ``module`` and its submodules, without wrapping it.

    The module's class, ``state_dict`` and outputs stay the same; read the penalties with
    :func:`losskit.torch.losses`. Weight penalties are computed from the current values at
    each read (only parameters with ``requires_grad``: Keras 3's rule); activity penalties
    are recorded by forward hooks, divided by the output's batch size.

    Args:
        module: the ``nn.Module`` (a ``DistributedDataParallel`` or ``torch.compile``
            wrapper works too: its parameters are the wrapped module's).
        kernel: regularizer for weight matrices (``weight``, ``weight_ih_l0``, ...): a
            regularizer, a name (``"l2"``), a Keras config, or any function of a tensor.
        bias: regularizer for biases.
        activity: regularizer for the output of ``module`` (or of the submodules that
            ``include`` selects), divided by the output's first dimension.
        include: only these: glob patterns on dotted names (``"encoder.*.weight"``) or
            module types (``nn.Linear``; a normalization layer's type admits its
            parameters).
        exclude: not these (``"*.bias"``, ``"head"``, ``nn.Embedding``, ...).
        norms: also regularize the parameters of normalization layers
            (:data:`NORM_LAYERS`) as kernels (their scale) and biases (their offset).

    Returns:
        A :class:`Regularization` handle: ``.remove()``, ``.get_config()``, ``.names``.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``; a selector is neither a pattern
            nor a module type; ``norms`` is not a bool.
        ValueError: no regularizer given; an invalid regularizer identifier; the
            selectors leave nothing to regularize.

    Example:
        >>> import torch, losskit.torch
        >>> from losskit.regularizers import L1, L2
        >>> layer = torch.nn.Linear(5, 5)
        >>> _ = torch.nn.init.ones_(layer.weight), torch.nn.init.zeros_(layer.bias)
        >>> handle = losskit.torch.regularize(layer, kernel=L1(0.01), activity=L2(0.01))
        >>> _ = layer(torch.ones(5, 5) * 2.0)
        >>> [round(float(loss.detach()), 4) for loss in losskit.torch.losses(layer)]
        [5.0, 0.25]
        >>> handle.remove()
        >>> losskit.torch.losses(layer)
        []
    """
    _check_module(module)
    return _build(
        module,
        _selectors.regularizer_argument("kernel", kernel),
        _selectors.regularizer_argument("bias", bias),
        _selectors.regularizer_argument("activity", activity),
        _Selector("include", include),
        _Selector("exclude", exclude),
        _check_norms(norms),
    )


def from_config(module: nn.Module, config: Any) -> Regularization:
    """Attach the rule that :meth:`Regularization.get_config` wrote (dict or JSON text).

    Custom regularizers must be registered with :func:`losskit.register_serializable`;
    module types are matched by qualified name and never imported.

    Raises:
        TypeError: ``config`` is not a dict of the expected keys and types.
        ValueError: an unknown regularizer, or selectors that select nothing.

    Example:
        >>> import json, torch, losskit.torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
        >>> rule = losskit.torch.regularize(model, kernel="l2", exclude=["0.*"])
        Traceback (most recent call last):
        ...
        ValueError: Invalid `exclude`: expected selectors that leave at least one parameter ...
        >>> rule = losskit.torch.regularize(model, kernel="l2", bias="l1")
        >>> text = json.dumps(rule.get_config())
        >>> rule.remove()
        >>> losskit.torch.from_config(model, text).names
        {'kernel': ['0.weight'], 'bias': ['0.bias'], 'activity': []}
    """
    _check_module(module)
    if isinstance(config, str):
        import json

        try:
            config = json.loads(config)
        except ValueError as error:
            raise ValueError(invalid("config", "JSON text", config, hint=str(error))) from None
    if not isinstance(config, dict) or not set(config) <= _CONFIG_KEYS:
        raise TypeError(invalid("config", f"a dict with keys among {sorted(_CONFIG_KEYS)}", config))
    decode: Callable[[str], Any] = lambda key: _selectors.decode_regularizer(  # noqa: E731
        key, config.get(key)
    )
    return _build(
        module,
        decode("kernel"),
        decode("bias"),
        decode("activity"),
        _selector_from_config("include", config.get("include", [])),
        _selector_from_config("exclude", config.get("exclude", [])),
        _check_norms(config.get("norms", False)),
    )


def regularizations(module: nn.Module) -> list[Regularization]:
    """The attachments in effect on ``module`` and its submodules, oldest first (also on a
    ``copy.deepcopy`` or unpickled copy, whose handles are its own).

    Example:
        >>> import copy, torch, losskit.torch
        >>> layer = torch.nn.Linear(2, 2)
        >>> _ = losskit.torch.regularize(layer, kernel="l2")
        >>> twin = copy.deepcopy(layer)
        >>> for rule in losskit.torch.regularizations(twin):
        ...     rule.remove()
        >>> len(losskit.torch.regularizations(twin)), len(losskit.torch.regularizations(layer))
        (0, 1)
    """
    _check_module(module)
    found: dict[int, Regularization] = {}
    for owner in module.modules():
        state = state_of(owner)
        for rule in state.rules if state is not None else ():
            found.setdefault(id(rule), rule)
    return sorted(found.values(), key=lambda rule: rule.id)
