"""MkDocs hook: one API reference page per public module of losskit, written from ``__all__``.

A public module is every module and package of ``src/losskit`` whose dotted path has no
part starting with ``_``; each must define ``__all__`` (the build fails otherwise). Its page
renders every name of ``__all__`` with mkdocstrings (``::: module.name``), so a name that
``__all__`` lists but the module no longer has, or a docs link to a renamed object, fails
``mkdocs build --strict``. An object already rendered on an earlier page (a re-export, an
alias such as ``regularizers.l1`` of ``L1``) gets a link to it instead of a second copy.

It also fails the build when a page of ``docs/`` has no place in the navigation.

The pages are generated in memory (nothing is written under ``docs/``, so pytest's doctest
collection of ``docs/*.md`` never sees them); ``mkdocs.yml`` names this file in ``hooks``.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
import types
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.nav import Navigation

PACKAGE = "losskit"
FOLDER = "api"


@functools.cache
def _public_modules(source: str) -> tuple[types.ModuleType, ...]:
    """``losskit`` first, then its public packages, then its public plain modules."""
    sys.path.insert(0, source)  # this checkout's losskit, whatever the venv has installed
    root = importlib.import_module(PACKAGE)
    packages, modules = [], []
    for info in pkgutil.walk_packages(root.__path__, f"{PACKAGE}."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        (packages if info.ispkg else modules).append(importlib.import_module(info.name))
    ordered = sorted(packages, key=_name) + sorted(modules, key=_name)
    return (root, *ordered)


def _name(module: types.ModuleType) -> str:
    return module.__name__


def _modules(config: MkDocsConfig) -> tuple[types.ModuleType, ...]:
    return _public_modules(str(Path(config.config_file_path).parent / "src"))


def _key(value: Any) -> Any:
    """What makes two exported values the same object (plain data: equal by value)."""
    if isinstance(value, (str, bytes, int, float, bool, tuple)):
        return (type(value), value)
    return id(value)


def _page(module: types.ModuleType, seen: dict[Any, str]) -> str:
    name = module.__name__
    exported = getattr(module, "__all__", None)
    if exported is None:
        raise PluginError(f"public module {name} has no __all__ (docs: {FOLDER}/{name}.md)")
    lines = [f"# `{name}`", "", f"::: {name}", "    options:", "      members: false", ""]
    for export in exported:
        if not hasattr(module, export):
            raise PluginError(f"{name}.__all__ lists {export!r}, which {name} does not have")
        value = getattr(module, export)
        path = f"{name}.{export}"
        if isinstance(value, types.ModuleType):
            link = f"[`{value.__name__}`]({value.__name__}.md)"
            lines += [f"## `{export}`", "", f"The module {link}.", ""]
            continue
        first = seen.get(_key(value))
        if first is not None:
            lines += [f"## `{export}`", "", f"The same object as [`{first}`][{first}].", ""]
            continue
        seen[_key(value)] = path
        lines += [f"::: {path}", "    options:", "      heading_level: 2", ""]
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    seen: dict[Any, str] = {}
    for module in _modules(config):
        uri = f"{FOLDER}/{module.__name__}.md"
        files.append(File.generated(config, uri, content=_page(module, seen)))
    return files


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """The API pages go last in the navigation, in the order :func:`on_files` makes them."""
    pages = [{module.__name__: f"{FOLDER}/{module.__name__}.md"} for module in _modules(config)]
    config.nav = [*(config.nav or []), {"API reference": pages}]
    return config


def on_nav(nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
    """Every page of docs/ must have a place in ``nav`` (mkdocs itself only logs it)."""
    placed = {page.file.src_uri for page in nav.pages}
    missing = sorted(f.src_uri for f in files.documentation_pages() if f.src_uri not in placed)
    if missing:
        raise PluginError(f"pages missing from the nav of mkdocs.yml: {', '.join(missing)}")
    return nav
