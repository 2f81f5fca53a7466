"""libvirt's remote program: the subset virsh and libvirt-python need (reference §6).

Handlers are thin: they resolve the connection and the domain, call the
driver, and shape the reply. Anything not in the table answers "unknown
procedure" so clients fall back to older calls.
"""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

from common import xdr
from common.dbus.polkit import client_subject
from common.errors import ErrorCode, ErrorDomain, VirtError, check_flags
from common.rpc.program import Procedure, Program
from common.rpc.server import AuthType, CallContext, ServerClient, StateRestorer
from common.version import VERSION_NUMBER
from daemons.virtd.domain.events import DomainRef
from daemons.virtd.domain.objects import DomainObject
from daemons.virtd.domain.state import EVENT_ID_LIFECYCLE
from daemons.virtd.drivers.base import START_AUTODESTROY, Driver, XML_SECURE
from daemons.virtd.remote import protocol as p
from daemons.virtd.remote.connection import DriverTable, EventSink, RemoteConnection
from daemons.virtd.remote.protocol import RemoteProc

FEATURE_FD_PASSING = 8
FEATURE_TYPED_PARAM_STRING = 9
FEATURE_PROGRAM_KEEPALIVE = 10
FEATURE_REMOTE_EVENT_CALLBACK = 14
FEATURE_REMOTE_CLOSE_CALLBACK = 15
# CONNECT_OPEN carries the client's remote-driver open flags, not virConnectOpen's: read-only,
# per-user socket, autostart a session daemon (a non-root virsh sends autostart). Only
# read-only means anything to the daemon; the others must not make it refuse the client.
CONNECT_RO = 1
OPEN_USER = 2
OPEN_AUTOSTART = 4
GET_MESSAGES_ALLOWED = 1 | 2

STATE_KEY = "remote"


def _conn(ctx: CallContext) -> RemoteConnection:
    conn = ctx.client.state.get(STATE_KEY)
    if conn is None:
        conn = RemoteConnection(ctx.client, ctx.daemon.loop)
        ctx.client.state[STATE_KEY] = conn
        ctx.client.on_close(lambda _client: conn.close())
    return conn


def _driver(ctx: CallContext) -> Driver:
    return _conn(ctx).require_driver()


def connection_driver(ctx: CallContext) -> Driver | None:
    """The driver a client's connection has open, if any (for access checks)."""
    conn = ctx.client.state.get(STATE_KEY)
    return conn.driver if conn is not None else None


def _wire(obj: DomainObject | DomainRef) -> Any:
    return p.Domain(obj.name, obj.uuid.bytes, obj.id)


def _domain(ctx: CallContext, dom: Any) -> DomainObject:
    """The domain a client's handle names, looked up by uuid as libvirt's drivers do."""
    return _driver(ctx).lookup_uuid(UUID(bytes=dom.uuid), dom.name)


# -- connection ----------------------------------------------------------------------


def connect_open(drivers: DriverTable, ctx: CallContext, args: Any) -> None:
    check_flags(args.flags, CONNECT_RO | OPEN_USER | OPEN_AUTOSTART, "virConnectOpenAuth",
                ErrorDomain.REMOTE)
    conn = _conn(ctx)
    if conn.driver is not None:
        raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.REMOTE, "connection already open")
    conn.driver = drivers.open(args.name)
    if args.flags & CONNECT_RO:
        ctx.client.readonly = True


def connect_close(ctx: CallContext, args: None) -> None:
    _conn(ctx).close()
    ctx.client.close_after_reply()


def get_type(ctx: CallContext, args: None) -> Any:
    return p.ConnectGetTypeRet(_driver(ctx).type_name)


def get_version(ctx: CallContext, args: None) -> Any:
    return p.ConnectGetVersionRet(_driver(ctx).hypervisor_version)


def get_lib_version(ctx: CallContext, args: None) -> Any:
    return p.ConnectGetLibVersionRet(VERSION_NUMBER)


def get_hostname(ctx: CallContext, args: None) -> Any:
    return p.ConnectGetHostnameRet(_driver(ctx).hostname())


