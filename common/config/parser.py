"""Reads libvirt's `key = value` config syntax into plain Python values.

Written by hand rather than with configparser or shlex because the syntax is
libvirt's own (typed values, bracketed lists spanning lines, `;` separators)
and every mistake must be reported as "file:line: what was expected", the way
libvirt reports it, so users can fix the file without guessing.

Grammar, where blanks are spaces and tabs and an end of line is \\n or \\r:

    file      := { blank* [ statement ] blank* [ "#" comment ] eol }
    statement := name blank* "=" blank* value blank* [ ";" [ statement ] ]
    name      := [A-Za-z_][A-Za-z0-9_]*
    value     := integer | string | list
    integer   := [+-]? [0-9]+              (must fit in 64 signed bits)
    string    := '"' no-quote-no-eol* '"' | "'" no-quote-no-eol* "'"
    list      := "[" gap [ string gap { "," gap string gap } [ "," gap ] ] "]"

where `gap` is any run of blanks, ends of line and comments, so lists may
span lines, carry comments and end with a trailing comma.
"""

from __future__ import annotations

import re

from common.errors import ErrorCode, ErrorDomain, VirtError

Value = int | str | list[str]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT64_DIGITS = len(str(_INT64_MAX))

_BLANKS = re.compile(r"[ \t]*")
_COMMENT = re.compile(r"#[^\r\n]*")
_GAP = re.compile(r"(?:[ \t\r\n]|#[^\r\n]*)*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_STRING = {
    '"': re.compile(r'"([^"\r\n]*)"'),
    "'": re.compile(r"'([^'\r\n]*)'"),
}
_EOL = ("\n", "\r")
_DIGITS = "0123456789"


class ConfFile(dict[str, Value]):
    """The entries of one file in file order, plus the line each was set on.

    The lines let the schema point at the offending line when a value has the
    wrong type, not just when the syntax is wrong.
    """

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.lines: dict[str, int] = {}

    def where(self, key: str) -> str:
        """`file:line` of the statement that set `key`."""
        return f"{self.source}:{self.lines[key]}"


def syntax_error(source: str, line: int, problem: str) -> VirtError:
    """libvirt's CONF_SYNTAX error: "configuration file syntax error: FILE:LINE: PROBLEM"."""
    return VirtError(ErrorCode.CONF_SYNTAX, ErrorDomain.CONF, f"{source}:{line}: {problem}")


def parse_bytes(data: bytes, source: str) -> ConfFile:
    """Parse a file's raw contents; `source` names the file in error messages."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise syntax_error(source, data.count(b"\n", 0, err.start) + 1, "invalid UTF-8") from None
    return parse_text(text, source)


def parse_text(text: str, source: str) -> ConfFile:
    """Parse config text; raises VirtError (CONF_SYNTAX) and nothing else on bad input."""
    return _Parser(text, source).parse()


class _Parser:
    """One pass over the text; `pos` only moves forward."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.pos = 0
        self._line_pos = 0
        self._line = 1

    def parse(self) -> ConfFile:
        entries = ConfFile(self.source)
        while True:
            self._skip(_BLANKS)
            char = self._peek()
            if char == "":
                return entries
            if char in _EOL:
                self.pos += 1
            elif char == "#":
                self._skip(_COMMENT)
            else:
                self._statement(entries)

    def _statement(self, entries: ConfFile) -> None:
        line = self._line_at(self.pos)
        name = self._name()
        self._skip(_BLANKS)
        if self._peek() != "=":
            raise self._error("expecting an assignment")
        self.pos += 1
        self._skip(_BLANKS)
        value = self._value()
        if name in entries:
            raise syntax_error(
                self.source, line, f"duplicate key '{name}' (already set on line {entries.lines[name]})"
            )
        entries[name] = value
        entries.lines[name] = line
        self._skip(_BLANKS)
        char = self._peek()
        if char == ";":
            self.pos += 1
        elif char not in ("", "#") and char not in _EOL:
            raise self._error("expecting a separator")

    def _name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self._error("expecting a name")
        self.pos = match.end()
        return match.group()

    def _value(self) -> Value:
        char = self._peek()
        if char in _STRING:
            return self._string()
        if char == "[":
            return self._list()
        if char != "" and char in "+-" + _DIGITS:
            return self._integer()
        raise self._error("expecting a value")

    def _integer(self) -> int:
        match = _INTEGER.match(self.text, self.pos)
        if match is None:
            raise self._error("expecting digits after the sign")
        literal = match.group()
        sign = "-" if literal.startswith("-") else ""
        digits = literal.lstrip("+-").lstrip("0") or "0"
        # Length first, so a huge literal costs nothing and never reaches
        # Python's own limit on int() digits.
        if len(digits) > _INT64_DIGITS or not _INT64_MIN <= int(sign + digits) <= _INT64_MAX:
            raise self._error("numeric overflow")
        self.pos = match.end()
        return int(sign + digits)

    def _string(self) -> str:
        match = _STRING[self.text[self.pos]].match(self.text, self.pos)
        if match is None:
            raise self._error("unterminated string")
        self.pos = match.end()
        return match.group(1)

    def _list(self) -> list[str]:
        opened_at = self.pos
        self.pos += 1
        items: list[str] = []
        self._skip(_GAP)
        while True:
            char = self._peek()
            if char == "]":
                self.pos += 1
                return items
            if char == "":
                raise self._error("unterminated list", opened_at)
            if char not in _STRING:
                raise self._error("expecting a string in the list")
            items.append(self._string())
            self._skip(_GAP)
            char = self._peek()
            if char == ",":
                self.pos += 1
                self._skip(_GAP)
            elif char == "":
                raise self._error("unterminated list", opened_at)
            elif char != "]":
                raise self._error("expecting ',' or ']' in the list")

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _skip(self, pattern: re.Pattern[str]) -> None:
        match = pattern.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()

    def _line_at(self, pos: int) -> int:
        """Line number of `pos`; counts incrementally since positions only grow."""
        self._line += self.text.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def _error(self, problem: str, pos: int | None = None) -> VirtError:
        where = self.pos if pos is None else pos
        line = self.text.count("\n", 0, where) + 1
        return syntax_error(self.source, line, problem)
