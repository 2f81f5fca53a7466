"""Lockspaces and their resources: files holding a lease lock, and who holds each lease.

A lockspace is a directory of lease files (an "indirect" lockspace, e.g. files
named by the SHA-256 of a disk path) or the default lockspace, whose resource
names are absolute paths locked in place (a "direct" lease on the disk image).
Semantics and error texts follow libvirt's virlockspace.c (reference §4.5);
errors are in the LOCKSPACE domain, as libvirt's are. Two deliberate
differences: a resource name must stay inside its lockspace's directory (no
"/", "." or ".."), and a default-lockspace name must be an absolute path;
libvirt would follow "../" out of the directory, or resolve a relative path
against its working directory.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from common.errors import ErrorCode, ErrorDomain, VirtError
from daemons.virtlockd import ofd

log = logging.getLogger("virtd.virtlockd.lockspace")

DEFAULT = ""
"""The default lockspace's key, as clients name it."""

_D = ErrorDomain.LOCKSPACE


@dataclass(frozen=True, slots=True)
class Owner:
    """A lease holder as its lock connection registered it (libvirt's lock owner).

    `start_time` (clock ticks since boot, 0 if unknown) tells the process from
    a later one that reuses its pid, when owners are re-attached after a restart.
    """

    pid: int
    id: int
    name: str
    uuid: UUID
    start_time: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "id": self.id, "name": self.name, "uuid": str(self.uuid),
                "start_time": self.start_time}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Owner":
        return cls(data["pid"], data["id"], data["name"], UUID(data["uuid"]), data["start_time"])


@dataclass(frozen=True, slots=True)
class Holding:
    """One owner's hold on a resource (a shared resource has several)."""

    owner: Owner
    since: float

    def to_json(self) -> dict[str, Any]:
        return {"owner": self.owner.to_json(), "since": self.since}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Holding":
        return cls(Owner.from_json(data["owner"]), data["since"])


def busy(name: str) -> VirtError:
    return VirtError(ErrorCode.RESOURCE_BUSY, _D, f"Lockspace resource '{name}' is locked")


def not_locked(name: str) -> VirtError:
    return VirtError(ErrorCode.RESOURCE_BUSY, _D, f"Lockspace resource '{name}' is not locked")


def not_holder(pid: int) -> VirtError:
    return VirtError(ErrorCode.INTERNAL_ERROR, _D, f"owner {pid} does not hold the resource lock")


@dataclass(eq=False)
class Resource:
    """A held lease: the open, locked file and the owners holding it."""

    name: str
    path: str
    fd: int
    shared: bool
    autocreate: bool
    holdings: list[Holding] = field(default_factory=list)

    def pids(self) -> list[int]:
        return [h.owner.pid for h in self.holdings]

    def take_holdings(self, pid: int) -> list[Holding]:
        """Remove and return every hold `pid` has on this resource."""
        taken = [h for h in self.holdings if h.owner.pid == pid]
        self.holdings = [h for h in self.holdings if h.owner.pid != pid]
        return taken

    def free(self) -> None:
        """Drop the lock and close the file; an auto-created lease file is removed, but a
        shared one only once an exclusive lock proves nobody else (another host) holds it."""
        if self.autocreate and (not self.shared or ofd.try_lock(self.fd, shared=False)):
            try:
                os.unlink(self.path)
            except OSError as err:
                if err.errno != errno.ENOENT:
                    log.warning("cannot remove lease file %s: %s", self.path, err.strerror)
        ofd.unlock(self.fd)
        os.close(self.fd)

    def to_json(self) -> dict[str, Any]:
        """Everything but the fd, which the caller carries its own way."""
        return {"name": self.name, "path": self.path, "shared": self.shared,
                "autocreate": self.autocreate, "holdings": [h.to_json() for h in self.holdings]}

    @classmethod
    def from_json(cls, data: dict[str, Any], fd: int) -> "Resource":
        return cls(data["name"], data["path"], fd, data["shared"], data["autocreate"],
                   [Holding.from_json(h) for h in data["holdings"]])