def get_uri(ctx: CallContext, args: None) -> Any:
    return p.ConnectGetUriRet(_driver(ctx).uri)


def supports_feature(ctx: CallContext, args: Any) -> Any:
    feature = args.feature
    if feature == FEATURE_PROGRAM_KEEPALIVE:
        supported = ctx.client.keepalive.start(ctx.server.keepalive)
    else:
        supported = feature in (FEATURE_TYPED_PARAM_STRING, FEATURE_REMOTE_EVENT_CALLBACK,
                                FEATURE_REMOTE_CLOSE_CALLBACK)
    return p.SupportsFeatureRet(int(supported))


def auth_list(ctx: CallContext, args: None) -> Any:
    service_auth = ctx.client.service.auth
    types = [] if ctx.client.authenticated else [int(service_auth)]
    return p.AuthListRet(types or [int(AuthType.NONE)])


async def auth_polkit(ctx: CallContext, args: None) -> Any:
    """Authenticate a socket client with polkit: org.virtd.unix.manage on the read-write
    socket, org.virtd.unix.monitor on the read-only one (an agent may be asked)."""
    client = ctx.client
    if not client.authenticated:
        authority = ctx.daemon.dbus.authority if ctx.daemon.dbus is not None else None
        if authority is None:
            raise VirtError(ErrorCode.AUTH_UNAVAILABLE, ErrorDomain.AUTH,
                            "polkit cannot be reached on the system bus")
        action = "org.virtd.unix.monitor" if client.readonly else "org.virtd.unix.manage"
        await authority.check(client_subject(client), action, {}, interactive=True,
                              denied_code=ErrorCode.AUTH_FAILED, denied_domain=ErrorDomain.AUTH)
        client.authenticated = True
        ctx.server.check_limits()
    return p.AuthPolkitRet(1)


def register_close_callback(ctx: CallContext, args: None) -> None:
    _driver(ctx)
    _conn(ctx).close_callback = True


def unregister_close_callback(ctx: CallContext, args: None) -> None:
    _driver(ctx)
    _conn(ctx).close_callback = False


def security_model(ctx: CallContext, args: None) -> Any:
    return p.SecurityModelRet(*_driver(ctx).security_model())


# -- listing and lookups ------------------------------------------------------------------


def list_all(ctx: CallContext, args: Any) -> Any:
    found = _driver(ctx).list_all(args.flags)
    return p.ListAllRet([_wire(o) for o in found] if args.need_results else [], len(found))


def num_of_domains(ctx: CallContext, args: None) -> Any:
    return p.IntRet(sum(1 for o in _driver(ctx).domains.all() if o.active))


def list_domains(ctx: CallContext, args: Any) -> Any:
    ids = sorted(o.id for o in _driver(ctx).domains.all() if o.active)
    return p.IdsRet(ids[: max(args.maxids, 0)])


def num_of_defined(ctx: CallContext, args: None) -> Any:
    return p.IntRet(sum(1 for o in _driver(ctx).domains.all() if not o.active))


def list_defined(ctx: CallContext, args: Any) -> Any:
    names = sorted(o.name for o in _driver(ctx).domains.all() if not o.active)
    return p.NamesRet(names[: max(args.maxnames, 0)])


def lookup_by_id(ctx: CallContext, args: Any) -> Any:
    return p.DomainRet(_wire(_driver(ctx).domains.by_id(args.id)))


def lookup_by_name(ctx: CallContext, args: Any) -> Any:
    return p.DomainRet(_wire(_driver(ctx).domains.by_name(args.name)))


def lookup_by_uuid(ctx: CallContext, args: Any) -> Any:
    return p.DomainRet(_wire(_driver(ctx).lookup_uuid(UUID(bytes=args.uuid))))


# -- domain queries ---------------------------------------------------------------------------


def get_info(ctx: CallContext, args: Any) -> Any:
    info = _driver(ctx).info(_domain(ctx, args.dom))
    return p.GetInfoRet(info.state, info.max_mem_kib, info.memory_kib, info.vcpus,
                        info.cpu_time_ns)


