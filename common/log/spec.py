"""libvirt's filter and output strings: parsing, errors and the admin read-back format.

These strings travel through config files, environment variables and the admin
protocol, and virt-admin prints our read-back verbatim, so both directions
follow libvirt 9.0 to the byte, including its error texts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log.priority import Priority, priority_number


class Destination(StrEnum):
    STDERR = "stderr"
    SYSLOG = "syslog"
    FILE = "file"
    JOURNALD = "journald"


# Destinations whose item carries a third field (syslog ident, file path).
_NAMED = frozenset({Destination.SYSLOG, Destination.FILE})


@dataclass(frozen=True)
class Filter:
    """`priority:match`: modules whose name matches use `priority` instead of the global level."""

    priority: Priority
    match: str

    @property
    def pattern(self) -> str:
        """libvirt stores the match wrapped in `*`, giving substring semantics with wildcards."""
        return f"*{self.match}*"

    def matches(self, module: str) -> bool:
        return fnmatchcase(module, self.pattern)


@dataclass(frozen=True)
class Output:
    """One destination and the lowest priority it accepts."""

    priority: Priority
    destination: Destination
    name: str = ""

    @property
    def key(self) -> tuple[Destination, str]:
        """What makes two outputs the same destination (a later duplicate replaces the earlier)."""
        return (self.destination, self.name)

    def __str__(self) -> str:
        if not self.name:
            return f"{self.priority:d}:{self.destination}"
        return f"{self.priority:d}:{self.destination}:{self.name}"


def parse_filters(text: str) -> list[Filter]:
    """Parse a whitespace-separated list of `P:match` items."""
    return [_parse_filter(item) for item in text.split()]


def _parse_filter(item: str) -> Filter:
    parts = item.split(":")
    if len(parts) != 2:
        raise _invalid(f"Malformed format for filter '{item}'")
    priority = priority_number(parts[0])
    if priority is None:
        raise _invalid(f"Invalid priority '{parts[0]}' for filter '{item}'")
    match = parts[1].removeprefix("+")
    if not match:
        raise _invalid(f"Invalid filter name '{item}'")
    return Filter(priority, match)


def parse_outputs(text: str) -> list[Output]:
    """Parse a whitespace-separated list of outputs; a repeated destination keeps only the last."""
    outputs: dict[tuple[Destination, str], Output] = {}
    for item in text.split():
        output = _parse_output(item)
        outputs.pop(output.key, None)
        outputs[output.key] = output
    return list(outputs.values())


def _parse_output(item: str) -> Output:
    parts = item.split(":")
    if len(parts) < 2:
        raise _invalid(f"Malformed format for output '{item}'")
    priority = priority_number(parts[0])
    if priority is None:
        raise _invalid(f"Invalid priority '{parts[0]}' for output '{item}'")
    try:
        destination = Destination(parts[1])
    except ValueError:
        raise _invalid(f"Invalid destination '{parts[1]}' for output '{item}'") from None
    wanted = 3 if destination in _NAMED else 2
    if len(parts) != wanted or (wanted == 3 and not parts[2]):
        raise _invalid(
            f"Output '{item}' does not meet the format requirements "
            f"for destination type '{destination}'"
        )
    if destination is Destination.FILE:
        return Output(priority, destination, os.path.abspath(parts[2]))
    return Output(priority, destination, parts[2] if wanted == 3 else "")


def format_filters(filters: list[Filter]) -> str | None:
    """libvirt 9.0's read-back: `P:*match* ` per filter, trailing space included; None if empty."""
    if not filters:
        return None
    return "".join(f"{f.priority:d}:{f.pattern} " for f in filters)


def format_outputs(outputs: list[Output]) -> str:
    return " ".join(str(output) for output in outputs)


def default_output(level: Priority, *, stdin_is_tty: bool, journald_writable: bool) -> Output:
    """Where a daemon logs when nothing is configured.

    journald when it is reachable and nobody watches a terminal; it never gets
    debug by default, because a flood of debug records would hit journald's rate
    limit and stall the daemon. Otherwise stderr.
    """
    if journald_writable and not stdin_is_tty:
        return Output(max(level, Priority.INFO), Destination.JOURNALD)
    return Output(level, Destination.STDERR)


def _invalid(detail: str) -> VirtError:
    return VirtError(ErrorCode.INVALID_ARG, ErrorDomain.NONE, detail)
