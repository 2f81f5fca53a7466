"""Leases outliving the daemon: across a re-exec (SIGUSR1) and, under systemd, a crash.

Re-exec: the locked fds are inherited by the new image and the lockspaces are
described in the daemon's re-exec state (this is a StateProvider).

Crash: each locked fd is also parked in systemd's fd store, named
"lease-<sha256 of lockspace and resource>". An OFD lock lives on the open
file description, so systemd's copy keeps the lease while no virtlockd runs
and nothing else can take it. What the fds stand for (lockspace, resource,
owners) is written, atomically on every change, to virtlockd-leases.json in
the runtime directory. At start systemd hands the fds back and they are
adopted; owners are found again by pid and start time, and the leases of
owners that exited meanwhile are released.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import TYPE_CHECKING, Any, Callable

from common.files import atomic_write
from common.reexec import FdKeeper
from daemons.virtlockd.lockspace import DEFAULT, Resource
from daemons.virtlockd.leases import LeaseManager

if TYPE_CHECKING:
    from common.daemon import Daemon

log = logging.getLogger("virtd.virtlockd.persistence")

FDSTORE_PREFIX = "lease-"
STATE_FILE = "virtlockd-leases.json"
STATE_VERSION = 1


def fdstore_name(lockspace: str, resource: str) -> str:
    digest = hashlib.sha256(os.fsencode(lockspace) + b"\0" + os.fsencode(resource)).hexdigest()
    return FDSTORE_PREFIX + digest


def describe(manager: LeaseManager, fd_ref: Any) -> dict[str, Any]:
    """The lockspaces and held resources, each resource naming its fd as `fd_ref` says."""
    return {
        "version": STATE_VERSION,
        "lockspaces": [key for key in manager.lockspaces if key != DEFAULT],
        "resources": [{"lockspace": ls.key, "fd": fd_ref(ls, res), **res.to_json()}
                      for ls, res in manager.resources()],
    }


class LeaseState:
    """Carries the leases across re-exec and crashes (see the module docstring)."""

    key = "virtlockd"

    def __init__(self, manager: LeaseManager, daemon: "Daemon") -> None:
        self.manager = manager
        self.daemon = daemon
        self.path = os.path.join(daemon.paths.runtime_dir, STATE_FILE)
        self._parked: dict[str, int] = {}
        """fd store name -> the fd parked under it."""
        self._adopted = False
        """Until what systemd kept is adopted, the state file still describes it."""

    # -- re-exec (StateProvider) ----------------------------------------------------------

    def save(self, keeper: FdKeeper) -> dict[str, Any]:
        return describe(self.manager, lambda _ls, res: keeper.keep(res.fd))

    def restore(self, state: dict[str, Any]) -> None:
        for fd in self._adopt(state, lambda ref: ref):
            os.set_inheritable(fd, False)

    # -- the fd store ---------------------------------------------------------------------

    def persist(self) -> None:
        """After every change: park new lease fds, unpark freed ones, rewrite the state file."""
        store = self.daemon.fdstore
        if not store.enabled or not self._adopted:
            return
        current = {fdstore_name(ls.key, res.name): res.fd for ls, res in self.manager.resources()}
        for name in [n for n in self._parked if current.get(n) != self._parked[n]]:
            store.unpark(name)
            del self._parked[name]
        for name, fd in current.items():
            if name not in self._parked:
                store.park(name, fd)
                self._parked[name] = fd
        atomic_write(self.path, json.dumps(describe(
            self.manager, lambda ls, res: fdstore_name(ls.key, res.name))), mode=0o600)

    def adopt_parked(self) -> None:
        """At start: take back the lease fds systemd kept through a crash of our last run."""
        self._adopted = True
        parked = self.daemon.fdstore.take(FDSTORE_PREFIX)
        if not parked:
            self.manager.changed()
            return
        self._parked = dict(parked)
        used = set(self._adopt(self._read_state(len(parked)), parked.get))
        for name, fd in parked.items():
            if fd not in used:
                log.warning("dropping lease fd %s from the fd store: no lease is known for it",
                            name)
                os.close(fd)
        log.info("adopted %d leases kept by systemd", len(used))
        self.manager.changed()

    def _read_state(self, parked: int) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError) as exc:
            log.error("cannot read %s (%s): dropping the %d lease fds systemd kept", self.path,
                      exc, parked)
            return {"lockspaces": [], "resources": []}
        if state.get("version") != STATE_VERSION:
            log.error("%s has unknown version %r: dropping the %d lease fds systemd kept",
                      self.path, state.get("version"), parked)
            return {"lockspaces": [], "resources": []}
        return state

    def _adopt(self, state: dict[str, Any], fd_of: Callable[[Any], int | None]) -> list[int]:
        """Rebuild lockspaces and resources from `describe` output; returns the fds used."""
        for path in state["lockspaces"]:
            self.manager.adopt_lockspace(path)
        used = []
        for entry in state["resources"]:
            fd = fd_of(entry["fd"])
            if fd is None:
                log.error("lease on %s in lockspace '%s' was not kept by systemd: it is no "
                          "longer held", entry["path"], entry["lockspace"])
                continue
            used.append(fd)
            self.manager.adopt(entry["lockspace"], Resource.from_json(entry, fd))
        return used