def get_state(ctx: CallContext, args: Any) -> Any:
    check_flags(args.flags, 0, "virDomainGetState", ErrorDomain.DOMAIN)
    obj = _domain(ctx, args.dom)
    return p.GetStateRet(int(obj.state), obj.reason)


def get_xml_desc(ctx: CallContext, args: Any) -> Any:
    if args.flags & XML_SECURE and ctx.client.readonly:
        raise VirtError(ErrorCode.OPERATION_DENIED, ErrorDomain.DOMAIN,
                        "virDomainGetXMLDesc with secure flag")
    return p.GetXmlDescRet(_driver(ctx).xml_desc(_domain(ctx, args.dom), args.flags))


def get_os_type(ctx: CallContext, args: Any) -> Any:
    return p.GetOsTypeRet(_driver(ctx).os_type(_domain(ctx, args.dom)))


def get_autostart(ctx: CallContext, args: Any) -> Any:
    return p.GetAutostartRet(int(_domain(ctx, args.dom).autostart))


def is_active(ctx: CallContext, args: Any) -> Any:
    return p.IntRet(int(_domain(ctx, args.dom).active))


def is_persistent(ctx: CallContext, args: Any) -> Any:
    return p.IntRet(int(_domain(ctx, args.dom).persistent))


def has_managed_save(ctx: CallContext, args: Any) -> Any:
    check_flags(args.flags, 0, "virDomainHasManagedSaveImage", ErrorDomain.DOMAIN)
    _domain(ctx, args.dom)
    return p.IntRet(0)


def snapshot_num(ctx: CallContext, args: Any) -> Any:
    check_flags(args.flags, 0x3FF, "virDomainSnapshotNum", ErrorDomain.DOMAIN)
    _domain(ctx, args.dom)
    return p.IntRet(0)


def security_label(ctx: CallContext, args: Any) -> Any:
    label, enforcing = _driver(ctx).security_label(_domain(ctx, args.dom))
    return p.SecurityLabelRet(label, int(enforcing))


def get_messages(ctx: CallContext, args: Any) -> Any:
    check_flags(args.flags, GET_MESSAGES_ALLOWED, "virDomainGetMessages", ErrorDomain.DOMAIN)
    return p.MessagesRet(list(_domain(ctx, args.dom).messages))


# -- domain changes -------------------------------------------------------------------------


def define_xml(ctx: CallContext, args: Any) -> Any:
    return p.DomainRet(_wire(_driver(ctx).define(args.xml, 0)))


def define_xml_flags(ctx: CallContext, args: Any) -> Any:
    return p.DomainRet(_wire(_driver(ctx).define(args.xml, args.flags)))


def undefine(ctx: CallContext, args: Any) -> None:
    _driver(ctx).undefine(_domain(ctx, args.dom), 0)


def undefine_flags(ctx: CallContext, args: Any) -> None:
    _driver(ctx).undefine(_domain(ctx, args.dom), args.flags)


def _start(ctx: CallContext, dom: Any, flags: int) -> DomainObject:
    obj = _domain(ctx, dom)
    _driver(ctx).create(obj, flags)
    if flags & START_AUTODESTROY:
        _conn(ctx).autodestroy.add(obj.uuid)
    return obj


def create(ctx: CallContext, args: Any) -> None:
    _start(ctx, args.dom, 0)


def create_with_flags(ctx: CallContext, args: Any) -> Any:
    return p.DomainRet(_wire(_start(ctx, args.dom, args.flags)))


def create_xml(ctx: CallContext, args: Any) -> Any:
    obj = _driver(ctx).create_xml(args.xml, args.flags)
    if args.flags & START_AUTODESTROY:
        _conn(ctx).autodestroy.add(obj.uuid)
    return p.DomainRet(_wire(obj))


def destroy(ctx: CallContext, args: Any) -> None:
    _driver(ctx).destroy(_domain(ctx, args.dom), 0)


def destroy_flags(ctx: CallContext, args: Any) -> None:
    _driver(ctx).destroy(_domain(ctx, args.dom), args.flags)


def shutdown(ctx: CallContext, args: Any) -> None:
    _driver(ctx).shutdown(_domain(ctx, args.dom), 0)


