"""The typed registry of config keys, and the frozen Config it produces.

One declaration per key carries its type, default, check and documentation,
so the loader, the shipped documented config file (see render.py) and the
daemons can never disagree about a key.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from common.config.checks import Check, Rule
from common.config.parser import ConfFile, Value, parse_bytes
from common.config.render import render_schema
from common.errors import ErrorCode, ErrorDomain, VirtError

log = logging.getLogger("virtd.config")

STR_LIST = list[str]

# What each kind is called in "expects ..." messages.
_KIND_NAMES: dict[Any, str] = {
    int: "an integer",
    str: "a string",
    bool: "0 or 1",
    STR_LIST: "a list of strings",
}


@dataclass(frozen=True)
class Key:
    """One config key.

    `kind` is int, str, bool or list[str]; bools are written 0 or 1 as in
    libvirt. A `default` of None means "unset": the daemon decides at run time
    (the doc says how), and `example` gives the value the shipped file shows.
    List values are held as tuples so a Config stays immutable.
    """

    name: str
    kind: Any
    default: Any
    doc: str
    section: str
    validator: Check | None = None
    example: Any = None

    def __post_init__(self) -> None:
        if self.kind not in _KIND_NAMES:
            raise ValueError(f"key {self.name}: unsupported kind {self.kind!r}")
        if self.default is None and self.example is None:
            raise ValueError(f"key {self.name}: an unset key needs an example")
        for field in ("default", "example"):
            value = getattr(self, field)
            if value is not None:
                problem = self.problem(value)
                if problem is not None:
                    raise ValueError(f"key {self.name}: {field} {problem}")
                object.__setattr__(self, field, self.held(value))

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable for this key, or None when it is."""
        if not _has_kind(value, self.kind):
            return f"expects {_KIND_NAMES[self.kind]}, got {_describe(value)}"
        if self.validator is None:
            return None
        return self.validator(self.held(value))

    def held(self, value: Any) -> Any:
        """The form a Config holds: lists as tuples, 0/1 as False/True."""
        if self.kind == bool:
            return bool(value)
        if self.kind == STR_LIST:
            return tuple(value)
        return value


class Schema:
    """The ordered set of keys one daemon reads from its config file."""

    def __init__(self, daemon: str, summary: str, keys: Iterable[Key], rules: Iterable[Rule] = ()) -> None:
        self.daemon = daemon
        self.summary = summary
        ordered: dict[str, Key] = {}
        for key in keys:
            if key.name in ordered:
                raise ValueError(f"{daemon}: key {key.name} declared twice")
            ordered[key.name] = key
        self.keys: Mapping[str, Key] = MappingProxyType(ordered)
        self.rules = tuple(rules)

    def defaults(self) -> Config:
        """Every key at its default; what a daemon without a config file runs with."""
        return self._build({}, None, "")

    def load(self, path: str | os.PathLike[str] | None, *, required: bool = True) -> Config:
        """Read and check a config file.

        With `path` None, or a missing file that is not `required` (the daemon's
        implicit default path), the result is all defaults. Unknown keys are
        logged and ignored; everything else that is wrong raises VirtError.
        """
        if path is None:
            return self.defaults()
        source = os.fspath(path)
        try:
            with open(source, "rb") as file:
                data = file.read()
        except FileNotFoundError as err:
            if not required:
                return self.defaults()
            raise VirtError.from_os_error(ErrorDomain.CONF, f"cannot read configuration file '{source}'", err)
        except OSError as err:
            raise VirtError.from_os_error(ErrorDomain.CONF, f"cannot read configuration file '{source}'", err)
        return self.from_entries(parse_bytes(data, source))

    def from_entries(self, entries: ConfFile) -> Config:
        """Check parsed entries against the keys and build the Config."""
        known: dict[str, Value] = {}
        for name, value in entries.items():
            if name in self.keys:
                self._check(name, value, f"{entries.where(name)}: ")
                known[name] = value
            else:
                log.warning("%s: unknown config key '%s' ignored", entries.where(name), name)
        return self._build(known, entries.source, f"{entries.source}: ")

    def render(self) -> str:
        """The shipped, fully documented config file for this schema."""
        return render_schema(self)

    def _check(self, name: str, value: Any, where: str) -> None:
        key = self.keys.get(name)
        if key is None:
            raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.CONF, f"{where}unknown config key '{name}'")
        problem = key.problem(value)
        if problem is not None:
            raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.CONF, f"{where}config key '{name}' {problem}")

    def _build(self, values: Mapping[str, Any], source: str | None, where: str) -> Config:
        merged = {name: key.default for name, key in self.keys.items()}
        merged.update((name, self.keys[name].held(value)) for name, value in values.items())
        for rule in self.rules:
            problem = rule(merged)
            if problem is not None:
                raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.CONF, f"{where}{problem}")
        return Config(self, merged, source)


class Config:
    """A daemon's settings: read-only, one attribute per key (`cfg.max_clients`).

    Unset keys read as None. A reload builds a new Config and compares it with
    `changed_from` instead of mutating the one in use.
    """

    __slots__ = ("_schema", "_values", "source")

    _schema: Schema
    _values: Mapping[str, Any]
    source: str | None

    def __init__(self, schema: Schema, values: Mapping[str, Any], source: str | None) -> None:
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))
        object.__setattr__(self, "source", source)

    def __getattr__(self, name: str) -> Any:
        # Private names never come from the schema; answering them here would
        # recurse while the slots are still empty (copy, pickle).
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"{self._schema.daemon} has no config key '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is read-only; use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is read-only")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self._schema is other._schema and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config({self._schema.daemon}, source={self.source!r})"

    def as_dict(self) -> dict[str, Any]:
        """Every key and its value, in schema order."""
        return dict(self._values)

    def changed_from(self, other: Config) -> set[str]:
        """Names of the keys whose values differ from `other` (same schema)."""
        if self._schema is not other._schema:
            raise ValueError("cannot compare configs of different daemons")
        return {name for name, value in self._values.items() if other._values[name] != value}

    def replace(self, **changes: Any) -> Config:
        """A copy with some keys changed and checked, e.g. by command-line options."""
        for name, value in changes.items():
            self._schema._check(name, value, "")
        kept = {name: value for name, value in self._values.items() if value is not None}
        return self._schema._build({**kept, **changes}, self.source, "")


def _has_kind(value: Any, kind: Any) -> bool:
    if kind == bool:
        return value in (0, 1) and isinstance(value, int)
    if kind == int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == str:
        return isinstance(value, str)
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


def _describe(value: Any) -> str:
    """A value as the user wrote it, for "got ..." in messages."""
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, int) and not isinstance(value, bool):
        return f"the integer {value}"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"
