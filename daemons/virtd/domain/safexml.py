"""Parse untrusted XML into an ElementTree, refusing what could hurt the daemon.

Domain XML arrives from any client that may define a domain. We parse it with
expat directly so that:
  * a DOCTYPE (and with it every entity declaration: "billion laughs", external
    entities) is refused before anything is expanded;
  * nesting deeper than libxml2's default limit is refused, as libvirt does;
  * input larger than the biggest string the RPC layer carries is refused;
  * namespace prefixes stay exactly as written (`app:foo`, `xmlns:app`), so
    user metadata comes back byte for byte the way the user wrote it.
Comments and processing instructions are dropped, as libvirt drops them.
Every failure is a VirtError with code XML_DETAIL, like libvirt's parse errors.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from common.errors import ErrorCode, VirtError

# REMOTE_STRING_MAX: no client can send a longer XML document in one call.
MAX_XML_CHARS = 4 * 1024 * 1024

# libxml2 refuses documents nested deeper than this (root element = depth 1).
MAX_DEPTH = 257


class _Refused(Exception):
    """Raised inside expat callbacks; carries the reason out of Parse()."""


class _Builder:
    """Feeds expat events into a TreeBuilder, tracking depth."""

    def __init__(self) -> None:
        self.tree = TreeBuilder()
        self.depth = 0

    def start(self, tag: str, attributes: list[str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(
                f"Excessive depth in document: {MAX_DEPTH - 1} use XML_PARSE_HUGE option"
            )
        self.tree.start(tag, dict(zip(attributes[::2], attributes[1::2])))

    def end(self, tag: str) -> None:
        self.depth -= 1
        self.tree.end(tag)

    def data(self, text: str) -> None:
        self.tree.data(text)


def _refuse_doctype(*_args: object) -> None:
    """Every entity declaration lives in a DOCTYPE: refusing it refuses them all."""
    raise _Refused("DTDs and entity declarations are not allowed")


def _detail(source: str, text: str, line: int, column: int, reason: str) -> str:
    """libvirt's layout of a parse error: where, why, the line, and a caret under the spot."""
    lines = text.split("\n")
    context = lines[min(max(line, 1), len(lines)) - 1]
    start = max(0, column - 40)
    return f"({source}):{line}: {reason}\n{context[start:start + 80]}\n{'-' * (column - start)}^"


def parse(text: str, *, source: str, error_domain: int) -> Element:
    """The root element of `text`, or a VirtError(XML_DETAIL, error_domain, ...)."""
    if len(text) > MAX_XML_CHARS:
        raise VirtError(
            ErrorCode.XML_DETAIL,
            error_domain,
            f"({source}):1: document is larger than {MAX_XML_CHARS} characters",
        )
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise VirtError(
            ErrorCode.XML_DETAIL,
            error_domain,
            f"({source}):1: invalid character at offset {err.start}",
        ) from None
    builder = _Builder()
    parser = expat.ParserCreate(encoding="UTF-8")
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        reason = expat.ErrorString(err.code) or "parse error"
        raise VirtError(
            ErrorCode.XML_DETAIL,
            error_domain,
            _detail(source, text, err.lineno, err.offset, reason),
        ) from None
    except _Refused as err:
        line, column = parser.CurrentLineNumber, parser.CurrentColumnNumber
        raise VirtError(
            ErrorCode.XML_DETAIL, error_domain, _detail(source, text, line, column, str(err))
        ) from None
    return builder.tree.close()