def shutdown_flags(ctx: CallContext, args: Any) -> None:
    _driver(ctx).shutdown(_domain(ctx, args.dom), args.flags)


def reboot(ctx: CallContext, args: Any) -> None:
    _driver(ctx).reboot(_domain(ctx, args.dom), args.flags)


def suspend(ctx: CallContext, args: Any) -> None:
    _driver(ctx).suspend(_domain(ctx, args.dom))


def resume(ctx: CallContext, args: Any) -> None:
    _driver(ctx).resume(_domain(ctx, args.dom))


def set_autostart(ctx: CallContext, args: Any) -> None:
    _driver(ctx).set_autostart(_domain(ctx, args.dom), bool(args.autostart))


# -- events ------------------------------------------------------------------------------


def event_register(ctx: CallContext, args: Any) -> Any:
    if args.eventID != EVENT_ID_LIFECYCLE:
        raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.REMOTE,
                        f"unsupported event ID {args.eventID}")
    domain = UUID(bytes=args.dom.uuid) if args.dom is not None else None
    sink = lifecycle_sink(ctx.client)
    return p.EventRegisterRet(_conn(ctx).register_events(args.eventID, domain, sink))


def lifecycle_sink(client: ServerClient) -> EventSink:
    """Sends lifecycle events to `client` as libvirt's callback messages."""

    def send(callback_id: int, dom: DomainRef, event: int, detail: int) -> None:
        client.send_event(p.REMOTE_PROGRAM, p.REMOTE_VERSION,
                          RemoteProc.DOMAIN_EVENT_CALLBACK_LIFECYCLE, p.LifecycleMsg,
                          p.LifecycleMsg(callback_id, _wire(dom), event, detail))

    return send


def connection_restorer(drivers: DriverTable) -> StateRestorer:
    """Rebuilds a client's remote connection after a re-exec."""

    def restore(client: ServerClient, data: dict[str, Any]) -> RemoteConnection:
        return RemoteConnection.from_json(client, data, drivers, lifecycle_sink(client))

    return restore


def event_deregister(ctx: CallContext, args: Any) -> None:
    _conn(ctx).deregister_events(args.callbackID)


# -- the table -------------------------------------------------------------------------------

_R = True  # may a read-only client call it


def _proc(proc: RemoteProc, args: xdr.XdrType, ret: xdr.XdrType, handler: Any, api: str,
          acl: tuple[str, ...], *, readonly_ok: bool = False, blocking: bool = False,
          priority: bool = True, needs_auth: bool = True) -> Procedure:
    return Procedure(int(proc), f"REMOTE_PROC_{proc.name}", args, ret, handler, api=api,
                     readonly_ok=readonly_ok, priority=priority, blocking=blocking,
                     needs_auth=needs_auth, acl=acl)


V = xdr.Void
_CONNECT = ("connect.getattr",)
_SEARCH = ("connect.search_domains",)
_READ = ("domain.read",)

