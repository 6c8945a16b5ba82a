"""The package's structure rules, checked on the source: no import circles, and every
framework import in the backend seam, the kernels, the engines or the integrations."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow", "keras", "flax", "equinox", "optax")
# where a framework may be imported (by module-name prefix)
ALLOWED = (
    "losskit._backends",
    "losskit._kernels.",
    "losskit.distribute._engines",
    "losskit.torch",
    "losskit.jax",
    "losskit.engines",
    "losskit.testing",
    "losskit._demo",
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """Every module this one imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            found += subs if len(subs) == len(node.names) else [base, *subs]
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_in_src() -> None:
    modules = _modules()
    graph = {
        name: {m for m in _imports(name, path, modules) if m in modules and m != name}
        for name, path in modules.items()
    }
    assert _cycles(graph) == []


def test_frameworks_are_imported_only_behind_the_seam() -> None:
    modules = _modules()
    offenders = []
    for name, path in modules.items():
        if name.startswith(ALLOWED) or name + "." in ALLOWED:
            continue
        for imported in _imports(name, path, modules):
            if imported.partition(".")[0] in FRAMEWORKS:
                offenders.append(f"{name} imports {imported}")
    assert offenders == []


# The floors of docs/architecture.md, bottom up: a module imports only from its own floor
# or below (the package roots `losskit` and the deprecated `losskit.loss_collections` sit
# on top of everything).
FLOORS = (
    ("losskit._errors", "losskit._checks", "losskit._trees", "losskit.typing"),
    ("losskit._namespace", "losskit._shapes"),
    ("losskit._kernels",),
    ("losskit._backends",),
    ("losskit._state", "losskit._collectives"),
    (
        "losskit.reduction",
        "losskit.weighted_loss",
        "losskit.average_loss",
        "losskit._inputs",
        "losskit._activity",
    ),
    (
        "losskit.losses",
        "losskit.regularizers",
        "losskit.serialization",
        "losskit.aggregation",
        "losskit.v1",
        "losskit.objectives",
        "losskit._selectors",
        "losskit._deprecation",
    ),
    ("losskit.distribute",),
    ("losskit.torch", "losskit.jax", "losskit.engines"),
    ("losskit.testing", "losskit._demo", "losskit._cli"),
)
TOP = ("losskit", "losskit.loss_collections")


def _floor(module: str) -> int:
    if module in TOP:
        return len(FLOORS)
    for level, prefixes in enumerate(FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    raise AssertionError(f"{module} is on no floor of docs/architecture.md")


def test_modules_import_only_from_their_floor_or_below() -> None:
    modules = _modules()
    upward = []
    for name, path in modules.items():
        for imported in _imports(name, path, modules):
            if imported in modules and imported not in TOP and _floor(imported) > _floor(name):
                upward.append(f"{name} imports {imported}")
    assert upward == []
