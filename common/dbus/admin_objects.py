"""The admin API as D-Bus objects: one daemon object, one object per server.

    /org/virtd/<daemon>                 org.virtd.Daemon1  (logging, idle timeout, persist)
    /org/virtd/<daemon>/server/<name>   org.virtd.Server1  (workers, client limits, clients)

Every member calls AdminApi, the same methods the admin socket's procedures
call, so both transports share semantics and errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbus_fast import Variant

from common.admin.api import AdminApi, ClientLimits
from common.rpc.workers import PoolStats
from common.dbus.interface import Arg, DBusObject, Interface, Method, Property, Signal

if TYPE_CHECKING:
    from common.daemon import Daemon

VIEW = "org.virtd.admin.view"
TUNE = "org.virtd.admin.tune"
LOGGING = "org.virtd.admin.logging"
DISCONNECT = "org.virtd.admin.disconnect-clients"
LEASE_VIEW = "org.virtd.leases.view"
LEASE_RELEASE = "org.virtd.leases.release"

ACTION_OF_ACL = {"admin.view": VIEW, "admin.tune": TUNE, "admin.logging": LOGGING,
                 "admin.disconnect": DISCONNECT, "admin.lease_view": LEASE_VIEW,
                 "admin.lease_release": LEASE_RELEASE}
"""The polkit action guarding each admin procedure's ACL permission (daemon extensions
included: virtlockd's forced lease release)."""


def bus_name(daemon: str) -> str:
    return f"org.virtd.{daemon}1"


def daemon_path(daemon: str) -> str:
    return f"/org/virtd/{daemon}"


def server_path(daemon: str, server: str) -> str:
    return f"{daemon_path(daemon)}/server/{server}"


def _optional(text: str) -> str | None:
    return text or None


def daemon_interface(api: AdminApi) -> Interface:
    return Interface(
        "org.virtd.Daemon1",
        "Daemon-wide administration: logging, idle exit, persisting live tuning.",
        methods=(
            Method("ListServers", (), (Arg("servers", "as"),), VIEW,
                   "Names of the daemon's servers, as virt-admin server-list shows them.",
                   lambda: [api.server_names()]),
            Method("Persist", (), (Arg("file", "s"),), TUNE,
                   "Save the live tuning (workers, client limits, logging, idle timeout) so the "
                   "next start applies it over the config file; returns the file written.",
                   lambda: [api.persist()]),
        ),
        properties=(
            Property("LogLevel", "u", "Global log priority: 1 debug, 2 info, 3 warning, 4 error.",
                     VIEW, api.log_level, LOGGING, lambda v: api.set_log_level(int(v))),
            Property("LogFilters", "s", "Log filters in libvirt's syntax, e.g. '1:rpc 4:util' "
                     "(empty: none).", VIEW, lambda: api.daemon.logs.current().filters or "",
                     LOGGING, lambda v: api.set_log_filters(_optional(v))),
            Property("LogOutputs", "s", "Log outputs in libvirt's syntax, e.g. "
                     "'3:journald 1:file:/var/log/virtd/debug.log' (empty: the default).",
                     VIEW, lambda: api.log_outputs()[0], LOGGING,
                     lambda v: api.set_log_outputs(_optional(v))),
            Property("IdleTimeout", "u", "Seconds idle before a socket-activated daemon exits "
                     "(0: never).", VIEW, lambda: api.daemon.idle_timeout, TUNE,
                     lambda v: api.set_daemon_timeout(int(v))),
        ),
    )


def _client_entry(client: Any) -> list[Any]:
    return [client.id, client.connected_at, int(client.transport), client.identity.pid,
            client.identity.uid, bool(client.readonly)]


def _client_info(api: AdminApi, server: str, client_id: int) -> dict[str, Variant]:
    info = api.client_info(server, client_id)
    return {"id": Variant("t", info.id), "connection_time": Variant("x", info.connected_at),
            "transport": Variant("u", info.transport), "readonly": Variant("b", info.readonly),
            "unix_user_id": Variant("i", info.uid), "unix_user_name": Variant("s", info.user_name),
            "unix_group_id": Variant("i", info.gid),
            "unix_group_name": Variant("s", info.group_name),
            "unix_process_id": Variant("i", info.pid)}