class Lockspace:
    """The resources of one directory, or of the whole file system (the default lockspace)."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.resources: dict[str, Resource] = {}

    @property
    def key(self) -> str:
        return self.directory if self.directory is not None else DEFAULT

    @classmethod
    def create(cls, directory: str) -> "Lockspace":
        """A lockspace in `directory`, created (mode 0700, with parents) if missing."""
        if os.path.exists(directory):
            if not os.path.isdir(directory):
                raise VirtError(ErrorCode.INTERNAL_ERROR, _D,
                                f"Lockspace location {directory} exists, but is not a directory")
        else:
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            except OSError as err:
                raise VirtError.from_os_error(_D, f"Unable to create lockspace {directory}",
                                              err) from None
        return cls(directory)

    def resource_path(self, name: str) -> str:
        """The file a resource name stands for; a name must not reach outside its lockspace."""
        if self.directory is None:
            if not os.path.isabs(name):
                raise VirtError(ErrorCode.INVALID_ARG, _D,
                                f"resource '{name}' of the default lockspace is not an "
                                "absolute path")
            return name
        if not name or "/" in name or name in (".", ".."):
            raise VirtError(ErrorCode.INVALID_ARG, _D,
                            f"resource '{name}' is not a file name in lockspace {self.directory}")
        return os.path.join(self.directory, name)

    # -- the procedures ----------------------------------------------------------------

    def create_resource(self, name: str) -> None:
        if name in self.resources:
            raise busy(name)
        path = self.resource_path(name)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOCTTY | os.O_NONBLOCK
                             | os.O_CLOEXEC, 0o600))
        except OSError as err:
            # libvirt reports this from its generic file helper, hence no domain.
            raise VirtError.from_os_error(ErrorDomain.NONE, f"cannot create file '{path}'",
                                          err) from None

    def delete_resource(self, name: str) -> None:
        if name in self.resources:
            raise busy(name)
        path = self.resource_path(name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise VirtError.from_os_error(_D, f"Unable to delete lockspace resource {path}",
                                          err) from None

    def acquire(self, name: str, holding: Holding, *, shared: bool,
                autocreate: bool) -> Resource:
        """Give `holding.owner` the lease: join a shared one, or lock the file anew."""
        res = self.resources.get(name)
        if res is not None:
            if res.shared and shared:
                res.holdings.append(holding)
                return res
            raise busy(name)
        path = self.resource_path(name)
        fd = _lock_created(name, path, shared) if autocreate else _lock_existing(name, path,
                                                                                  shared)
        res = Resource(name, path, fd, shared, autocreate, [holding])
        self.resources[name] = res
        return res

    def release(self, name: str, pid: int) -> tuple[Resource, list[Holding]]:
        """Take `pid`'s hold off the resource; it is freed when nobody holds it any more."""
        res = self.resources.get(name)
        if res is None:
            raise not_locked(name)
        index = next((i for i, h in enumerate(res.holdings) if h.owner.pid == pid), None)
        if index is None:
            raise not_holder(pid)
        holding = res.holdings.pop(index)
        self.free_if_unheld(res)
        return res, [holding]

    def release_owner(self, pid: int) -> list[tuple[Resource, list[Holding]]]:
        """Take every hold `pid` has in this lockspace, freeing what nobody else holds."""
        released = []
        for res in list(self.resources.values()):
            taken = res.take_holdings(pid)
            if taken:
                self.free_if_unheld(res)
                released.append((res, taken))
        return released

    def free_if_unheld(self, res: Resource) -> None:
        if not res.holdings:
            del self.resources[res.name]
            res.free()

    def adopt(self, res: Resource) -> None:
        """Take back a resource whose locked fd survived a restart of the daemon."""
        self.resources[res.name] = res


_OPEN_FLAGS = os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
"""O_NONBLOCK: a client naming a FIFO must not hang the daemon in open()."""


def _lock(name: str, path: str, fd: int, shared: bool) -> None:
    try:
        locked = ofd.try_lock(fd, shared)
    except OSError as err:
        raise VirtError.from_os_error(_D, f"Unable to acquire lock on '{path}'", err) from None
    if not locked:
        raise busy(name)


def _lock_existing(name: str, path: str, shared: bool) -> int:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise VirtError.from_os_error(_D, f"Unable to open resource {path}", err) from None
    try:
        _lock(name, path, fd, shared)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_created(name: str, path: str, shared: bool) -> int:
    """Open (creating, mode 0600) and lock a lease file, retrying while another holder that
    is freeing it unlinks or replaces it underneath us."""
    while True:
        try:
            fd = os.open(path, _OPEN_FLAGS | os.O_CREAT, 0o600)
        except OSError as err:
            raise VirtError.from_os_error(_D, f"Unable to open/create resource {path}",
                                          err) from None
        try:
            opened = os.fstat(fd)
            _lock(name, path, fd, shared)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and _same_file(opened, current):
            return fd
        log.debug("lease file %s was replaced while locking it: trying again", path)
        os.close(fd)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
