"""Where a driver keeps its domains on disk.

Persistent definitions live in the state directory (they survive reboots);
runtime status (id, state, reason, live XML) lives in the runtime directory
(it survives daemon restarts, not host reboots). Autostart is a symlink, as in
libvirt. Every write is atomic, so a crash never leaves half a definition.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from common.files import atomic_write, fsync_dir, remove_durably
from daemons.virtd.domain.names import safe_state_filename

log = logging.getLogger("virtd.virtd.store")

STATUS_VERSION = 1


@dataclass(frozen=True, slots=True)
class Status:
    """A running domain's runtime record."""

    id: int
    state: int
    reason: int
    persistent: bool
    xml: str
    started_at: float
    hv: dict[str, Any] = field(default_factory=dict)
    """What the driver needs to find the running VM again (QEMU: pid, monitor socket)."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATUS_VERSION,
                "id": self.id,
                "state": self.state,
                "reason": self.reason,
                "persistent": self.persistent,
                "xml": self.xml,
                "started_at": self.started_at,
                "hv": self.hv,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "Status":
        raw = json.loads(text)
        if raw.get("version") != STATUS_VERSION:
            raise ValueError(f"unsupported status version {raw.get('version')!r}")
        return cls(
            int(raw["id"]),
            int(raw["state"]),
            int(raw["reason"]),
            bool(raw["persistent"]),
            str(raw["xml"]),
            float(raw["started_at"]),
            dict(raw.get("hv", {})),
        )


@dataclass(frozen=True, slots=True)
class Stored:
    """What was found on disk for one domain name."""

    name: str
    config_xml: str | None
    autostart: bool
    status: Status | None


class DomainStore:
    def __init__(self, state_dir: str, runtime_dir: str) -> None:
        self.config_dir = os.path.join(state_dir, "domains")
        self.autostart_dir = os.path.join(state_dir, "autostart")
        self.status_dir = os.path.join(runtime_dir, "status")
        for directory in (self.config_dir, self.autostart_dir, self.status_dir):
            os.makedirs(directory, mode=0o700, exist_ok=True)

    def _config_path(self, name: str) -> str:
        return os.path.join(self.config_dir, safe_state_filename(name, ".xml"))

    def _autostart_path(self, name: str) -> str:
        return os.path.join(self.autostart_dir, safe_state_filename(name, ".xml"))

    def _status_path(self, name: str) -> str:
        return os.path.join(self.status_dir, safe_state_filename(name, ".json"))

    def save_config(self, name: str, xml: str) -> None:
        atomic_write(self._config_path(name), xml)

    def delete_config(self, name: str) -> None:
        self.set_autostart(name, False)
        remove_durably(self._config_path(name))

    def set_autostart(self, name: str, on: bool) -> None:
        link = self._autostart_path(name)
        if on:
            if not os.path.islink(link):
                os.symlink(self._config_path(name), link)
                fsync_dir(self.autostart_dir)
        else:
            remove_durably(link)

    def save_status(self, name: str, status: Status) -> None:
        atomic_write(self._status_path(name), status.to_json())

    def delete_status(self, name: str) -> None:
        remove_durably(self._status_path(name))

    def load(self) -> list[Stored]:
        """Everything on disk; unreadable files are logged and skipped, never fatal."""
        names: set[str] = set()
        for directory, suffix in ((self.config_dir, ".xml"), (self.status_dir, ".json")):
            for entry in os.listdir(directory):
                if entry.endswith(suffix):
                    names.add(entry[: -len(suffix)])
        found = []
        for name in sorted(names):
            config = _read(self._config_path(name))
            status_text = _read(self._status_path(name))
            status = None
            if status_text is not None:
                try:
                    status = Status.from_json(status_text)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("ignoring unreadable status of domain %s: %s", name, exc)
            found.append(Stored(name, config, os.path.islink(self._autostart_path(name)), status))
        return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
