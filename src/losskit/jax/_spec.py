"""``Spec``: which regularizer applies to which leaf of a parameter pytree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from losskit import _selectors
from losskit._errors import invalid

__all__ = ["Spec", "as_spec"]

_CONFIG_KEYS = frozenset({"kernel", "bias", "include", "exclude", "patterns", "norms"})


def _patterns(argument: str, value: Any) -> list[str]:
    return list(_selectors.pattern_list(argument, value, allow=lambda item: False))


class Spec:
    """Kernel and bias regularizers for a parameter pytree, selected by dotted path.

    * **kernel**: leaves named ``kernel``, ``weight`` or ``embedding`` (flax, equinox,
      haiku; also ``*_weight`` / ``weight_*``); **bias**: ``bias``.
    * Paths are dotted (``"params.Dense_0.kernel"``, ``"layers.0.weight"``; a flax
      Variable's ``.value`` is dropped). Leaves under a path component containing
      ``norm`` (any case: ``LayerNorm_0``, ``batch_norm``) are left out unless
      ``norms=True``.
    * ``include`` / ``exclude``: glob patterns (``*`` crosses dots; ``"*.bias"`` also
      matches a bare ``bias``); a pattern that matches a leaf's parent path (its module)
      selects the leaf too.
    * ``patterns``: an ordered ``{pattern: regularizer}`` mapping instead of roles: the first
      pattern that matches a leaf's path gives its regularizer (``None``: none).

    Args:
        kernel: the regularizer of the kernel leaves (anything
            :func:`losskit.regularizers.get` accepts).
        bias: the regularizer of the bias leaves (the same).
        include: a pattern or a list of patterns.
        exclude: a pattern or a list of patterns.
        patterns: the explicit mapping (then ``kernel`` and ``bias`` must be None).
        norms: also regularize normalization layers' scale (as a kernel) and bias.

    Raises:
        ValueError: nothing to regularize, an invalid regularizer, both roles and patterns.
        TypeError: a selector that is not a string; ``norms`` not a bool.

    Example:
        >>> from losskit.jax import Spec
        >>> spec = Spec(kernel="l2", exclude="head.*")
        >>> spec.regularizer_for("encoder.kernel"), spec.regularizer_for("head.kernel")
        (L2(l2=0.01), None)
        >>> Spec(patterns={"*.bias": None, "*": "l1"}).regularizer_for("dense.kernel")
        L1(l1=0.01)
    """

    def __init__(
        self,
        *,
        kernel: Any = None,
        bias: Any = None,
        include: Any = None,
        exclude: Any = None,
        patterns: Mapping[str, Any] | None = None,
        norms: bool = False,
    ) -> None:
        if not isinstance(norms, bool):
            raise TypeError(invalid("norms", "True or False", norms))
        self.norms = norms
        self.kernel = _selectors.regularizer_argument("kernel", kernel)
        self.bias = _selectors.regularizer_argument("bias", bias)
        self.include = _patterns("include", include)
        self.exclude = _patterns("exclude", exclude)
        self.patterns: dict[str, Any] | None = None
        if patterns is not None:
            if not isinstance(patterns, Mapping) or not all(isinstance(k, str) for k in patterns):
                raise TypeError(
                    invalid("patterns", "a mapping from pattern strings to regularizers", patterns)
                )
            if self.kernel is not None or self.bias is not None:
                raise ValueError(
                    invalid("patterns", "None when `kernel` or `bias` is given", patterns)
                )
            self.patterns = {
                key: _selectors.regularizer_argument(f"patterns[{key!r}]", value)
                for key, value in patterns.items()
            }
        elif self.kernel is None and self.bias is None:
            raise ValueError(
                invalid(
                    "kernel, bias, patterns",
                    "at least one regularizer",
                    None,
                    hint="Pass e.g. Spec(kernel=losskit.regularizers.L2(1e-4)).",
                )
            )
        self._include = _selectors.compile_patterns(self.include)
        self._exclude = _selectors.compile_patterns(self.exclude)
        self._ordered = [
            (_selectors.compile_patterns([key]), value)
            for key, value in (self.patterns or {}).items()
        ]

    def __repr__(self) -> str:
        if self.patterns is not None:
            return f"Spec(patterns={self.patterns!r})"
        parts = [f"kernel={self.kernel!r}", f"bias={self.bias!r}"]
        parts += [
            f"{k}={v!r}" for k, v in (("include", self.include), ("exclude", self.exclude)) if v
        ]
        return f"Spec({', '.join(parts)})"

    def regularizer_for(self, name: str) -> Any:
        """The regularizer of the leaf at dotted path ``name``, or None."""
        owner = name.rpartition(".")[0]
        if self._exclude(name) or (owner and self._exclude(owner)):
            return None
        if self.patterns is not None:
            return next((value for match, value in self._ordered if match(name)), None)
        role = _selectors.leaf_role(name.rpartition(".")[2])
        regularizer = {"kernel": self.kernel, "bias": self.bias, None: None}[role]
        if regularizer is None:
            return None
        included = self._include(name) or bool(owner and self._include(owner))
        if self.include and not included:
            return None
        if not self.norms and any(_selectors.NORM_NAME.search(p) for p in owner.split(".")):
            return None
        return regularizer

    def get_config(self) -> dict[str, Any]:
        """JSON data: Keras-format regularizer configs and the patterns.

        Example:
            >>> from losskit.jax import Spec
            >>> Spec(kernel="l2", exclude=["*.bias"]).get_config()["exclude"]
            ['*.bias']
        """
        if self.patterns is not None:
            return {
                "patterns": [
                    [key, _selectors.encode_regularizer(value)]
                    for key, value in self.patterns.items()
                ],
                "exclude": list(self.exclude),
            }
        return {
            "kernel": _selectors.encode_regularizer(self.kernel),
            "bias": _selectors.encode_regularizer(self.bias),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "norms": self.norms,
        }

    @classmethod
    def from_config(cls, config: Any) -> Spec:
        """The inverse of :meth:`get_config` (a dict or JSON text).

        Raises:
            TypeError: not a dict of the expected keys.
            ValueError: malformed JSON, an unknown regularizer.
        """
        config = _selectors.read_config(config, _CONFIG_KEYS)
        patterns = config.get("patterns")
        if patterns is not None:
            if not isinstance(patterns, list) or not all(
                isinstance(item, list) and len(item) == 2 for item in patterns
            ):
                raise TypeError(invalid("patterns", "a list of [pattern, config] pairs", patterns))
            return cls(
                patterns={
                    key: _selectors.decode_regularizer(f"patterns[{key!r}]", value)
                    for key, value in patterns
                },
                exclude=config.get("exclude"),
            )
        return cls(
            kernel=_selectors.decode_regularizer("kernel", config.get("kernel")),
            bias=_selectors.decode_regularizer("bias", config.get("bias")),
            include=config.get("include"),
            exclude=config.get("exclude"),
            norms=config.get("norms", False),
        )


def as_spec(spec: Any) -> Spec:
    """A :class:`Spec`, or a ``{pattern: regularizer}`` mapping read as ``Spec(patterns=...)``."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        return Spec(patterns=spec)
    raise TypeError(invalid("spec", "a losskit.jax.Spec or a {pattern: regularizer} dict", spec))
