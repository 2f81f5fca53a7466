"""Reading elements and attributes with libvirt's generic error messages.

libvirt reports every bad enumerated attribute and every missing required
attribute with the same two sentences (code XML_ERROR, domain XML); these
helpers produce them so each parser states only which values it allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload
from xml.etree.ElementTree import Element

from common.errors import ErrorCode, ErrorDomain, VirtError


def first(parent: Element | None, tag: str) -> Element | None:
    """The first `tag` child (libvirt's `./tag[1]`)."""
    return None if parent is None else parent.find(tag)


def text_of(element: Element | None) -> str | None:
    """An element's string value (all its text), or None when absent or empty."""
    if element is None:
        return None
    return "".join(element.itertext()) or None


def child_text(parent: Element | None, tag: str) -> str | None:
    return text_of(first(parent, tag))


def invalid_attribute(element: Element, name: str, value: str, hint: str = "") -> VirtError:
    return VirtError(
        ErrorCode.XML_ERROR,
        ErrorDomain.XML,
        f"Invalid value for attribute '{name}' in element '{element.tag}': '{value}'.{hint}",
    )


def missing_attribute(element: Element, name: str) -> VirtError:
    return VirtError(
        ErrorCode.XML_ERROR,
        ErrorDomain.XML,
        f"Missing required attribute '{name}' in element '{element.tag}'",
    )


def required(element: Element, name: str) -> str:
    value = element.get(name)
    if value is None:
        raise missing_attribute(element, name)
    return value


@overload
def enum_attr(element: Element, name: str, allowed: Sequence[str], default: str) -> str: ...


@overload
def enum_attr(
    element: Element, name: str, allowed: Sequence[str], default: None = None
) -> str | None: ...


def enum_attr(
    element: Element, name: str, allowed: Sequence[str], default: str | None = None
) -> str | None:
    """An attribute restricted to `allowed`; `default` when absent."""
    value = element.get(name)
    if value is None:
        return default
    if value not in allowed:
        raise invalid_attribute(element, name, value)
    return value


def bool_attr(element: Element, name: str, true: str = "yes", false: str = "no") -> bool | None:
    """A yes/no (or on/off) attribute; None when absent."""
    value = enum_attr(element, name, (true, false))
    return None if value is None else value == true


def bool_word(value: bool | None, true: str = "yes", false: str = "no") -> str | None:
    return None if value is None else (true if value else false)
