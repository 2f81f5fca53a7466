"""Per-procedure access control through polkit (access_drivers = [ "polkit" ]).

Each remote procedure's row names the permissions it needs ("domain.start");
each becomes the polkit action org.virtd.api.<object>.<perm> (underscores to
dashes), checked for the calling process with libvirt's details:
connect_driver, and domain_name/domain_uuid taken from the daemon's own
object (never from what the client claims).
"""

from __future__ import annotations

import logging
from typing import Any, Callable
from uuid import UUID

from common.dbus.polkit import PolkitAuthority, client_subject
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log.fields import fields
from common.rpc.server import CallContext
from daemons.virtd.domain import xml as domain_xml
from daemons.virtd.drivers.base import XML_SECURE, Driver
from daemons.virtd.remote.connection import DriverTable
from daemons.virtd.remote.protocol import RemoteProc

log = logging.getLogger("virtd.virtd.access")


FLAG_PERMISSIONS: dict[int, tuple[tuple[int, str], ...]] = {
    RemoteProc.DOMAIN_GET_XML_DESC: ((XML_SECURE, "domain.read_secure"),),
}
"""Permissions a procedure needs only when called with a flag: passwords in the XML need
read_secure beyond read, as in libvirt."""


def permissions(procedure_number: int, acl: tuple[str, ...], args: Any) -> tuple[str, ...]:
    """Every permission this call needs: its table row's, plus those its flags add."""
    flags = getattr(args, "flags", 0)
    extra = FLAG_PERMISSIONS.get(procedure_number, ())
    return acl + tuple(perm for flag, perm in extra if flags & flag)


def polkit_action(permission: str) -> str:
    """`domain.init_control` -> `org.virtd.api.domain.init-control`."""
    return "org.virtd.api." + permission.replace("_", "-")


def _domain_details(driver: Driver, args: Any) -> dict[str, str]:
    """The domain a call is about, as the daemon knows it, for polkit rules to match."""
    if hasattr(args, "dom") and args.dom is not None:
        obj = driver.domains.find_uuid(UUID(bytes=args.dom.uuid))
        if obj is None:
            return {}
        return {"domain_name": obj.name, "domain_uuid": str(obj.uuid)}
    if hasattr(args, "xml"):
        definition = domain_xml.parse(args.xml)
        return {"domain_name": definition.name, "domain_uuid": str(definition.uuid)}
    if hasattr(args, "name") and isinstance(args.name, str):
        obj = driver.domains.find_name(args.name)
        return {"domain_name": args.name} | ({"domain_uuid": str(obj.uuid)} if obj else {})
    if hasattr(args, "uuid"):
        obj = driver.domains.find_uuid(UUID(bytes=args.uuid))
        return {"domain_uuid": str(UUID(bytes=args.uuid))} | (
            {"domain_name": obj.name} if obj else {})
    if hasattr(args, "id"):
        for obj in driver.domains.all():
            if obj.id == args.id and obj.active:
                return {"domain_name": obj.name, "domain_uuid": str(obj.uuid)}
    return {}


class PolkitAccess:
    """The polkit access driver for virtd's remote program."""

    def __init__(self, authority: Callable[[], PolkitAuthority | None], drivers: DriverTable,
                 connection_driver: Callable[[CallContext], Driver | None]) -> None:
        self._authority = authority
        self._drivers = drivers
        self._connection_driver = connection_driver

    async def check(self, ctx: CallContext, args: Any) -> None:
        authority = self._authority()
        if authority is None:
            raise VirtError(ErrorCode.ACCESS_DENIED, ErrorDomain.ACCESS,
                            "polkit access control is configured but no system bus is reachable")
        driver = self._connection_driver(ctx)
        if driver is None and getattr(args, "name", None) is not None and ctx.procedure.number == 1:
            driver = self._drivers.open(args.name)
        details = {"connect_driver": driver.acl_name} if driver else {}
        for permission in permissions(ctx.procedure.number, ctx.procedure.acl, args):
            if permission.startswith("domain.") and driver is not None:
                details.update(_domain_details(driver, args))
            action = polkit_action(permission)
            try:
                await authority.check(client_subject(ctx.client), action, details,
                                      interactive=False)
            except VirtError as err:
                log.warning("client %d (pid %d, uid %d) denied %s on %s: %s", ctx.client.id,
                            ctx.client.identity.pid, ctx.client.identity.uid, action,
                            ctx.procedure.name, err.message,
                            extra=fields(client_id=ctx.client.id, polkit_action=action,
                                         domain_name=details.get("domain_name"),
                                         error_code=err.code))
                raise
