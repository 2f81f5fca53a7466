"""A typed, blocking client of libvirt's admin program: one method per procedure.

virtd-admin, the integration tests and the D-Bus tests all talk to a daemon's
admin socket through this class, so the wire details (which procedure, which
struct, which typed-parameter keys) live in one place. URIs are resolved to
socket paths here too, with virt-admin's rules but our directories.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import unquote

from common import xdr
from common.admin import protocol as p
from common.admin.protocol import AdminProc
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.paths import Paths
from common.rpc.client import RpcClient
from common.rpc.typed_params import ParamType, build

DEFAULT_URI_ENV = "VIRTD_ADMIN_DEFAULT_URI"

ParamValue = int | float | bool | str

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_NOT_IN_URI = re.compile(r"[\x00-\x20\x7f\"<>\\^`{|}]")


def default_uri() -> str:
    """$VIRTD_ADMIN_DEFAULT_URI, else virtd's system daemon for root and the session one otherwise."""
    return os.environ.get(DEFAULT_URI_ENV) or (
        "virtd:///system" if os.geteuid() == 0 else "virtd:///session")


def socket_path(uri: str) -> str:
    """The admin socket a URI names: `?socket=PATH` verbatim, else `<daemon>:///system|session`.

    Same rules and error texts as virt-admin, but our directories:
    /run/virtd/<daemon>-admin-sock, $XDG_RUNTIME_DIR/virtd/<daemon>-admin-sock.
    """
    if _NOT_IN_URI.search(uri):
        raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, f"Unable to parse URI {uri}")
    rest, _, query = uri.partition("#")[0].partition("?")
    socket = None
    for item in re.split(r"[&;]", query) if query else ():
        name, _, value = item.partition("=")
        if unquote(name) != "socket":
            raise VirtError(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.ADMIN,
                            f"Unknown URI parameter '{unquote(name)}'")
        socket = unquote(value)
    if socket is not None:
        return socket
    match = _SCHEME.match(rest)
    if match is None:
        raise VirtError(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.ADMIN, "No URI scheme specified")
    scheme = match.group(1)
    if not scheme.startswith("virt"):
        raise VirtError(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.ADMIN,
                        f"Unsupported URI scheme '{scheme}'")
    path = _uri_path(rest[match.end():])
    if path not in ("/system", "/session"):
        raise VirtError(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.ADMIN,
                        f"Invalid URI path '{path}', try '/system'")
    runtime_dir = Paths.for_mode(path == "/system").runtime_dir
    return os.path.join(runtime_dir, f"{scheme}-admin-sock")


def _uri_path(hier: str) -> str:
    """The path of a URI's hierarchical part (after the scheme), without any authority."""
    if hier.startswith("//"):
        slash = hier.find("/", 2)
        return "" if slash < 0 else hier[slash:]
    return hier


@dataclass(frozen=True, slots=True)
class ClientRef:
    """A daemon's client as the admin program names it (what client-list shows)."""

    server: str
    id: int
    timestamp: int
    transport: int

    @property
    def transport_name(self) -> str:
        """unix, tcp or tls as virt-admin shows them ("unknown" for anything else)."""
        from common.rpc.server import Transport  # the asyncio server is slow to import

        try:
            return Transport(self.transport).name.lower()
        except ValueError:
            return "unknown"

    def to_wire(self) -> Any:
        return p.Client(p.Server(self.server), self.id, self.timestamp, self.transport)

    @classmethod
    def from_wire(cls, wire: Any) -> "ClientRef":
        return cls(wire.srv.name, wire.id, wire.timestamp, wire.transport)


def param_values(params: Iterable[Any]) -> dict[str, ParamValue]:
    """Typed parameters as field -> Python value (BOOLEAN becomes bool), in wire order."""
    values: dict[str, ParamValue] = {}
    for param in params:
        kind, value = param.value
        values[param.field] = bool(value) if kind == ParamType.BOOLEAN else value
    return values


