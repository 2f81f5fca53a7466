"""Taking leases from virtlockd: the lock program's client side, and how a disk is named.

virtd takes a domain's disk leases as libvirt's lock driver does: from the
QEMU child just before exec it connects, registers the domain with the QEMU
pid, acquires a lease per writable disk, restricts the connection and lets
QEMU inherit it, so the leases live exactly as long as QEMU and its
connection. The protocol is libvirt's, so this client drives libvirt's
virtlockd as well as ours.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from common import xdr
from common.paths import Paths
from common.rpc.client import RpcClient
from daemons.virtlockd import protocol as p
from daemons.virtlockd.protocol import AcquireFlags, LockProc

LVS = "lvs"
SCSI_ID = "/lib/udev/scsi_id"


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    """Which lease stands for a disk: lockspace, resource name and acquire flags."""

    lockspace: str
    name: str
    flags: AcquireFlags


@dataclass(frozen=True, slots=True)
class LockspaceDirs:
    """virtlockd.conf's file/lvm/scsi_lockspace_dir (None: not configured)."""

    file: str | None = None
    lvm: str | None = None
    scsi: str | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> "LockspaceDirs":
        return cls(cfg.file_lockspace_dir, cfg.lvm_lockspace_dir, cfg.scsi_lockspace_dir)

    def configured(self) -> list[str]:
        return [d for d in (self.file, self.lvm, self.scsi) if d is not None]


def indirect_name(disk: str) -> str:
    """The lease file name of a disk in the file lockspace: lowercase hex SHA-256 of its path."""
    return hashlib.sha256(os.fsencode(disk)).hexdigest()


def disk_lease(disk: str, dirs: LockspaceDirs, *, shared: bool = False) -> LeaseRequest:
    """The lease for a writable disk, named as libvirt's lock driver names it.

    A block device under /dev is named by its LVM volume UUID, else its SCSI ID,
    when those lockspaces are configured; otherwise a configured file lockspace
    gets an indirect lease (SHA-256 of the path), and without one the disk
    image itself is locked in the default lockspace. (Read-only disks take no
    lease at all: that is the caller's decision.)
    """
    flags = AcquireFlags.SHARED if shared else AcquireFlags(0)
    if disk.startswith("/dev"):
        if dirs.lvm is not None and (key := lvm_key(disk)) is not None:
            return LeaseRequest(dirs.lvm, key, flags | AcquireFlags.AUTOCREATE)
        if dirs.scsi is not None and (key := scsi_key(disk)) is not None:
            return LeaseRequest(dirs.scsi, key, flags | AcquireFlags.AUTOCREATE)
    if dirs.file is not None:
        return LeaseRequest(dirs.file, indirect_name(disk), flags | AcquireFlags.AUTOCREATE)
    return LeaseRequest("", disk, flags)


def _first_line(argv: list[str]) -> str | None:
    """The command's first output line without surrounding blanks; None if it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    line = done.stdout.lstrip().split("\n", 1)[0].strip()
    return line or None


def lvm_key(device: str) -> str | None:
    """The UUID of the LVM logical volume at `device` (e.g. 06UgP5-2rhb-...), if it is one."""
    return _first_line([LVS, "--noheadings", "--unbuffered", "--nosuffix", "--options", "uuid",
                        device])


def scsi_key(device: str) -> str | None:
    """The SCSI ID of the disk at `device`, if udev's scsi_id can read one."""
    return _first_line([SCSI_ID, "--replace-whitespace", "--whitelisted", "--device", device])


def default_socket(privileged: bool) -> str:
    return os.path.join(Paths.for_mode(privileged).runtime_dir, "virtlockd-sock")


class LockClient:
    """One connection to a virtlockd lock socket; every method is one procedure call."""

    def __init__(self, path: str, *, timeout: float | None = None) -> None:
        self.rpc = RpcClient(path, timeout=timeout)

    def __enter__(self) -> "LockClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """There is no goodbye in the lock protocol: closing is the end (and, for a
        registered owner's own connection, releases its leases)."""
        self.rpc.close()

    def fileno(self) -> int:
        return self.rpc.sock.fileno()

    def call(self, proc: LockProc, args_type: xdr.XdrType, args: Any) -> None:
        self.rpc.call(p.LOCK_PROGRAM, p.LOCK_VERSION, int(proc), args_type, args, xdr.Void)

    def register(self, uuid: UUID, name: str, id: int, pid: int, flags: int = 0) -> None:
        self.call(LockProc.REGISTER, p.RegisterArgs,
                  p.RegisterArgs(p.Owner(uuid.bytes, name, id, pid), flags))

    def restrict(self, flags: int = 0) -> None:
        self.call(LockProc.RESTRICT, p.RestrictArgs, p.RestrictArgs(flags))

    def new_lockspace(self, path: str, flags: int = 0) -> None:
        self.call(LockProc.NEW, p.NewArgs, p.NewArgs(path, flags))

    def create_lockspace(self, path: str) -> None:
        self.call(LockProc.CREATE_LOCKSPACE, p.CreateLockSpaceArgs, p.CreateLockSpaceArgs(path))

    def create_resource(self, lockspace: str, name: str, flags: int = 0) -> None:
        self._resource(LockProc.CREATE_RESOURCE, lockspace, name, flags)

    def delete_resource(self, lockspace: str, name: str, flags: int = 0) -> None:
        self._resource(LockProc.DELETE_RESOURCE, lockspace, name, flags)

    def acquire(self, lockspace: str, name: str, flags: int = 0) -> None:
        self._resource(LockProc.ACQUIRE_RESOURCE, lockspace, name, flags)

    def acquire_lease(self, lease: LeaseRequest) -> None:
        self.acquire(lease.lockspace, lease.name, lease.flags)

    def release(self, lockspace: str, name: str, flags: int = 0) -> None:
        """libvirt's driver always releases with flags 0 (SHARED/AUTOCREATE cleared)."""
        self._resource(LockProc.RELEASE_RESOURCE, lockspace, name, flags)

    def _resource(self, proc: LockProc, lockspace: str, name: str, flags: int) -> None:
        self.call(proc, p.ResourceArgs, p.ResourceArgs(lockspace, name, int(flags)))
