"""The daemon's admin API on the bus: dispatch, polkit checks, signals, PropertiesChanged.

We handle method calls with a raw message handler rather than dbus-fast's
decorated interfaces, because every call must be authorized against the
caller's bus name, which the decorated API does not expose. Every member is
checked with CheckAuthorization before it runs; nothing is reachable without
its declared action.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from dbus_fast import BusType, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from common.dbus.admin_objects import SETTINGS_PROPERTIES, admin_objects, bus_name, server_path
from common.dbus.interface import Caller, DBusObject, Interface, Property, introspect
from common.dbus.polkit import Denied, PolkitAuthority, Subject
from common.errors import ErrorCode, VirtError
from common.log.fields import fields
from common.rpc.server import ServerClient

if TYPE_CHECKING:
    from common.daemon import Daemon

log = logging.getLogger("virtd.dbus.mirror")

PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
ERR_ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
ERR_INTERACTIVE = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
ERR_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
ERR_UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
ERR_UNKNOWN_INTERFACE = "org.freedesktop.DBus.Error.UnknownInterface"
ERR_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"
ERR_INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
ERR_FAILED = "org.freedesktop.DBus.Error.Failed"


def virt_error_name(err: VirtError) -> str:
    """org.virtd.Error.<CodeName>, e.g. org.virtd.Error.InvalidArg for code 8."""
    try:
        code = ErrorCode(err.code).name
    except ValueError:
        return "org.virtd.Error.Failed"
    return "org.virtd.Error." + "".join(part.capitalize() for part in code.split("_"))


class _Refusal(Exception):
    """A reply error decided before any operation ran."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


