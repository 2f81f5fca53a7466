"""virtlockd's lease administration on D-Bus (org.virtd.Leases1 on the daemon object).

The same LeaseAdminApi the admin socket's extension procedures call.
"""

from __future__ import annotations

from typing import Any

from dbus_fast import Variant

from common.dbus.interface import Arg, Caller, Interface, Method
from daemons.virtlockd.admin import LeaseAdminApi
from daemons.virtlockd.leases import Actor, LeaseInfo

VIEW = "org.virtd.leases.view"
RELEASE = "org.virtd.leases.release"


def _lease(lease: LeaseInfo) -> dict[str, Variant]:
    owner = lease.owner
    return {"lockspace": Variant("s", lease.lockspace), "resource": Variant("s", lease.resource),
            "path": Variant("s", lease.path), "shared": Variant("b", lease.shared),
            "owner_pid": Variant("u", owner.pid), "owner_id": Variant("u", owner.id),
            "owner_name": Variant("s", owner.name), "owner_uuid": Variant("s", str(owner.uuid)),
            "since": Variant("d", lease.since)}


def lease_interface(api: LeaseAdminApi) -> Interface:
    def release(lockspace: str, resource: str, pid: int, *, caller: Caller) -> list[Any]:
        actor = Actor(caller.pid, caller.uid, f"D-Bus caller {caller.bus_name}")
        return [api.force_release(lockspace, resource, pid or None, actor)]

    return Interface(
        "org.virtd.Leases1",
        "Disk leases virtlockd holds for VM processes: inspect them, force one free.",
        methods=(
            Method("ListLeases", (), (Arg("leases", "aa{sv}"),), VIEW,
                   "Every lease: lockspace ('' is the default one), resource, locked file, "
                   "shared, owner pid/id/name/uuid, held since (epoch seconds).",
                   lambda: [[_lease(lease) for lease in api.leases()]]),
            Method("ReleaseLease", (Arg("lockspace", "s"), Arg("resource", "s"),
                                    Arg("pid", "u")), (Arg("released", "u"),), RELEASE,
                   "Take a lease from owner pid (0: from every owner) without stopping it; only "
                   "for owners known to be gone. Audited in the journal with the caller.",
                   release, wants_caller=True),
        ),
    )
