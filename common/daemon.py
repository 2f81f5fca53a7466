"""The daemon main loop shared by virtd, virtlockd and virtlogd.

A Daemon owns the event loop, its servers and their sockets (bound by hand or
taken from socket activation), signals, sd_notify, the watchdog and idle exit.
Daemon-specific parts plug in through hooks: `holders` report what keeps the
daemon alive (VMs, leases, pipes), `reload_hooks` run on SIGHUP.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import stat
from dataclasses import dataclass, field
from typing import Callable, Iterable

from common.admin.api import AdminApi
from common.dbus.interface import Interface
from common.dbus.mirror import DBusMirror
from common.errors import VirtError
from common.fdstore import FdStore
from common.log.fields import fields
from common.log.manager import LogManager
from common.log.message_ids import MessageId
from common.paths import Paths
from common.rpc.keepalive import KeepaliveSettings
from common.rpc.program import Program
from common.reexec import (
    FdKeeper,
    SavedState,
    StateProvider,
    exec_self,
    read_state,
    state_path,
    write_state,
)
from common.rpc.server import (
    AccessChecker,
    AuthType,
    Limits,
    Server,
    ServerClient,
    Service,
    StateRestorer,
)
from common.systemd import notify
from common.systemd.activation import Activation

log = logging.getLogger("virtd.daemon")

REEXEC = "SIGUSR1"


@dataclass(frozen=True, slots=True)
class SocketSpec:
    """One listening socket: which server it feeds, its file name and how clients are treated.

    `fd_names` are the LISTEN_FDNAMES it accepts under socket activation: our
    units' explicit FileDescriptorName= first, then systemd's default (the unit name).
    """

    server: str
    filename: str
    fd_names: tuple[str, ...]
    mode: int
    programs: tuple[Program, ...]
    readonly: bool = False
    own_uid_only: bool = False
    auth: AuthType = AuthType.NONE
    max_client_requests: int = 5


@dataclass(slots=True)
class Holder:
    """Something that keeps the daemon from idling out, with a label for STATUS=."""

    label: str
    count: Callable[[], int]


@dataclass
class ServerSpec:
    name: str
    limits: Limits
    min_workers: int
    max_workers: int
    prio_workers: int
    keepalive: KeepaliveSettings
    sockets: list[SocketSpec] = field(default_factory=list)


class DaemonError(Exception):
    """The daemon cannot start (sockets in use, bad activation); the message says why."""


class Daemon:
    """One running daemon process."""

    def __init__(self, name: str, paths: Paths, logs: LogManager, *,
                 idle_timeout: int = 0) -> None:
        self.name = name
        self.paths = paths
        self.logs = logs
        self.loop = asyncio.new_event_loop()
        self.servers: dict[str, Server] = {}
        self.admin = AdminApi(self)
        self.holders: list[Holder] = []
        self.reload_hooks: list[Callable[[], None]] = []
        self.start_hooks: list[Callable[[], None]] = []
        """Run once the sockets are open (and fds from systemd's fd store are known), before
        the first client is served: virtlockd and virtlogd adopt their parked fds here."""
        self.settings_hooks: list[Callable[[str | None, str], None]] = []
        self.stop_hooks: list[Callable[[], None]] = []
        self.idle_timeout = idle_timeout
        self.socket_activated = False
        self.state_providers: list[StateProvider] = []
        self.client_state_restorers: dict[str, StateRestorer] = {}
        self.fdstore_prefixes: tuple[str, ...] = ()
        """Names under which this daemon parks fds in systemd's fd store (set before sockets open)."""
        self.fdstore = FdStore()
        self.dbus_interfaces: list[Interface] = []
        """Daemon-specific D-Bus interfaces on the daemon object (e.g. virtlockd's leases)."""
        self.dbus: DBusMirror | None = None
        self.access: AccessChecker | None = None
        """Per-procedure access control for the daemon's main server (virtd's access_drivers)."""
        self._idle_timer: asyncio.TimerHandle | None = None
        self._stopping: asyncio.Event | None = None
        self._exit_reason = "stopped"
        self._pidfile_fd: int | None = None

    # -- set-up ------------------------------------------------------------------

    def add_server(self, spec: ServerSpec) -> Server:
        server = Server(self, spec.name, limits=spec.limits, min_workers=spec.min_workers,
                        max_workers=spec.max_workers, prio_workers=spec.prio_workers,
                        keepalive=spec.keepalive)
        if spec.name == self.name:
            server.access = self.access
        self.servers[spec.name] = server
        return server

    def open_sockets(self, specs: Iterable[ServerSpec], sock_dir: str) -> bool:
        """Create the servers and their services: from a previous image's state after a
        re-exec, else from socket activation, else by binding them ourselves.
        Returns whether we took over from a previous image (a re-exec)."""
        saved = read_state(state_path(self.paths.runtime_dir, self.name))
        if saved is not None:
            self._restore(specs, saved)
            return True
        activation = Activation.from_environment()
        self.socket_activated = activation is not None
        if activation is None:
            os.makedirs(sock_dir, mode=0o755, exist_ok=True)
        else:
            self.fdstore = FdStore(activation.claim_stored(self.fdstore_prefixes))
        for spec in specs:
            server = self.add_server(spec)
            for sock_spec in spec.sockets:
                path = os.path.join(sock_dir, sock_spec.filename)
                if activation is not None:
                    socks = activation.claim(*sock_spec.fd_names)
                    unlink = None
                    if not socks:
                        log.info("socket %s not passed by systemd: service disabled",
                                 sock_spec.filename)
                else:
                    socks = [bind_unix_socket(path, sock_spec.mode,
                                              spec.limits.max_queued_clients)]
                    unlink = path
                for sock in socks:
                    _add_service(server, sock_spec, sock, unlink)
        if activation is not None:
            activation.complete()
        return False

    def _restore(self, specs: Iterable[ServerSpec], saved: SavedState) -> None:
        """Adopt the servers, sockets, clients and provider state of our previous image."""
        self.socket_activated = saved.socket_activated
        self.idle_timeout = saved.idle_timeout
        for provider in self.state_providers:
            provider.restore(saved.providers.get(provider.key, {}))
        for spec in specs:
            server = self.add_server(spec)
            state = saved.servers.get(spec.name)
            if state is None:
                continue
            server.restore_settings(state)
            by_name = {svc["name"]: svc for svc in state["services"]}
            for sock_spec in spec.sockets:
                svc = by_name.pop(sock_spec.filename, None)
                if svc is None:
                    continue
                sock = socket.socket(fileno=svc["fd"])
                os.set_inheritable(sock.fileno(), False)
                _add_service(server, sock_spec, sock, svc["unlink_path"])
            for svc in by_name.values():
                os.close(svc["fd"])
            server.restore_clients(state["clients"], self.client_state_restorers)
        log.info("%s re-executed: %d clients kept", self.name, self.client_count())

    def _reexec_blocker(self) -> str | None:
        """Why a re-exec cannot carry everything over, or None if it can."""
        for server in self.servers.values():
            for client in server.clients.values():
                for key, value in client.state.items():
                    if key not in self.client_state_restorers or not hasattr(value, "to_json"):
                        return f"client {client.id} holds state {key!r} that cannot be carried over"
        return None

    def _reexec(self) -> None:
        """Hand everything to a fresh image of ourselves (SIGUSR1): nothing is closed."""
        keeper = FdKeeper()
        servers = {name: server.save_state(keeper) for name, server in self.servers.items()}
        providers = {p.key: p.save(keeper) for p in self.state_providers}
        write_state(state_path(self.paths.runtime_dir, self.name), servers, providers,
                    self.idle_timeout, self.socket_activated)
        for server in self.servers.values():
            server.pool.stop()
        exec_self()

    def lock_pidfile(self, path: str) -> None:
        """Hold an exclusive lock on the pid file for our lifetime: one instance at a time."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DaemonError(f"another {self.name} is already running (pid file {path} is locked)")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._pidfile_fd = fd

    # -- idle exit ---------------------------------------------------------------

    def client_count(self) -> int:
        return sum(len(s.clients) for s in self.servers.values())

    def held(self) -> int:
        return sum(h.count() for h in self.holders)

    def set_idle_timeout(self, seconds: int) -> None:
        self.idle_timeout = seconds
        self.activity_changed()

    def activity_changed(self) -> None:
        """Re-arm or cancel the idle timer after clients or held things changed."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self.idle_timeout > 0 and self.socket_activated and self._stopping is not None:
            if self.client_count() == 0 and self.held() == 0:
                self._idle_timer = self.loop.call_later(self.idle_timeout, self._idle_expired)
        self.update_status()

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if self.client_count() == 0 and self.held() == 0:
            log.info("no clients and nothing held for %d s: exiting", self.idle_timeout)
            self.request_stop("idle")

    # -- status and events ---------------------------------------------------------

    def status_line(self) -> str:
        parts = [f"clients: {self.client_count()}"]
        main = self.servers.get(self.name)
        if main is not None and not main.pool.synchronous:
            stats = main.pool.stats()
            parts.append(f"workers: {stats.n_workers - stats.free_workers} busy, "
                         f"{stats.free_workers} free, {stats.job_queue_depth} queued")
        parts.extend(f"{h.label}: {h.count()}" for h in self.holders)
        return ", ".join(parts)

    def update_status(self) -> None:
        if notify.under_systemd():
            notify.status(self.status_line())

    def settings_changed(self, server: str | None, what: str) -> None:
        """A live setting changed (through any path): tell listeners such as D-Bus."""
        for hook in self.settings_hooks:
            hook(server, what)
        self.update_status()

    def log_forced_close(self, client: ServerClient) -> None:
        log.warning("client %d (pid %d, uid %d) closed by an administrator", client.id,
                    client.identity.pid, client.identity.uid,
                    extra=fields(message_id=MessageId.CLIENT_FORCED_CLOSE, client_id=client.id,
                                server=client.server.name))

    # -- running -----------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        self._exit_reason = reason
        if self._stopping is not None:
            self._stopping.set()

    def reload(self) -> None:
        notify.reloading()
        log.info("reloading configuration", extra=fields(message_id=MessageId.DAEMON_RELOAD))
        for hook in self.reload_hooks:
            try:
                hook()
            except VirtError as err:
                log.error("reload failed: %s", err.message,
                          extra=fields(error_code=err.code, error_domain=err.domain))
        notify.ready(self.status_line())

    def run(self) -> str:
        """Serve until stopped; returns why we stopped."""
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(self._main())

    async def _main(self) -> str:
        self._stopping = asyncio.Event()
        loop = self.loop
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        loop.add_signal_handler(signal.SIGUSR1, self.request_stop, REEXEC)
        watchdog = notify.watchdog_interval()
        if watchdog is not None:
            self._schedule_watchdog(watchdog)
        # D-Bus first: polkit (socket auth, access_drivers) is reached through it, and a
        # socket-activated client's first call is served as soon as the servers start.
        for hook in self.start_hooks:
            hook()
        self.fdstore.close_unclaimed()
        self.dbus = DBusMirror(self, self.dbus_interfaces)
        await self.dbus.start()
        for server in self.servers.values():
            server.start()
        log.info("%s started (pid %d)", self.name, os.getpid(),
                 extra=fields(message_id=MessageId.DAEMON_START))
        notify.ready(self.status_line())
        self.activity_changed()
        while True:
            await self._stopping.wait()
            if self._exit_reason != REEXEC:
                break
            blocker = self._reexec_blocker()
            if blocker is None:
                log.info("%s re-executing itself, keeping every socket, client and resource",
                         self.name, extra=fields(message_id=MessageId.DAEMON_RELOAD))
                self._reexec()
            log.error("re-exec refused: %s", blocker)
            self._stopping.clear()
        notify.stopping()
        if self.dbus is not None:
            self.dbus.stop()
        for hook in self.stop_hooks:
            hook()
        for server in self.servers.values():
            server.close()
        log.info("%s stopping: %s", self.name, self._exit_reason,
                 extra=fields(message_id=MessageId.DAEMON_STOP))
        return self._exit_reason

    def _schedule_watchdog(self, interval: float) -> None:
        """Ping from the event loop itself, so a hung loop stops the pings."""
        notify.watchdog_ping()
        self.loop.call_later(interval, self._schedule_watchdog, interval)


def _add_service(server: Server, spec: SocketSpec, sock: socket.socket,
                 unlink_path: str | None) -> None:
    server.add_service(Service(
        server, sock, name=spec.filename, readonly=spec.readonly, auth=spec.auth,
        max_client_requests=spec.max_client_requests, programs=spec.programs,
        own_uid_only=spec.own_uid_only, unlink_path=unlink_path))


def bind_unix_socket(path: str, mode: int, backlog: int) -> socket.socket:
    """Bind and listen at `path`, replacing a stale socket but never a live one."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise DaemonError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
        else:
            raise DaemonError(f"{path} is in use by another running daemon")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old_umask = os.umask(0o777 & ~mode)
    try:
        sock.bind(path)
    except OSError as err:
        sock.close()
        raise DaemonError(f"cannot bind {path}: {err.strerror}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, mode)
    sock.listen(backlog if backlog > 0 else 30)
    return sock

