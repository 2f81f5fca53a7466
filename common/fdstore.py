"""Parking fds in systemd's fd store so they outlive a crash of this process.

virtlockd parks each lease's locked fd and virtlogd each pipe's read end.
After a crash systemd restarts the daemon and hands the parked fds back with
the socket fds (LISTEN_FDNAMES carries their names); the daemon adopts them.
Outside systemd parking is a no-op and nothing is adopted.
"""

from __future__ import annotations

import logging
import os
import re

from common.systemd import notify

log = logging.getLogger("virtd.fdstore")

_NAME_OK = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


class FdStore:
    """The fds this daemon keeps in systemd, and those it got back at start."""

    def __init__(self, adopted: dict[str, list[int]] | None = None) -> None:
        self.enabled = notify.under_systemd()
        self._adopted = dict(adopted or {})

    def park(self, name: str, fd: int) -> None:
        """Give systemd a duplicate of `fd` to hold under `name` (replacing an older one)."""
        if not self.enabled:
            return
        if not _NAME_OK.match(name):
            raise ValueError(f"fd store name {name!r} is not usable")
        notify.remove_stored_fds(name)
        notify.store_fds(name, [fd])

    def unpark(self, name: str) -> None:
        """systemd closes its copy: the resource it kept alive may now end."""
        if self.enabled:
            notify.remove_stored_fds(name)

    def take(self, prefix: str) -> dict[str, int]:
        """The adopted fds whose name starts with `prefix` (each name once)."""
        taken: dict[str, int] = {}
        for name in [n for n in self._adopted if n.startswith(prefix)]:
            fds = self._adopted.pop(name)
            taken[name] = fds[-1]
            for extra in fds[:-1]:
                os.close(extra)
        return taken

    def close_unclaimed(self) -> None:
        """Adopted fds nobody took belong to nothing we know now: let systemd drop them."""
        for name, fds in self._adopted.items():
            log.warning("dropping fd %s from the fd store: nothing claims it", name)
            for fd in fds:
                os.close(fd)
            self.unpark(name)
        self._adopted.clear()
