"""Griffe extension for ``make docs``: losskit's docstrings, written for Sphinx-style readers,
rendered by mkdocstrings (Markdown).

* ``Example:`` sections are examples: Google style allows the singular, griffe parses only
  ``Examples:`` (the singular would become an admonition whose ``>>>`` lines render as prose).
* ``:func:`losskit.x``` (any role) becomes a cross-reference, so ``mkdocs build --strict``
  fails when the target is renamed; a role on anything outside losskit, or on a relative
  name, becomes inline code.
* ``:math:`x``` becomes inline code and a ``.. math::`` block a code block (no MathJax:
  the site needs nothing from the network).
* An argument line naming several parameters (``gradients, accumulation: ...``) becomes
  one entry per parameter with the same description, as griffe parses one name per entry.

``mkdocs.yml`` loads this for mkdocstrings; nothing here changes the docstrings in src/.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):`(~?)([^`]+)`")
_INLINE_MATH = re.compile(r":math:`([^`]+)`")
_MATH_BLOCK = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_GROUPED = re.compile(r"^(\s+)(\w+(?:,\s*\w+)+):(.*)$")
_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1) == "~", match.group(2).strip()
    shown = target.rsplit(".", 1)[-1] if short else target
    if target.startswith("losskit."):
        return f"[`{shown}`][{target}]"
    return f"`{shown}`"


def _math_blocks(text: str) -> str:
    lines, out, index = text.split("\n"), [], 0
    while index < len(lines):
        found = _MATH_BLOCK.match(lines[index])
        if found is None:
            out.append(lines[index])
            index += 1
            continue
        indent, body = found.group(1), [found.group(2)] if found.group(2) else []
        index += 1
        while index < len(lines) and (
            not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > len(indent)
        ):
            body.append(lines[index].strip())
            index += 1
        while body and not body[-1]:
            body.pop()
        out += [f"{indent}```text", *(f"{indent}{line}" for line in body), f"{indent}```", ""]
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _split_grouped(text: str) -> str:
    lines, out, index, section = text.split("\n"), [], 0, None
    while index < len(lines):
        line = lines[index]
        header = _SECTION.match(line)
        if header is not None:
            section = _indent(line)
        elif section is not None and line.strip() and _indent(line) <= section:
            section = None
        grouped = _GROUPED.match(line) if section is not None else None
        if grouped is None:
            out.append(line)
            index += 1
            continue
        indent, names, first = grouped.group(1), grouped.group(2), grouped.group(3)
        index += 1
        more = []
        while index < len(lines) and lines[index].strip() and _indent(lines[index]) > len(indent):
            more.append(lines[index])
            index += 1
        for name in (part.strip() for part in names.split(",")):
            out += [f"{indent}{name}:{first}", *more]
    return "\n".join(out)


class SphinxToMarkdown(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        text = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
        text = _ROLE.sub(_role, text)
        text = _INLINE_MATH.sub(r"`\1`", text)
        obj.docstring.value = _split_grouped(_math_blocks(text))
