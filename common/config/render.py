"""Writes a schema out as the documented config file we ship.

The shipped files are generated from the registry (and a test keeps them in
step), so a key cannot exist without being documented where users look.
Every setting is commented out, showing its default, as libvirt's files do.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.config.schema import Key, Schema

_WIDTH = 72
_RULE = "#" * 65

_SYNTAX = (
    'Each setting is one "key = value" line. A value is an integer (1024), a '
    'string in double or single quotes ("/run/virtd"), or a list of strings in '
    'brackets ([ "a", "b" ]), which may span several lines. A "#" starts a comment.'
    "\n\n"
    "Every setting below is commented out and shows its default: remove the "
    'leading "#" and change the value to override it. Settings that are not '
    "set by default show an example value instead."
)


def render_schema(schema: Schema) -> str:
    """The whole file: a header, then the keys grouped by section in declaration order."""
    header = f"{schema.daemon}.conf: {schema.summary}\n\n{_SYNTAX}"
    parts = [_comment(header), "#\n"]
    sections: dict[str, list[Key]] = {}
    for key in schema.keys.values():
        sections.setdefault(key.section, []).append(key)
    for section, keys in sections.items():
        parts.append(f"\n{_RULE}\n#\n# {section}\n#\n")
        for key in keys:
            parts.append("\n" + _render_key(key))
    return "".join(parts)


def format_value(value: Any) -> str:
    """A value in config syntax, as a user would type it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    return "[ " + ", ".join(_quote(item) for item in value) + " ]"


def _render_key(key: Key) -> str:
    if key.default is None:
        doc = f"{key.doc}\n\nNot set by default. For example:"
        shown = key.example
    else:
        doc = key.doc
        shown = key.default
    return _comment(doc) + f"#{key.name} = {format_value(shown)}\n"


def _comment(text: str) -> str:
    """Paragraphs wrapped and prefixed with "# ", separated by "#" lines."""
    paragraphs = [
        textwrap.fill(paragraph, _WIDTH - 2, break_long_words=False, break_on_hyphens=False)
        for paragraph in text.split("\n\n")
    ]
    lines = "\n\n".join(paragraphs).splitlines()
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def _quote(text: str) -> str:
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    raise ValueError(f"{text!r} cannot be written in config syntax")