def server_interface(api: AdminApi, name: str) -> Interface:
    def pool() -> PoolStats:
        """Read at call time, never cached: the figures are live."""
        return api.threadpool(name)

    def limits() -> ClientLimits:
        return api.client_limits(name)

    return Interface(
        "org.virtd.Server1",
        f"Server '{name}': its worker pool, client limits and connected clients.",
        methods=(
            Method("ListClients", (), (Arg("clients", "a(txuuub)"),), VIEW,
                   "Connected clients: id, connected since (epoch s), transport (0 unix), pid, "
                   "uid, read-only.", lambda: [[_client_entry(c) for c in api.clients(name)]]),
            Method("GetClientInfo", (Arg("id", "t"),), (Arg("info", "a{sv}"),), VIEW,
                   "Identity of one client, with virt-admin client-info's keys.",
                   lambda cid: [_client_info(api, name, cid)]),
            Method("CloseClient", (Arg("id", "t"),), (), DISCONNECT,
                   "Disconnect one client at once.",
                   lambda cid: api.close_client(name, cid) or []),
        ),
        properties=(
            Property("MinWorkers", "u", "Workers kept even when idle.", VIEW,
                     lambda: pool().min_workers, TUNE,
                     lambda v: api.set_threadpool(name, min_workers=int(v))),
            Property("MaxWorkers", "u", "Most workers the pool grows to.", VIEW,
                     lambda: pool().max_workers, TUNE,
                     lambda v: api.set_threadpool(name, max_workers=int(v))),
            Property("PrioWorkers", "u", "Workers reserved for high-priority calls.", VIEW,
                     lambda: pool().prio_workers, TUNE,
                     lambda v: api.set_threadpool(name, prio_workers=int(v))),
            Property("Workers", "u", "Workers alive now.", VIEW, lambda: pool().n_workers,
                     emits_changed=False),
            Property("FreeWorkers", "u", "Workers idle now.", VIEW, lambda: pool().free_workers,
                     emits_changed=False),
            Property("JobQueueDepth", "u", "Calls waiting for a worker now.", VIEW,
                     lambda: pool().job_queue_depth, emits_changed=False),
            Property("MaxClients", "u", "Most clients at once; at the limit new connections "
                     "wait.", VIEW, lambda: limits().max_clients, TUNE,
                     lambda v: api.set_client_limits(name, max_clients=int(v))),
            Property("MaxUnauthClients", "u", "Most clients still authenticating at once.",
                     VIEW, lambda: limits().max_unauth, TUNE,
                     lambda v: api.set_client_limits(name, max_unauth=int(v))),
            Property("Clients", "u", "Clients connected now.", VIEW, lambda: limits().clients,
                     emits_changed=False),
            Property("UnauthClients", "u", "Clients still authenticating now.", VIEW,
                     lambda: limits().unauth, emits_changed=False),
        ),
        signals=(
            Signal("ClientConnected", (Arg("id", "t"), Arg("pid", "u"), Arg("uid", "u"),
                                       Arg("readonly", "b")),
                   "A client connected to this server."),
            Signal("ClientDisconnected", (Arg("id", "t"),),
                   "A client left this server or was disconnected."),
        ),
    )


SETTINGS_PROPERTIES = {
    "threadpool": ("org.virtd.Server1", ("MinWorkers", "MaxWorkers", "PrioWorkers")),
    "client_limits": ("org.virtd.Server1", ("MaxClients", "MaxUnauthClients")),
    "log_level": ("org.virtd.Daemon1", ("LogLevel",)),
    "log_filters": ("org.virtd.Daemon1", ("LogFilters",)),
    "log_outputs": ("org.virtd.Daemon1", ("LogOutputs",)),
    "timeout": ("org.virtd.Daemon1", ("IdleTimeout",)),
}
"""Which properties a `Daemon.settings_changed(server, what)` touches."""


def admin_objects(daemon: "Daemon", extra: list[Interface]) -> list[DBusObject]:
    """The daemon object (with `extra` daemon-specific interfaces) and one object per server."""
    objects = [DBusObject(daemon_path(daemon.name), [daemon_interface(daemon.admin), *extra])]
    for name in daemon.servers:
        objects.append(DBusObject(server_path(daemon.name, name),
                                  [server_interface(daemon.admin, name)]))
    return objects
