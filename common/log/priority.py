"""libvirt's four log priorities and their stdlib, syslog and text equivalents.

Filters, outputs and the global level all speak libvirt's numbers (1..4), while
our code logs through the stdlib `logging` module; this is the one translation
table between the two.
"""

from __future__ import annotations

import logging
import re
from enum import IntEnum

from common.errors import ErrorCode, ErrorDomain, VirtError


class Priority(IntEnum):
    """libvirt's priority numbers: a record passes a threshold when its number is >= it."""

    DEBUG = 1
    INFO = 2
    WARNING = 3
    ERROR = 4

    @classmethod
    def of_record_level(cls, levelno: int) -> Priority:
        """The priority of a stdlib record; CRITICAL counts as error, libvirt has nothing higher."""
        if levelno >= logging.ERROR:
            return cls.ERROR
        if levelno >= logging.WARNING:
            return cls.WARNING
        if levelno >= logging.INFO:
            return cls.INFO
        return cls.DEBUG

    @property
    def stdlib_level(self) -> int:
        return _STDLIB_LEVEL[self]

    @property
    def syslog(self) -> int:
        """The syslog/journald PRIORITY number (debug 7, info 6, warning 4, error 3)."""
        return _SYSLOG[self]

    @property
    def label(self) -> str:
        """The word libvirt prints in its text log lines."""
        return self.name.lower()


_STDLIB_LEVEL = {
    Priority.DEBUG: logging.DEBUG,
    Priority.INFO: logging.INFO,
    Priority.WARNING: logging.WARNING,
    Priority.ERROR: logging.ERROR,
}
_SYSLOG = {Priority.DEBUG: 7, Priority.INFO: 6, Priority.WARNING: 4, Priority.ERROR: 3}

_DIGITS = re.compile(r"[0-9]+")


def priority_number(text: str) -> Priority | None:
    """The priority a filter or output item starts with, or None when it is not 1..4."""
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return Priority(number) if Priority.DEBUG <= number <= Priority.ERROR else None


def checked_priority(value: int) -> Priority:
    """A global log level as given by config or admin; anything outside 1..4 is refused."""
    if not Priority.DEBUG <= value <= Priority.ERROR:
        raise _invalid_level(str(value))
    return Priority(value)


def parse_level(text: str) -> Priority:
    """A level from the environment: a number 1..4 or its name (debug, info, warning, error)."""
    found = priority_number(text)
    if found is None:
        found = Priority.__members__.get(text.upper())
    if found is None:
        raise _invalid_level(text)
    return found


def _invalid_level(text: str) -> VirtError:
    return VirtError(
        ErrorCode.INVALID_ARG,
        ErrorDomain.NONE,
        f"Failed to set logging priority, argument '{text}' is invalid",
    )
