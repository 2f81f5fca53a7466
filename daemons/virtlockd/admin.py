"""Lease administration, which libvirt lacks: list every lease, force one free (audited).

`LeaseAdminApi` is the operation; the admin-program extension procedures
below (numbered from 1000, after libvirt's admin procedures) and, later, the
D-Bus mirror are thin adapters over it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from common import xdr
from common.admin.program import EXTENSION_BASE
from common.errors import ErrorDomain, check_flags
from common.rpc.program import Procedure
from common.rpc.server import CallContext
from daemons.virtlockd.leases import Actor, LeaseInfo, LeaseManager
from daemons.virtlockd.protocol import Path, String, UUID

LEASE_LIST_MAX = 65536


class LeaseAdminProc(IntEnum):
    LEASE_LIST = EXTENSION_BASE
    LEASE_RELEASE = EXTENSION_BASE + 1


Lease = xdr.struct_type("virtlockd_admin_lease", lockspace=Path, resource=Path, path=Path,
                        shared=xdr.Bool, owner_pid=xdr.UInt, owner_id=xdr.UInt,
                        owner_name=String, owner_uuid=UUID, since=xdr.Double)
LeaseListArgs = xdr.struct_type("virtlockd_admin_lease_list_args", flags=xdr.UInt)
LeaseListRet = xdr.struct_type("virtlockd_admin_lease_list_ret",
                               leases=xdr.Array(Lease, LEASE_LIST_MAX))
LeaseReleaseArgs = xdr.struct_type("virtlockd_admin_lease_release_args", lockspace=Path,
                                   resource=Path, pid=xdr.UInt, flags=xdr.UInt)
"""pid 0 takes the lease from every owner holding it."""
LeaseReleaseRet = xdr.struct_type("virtlockd_admin_lease_release_ret", released=xdr.UInt)


class LeaseAdminApi:
    """What an administrator may do with leases, whatever the transport."""

    def __init__(self, manager: LeaseManager) -> None:
        self.manager = manager

    def leases(self) -> list[LeaseInfo]:
        return sorted(self.manager.leases(), key=lambda lease: (lease.lockspace, lease.resource,
                                                                lease.since))

    def force_release(self, lockspace: str, resource: str, pid: int | None, actor: Actor) -> int:
        """Take the lease from owner `pid` (None: from all); audited with `actor`."""
        return self.manager.force_release(lockspace, resource, pid, actor)


def _wire(lease: LeaseInfo) -> Any:
    owner = lease.owner
    return Lease(lease.lockspace, lease.resource, lease.path, lease.shared, owner.pid, owner.id,
                 owner.name, owner.uuid.bytes, lease.since)


def lease_procedures(api: LeaseAdminApi) -> list[Procedure]:
    """The admin-program extensions virtlockd serves."""

    def lease_list(ctx: CallContext, args: Any) -> Any:
        check_flags(args.flags, 0, "virtlockdAdminLeaseList", ErrorDomain.ADMIN)
        return LeaseListRet([_wire(lease) for lease in api.leases()])

    def lease_release(ctx: CallContext, args: Any) -> Any:
        check_flags(args.flags, 0, "virtlockdAdminLeaseRelease", ErrorDomain.ADMIN)
        ident = ctx.client.identity
        actor = Actor(ident.pid, ident.uid, f"admin client {ctx.client.id}")
        return LeaseReleaseRet(api.force_release(args.lockspace, args.resource, args.pid or None,
                                                 actor))

    return [
        Procedure(int(LeaseAdminProc.LEASE_LIST), "VIRTLOCKD_ADMIN_PROC_LEASE_LIST", LeaseListArgs,
                  LeaseListRet, lease_list, api="virtlockdAdminLeaseList",
                  acl=("admin.lease_view",)),
        Procedure(int(LeaseAdminProc.LEASE_RELEASE), "VIRTLOCKD_ADMIN_PROC_LEASE_RELEASE",
                  LeaseReleaseArgs, LeaseReleaseRet, lease_release,
                  api="virtlockdAdminLeaseRelease", acl=("admin.lease_release",)),
    ]
