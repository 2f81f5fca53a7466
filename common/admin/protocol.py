"""Wire declarations of libvirt's admin program (reference §3)."""

from __future__ import annotations

from enum import IntEnum

from common import xdr
from common.rpc.typed_params import typed_param_types

ADMIN_PROGRAM = 0x06900690
ADMIN_VERSION = 1
STRING_MAX = 4194304
SERVER_LIST_MAX = 16384
THREADPOOL_PARAMETERS_MAX = 32
CLIENT_LIST_MAX = 16384
CLIENT_INFO_PARAMETERS_MAX = 64
SERVER_CLIENT_LIMITS_MAX = 32


class AdminProc(IntEnum):
    CONNECT_OPEN = 1
    CONNECT_CLOSE = 2
    CONNECT_GET_LIB_VERSION = 3
    CONNECT_LIST_SERVERS = 4
    CONNECT_LOOKUP_SERVER = 5
    SERVER_GET_THREADPOOL_PARAMETERS = 6
    SERVER_SET_THREADPOOL_PARAMETERS = 7
    SERVER_LIST_CLIENTS = 8
    SERVER_LOOKUP_CLIENT = 9
    CLIENT_GET_INFO = 10
    CLIENT_CLOSE = 11
    SERVER_GET_CLIENT_LIMITS = 12
    SERVER_SET_CLIENT_LIMITS = 13
    CONNECT_GET_LOGGING_OUTPUTS = 14
    CONNECT_GET_LOGGING_FILTERS = 15
    CONNECT_SET_LOGGING_OUTPUTS = 16
    CONNECT_SET_LOGGING_FILTERS = 17
    SERVER_UPDATE_TLS_FILES = 18
    CONNECT_SET_DAEMON_TIMEOUT = 19


String = xdr.String(STRING_MAX)
OptString = xdr.Optional(String)
TypedParamValue, TypedParam = typed_param_types(STRING_MAX)

Server = xdr.struct_type("admin_nonnull_server", name=String)
Client = xdr.struct_type("admin_nonnull_client", srv=Server, id=xdr.UHyper,
                         timestamp=xdr.Hyper, transport=xdr.UInt)


def params(maximum: int) -> xdr.Array:
    return xdr.Array(TypedParam, maximum)


FlagsArgs = xdr.struct_type("admin_flags_args", flags=xdr.UInt)
ConnectGetLibVersionRet = xdr.struct_type("admin_connect_get_lib_version_ret", libVer=xdr.UHyper)
ConnectListServersArgs = xdr.struct_type("admin_connect_list_servers_args",
                                         need_results=xdr.UInt, flags=xdr.UInt)
ConnectListServersRet = xdr.struct_type("admin_connect_list_servers_ret",
                                        servers=xdr.Array(Server, SERVER_LIST_MAX), ret=xdr.UInt)
ConnectLookupServerArgs = xdr.struct_type("admin_connect_lookup_server_args",
                                          name=String, flags=xdr.UInt)
ConnectLookupServerRet = xdr.struct_type("admin_connect_lookup_server_ret", srv=Server)
ServerFlagsArgs = xdr.struct_type("admin_server_flags_args", srv=Server, flags=xdr.UInt)
ServerGetThreadpoolRet = xdr.struct_type("admin_server_get_threadpool_parameters_ret",
                                         params=params(THREADPOOL_PARAMETERS_MAX))
ServerSetThreadpoolArgs = xdr.struct_type("admin_server_set_threadpool_parameters_args",
                                          srv=Server, params=params(THREADPOOL_PARAMETERS_MAX),
                                          flags=xdr.UInt)
ServerListClientsArgs = xdr.struct_type("admin_server_list_clients_args", srv=Server,
                                        need_results=xdr.UInt, flags=xdr.UInt)
ServerListClientsRet = xdr.struct_type("admin_server_list_clients_ret",
                                       clients=xdr.Array(Client, CLIENT_LIST_MAX), ret=xdr.UInt)
ServerLookupClientArgs = xdr.struct_type("admin_server_lookup_client_args", srv=Server,
                                         id=xdr.UHyper, flags=xdr.UInt)
ServerLookupClientRet = xdr.struct_type("admin_server_lookup_client_ret", clnt=Client)
ClientFlagsArgs = xdr.struct_type("admin_client_flags_args", clnt=Client, flags=xdr.UInt)
ClientGetInfoRet = xdr.struct_type("admin_client_get_info_ret",
                                   params=params(CLIENT_INFO_PARAMETERS_MAX))
ServerGetClientLimitsRet = xdr.struct_type("admin_server_get_client_limits_ret",
                                           params=params(SERVER_CLIENT_LIMITS_MAX))
ServerSetClientLimitsArgs = xdr.struct_type("admin_server_set_client_limits_args", srv=Server,
                                            params=params(SERVER_CLIENT_LIMITS_MAX),
                                            flags=xdr.UInt)
ConnectGetLoggingOutputsRet = xdr.struct_type("admin_connect_get_logging_outputs_ret",
                                              outputs=String, noutputs=xdr.UInt)
ConnectGetLoggingFiltersRet = xdr.struct_type("admin_connect_get_logging_filters_ret",
                                              filters=OptString, nfilters=xdr.UInt)
ConnectSetLoggingOutputsArgs = xdr.struct_type("admin_connect_set_logging_outputs_args",
                                               outputs=OptString, flags=xdr.UInt)
ConnectSetLoggingFiltersArgs = xdr.struct_type("admin_connect_set_logging_filters_args",
                                               filters=OptString, flags=xdr.UInt)
ConnectSetDaemonTimeoutArgs = xdr.struct_type("admin_connect_set_daemon_timeout_args",
                                              timeout=xdr.UInt, flags=xdr.UInt)
