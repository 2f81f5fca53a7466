"""Every lease virtlockd holds: lockspaces, their owners' lifetimes, and the journal record.

Leases belong to the registered owner process. From its first lease on, its
pidfd is watched until it exits, and the moment it exits its leases are
released, whatever became of its lock connection. A holder that drops its
connection while alive is released and then terminated, as libvirt does, so it
cannot keep writing to disks it no longer holds a lease on. An owner that is
not running gets no lease at all (libvirt would grant one that nothing ever
releases).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log.fields import fields
from common.log.message_ids import MessageId
from daemons.virtlockd.lockspace import (
    DEFAULT,
    Holding,
    Lockspace,
    Owner,
    Resource,
    not_holder,
    not_locked,
)
from daemons.virtlockd.process import Process, terminate

log = logging.getLogger("virtd.virtlockd.leases")


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """One owner's hold on one resource, as an administrator sees it."""

    lockspace: str
    resource: str
    path: str
    """The locked file: the disk image itself for a direct lease, else the lease file."""
    shared: bool
    owner: Owner
    since: float


@dataclass(frozen=True, slots=True)
class Actor:
    """Who forced a lease free, for the audit record (an admin client, a D-Bus caller)."""

    pid: int
    uid: int
    via: str


class LeaseManager:
    """The lockspaces, the leases in them, and a pidfd watch on every owner holding one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lockspaces: dict[str, Lockspace] = {DEFAULT: Lockspace(None)}
        self.listeners: list[Callable[[], None]] = []
        """Called after anything held (or any lockspace) changed: persistence, idle timer."""
        self.stopping = False
        self._watches: dict[int, Process] = {}
        self._terminations: set[asyncio.Task[None]] = set()

    # -- lockspaces ---------------------------------------------------------------------

    def find(self, path: str) -> Lockspace:
        lockspace = self.lockspaces.get(path)
        if lockspace is None:
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                            f"Lockspace for path {path} does not exist")
        return lockspace

    def new_lockspace(self, path: str) -> None:
        """NEW: a lockspace that must not exist yet."""
        if path == DEFAULT:
            raise VirtError(ErrorCode.OPERATION_INVALID, ErrorDomain.RPC,
                            "the default lockspace already exists")
        if path in self.lockspaces:
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                            f"Lockspace for path {path} already exists")
        self.create_lockspace(path)

    def create_lockspace(self, path: str) -> None:
        """CREATE_LOCKSPACE: make sure the lockspace exists (its directory too)."""
        if path in self.lockspaces:
            return
        self.lockspaces[path] = Lockspace.create(path)
        log.info("lockspace %s created", path, extra=fields(lockspace=path))
        self.changed()

    # -- resources ----------------------------------------------------------------------

    def create_resource(self, path: str, name: str) -> None:
        self.find(path).create_resource(name)

    def delete_resource(self, path: str, name: str) -> None:
        self.find(path).delete_resource(name)

    def acquire(self, path: str, name: str, owner: Owner, *, shared: bool,
                autocreate: bool) -> Resource:
        lockspace = self.find(path)
        self._watch(owner)
        res = lockspace.acquire(name, Holding(owner, time.time()), shared=shared,
                                autocreate=autocreate)
        if log.isEnabledFor(logging.INFO):
            log.info("lease on %s (%s) granted to %s, pid %d", res.path, _mode(res), owner.name,
                     owner.pid,
                     extra=_lease_fields(lockspace, res, owner, MessageId.LEASE_ACQUIRED))
        self.changed()
        return res

    def release(self, path: str, name: str, pid: int) -> None:
        lockspace = self.find(path)
        res, holdings = lockspace.release(name, pid)
        self._released(lockspace, res, holdings, "released by its owner")

    def release_owner(self, pid: int, reason: str) -> int:
        """Release every hold `pid` has, in every lockspace; returns how many there were."""
        count = 0
        for lockspace in list(self.lockspaces.values()):
            for res, holdings in lockspace.release_owner(pid):
                self._released(lockspace, res, holdings, reason)
                count += len(holdings)
        return count

    def force_release(self, path: str, name: str, pid: int | None, actor: Actor) -> int:
        """An administrator frees a lease from one owner (`pid`) or from all of them; the
        owners keep running. Returns how many holds were taken away."""
        lockspace = self.find(path)
        res = lockspace.resources.get(name)
        if res is None:
            raise not_locked(name)
        if pid is not None and pid not in res.pids():
            raise not_holder(pid)
        pids = [pid] if pid is not None else list(dict.fromkeys(res.pids()))
        holdings = [h for p in pids for h in res.take_holdings(p)]
        lockspace.free_if_unheld(res)
        for holding in holdings:
            owner = holding.owner
            log.warning("lease on %s of %s (pid %d) released by force by pid %d (uid %d) "
                        "through %s", res.path, owner.name, owner.pid, actor.pid, actor.uid,
                        actor.via,
                        extra=_lease_fields(lockspace, res, owner, MessageId.LEASE_FORCED_RELEASE,
                                            admin_pid=actor.pid, admin_uid=actor.uid,
                                            admin_via=actor.via))
        self.changed()
        return len(holdings)

    # -- owners ---------------------------------------------------------------------------

    def connection_lost(self, owner: Owner) -> None:
        """The owner's own lock connection closed: release what it holds and, if it still
        runs, terminate it (libvirt's rule: a holder must not outlive its connection)."""
        if self.stopping:
            return
        process = Process.open(owner.pid, owner.start_time)
        if process is None:
            self.release_owner(owner.pid, "its owner exited")
            return
        if self.release_owner(owner.pid, "its owner's lock connection closed") == 0:
            process.close()
            return
        log.warning("%s (pid %d) closed its lock connection while holding leases: "
                    "terminating it", owner.name, owner.pid,
                    extra=_owner_fields(owner, MessageId.OWNER_KILLED))
        task = self.loop.create_task(self._terminate(owner, process))
        self._terminations.add(task)
        task.add_done_callback(self._terminations.discard)

    async def _terminate(self, owner: Owner, process: Process) -> None:
        outcome = await terminate(process)
        if outcome is None:
            log.error("%s (pid %d) is still running after SIGTERM and SIGKILL", owner.name,
                      owner.pid, extra=_owner_fields(owner, None))
        else:
            log.info("%s (pid %d) ended by %s", owner.name, owner.pid, outcome,
                     extra=_owner_fields(owner, None))

    def stop(self) -> None:
        """The daemon is stopping: connections closing now must neither release leases nor
        kill their owners. The locks end with this process, or stay with the copies in
        systemd's fd store for the next start to adopt. Terminations under way end here."""
        self.stopping = True
        for task in self._terminations:
            task.cancel()

    def _watch(self, owner: Owner) -> None:
        """Watch the owner until it exits (kept between its leases: owners come back)."""
        if owner.pid in self._watches:
            return
        process = Process.open(owner.pid, owner.start_time)
        if process is None:
            raise VirtError(ErrorCode.OPERATION_INVALID, ErrorDomain.LOCKSPACE,
                            f"lock owner process {owner.pid} is not running")
        self._watches[owner.pid] = process
        self.loop.add_reader(process.fd, self._owner_exited, owner.pid)

    def _owner_exited(self, pid: int) -> None:
        process = self._watches.pop(pid)
        self.loop.remove_reader(process.fd)
        process.close()
        self.release_owner(pid, "its owner exited")

    # -- bookkeeping ----------------------------------------------------------------------

    def _released(self, lockspace: Lockspace, res: Resource, holdings: list[Holding],
                  reason: str) -> None:
        if log.isEnabledFor(logging.INFO):
            for holding in holdings:
                owner = holding.owner
                log.info("lease on %s of %s (pid %d) %s", res.path, owner.name, owner.pid,
                         reason,
                         extra=_lease_fields(lockspace, res, owner, MessageId.LEASE_RELEASED))
        self.changed()

    def changed(self) -> None:
        for listener in self.listeners:
            listener()

    def held(self) -> int:
        """How many resources are locked (what keeps the daemon from idling out)."""
        return sum(len(ls.resources) for ls in self.lockspaces.values())

    def resources(self) -> Iterator[tuple[Lockspace, Resource]]:
        for lockspace in self.lockspaces.values():
            for res in lockspace.resources.values():
                yield lockspace, res

    def leases(self) -> list[LeaseInfo]:
        return [LeaseInfo(ls.key, res.name, res.path, res.shared, h.owner, h.since)
                for ls, res in self.resources() for h in res.holdings]

    # -- after a restart ------------------------------------------------------------------

    def adopt(self, path: str, res: Resource) -> None:
        """Take back a lease whose locked fd outlived our previous image. Owners that
        exited meanwhile (or whose pid now names another process) are released."""
        lockspace = self.lockspaces.get(path)
        if lockspace is None:
            lockspace = self.lockspaces[path] = Lockspace(path or None)
        lockspace.adopt(res)
        for pid in dict.fromkeys(res.pids()):
            owner = next(h.owner for h in res.holdings if h.owner.pid == pid)
            process = self._watches.get(pid) or Process.open(pid, owner.start_time)
            if process is None:
                res.take_holdings(pid)
                log.info("lease on %s of %s (pid %d) released: its owner exited while the "
                         "daemon was restarting", res.path, owner.name, pid,
                         extra=_lease_fields(lockspace, res, owner, MessageId.LEASE_RELEASED))
                continue
            if pid not in self._watches:
                self._watches[pid] = process
                self.loop.add_reader(process.fd, self._owner_exited, pid)
        lockspace.free_if_unheld(res)

    def adopt_lockspace(self, path: str) -> None:
        """A lockspace of our previous image (its directory exists already)."""
        self.lockspaces.setdefault(path, Lockspace(path or None))


def _mode(res: Resource) -> str:
    return "shared" if res.shared else "exclusive"


def _owner_fields(owner: Owner, message_id: MessageId | None, **more: object
                  ) -> dict[str, object]:
    return fields(message_id=message_id, domain_name=owner.name, domain_uuid=str(owner.uuid),
                  owner_pid=owner.pid, **more)


def _lease_fields(lockspace: Lockspace, res: Resource, owner: Owner, message_id: MessageId,
                  **more: object) -> dict[str, object]:
    return _owner_fields(owner, message_id, lockspace=lockspace.key, resource=res.name,
                         path=res.path, lease_mode=_mode(res), **more)
