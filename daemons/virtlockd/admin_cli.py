"""virtd-admin's lease commands, kept with virtlockd so the CLI needs no knowledge of leases.

    lease-list                                       every lease virtlockd holds
    lease-release <lockspace> <resource> [--pid N]   take a lease away by force (audited)

The default lockspace is written "-". The calls go through an open AdminClient
to virtlockd's admin extension procedures (1000, 1001); `lease_commands()`
gives common/admin/cli.py the two entries of its command table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from common.admin.client import AdminClient
from daemons.virtlockd.admin import (
    LeaseAdminProc,
    LeaseListArgs,
    LeaseListRet,
    LeaseReleaseArgs,
    LeaseReleaseRet,
)

if TYPE_CHECKING:
    from common.admin.cli import Args, Command, Output, Session

DEFAULT_LOCKSPACE = "-"
UINT_MAX = 2**32 - 1
HEADERS = ("Owner", "Pid", "Mode", "Since", "Lockspace", "Resource", "Path")


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """One owner's hold on one lease, as virtlockd reports it."""

    lockspace: str
    resource: str
    path: str
    shared: bool
    owner_pid: int
    owner_id: int
    owner_name: str
    owner_uuid: UUID
    since: float

    @property
    def mode(self) -> str:
        return "shared" if self.shared else "exclusive"

    def to_json(self) -> dict[str, Any]:
        return {"lockspace": self.lockspace, "resource": self.resource, "path": self.path,
                "mode": self.mode, "owner_pid": self.owner_pid, "owner_id": self.owner_id,
                "owner_name": self.owner_name, "owner_uuid": str(self.owner_uuid),
                "since": self.since}

    def cells(self) -> tuple[str, ...]:
        """The row in HEADERS order."""
        since = time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(self.since))
        return (self.owner_name, str(self.owner_pid), self.mode, since,
                self.lockspace or DEFAULT_LOCKSPACE, self.resource, self.path)


def list_leases(conn: AdminClient) -> list[LeaseRow]:
    ret = conn.call(LeaseAdminProc.LEASE_LIST, LeaseListArgs, LeaseListArgs(0), LeaseListRet)
    return [LeaseRow(w.lockspace, w.resource, w.path, w.shared, w.owner_pid, w.owner_id,
                     w.owner_name, UUID(bytes=w.owner_uuid), w.since) for w in ret.leases]


def release_lease(conn: AdminClient, lockspace: str, resource: str, pid: int | None = None) -> int:
    """Force the lease free from owner `pid` (None: from every owner); returns holds taken."""
    ret = conn.call(LeaseAdminProc.LEASE_RELEASE, LeaseReleaseArgs,
                    LeaseReleaseArgs(lockspace, resource, pid or 0, 0), LeaseReleaseRet)
    return ret.released


def lease_commands() -> tuple["Command", ...]:
    """The `lease-list` and `lease-release` entries of virtd-admin's command table."""
    # cli.py imports this module to build its table: take its types at call time.
    from common.admin import cli

    def cmd_lease_list(session: "Session", args: "Args") -> "Output":
        with cli.failing_with("Failed to list the leases"):
            rows = list_leases(session.conn)
        return cli.Output(cli.table(session, HEADERS, [row.cells() for row in rows]),
                          [row.to_json() for row in rows])

    def cmd_lease_release(session: "Session", args: "Args") -> "Output":
        lockspace = args.text("lockspace")
        lockspace = "" if lockspace == DEFAULT_LOCKSPACE else lockspace
        resource = args.text("resource")
        pid = args.number("pid", UINT_MAX) if args.given("pid") else None
        with cli.failing_with(f"Failed to release the lease on '{resource}'"):
            released = release_lease(session.conn, lockspace, resource, pid)
        return cli.Output(f"Lease on '{resource}' released by force from {released} "
                          f"holder{'s' if released != 1 else ''}\n", {"released": released})

    return (
        cli.Command("lease-list", "extensions", "list virtlockd's disk leases",
                    "Show every lease virtlockd holds: owner, pid, shared or exclusive, since "
                    "when, lockspace (\"-\" is the default one), resource and locked file.",
                    (), cmd_lease_list),
        cli.Command("lease-release", "extensions", "take a disk lease away by force",
                    "Release a lease from its owner (--pid) or from all its owners, without "
                    "stopping them: only for owners known to be gone. Recorded in the journal.",
                    (cli.Option("lockspace", "string", "the lease's lockspace, \"-\" for the "
                                                       "default one", required=True),
                     cli.Option("resource", "string", "the lease's resource, as lease-list "
                                                      "shows it", required=True),
                     cli.Option("pid", "number", "only this owner's hold", positional=False)),
                    cmd_lease_release),
    )