def _uint_params(items: Iterable[tuple[str, int | None]]) -> list[Any]:
    return build(p.TypedParam, [(name, ParamType.UINT, value)
                                for name, value in items if value is not None])


class AdminClient:
    """One open admin connection; use as a context manager so the daemon sees a clean close."""

    def __init__(self, path: str, *, timeout: float | None = None) -> None:
        self.rpc = RpcClient(path, timeout=timeout)
        try:
            self.call(AdminProc.CONNECT_OPEN, p.FlagsArgs, p.FlagsArgs(0), xdr.Void)
        except BaseException:
            self.rpc.close()
            raise

    @classmethod
    def connect(cls, uri: str, *, timeout: float | None = None) -> "AdminClient":
        return cls(socket_path(uri), timeout=timeout)

    def __enter__(self) -> "AdminClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Say goodbye (CONNECT_CLOSE) like virt-admin does, then drop the socket."""
        try:
            self.call(AdminProc.CONNECT_CLOSE, xdr.Void, None, xdr.Void)
        except VirtError:
            pass
        finally:
            self.rpc.close()

    def call(self, proc: int, args_type: xdr.XdrType, args: Any, ret_type: xdr.XdrType) -> Any:
        """Any admin procedure, including a daemon's extensions (numbered from 1000)."""
        ret, _fds = self.rpc.call(p.ADMIN_PROGRAM, p.ADMIN_VERSION, int(proc), args_type, args,
                                  ret_type)
        return ret

    # -- daemon ----------------------------------------------------------------

    def lib_version(self) -> int:
        """The daemon's version, encoded major*1000000 + minor*1000 + micro."""
        return self.call(AdminProc.CONNECT_GET_LIB_VERSION, xdr.Void, None,
                         p.ConnectGetLibVersionRet).libVer

    def set_daemon_timeout(self, seconds: int) -> None:
        self.call(AdminProc.CONNECT_SET_DAEMON_TIMEOUT, p.ConnectSetDaemonTimeoutArgs,
                  p.ConnectSetDaemonTimeoutArgs(seconds, 0), xdr.Void)

    # -- servers ---------------------------------------------------------------

    def list_servers(self) -> list[str]:
        ret = self.call(AdminProc.CONNECT_LIST_SERVERS, p.ConnectListServersArgs,
                        p.ConnectListServersArgs(1, 0), p.ConnectListServersRet)
        return [srv.name for srv in ret.servers]

    def lookup_server(self, name: str) -> str:
        """The server's name as the daemon spells it; VirtError NO_SERVER when unknown."""
        return self.call(AdminProc.CONNECT_LOOKUP_SERVER, p.ConnectLookupServerArgs,
                         p.ConnectLookupServerArgs(name, 0), p.ConnectLookupServerRet).srv.name

    def threadpool_parameters(self, server: str) -> dict[str, ParamValue]:
        """minWorkers, maxWorkers, nWorkers, freeWorkers, prioWorkers, jobQueueDepth."""
        ret = self.call(AdminProc.SERVER_GET_THREADPOOL_PARAMETERS, p.ServerFlagsArgs,
                        p.ServerFlagsArgs(p.Server(server), 0), p.ServerGetThreadpoolRet)
        return param_values(ret.params)

    def set_threadpool_parameters(self, server: str, *, min_workers: int | None = None,
                                  max_workers: int | None = None,
                                  prio_workers: int | None = None) -> None:
        """Change the given limits only (sent in virt-admin's order: max, min, prio)."""
        params = _uint_params([("maxWorkers", max_workers), ("minWorkers", min_workers),
                               ("prioWorkers", prio_workers)])
        self.call(AdminProc.SERVER_SET_THREADPOOL_PARAMETERS, p.ServerSetThreadpoolArgs,
                  p.ServerSetThreadpoolArgs(p.Server(server), params, 0), xdr.Void)

    def client_limits(self, server: str) -> dict[str, ParamValue]:
        """nclients_max, nclients, nclients_unauth_max, nclients_unauth."""
        ret = self.call(AdminProc.SERVER_GET_CLIENT_LIMITS, p.ServerFlagsArgs,
                        p.ServerFlagsArgs(p.Server(server), 0), p.ServerGetClientLimitsRet)
        return param_values(ret.params)

    def set_client_limits(self, server: str, *, max_clients: int | None = None,
                          max_unauth: int | None = None) -> None:
        params = _uint_params([("nclients_max", max_clients), ("nclients_unauth_max", max_unauth)])
        self.call(AdminProc.SERVER_SET_CLIENT_LIMITS, p.ServerSetClientLimitsArgs,
                  p.ServerSetClientLimitsArgs(p.Server(server), params, 0), xdr.Void)

    def update_tls_files(self, server: str) -> None:
        self.call(AdminProc.SERVER_UPDATE_TLS_FILES, p.ServerFlagsArgs,
                  p.ServerFlagsArgs(p.Server(server), 0), xdr.Void)

    # -- clients ---------------------------------------------------------------

    def list_clients(self, server: str) -> list[ClientRef]:
        ret = self.call(AdminProc.SERVER_LIST_CLIENTS, p.ServerListClientsArgs,
                        p.ServerListClientsArgs(p.Server(server), 1, 0), p.ServerListClientsRet)
        return [ClientRef.from_wire(c) for c in ret.clients]

    def lookup_client(self, server: str, client_id: int) -> ClientRef:
        """VirtError NO_CLIENT when the server has no client with that id."""
        ret = self.call(AdminProc.SERVER_LOOKUP_CLIENT, p.ServerLookupClientArgs,
                        p.ServerLookupClientArgs(p.Server(server), client_id, 0),
                        p.ServerLookupClientRet)
        return ClientRef.from_wire(ret.clnt)

    def client_info(self, client: ClientRef) -> dict[str, ParamValue]:
        """Identity keys in the daemon's order: readonly, unix_user_id, unix_user_name, ..."""
        ret = self.call(AdminProc.CLIENT_GET_INFO, p.ClientFlagsArgs,
                        p.ClientFlagsArgs(client.to_wire(), 0), p.ClientGetInfoRet)
        return param_values(ret.params)

    def close_client(self, client: ClientRef) -> None:
        self.call(AdminProc.CLIENT_CLOSE, p.ClientFlagsArgs,
                  p.ClientFlagsArgs(client.to_wire(), 0), xdr.Void)

    # -- logging ---------------------------------------------------------------

    def logging_outputs(self) -> str:
        """The daemon's outputs, space-separated, as `P:dest[:arg]` items."""
        return self.call(AdminProc.CONNECT_GET_LOGGING_OUTPUTS, p.FlagsArgs, p.FlagsArgs(0),
                         p.ConnectGetLoggingOutputsRet).outputs

    def logging_filters(self) -> str | None:
        """The daemon's filters, each as `P:*match* ` (libvirt 9.0's form), None when empty."""
        return self.call(AdminProc.CONNECT_GET_LOGGING_FILTERS, p.FlagsArgs, p.FlagsArgs(0),
                         p.ConnectGetLoggingFiltersRet).filters

    def set_logging_outputs(self, outputs: str | None) -> None:
        """None or "" restores the daemon's default output."""
        self.call(AdminProc.CONNECT_SET_LOGGING_OUTPUTS, p.ConnectSetLoggingOutputsArgs,
                  p.ConnectSetLoggingOutputsArgs(outputs, 0), xdr.Void)

    def set_logging_filters(self, filters: str | None) -> None:
        """None or "" removes all filters."""
        self.call(AdminProc.CONNECT_SET_LOGGING_FILTERS, p.ConnectSetLoggingFiltersArgs,
                  p.ConnectSetLoggingFiltersArgs(filters, 0), xdr.Void)
