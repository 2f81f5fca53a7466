"""Build and write XML laid out exactly as libvirt lays it out.

libvirt writes its own elements with two-space indentation, single-quoted
attributes and its own escaping; user metadata it hands to libxml2, which
uses double quotes and different escaping. `Foreign` marks such a subtree.

`compose` rebuilds an element from the values we model while keeping what we
do not model: attributes and children are emitted in libvirt's order where we
know it, and anything else the user wrote follows, in the user's order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from xml.etree.ElementTree import Element

INDENT = "  "
# libxml2 never indents deeper than this many characters.
_FOREIGN_MAX_INDENT = 60


class Foreign(Element):
    """A subtree written the way libxml2 dumps a node (user metadata)."""


class Text(Element):
    """An element whose text is a value, kept even when it is only blanks."""


def compose(
    tag: str,
    original: Element | None,
    *,
    attrs: Mapping[str, str | None] | None = None,
    attr_order: Sequence[str] = (),
    children: Mapping[str, Iterable[Element]] | None = None,
    child_order: Sequence[str] = (),
    text: str | None = None,
    keep: Callable[[Element], bool] | None = None,
) -> Element:
    """A new `tag` element: modelled values in libvirt's order, then the user's extras.

    `attrs`/`children` hold what we model (None or an empty list omits it and
    hides the user's own value); names in `attr_order`/`child_order` that we do
    not model are copied from `original` into their libvirt position; anything
    else in `original` is appended. `keep` filters copied children.
    """
    attrs = attrs or {}
    children = children or {}
    source_attrs = dict(original.attrib) if original is not None else {}
    element = Element(tag)
    for name in [*attr_order, *(n for n in attrs if n not in attr_order)]:
        value = attrs[name] if name in attrs else source_attrs.get(name)
        if value is not None:
            element.set(name, value)
    for name, value in source_attrs.items():
        if name not in attrs and name not in attr_order:
            element.set(name, value)
    originals = [c for c in original if keep is None or keep(c)] if original is not None else []
    for child_tag in [*child_order, *(t for t in children if t not in child_order)]:
        if child_tag in children:
            element.extend(children[child_tag])
        else:
            element.extend(c for c in originals if c.tag == child_tag)
    element.extend(c for c in originals if c.tag not in children and c.tag not in child_order)
    element.text = text
    return element


def present(element: Element) -> list[Element]:
    """[element], or [] when composing left it with nothing to say (libvirt omits such)."""
    return [element] if element.attrib or len(element) or element.text else []


def text_element(tag: str, text: str, attrs: Mapping[str, str] | None = None) -> Element:
    """`<tag attrs>text</tag>`."""
    element = Text(tag, dict(attrs or {}))
    element.text = text
    return element


def serialize(root: Element, *, always_open: frozenset[str] = frozenset()) -> str:
    """The document as libvirt prints it, ending in a newline.

    Elements named in `always_open` are written as an open/close pair even when
    empty (libvirt always prints `<devices>` that way).
    """
    lines: list[str] = []
    _write(root, 0, lines, always_open)
    return "\n".join(lines) + "\n"


def _write(element: Element, level: int, lines: list[str], always_open: frozenset[str]) -> None:
    if isinstance(element, Foreign):
        _write_foreign(element, level, lines)
        return
    indent = INDENT * level
    head = f"<{element.tag}{_attributes(element, _escape)}"
    kids = list(element)
    if not kids:
        if element.text and (isinstance(element, Text) or not _is_layout(element.text)):
            lines.append(f"{indent}{head}>{_escape(element.text)}</{element.tag}>")
        elif element.tag in always_open:
            lines.extend((f"{indent}{head}>", f"{indent}</{element.tag}>"))
        else:
            lines.append(f"{indent}{head}/>")
    elif _is_mixed(element):
        lines.append(indent + _inline(element, _escape))
    else:
        lines.append(f"{indent}{head}>")
        for kid in kids:
            _write(kid, level + 1, lines, always_open)
        lines.append(f"{indent}</{element.tag}>")


def _write_foreign(element: Element, level: int, lines: list[str]) -> None:
    indent = " " * min(len(INDENT) * level, _FOREIGN_MAX_INDENT)
    head = f"<{element.tag}{_attributes(element, _escape_foreign_attr)}"
    kids = list(element)
    if not kids:
        if element.text:
            lines.append(f"{indent}{head}>{_escape_foreign_text(element.text)}</{element.tag}>")
        else:
            lines.append(f"{indent}{head}/>")
    elif _is_mixed(element):
        lines.append(indent + _inline(element, _escape_foreign_text, _escape_foreign_attr))
    else:
        lines.append(f"{indent}{head}>")
        for kid in kids:
            _write_foreign(kid, level + 1, lines)
        lines.append(f"{indent}</{element.tag}>")


def _is_layout(text: str) -> bool:
    """Indentation the user's editor put inside an empty element; libvirt does not keep it."""
    return text.isspace() and "\n" in text


def _is_mixed(element: Element) -> bool:
    """True when text sits between child elements, so whitespace there is content."""
    pieces = [element.text, *(kid.tail for kid in element)]
    return any(piece and piece.strip() for piece in pieces)


def _attributes(element: Element, escape: Callable[[str], str]) -> str:
    quote = '"' if escape is _escape_foreign_attr else "'"
    return "".join(
        f" {name}={quote}{escape(value)}{quote}" for name, value in element.attrib.items()
    )


def _inline(
    element: Element,
    escape_text: Callable[[str], str],
    escape_attr: Callable[[str], str] | None = None,
) -> str:
    escape_attr = escape_attr or escape_text
    head = f"<{element.tag}{_attributes(element, escape_attr)}"
    kids = list(element)
    if not kids and not element.text:
        return head + "/>"
    body = escape_text(element.text or "")
    for kid in kids:
        body += _inline(kid, escape_text, escape_attr) + escape_text(kid.tail or "")
    return f"{head}>{body}</{element.tag}>"


_LIBVIRT_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;"}


def _escape(value: str) -> str:
    """libvirt's escaping: markup characters and both quotes, in text and attributes alike."""
    return "".join(_LIBVIRT_ESCAPES.get(char, char) for char in value)


_FOREIGN_TEXT_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "\r": "&#13;"}
_FOREIGN_ATTR_ESCAPES = {**_FOREIGN_TEXT_ESCAPES, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}


def _escape_foreign_text(value: str) -> str:
    return "".join(_FOREIGN_TEXT_ESCAPES.get(char, char) for char in value)


def _escape_foreign_attr(value: str) -> str:
    return "".join(_FOREIGN_ATTR_ESCAPES.get(char, char) for char in value)
