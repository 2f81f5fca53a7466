"""libvirt's admin program over AdminApi: all 19 procedures of libvirt 9.0.

Daemons add their own procedures (numbered from EXTENSION_BASE, which
virt-admin never sends) for operations libvirt lacks, such as lease listing.
"""

from __future__ import annotations

from typing import Any, Iterable

from common import xdr
from common.admin import protocol as p
from common.admin.api import AdminApi
from common.admin.protocol import AdminProc
from common.errors import ErrorDomain, check_flags
from common.rpc.program import Procedure, Program
from common.rpc.server import CallContext
from common.rpc.typed_params import ParamType, build, validate
from common.version import VERSION_NUMBER

EXTENSION_BASE = 1000


def _api(ctx: CallContext) -> AdminApi:
    return ctx.daemon.admin


def _no_flags(flags: int, function: str) -> None:
    check_flags(flags, 0, function, ErrorDomain.ADMIN)


def connect_open(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminDispatchConnectOpen")


def connect_close(ctx: CallContext, args: None) -> None:
    ctx.client.close_after_reply()


def get_lib_version(ctx: CallContext, args: None) -> Any:
    return p.ConnectGetLibVersionRet(VERSION_NUMBER)


def list_servers(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminConnectListServers")
    names = _api(ctx).server_names()
    servers = [p.Server(n) for n in names] if args.need_results else []
    return p.ConnectListServersRet(servers, len(names))


def lookup_server(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminConnectLookupServer")
    return p.ConnectLookupServerRet(p.Server(_api(ctx).server(args.name).name))


def get_threadpool(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminServerGetThreadPoolParameters")
    s = _api(ctx).threadpool(args.srv.name)
    return p.ServerGetThreadpoolRet(build(p.TypedParam, [
        ("minWorkers", ParamType.UINT, s.min_workers),
        ("maxWorkers", ParamType.UINT, s.max_workers),
        ("nWorkers", ParamType.UINT, s.n_workers),
        ("freeWorkers", ParamType.UINT, s.free_workers),
        ("prioWorkers", ParamType.UINT, s.prio_workers),
        ("jobQueueDepth", ParamType.UINT, s.job_queue_depth),
    ]))


def set_threadpool(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminServerSetThreadPoolParameters")
    values = validate(args.params, {"minWorkers": ParamType.UINT, "maxWorkers": ParamType.UINT,
                                    "prioWorkers": ParamType.UINT})
    _api(ctx).set_threadpool(args.srv.name, min_workers=values.get("minWorkers"),
                             max_workers=values.get("maxWorkers"),
                             prio_workers=values.get("prioWorkers"))


def _wire_client(server: str, client: Any) -> Any:
    return p.Client(p.Server(server), client.id, client.connected_at, client.transport)


def list_clients(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminServerListClients")
    clients = _api(ctx).clients(args.srv.name)
    wire = [_wire_client(args.srv.name, c) for c in clients] if args.need_results else []
    return p.ServerListClientsRet(wire, len(clients))


def lookup_client(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminServerLookupClient")
    client = _api(ctx).client(args.srv.name, args.id)
    return p.ServerLookupClientRet(_wire_client(args.srv.name, client))


def client_info(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminClientGetInfo")
    info = _api(ctx).client_info(args.clnt.srv.name, args.clnt.id)
    return p.ClientGetInfoRet(build(p.TypedParam, [
        ("readonly", ParamType.BOOLEAN, info.readonly),
        ("unix_user_id", ParamType.INT, info.uid),
        ("unix_user_name", ParamType.STRING, info.user_name),
        ("unix_group_id", ParamType.INT, info.gid),
        ("unix_group_name", ParamType.STRING, info.group_name),
        ("unix_process_id", ParamType.INT, info.pid),
    ]))


def client_close(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminClientClose")
    _api(ctx).close_client(args.clnt.srv.name, args.clnt.id)


def get_client_limits(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminServerGetClientLimits")
    limits = _api(ctx).client_limits(args.srv.name)
    return p.ServerGetClientLimitsRet(build(p.TypedParam, [
        ("nclients_max", ParamType.UINT, limits.max_clients),
        ("nclients", ParamType.UINT, limits.clients),
        ("nclients_unauth_max", ParamType.UINT, limits.max_unauth),
        ("nclients_unauth", ParamType.UINT, limits.unauth),
    ]))


def set_client_limits(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminServerSetClientLimits")
    values = validate(args.params, {"nclients_max": ParamType.UINT,
                                    "nclients_unauth_max": ParamType.UINT})
    _api(ctx).set_client_limits(args.srv.name, max_clients=values.get("nclients_max"),
                                max_unauth=values.get("nclients_unauth_max"))


def get_log_outputs(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminConnectGetLoggingOutputs")
    return p.ConnectGetLoggingOutputsRet(*_api(ctx).log_outputs())


def get_log_filters(ctx: CallContext, args: Any) -> Any:
    _no_flags(args.flags, "adminConnectGetLoggingFilters")
    return p.ConnectGetLoggingFiltersRet(*_api(ctx).log_filters())


def set_log_outputs(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminConnectSetLoggingOutputs")
    _api(ctx).set_log_outputs(args.outputs)


def set_log_filters(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminConnectSetLoggingFilters")
    _api(ctx).set_log_filters(args.filters)


def update_tls_files(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminServerUpdateTlsFiles")
    _api(ctx).update_tls_files(args.srv.name)


def set_daemon_timeout(ctx: CallContext, args: Any) -> None:
    _no_flags(args.flags, "adminConnectSetDaemonTimeout")
    _api(ctx).set_daemon_timeout(args.timeout)


_VIEW = ("admin.view",)
_TUNE = ("admin.tune",)
_LOGGING = ("admin.logging",)
_DISCONNECT = ("admin.disconnect",)


def _proc(proc: AdminProc, args: xdr.XdrType, ret: xdr.XdrType, handler: Any, acl: tuple[str, ...],
          api: str) -> Procedure:
    return Procedure(int(proc), f"ADMIN_PROC_{proc.name}", args, ret, handler, api=api, acl=acl)


BASE_PROCEDURES = (
    _proc(AdminProc.CONNECT_OPEN, p.FlagsArgs, xdr.Void, connect_open, _VIEW, "virAdmConnectOpen"),
    _proc(AdminProc.CONNECT_CLOSE, xdr.Void, xdr.Void, connect_close, _VIEW, "virAdmConnectClose"),
    _proc(AdminProc.CONNECT_GET_LIB_VERSION, xdr.Void, p.ConnectGetLibVersionRet, get_lib_version,
          _VIEW, "virAdmConnectGetLibVersion"),
    _proc(AdminProc.CONNECT_LIST_SERVERS, p.ConnectListServersArgs, p.ConnectListServersRet,
          list_servers, _VIEW, "virAdmConnectListServers"),
    _proc(AdminProc.CONNECT_LOOKUP_SERVER, p.ConnectLookupServerArgs, p.ConnectLookupServerRet,
          lookup_server, _VIEW, "virAdmConnectLookupServer"),
    _proc(AdminProc.SERVER_GET_THREADPOOL_PARAMETERS, p.ServerFlagsArgs,
          p.ServerGetThreadpoolRet, get_threadpool, _VIEW, "virAdmServerGetThreadPoolParameters"),
    _proc(AdminProc.SERVER_SET_THREADPOOL_PARAMETERS, p.ServerSetThreadpoolArgs, xdr.Void,
          set_threadpool, _TUNE, "virAdmServerSetThreadPoolParameters"),
    _proc(AdminProc.SERVER_LIST_CLIENTS, p.ServerListClientsArgs, p.ServerListClientsRet,
          list_clients, _VIEW, "virAdmServerListClients"),
    _proc(AdminProc.SERVER_LOOKUP_CLIENT, p.ServerLookupClientArgs, p.ServerLookupClientRet,
          lookup_client, _VIEW, "virAdmServerLookupClient"),
    _proc(AdminProc.CLIENT_GET_INFO, p.ClientFlagsArgs, p.ClientGetInfoRet, client_info, _VIEW,
          "virAdmClientGetInfo"),
    _proc(AdminProc.CLIENT_CLOSE, p.ClientFlagsArgs, xdr.Void, client_close, _DISCONNECT,
          "virAdmClientClose"),
    _proc(AdminProc.SERVER_GET_CLIENT_LIMITS, p.ServerFlagsArgs, p.ServerGetClientLimitsRet,
          get_client_limits, _VIEW, "virAdmServerGetClientLimits"),
    _proc(AdminProc.SERVER_SET_CLIENT_LIMITS, p.ServerSetClientLimitsArgs, xdr.Void,
          set_client_limits, _TUNE, "virAdmServerSetClientLimits"),
    _proc(AdminProc.CONNECT_GET_LOGGING_OUTPUTS, p.FlagsArgs, p.ConnectGetLoggingOutputsRet,
          get_log_outputs, _VIEW, "virAdmConnectGetLoggingOutputs"),
    _proc(AdminProc.CONNECT_GET_LOGGING_FILTERS, p.FlagsArgs, p.ConnectGetLoggingFiltersRet,
          get_log_filters, _VIEW, "virAdmConnectGetLoggingFilters"),
    _proc(AdminProc.CONNECT_SET_LOGGING_OUTPUTS, p.ConnectSetLoggingOutputsArgs, xdr.Void,
          set_log_outputs, _LOGGING, "virAdmConnectSetLoggingOutputs"),
    _proc(AdminProc.CONNECT_SET_LOGGING_FILTERS, p.ConnectSetLoggingFiltersArgs, xdr.Void,
          set_log_filters, _LOGGING, "virAdmConnectSetLoggingFilters"),
    _proc(AdminProc.SERVER_UPDATE_TLS_FILES, p.ServerFlagsArgs, xdr.Void, update_tls_files, _TUNE,
          "virAdmServerUpdateTlsFiles"),
    _proc(AdminProc.CONNECT_SET_DAEMON_TIMEOUT, p.ConnectSetDaemonTimeoutArgs, xdr.Void,
          set_daemon_timeout, _TUNE, "virAdmConnectSetDaemonTimeout"),
)


def admin_program(extensions: Iterable[Procedure] = ()) -> Program:
    """The admin program with a daemon's own extension procedures appended."""
    extra = list(extensions)
    for proc in extra:
        if proc.number < EXTENSION_BASE:
            raise ValueError(f"extension procedure {proc.name} must be numbered >= {EXTENSION_BASE}")
    return Program("admin", p.ADMIN_PROGRAM, p.ADMIN_VERSION, [*BASE_PROCEDURES, *extra])