class DBusMirror:
    """Owns the daemon's bus name and serves its admin objects."""

    def __init__(self, daemon: "Daemon", extra_interfaces: list[Interface]) -> None:
        self.daemon = daemon
        self.extra_interfaces = extra_interfaces
        self.bus: MessageBus | None = None
        self.authority: PolkitAuthority | None = None
        self.objects: dict[str, DBusObject] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def bus_type(privileged: bool) -> BusType | None:
        if privileged:
            return BusType.SYSTEM
        return BusType.SESSION if os.environ.get("DBUS_SESSION_BUS_ADDRESS") else None

    async def start(self) -> None:
        """Connect and claim our name; without a bus the daemon simply runs without D-Bus."""
        bus_type = self.bus_type(self.daemon.paths.privileged)
        if bus_type is None:
            log.info("no D-Bus bus for a session daemon: the D-Bus mirror is off")
            return
        try:
            self.bus = await MessageBus(bus_type=bus_type, negotiate_unix_fd=True).connect()
            self.authority = PolkitAuthority(await self._polkit_bus(bus_type))
        except Exception as exc:
            log.warning("no D-Bus connection (no polkit, no machined, no D-Bus API): %s", exc)
            self.stop()
            self.authority = None
            return
        self.objects = {o.path: o for o in admin_objects(self.daemon, self.extra_interfaces)}
        self.bus.add_message_handler(self._on_message)
        try:
            # Claim the name only once we can answer: a call that D-Bus-activated us is
            # delivered the moment we own it.
            await self.bus.request_name(bus_name(self.daemon.name))
        except Exception as exc:
            # The connection still serves polkit checks and machined; only the API is off.
            log.warning("cannot own %s, the D-Bus admin API is off (is polkit/org.virtd.conf "
                        "installed?): %s", bus_name(self.daemon.name), exc)
            return
        self.daemon.settings_hooks.append(self._settings_changed)
        for server in self.daemon.servers.values():
            server.client_hooks.append(self._client_event)
        log.info("serving the admin API on D-Bus as %s", bus_name(self.daemon.name))

    async def _polkit_bus(self, bus_type: BusType) -> MessageBus:
        """The system bus, where polkit lives (a session daemon connects to it separately)."""
        assert self.bus is not None
        if bus_type == BusType.SYSTEM:
            return self.bus
        try:
            return await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()
        except Exception as exc:
            log.warning("no system bus for polkit: every D-Bus call will be refused: %s", exc)
            return self.bus

    def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()
            self.bus = None

    # -- dispatch ------------------------------------------------------------------

    def _children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0] for p in self.objects if p.startswith(prefix)}
        return sorted(names)

    def _on_message(self, msg: Message) -> Message | bool | None:
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        obj = self.objects.get(msg.path)
        if msg.interface == INTROSPECTABLE and msg.member == "Introspect":
            children = self._children(msg.path)
            if obj is None and not children:
                return None
            return Message.new_method_return(msg, "s", [introspect(obj, children)])
        if obj is None or msg.interface not in (PROPERTIES, *(i.name for i in obj.interfaces)):
            return None
        task = asyncio.ensure_future(self._serve(msg, obj))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _serve(self, msg: Message, obj: DBusObject) -> None:
        assert self.bus is not None
        try:
            reply = await self._call(msg, obj)
        except _Refusal as refusal:
            reply = Message.new_error(msg, refusal.name, refusal.text)
        except Denied as denied:
            interactive = bool(msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
            name = ERR_INTERACTIVE if denied.challenge and not interactive else ERR_ACCESS_DENIED
            reply = Message.new_error(msg, name, denied.message)
        except VirtError as err:
            reply = Message.new_error(msg, virt_error_name(err), err.message)
        except Exception:
            log.exception("D-Bus call %s.%s failed", msg.interface, msg.member)
            reply = Message.new_error(msg, ERR_FAILED, f"internal error in {msg.member}")
        if not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            self.bus.send(reply)

    async def _authorize(self, msg: Message, action: str) -> None:
        assert self.authority is not None
        interactive = bool(msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
        await self.authority.check(Subject.bus_name(msg.sender), action, {},
                                   interactive=interactive)

    async def _call(self, msg: Message, obj: DBusObject) -> Message:
        if msg.interface == PROPERTIES:
            return await self._properties(msg, obj)
        iface = obj.interface(msg.interface)
        method = iface.method(msg.member) if iface else None
        if method is None:
            raise _Refusal(ERR_UNKNOWN_METHOD, f"no method {msg.member} on {msg.interface}")
        if msg.signature != method.in_signature:
            raise _Refusal(ERR_INVALID_ARGS, f"{method.name} takes ({method.in_signature}), "
                                             f"got ({msg.signature})")
        await self._authorize(msg, method.action)
        if method.wants_caller:
            result = method.call(*msg.body, caller=await self._caller(msg.sender))
        else:
            result = method.call(*msg.body)
        self._audit(msg, method.action, method.name)
        return Message.new_method_return(msg, method.out_signature, result)

    async def _caller(self, sender: str) -> Caller:
        """Pid and uid of a bus name, from the bus daemon (GetConnectionCredentials)."""
        assert self.bus is not None
        reply = await self.bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="GetConnectionCredentials",
            signature="s", body=[sender]))
        answered = reply is not None and reply.message_type == MessageType.METHOD_RETURN
        creds = reply.body[0] if answered else {}
        pid = creds.get("ProcessID")
        uid = creds.get("UnixUserID")
        return Caller(sender, pid.value if pid else 0, uid.value if uid else -1)

    def _property(self, obj: DBusObject, iface_name: str, name: str) -> Property:
        iface = obj.interface(iface_name)
        if iface is None:
            raise _Refusal(ERR_UNKNOWN_INTERFACE, f"no interface {iface_name} at {obj.path}")
        prop = iface.property(name)
        if prop is None:
            raise _Refusal(ERR_UNKNOWN_PROPERTY, f"no property {name} on {iface_name}")
        return prop

    async def _properties(self, msg: Message, obj: DBusObject) -> Message:
        if msg.member == "Get" and msg.signature == "ss":
            prop = self._property(obj, *msg.body)
            await self._authorize(msg, prop.read_action)
            return Message.new_method_return(msg, "v", [Variant(prop.signature, prop.get())])
        if msg.member == "GetAll" and msg.signature == "s":
            iface = obj.interface(msg.body[0])
            if iface is None:
                raise _Refusal(ERR_UNKNOWN_INTERFACE, f"no interface {msg.body[0]} at {obj.path}")
            for action in sorted({p.read_action for p in iface.properties}):
                await self._authorize(msg, action)
            values = {p.name: Variant(p.signature, p.get()) for p in iface.properties}
            return Message.new_method_return(msg, "a{sv}", [values])
        if msg.member == "Set" and msg.signature == "ssv":
            iface_name, name, value = msg.body
            prop = self._property(obj, iface_name, name)
            if prop.set is None or prop.write_action is None:
                raise _Refusal(ERR_READ_ONLY, f"property {name} is read-only")
            if value.signature != prop.signature:
                raise _Refusal(ERR_INVALID_ARGS, f"property {name} has type {prop.signature}, "
                                                 f"got {value.signature}")
            await self._authorize(msg, prop.write_action)
            prop.set(value.value)
            self._audit(msg, prop.write_action, f"Set {name}")
            return Message.new_method_return(msg)
        raise _Refusal(ERR_UNKNOWN_METHOD, f"no method {msg.member}({msg.signature}) on "
                                           f"{PROPERTIES}")

    def _audit(self, msg: Message, action: str, what: str) -> None:
        log.info("D-Bus caller %s: %s (%s)", msg.sender, what, action,
                 extra=fields(dbus_sender=msg.sender, polkit_action=action))

    # -- signals ---------------------------------------------------------------------

    def _settings_changed(self, server: str | None, what: str) -> None:
        if self.bus is None or what not in SETTINGS_PROPERTIES:
            return
        iface_name, names = SETTINGS_PROPERTIES[what]
        path = server_path(self.daemon.name, server) if server else f"/org/virtd/{self.daemon.name}"
        obj = self.objects.get(path)
        iface = obj.interface(iface_name) if obj else None
        if iface is None:
            return
        changed = {}
        for name in names:
            prop = iface.property(name)
            if prop is not None:
                changed[name] = Variant(prop.signature, prop.get())
        self.bus.send(Message.new_signal(path, PROPERTIES, "PropertiesChanged", "sa{sv}as",
                                         [iface_name, changed, []]))

    def _client_event(self, event: str, client: ServerClient) -> None:
        if self.bus is None:
            return
        path = server_path(self.daemon.name, client.server.name)
        if event == "connect":
            body: list[Any] = [client.id, client.identity.pid, client.identity.uid,
                               bool(client.readonly)]
            self.bus.send(Message.new_signal(path, "org.virtd.Server1", "ClientConnected",
                                             "tuub", body))
        else:
            self.bus.send(Message.new_signal(path, "org.virtd.Server1", "ClientDisconnected",
                                             "t", [client.id]))

