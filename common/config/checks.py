"""Value checks for config keys, and checks that relate two keys.

A check returns None when the value is acceptable and otherwise a phrase
completing "config key 'NAME' ...", so every message reads the same way.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

Check = Callable[[Any], "str | None"]
Rule = Callable[[Mapping[str, Any]], "str | None"]

_OCTAL = re.compile(r"[0-7]{1,4}")


def in_range(low: int, high: int | None = None) -> Check:
    """An integer no smaller than `low` and, if given, no larger than `high`."""

    def check(value: int) -> str | None:
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            return f"must be {bounds}, not {value}"
        return None

    return check


def positive_or_off(value: int) -> str | None:
    """Intervals where -1 switches the feature off and 0 would mean nothing sensible."""
    if value == -1 or value >= 1:
        return None
    return f"must be -1 (off) or at least 1, not {value}"


def octal_mode(value: str) -> str | None:
    """A file mode written in octal, as chmod takes it, within 0777."""
    if _OCTAL.fullmatch(value) and int(value, 8) <= 0o777:
        return None
    return f"must be an octal file mode such as \"0770\", not \"{value}\""


def one_of(*choices: str) -> Check:
    """A string from a fixed set."""

    def check(value: str) -> str | None:
        if value in choices:
            return None
        return f"must be one of {_quoted(choices)}, not \"{value}\""

    return check


def subset_of(*choices: str) -> Check:
    """A list whose every item comes from a fixed set."""

    def check(value: tuple[str, ...]) -> str | None:
        unknown = [item for item in value if item not in choices]
        if not unknown:
            return None
        return f"may only contain {_quoted(choices)}, not \"{unknown[0]}\""

    return check


def absolute_path(value: str) -> str | None:
    """A path that does not depend on the daemon's working directory."""
    if value.startswith("/") and "\0" not in value:
        return None
    return f"must be an absolute path, not \"{value}\""


def not_above(lower: str, upper: str) -> Rule:
    """Two keys where the first may not exceed the second, e.g. min/max workers."""

    def rule(values: Mapping[str, Any]) -> str | None:
        if values[lower] <= values[upper]:
            return None
        return (
            f"config key '{lower}' ({values[lower]}) must not be greater than "
            f"'{upper}' ({values[upper]})"
        )

    return rule


def _quoted(choices: tuple[str, ...]) -> str:
    return ", ".join(f'"{choice}"' for choice in choices)
