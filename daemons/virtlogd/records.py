"""Small values shared by the handler, the program and the client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class DomainLabel:
    """Which domain a log belongs to, as the client named it.

    Used for journal fields and re-exec state; virtlogd never looks a domain up.
    """

    driver: str
    uuid: UUID
    name: str

    def to_json(self) -> dict[str, str]:
        return {"driver": self.driver, "domname": self.name, "domuuid": str(self.uuid)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DomainLabel":
        return cls(data["driver"], UUID(data["domuuid"]), data["domname"])


@dataclass(frozen=True, slots=True)
class LogPosition:
    """A point in a log chain: the file (by inode, which survives renames) and an offset in it."""

    inode: int
    offset: int