PROCEDURES = (
    _proc(RemoteProc.CONNECT_CLOSE, V, V, connect_close, "virConnectClose", _CONNECT,
          readonly_ok=_R),
    _proc(RemoteProc.CONNECT_GET_TYPE, V, p.ConnectGetTypeRet, get_type, "virConnectGetType",
          _CONNECT, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_GET_VERSION, V, p.ConnectGetVersionRet, get_version,
          "virConnectGetVersion", _CONNECT, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_GET_LIB_VERSION, V, p.ConnectGetLibVersionRet, get_lib_version,
          "virConnectGetLibVersion", _CONNECT, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_GET_HOSTNAME, V, p.ConnectGetHostnameRet, get_hostname,
          "virConnectGetHostname", _CONNECT, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_GET_URI, V, p.ConnectGetUriRet, get_uri, "virConnectGetURI",
          _CONNECT, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_SUPPORTS_FEATURE, p.SupportsFeatureArgs, p.SupportsFeatureRet,
          supports_feature, "virConnectSupportsFeature", _CONNECT, readonly_ok=_R,
          needs_auth=False),
    _proc(RemoteProc.AUTH_LIST, V, p.AuthListRet, auth_list, "virConnectAuthList", _CONNECT,
          readonly_ok=_R, needs_auth=False),
    _proc(RemoteProc.AUTH_POLKIT, V, p.AuthPolkitRet, auth_polkit, "virConnectAuthPolkit",
          _CONNECT, readonly_ok=_R, needs_auth=False),
    _proc(RemoteProc.CONNECT_REGISTER_CLOSE_CALLBACK, V, V, register_close_callback,
          "virConnectRegisterCloseCallback", ("connect.read",), readonly_ok=_R),
    _proc(RemoteProc.CONNECT_UNREGISTER_CLOSE_CALLBACK, V, V, unregister_close_callback,
          "virConnectUnregisterCloseCallback", ("connect.read",), readonly_ok=_R),
    _proc(RemoteProc.NODE_GET_SECURITY_MODEL, V, p.SecurityModelRet, security_model,
          "virNodeGetSecurityModel", ("connect.read",), readonly_ok=_R),
    _proc(RemoteProc.CONNECT_LIST_ALL_DOMAINS, p.ListAllArgs, p.ListAllRet, list_all,
          "virConnectListAllDomains", _SEARCH, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_NUM_OF_DOMAINS, V, p.IntRet, num_of_domains,
          "virConnectNumOfDomains", _SEARCH, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_LIST_DOMAINS, p.MaxIdsArgs, p.IdsRet, list_domains,
          "virConnectListDomains", _SEARCH, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_NUM_OF_DEFINED_DOMAINS, V, p.IntRet, num_of_defined,
          "virConnectNumOfDefinedDomains", _SEARCH, readonly_ok=_R),
    _proc(RemoteProc.CONNECT_LIST_DEFINED_DOMAINS, p.MaxNamesArgs, p.NamesRet, list_defined,
          "virConnectListDefinedDomains", _SEARCH, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_LOOKUP_BY_ID, p.LookupByIdArgs, p.DomainRet, lookup_by_id,
          "virDomainLookupByID", ("domain.getattr",), readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_LOOKUP_BY_NAME, p.LookupByNameArgs, p.DomainRet, lookup_by_name,
          "virDomainLookupByName", ("domain.getattr",), readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_LOOKUP_BY_UUID, p.LookupByUuidArgs, p.DomainRet, lookup_by_uuid,
          "virDomainLookupByUUID", ("domain.getattr",), readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_GET_INFO, p.DomainArgs, p.GetInfoRet, get_info, "virDomainGetInfo",
          _READ, readonly_ok=_R, priority=False),
    _proc(RemoteProc.DOMAIN_GET_STATE, p.DomainFlagsArgs, p.GetStateRet, get_state,
          "virDomainGetState", _READ, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_GET_XML_DESC, p.DomainFlagsArgs, p.GetXmlDescRet, get_xml_desc,
          "virDomainGetXMLDesc", _READ, readonly_ok=_R, priority=False),
    _proc(RemoteProc.DOMAIN_GET_OS_TYPE, p.DomainArgs, p.GetOsTypeRet, get_os_type,
          "virDomainGetOSType", _READ, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_GET_AUTOSTART, p.DomainArgs, p.GetAutostartRet, get_autostart,
          "virDomainGetAutostart", _READ, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_IS_ACTIVE, p.DomainArgs, p.IntRet, is_active, "virDomainIsActive",
          _READ, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_IS_PERSISTENT, p.DomainArgs, p.IntRet, is_persistent,
          "virDomainIsPersistent", _READ, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_HAS_MANAGED_SAVE_IMAGE, p.DomainFlagsArgs, p.IntRet,
          has_managed_save, "virDomainHasManagedSaveImage", _READ, readonly_ok=_R,
          priority=False),
    _proc(RemoteProc.DOMAIN_SNAPSHOT_NUM, p.DomainFlagsArgs, p.IntRet, snapshot_num,
          "virDomainSnapshotNum", _READ, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_GET_SECURITY_LABEL, p.DomainArgs, p.SecurityLabelRet,
          security_label, "virDomainGetSecurityLabel", _READ, readonly_ok=_R),
    _proc(RemoteProc.DOMAIN_GET_MESSAGES, p.DomainFlagsArgs, p.MessagesRet, get_messages,
          "virDomainGetMessages", _READ, readonly_ok=_R, priority=False),
    _proc(RemoteProc.DOMAIN_DEFINE_XML, p.XmlArgs, p.DomainRet, define_xml,
          "virDomainDefineXML", ("domain.write", "domain.save"), blocking=True),
    _proc(RemoteProc.DOMAIN_DEFINE_XML_FLAGS, p.XmlFlagsArgs, p.DomainRet, define_xml_flags,
          "virDomainDefineXMLFlags", ("domain.write", "domain.save"), blocking=True),
    _proc(RemoteProc.DOMAIN_UNDEFINE, p.DomainArgs, V, undefine, "virDomainUndefine",
          ("domain.delete",), blocking=True),
    _proc(RemoteProc.DOMAIN_UNDEFINE_FLAGS, p.DomainFlagsArgs, V, undefine_flags,
          "virDomainUndefineFlags", ("domain.delete",), blocking=True),
    _proc(RemoteProc.DOMAIN_CREATE, p.DomainArgs, V, create, "virDomainCreate",
          ("domain.start",), blocking=True, priority=False),
    _proc(RemoteProc.DOMAIN_CREATE_WITH_FLAGS, p.DomainFlagsArgs, p.DomainRet,
          create_with_flags, "virDomainCreateWithFlags", ("domain.start",), blocking=True,
          priority=False),
    _proc(RemoteProc.DOMAIN_CREATE_XML, p.XmlFlagsArgs, p.DomainRet, create_xml,
          "virDomainCreateXML", ("domain.write", "domain.start"), blocking=True,
          priority=False),
    _proc(RemoteProc.DOMAIN_DESTROY, p.DomainArgs, V, destroy, "virDomainDestroy",
          ("domain.stop",), blocking=True),
    _proc(RemoteProc.DOMAIN_DESTROY_FLAGS, p.DomainFlagsArgs, V, destroy_flags,
          "virDomainDestroyFlags", ("domain.stop",), blocking=True),
    _proc(RemoteProc.DOMAIN_SHUTDOWN, p.DomainArgs, V, shutdown, "virDomainShutdown",
          ("domain.init_control",), blocking=True, priority=False),
    _proc(RemoteProc.DOMAIN_SHUTDOWN_FLAGS, p.DomainFlagsArgs, V, shutdown_flags,
          "virDomainShutdownFlags", ("domain.init_control",), blocking=True, priority=False),
    _proc(RemoteProc.DOMAIN_REBOOT, p.RebootArgs, V, reboot, "virDomainReboot",
          ("domain.init_control",), blocking=True, priority=False),
    _proc(RemoteProc.DOMAIN_SUSPEND, p.DomainArgs, V, suspend, "virDomainSuspend",
          ("domain.suspend",), blocking=True, priority=False),
    _proc(RemoteProc.DOMAIN_RESUME, p.DomainArgs, V, resume, "virDomainResume",
          ("domain.suspend",), blocking=True, priority=False),
    _proc(RemoteProc.DOMAIN_SET_AUTOSTART, p.SetAutostartArgs, V, set_autostart,
          "virDomainSetAutostart", ("domain.write",), blocking=True),
    _proc(RemoteProc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, p.EventRegisterArgs,
          p.EventRegisterRet, event_register, "virConnectDomainEventRegisterAny", _SEARCH,
          readonly_ok=_R),
    _proc(RemoteProc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, p.EventDeregisterArgs, V,
          event_deregister, "virConnectDomainEventDeregisterAny", ("connect.read",),
          readonly_ok=_R),
)



def remote_program(drivers: DriverTable) -> Program:
    """The remote program serving `drivers` (CONNECT_OPEN picks one by URI)."""
    open_proc = _proc(RemoteProc.CONNECT_OPEN, p.ConnectOpenArgs, V,
                      functools.partial(connect_open, drivers), "virConnectOpen", _CONNECT,
                      readonly_ok=_R)
    return Program("remote", p.REMOTE_PROGRAM, p.REMOTE_VERSION, [open_proc, *PROCEDURES])
