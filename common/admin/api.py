"""The admin operations of a daemon, independent of any transport.

The XDR admin program (virt-admin's protocol), our CLI's extensions and the
D-Bus mirror are thin adapters over these methods, so an operation's
semantics and errors live in exactly one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.admin.tuning import Tuning, tuning_path
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log.fields import fields
from common.log.manager import LogConfig
from common.rpc.server import Server, ServerClient
from common.rpc.workers import PoolStats

if TYPE_CHECKING:
    from common.daemon import Daemon

log = logging.getLogger("virtd.admin")


@dataclass(frozen=True, slots=True)
class ClientLimits:
    max_clients: int
    clients: int
    max_unauth: int
    unauth: int


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The identity keys libvirt reports for a client, in libvirt's order."""

    id: int
    connected_at: int
    transport: int
    readonly: bool
    uid: int
    user_name: str
    gid: int
    group_name: str
    pid: int


class AdminApi:
    """Everything an administrator can ask of or change in a running daemon."""

    def __init__(self, daemon: "Daemon") -> None:
        self.daemon = daemon

    # -- servers ---------------------------------------------------------------

    def server_names(self) -> list[str]:
        return list(self.daemon.servers)

    def server(self, name: str, *, admin_wording: bool = False) -> Server:
        """Look a server up. libvirt words the error differently in some procedures."""
        server = self.daemon.servers.get(name)
        if server is None:
            if admin_wording:
                raise VirtError(ErrorCode.NO_SERVER, ErrorDomain.ADMIN,
                                f"no server with matching name '{name}' found")
            raise VirtError(ErrorCode.NO_SERVER, ErrorDomain.RPC, f"No server named '{name}'")
        return server

    def threadpool(self, server: str) -> PoolStats:
        return self.server(server).pool.stats()

    def set_threadpool(self, server: str, *, min_workers: int | None = None,
                       max_workers: int | None = None, prio_workers: int | None = None) -> None:
        srv = self.server(server, admin_wording=True)
        srv.pool.set_limits(min_workers, max_workers, prio_workers)
        self.daemon.settings_changed(server, "threadpool")

    def client_limits(self, server: str) -> ClientLimits:
        srv = self.server(server)
        return ClientLimits(srv.limits.max_clients, len(srv.clients),
                            srv.limits.max_anonymous_clients, srv.n_clients_unauth)

    def set_client_limits(self, server: str, *, max_clients: int | None = None,
                          max_unauth: int | None = None) -> None:
        srv = self.server(server, admin_wording=True)
        srv.set_client_limits(max_clients, max_unauth)
        self.daemon.settings_changed(server, "client_limits")

    # -- clients ---------------------------------------------------------------

    def clients(self, server: str) -> list[ServerClient]:
        return list(self.server(server).clients.values())

    def client(self, server: str, client_id: int, *, admin_wording: bool = False) -> ServerClient:
        srv = self.server(server, admin_wording=admin_wording)
        client = srv.clients.get(client_id)
        if client is None:
            if admin_wording:
                raise VirtError(ErrorCode.NO_CLIENT, ErrorDomain.ADMIN,
                                f"no client with matching id '{client_id}' found")
            raise VirtError(ErrorCode.NO_CLIENT, ErrorDomain.RPC,
                            f"No client with matching ID '{client_id}'")
        return client

    def client_info(self, server: str, client_id: int) -> ClientInfo:
        client = self.client(server, client_id, admin_wording=True)
        ident = client.identity
        return ClientInfo(client.id, client.connected_at, client.transport, client.readonly,
                          ident.uid, ident.user_name, ident.gid, ident.group_name, ident.pid)

    def close_client(self, server: str, client_id: int) -> None:
        client = self.client(server, client_id)
        self.daemon.log_forced_close(client)
        client.close("closed by an administrator")

    # -- logging ---------------------------------------------------------------

    def log_outputs(self) -> tuple[str, int]:
        return self.daemon.logs.get_outputs()

    def log_filters(self) -> tuple[str | None, int]:
        return self.daemon.logs.get_filters()

    def set_log_outputs(self, outputs: str | None) -> None:
        self.daemon.logs.set_outputs(outputs)
        self.daemon.settings_changed(None, "log_outputs")

    def set_log_filters(self, filters: str | None) -> None:
        self.daemon.logs.set_filters(filters)
        self.daemon.settings_changed(None, "log_filters")

    def log_level(self) -> int:
        return int(self.daemon.logs.current().level)

    def set_log_level(self, level: int) -> None:
        self.daemon.logs.set_level(level)
        self.daemon.settings_changed(None, "log_level")

    # -- daemon ----------------------------------------------------------------

    def update_tls_files(self, server: str) -> None:
        self.server(server)
        raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                        "no tls service found, unable to update tls files")

    def set_daemon_timeout(self, seconds: int) -> None:
        self.daemon.set_idle_timeout(seconds)
        self.daemon.settings_changed(None, "timeout")

    # -- persistence (beyond libvirt) ---------------------------------------------

    def persist(self) -> str:
        """Save the live tuning so the next start applies it over the config file; returns
        the file written."""
        logs = self.daemon.logs.current()
        servers = {}
        for name, server in self.daemon.servers.items():
            pool = server.pool.stats()
            servers[name] = {"min_workers": pool.min_workers, "max_workers": pool.max_workers,
                             "prio_workers": pool.prio_workers,
                             "max_clients": server.limits.max_clients,
                             "max_unauth": server.limits.max_anonymous_clients}
        tuning = Tuning(servers, logs.level, logs.filters, logs.outputs, self.daemon.idle_timeout)
        path = tuning_path(self.daemon.paths, self.daemon.name)
        tuning.save(path)
        log.info("live tuning saved to %s", path, extra=fields(tuning_file=path))
        return path

    def apply_persisted(self) -> None:
        """At start: re-apply what `persist` saved, if anything."""
        tuning = Tuning.load(tuning_path(self.daemon.paths, self.daemon.name))
        if tuning is None:
            return
        for name, values in tuning.servers.items():
            server = self.daemon.servers.get(name)
            if server is None:
                continue
            server.pool.set_limits(values["min_workers"], values["max_workers"],
                                   values["prio_workers"])
            server.set_client_limits(values["max_clients"], values["max_unauth"])
        self.daemon.logs.apply(LogConfig(tuning.log_level, tuning.log_filters, tuning.log_outputs))
        self.daemon.idle_timeout = tuning.idle_timeout
