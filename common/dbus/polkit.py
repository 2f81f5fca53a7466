"""Asking polkit whether a caller may do something (CheckAuthorization).

Subjects: a D-Bus caller by its unique bus name; a socket caller as a unix
process, by pidfd where the kernel gives us one (SO_PEERPIDFD: immune to pid
reuse) plus pid, start time and uid. There is no fallback that authorizes
anyone in code: polkitd itself always authorizes root.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.rpc.server import ServerClient

log = logging.getLogger("virtd.dbus.polkit")

AUTHORITY = "org.freedesktop.PolicyKit1"
AUTHORITY_PATH = "/org/freedesktop/PolicyKit1/Authority"
AUTHORITY_INTERFACE = "org.freedesktop.PolicyKit1.Authority"
ALLOW_USER_INTERACTION = 1


@dataclass(frozen=True)
class Subject:
    """A polkit subject: its kind and details, and fds the details refer to."""

    kind: str
    details: dict[str, Variant]
    fds: list[int] = field(default_factory=list)

    @classmethod
    def bus_name(cls, name: str) -> "Subject":
        return cls("system-bus-name", {"name": Variant("s", name)})

    @classmethod
    def process(cls, pid: int, start_time: int, uid: int, pidfd: int | None) -> "Subject":
        details = {"pid": Variant("u", pid), "start-time": Variant("t", start_time),
                   "uid": Variant("i", uid)}
        if pidfd is None:
            return cls("unix-process", details)
        details["pidfd"] = Variant("h", 0)
        return cls("unix-process", details, [pidfd])


def client_subject(client: ServerClient) -> Subject:
    """The polkit subject of a socket client: its pidfd (when the kernel has one) and identity."""
    ident = client.identity
    return Subject.process(ident.pid, ident.start_time, ident.uid, client.pidfd())


class Denied(VirtError):
    """polkit said no; `challenge` when only an authentication agent could say yes."""

    def __init__(self, code: int, domain: int, detail: str, challenge: bool) -> None:
        super().__init__(code, domain, detail)
        self.challenge = challenge


class PolkitAuthority:
    """CheckAuthorization over a connection to the system bus."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def check(self, subject: Subject, action: str, details: dict[str, str], *,
                    interactive: bool, denied_code: int = ErrorCode.ACCESS_DENIED,
                    denied_domain: int = ErrorDomain.ACCESS) -> None:
        """Return if authorized; raise Denied (with libvirt's wording) otherwise."""
        message = Message(
            destination=AUTHORITY, path=AUTHORITY_PATH, interface=AUTHORITY_INTERFACE,
            member="CheckAuthorization", signature="(sa{sv})sa{ss}us",
            body=[[subject.kind, subject.details], action, details,
                  ALLOW_USER_INTERACTION if interactive else 0, ""],
            unix_fds=subject.fds)
        try:
            reply = await self.bus.call(message)
        except Exception as exc:
            raise VirtError(ErrorCode.AUTH_UNAVAILABLE, ErrorDomain.POLKIT,
                            f"polkit is not available to authorize '{action}': {exc}") from None
        if reply is None or reply.message_type == MessageType.ERROR:
            text = reply.body[0] if reply is not None and reply.body else "no reply"
            name = reply.error_name if reply is not None else "none"
            raise VirtError(ErrorCode.AUTH_UNAVAILABLE, ErrorDomain.POLKIT,
                            f"polkit could not check '{action}': {name}: {text}")
        authorized, challenge, result_details = reply.body[0]
        if authorized:
            return
        if result_details.get("polkit.dismissed"):
            raise Denied(denied_code, denied_domain, "user cancelled authentication process",
                         challenge)
        if challenge:
            raise Denied(denied_code, denied_domain,
                         f"no polkit agent available to authenticate action '{action}'", True)
        raise Denied(denied_code, denied_domain, "access denied by policy", False)

