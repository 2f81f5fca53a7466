"""Re-executing a daemon in place (SIGUSR1) without dropping a socket, client, lease or pipe.

Before exec we write a versioned JSON state file naming every fd to keep
(listening sockets, client connections, and whatever the daemon's state
providers register: lease fds, pipe ends), clear close-on-exec on those fds
and exec the same command line; the PID, and so systemd's MainPID, stays the
same. The new image reads the file, checks its magic (our PID), deletes it and
rebuilds everything from it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from common.files import atomic_write

log = logging.getLogger("virtd.reexec")

STATE_VERSION = 1


class FdKeeper:
    """Collects the fds the next image must inherit; state refers to them by number."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def keep(self, fd: int) -> int:
        os.set_inheritable(fd, True)
        self.fds.append(fd)
        return fd


class StateProvider(Protocol):
    """A daemon part whose state crosses a re-exec (virtlockd's lockspaces, virtlogd's pipes)."""

    key: str

    def save(self, keeper: FdKeeper) -> dict[str, Any]:
        """JSON-able state; every fd it names must go through `keeper.keep`."""

    def restore(self, state: dict[str, Any]) -> None:
        """Rebuild from `save`'s output in the new image (the fds are open and inherited)."""


@dataclass
class SavedState:
    """What the previous image left us."""

    servers: dict[str, Any]
    providers: dict[str, Any]
    idle_timeout: int
    socket_activated: bool


def state_path(runtime_dir: str, daemon: str) -> str:
    return os.path.join(runtime_dir, f"{daemon}-restart-exec.json")


def write_state(path: str, servers: dict[str, Any], providers: dict[str, Any],
                idle_timeout: int, socket_activated: bool) -> None:
    document = {"version": STATE_VERSION, "magic": str(os.getpid()),
                "idle_timeout": idle_timeout, "socket_activated": socket_activated,
                "servers": servers, "providers": providers}
    atomic_write(path, json.dumps(document), mode=0o600)


def read_state(path: str) -> SavedState | None:
    """The state left by our previous image, or None. The file is removed either way."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    os.unlink(path)
    try:
        document = json.loads(text)
    except ValueError as exc:
        log.error("ignoring unreadable re-exec state %s: %s", path, exc)
        return None
    if document.get("magic") != str(os.getpid()):
        log.warning("ignoring stale re-exec state %s (written by pid %s)", path,
                    document.get("magic"))
        return None
    if document.get("version") != STATE_VERSION:
        log.error("ignoring re-exec state %s of unknown version %r", path, document.get("version"))
        return None
    return SavedState(document["servers"], document["providers"], int(document["idle_timeout"]),
                      bool(document["socket_activated"]))


def exec_self() -> None:
    """Replace this image with a fresh one of the same program and arguments (same PID)."""
    argv = [sys.executable, *sys.argv]
    log.info("re-executing %s", " ".join(argv))
    os.execv(sys.executable, argv)
