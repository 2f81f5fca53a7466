"""Servers, their listening services and their clients, and call dispatch.

A Server (e.g. "virtd" or "admin") owns services (listening sockets), the
clients accepted on them, its limits, a worker pool and keepalive settings.
Every call is dispatched from the program tables: keepalive first, then
program and procedure lookup, auth, read-only, argument decoding, and the
handler inline, on a worker, or as a coroutine.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol

from common import xdr
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log.fields import fields, log_error
from common.log.message_ids import MessageId
from common.rpc.channel import Channel
from common.rpc.identity import PeerIdentity, peer_identity, peer_pidfd
from common.rpc.keepalive import PONG_PACKET, Keepalive, KeepaliveSettings, is_keepalive
from common.rpc.program import Procedure, Program, Reply
from common.rpc.protocol import (
    KEEPALIVE_PROC_PING,
    Header,
    Message,
    MessageStatus,
    MessageType,
    encode_error,
    encode_packet,
    rpc_error,
)
from common.rpc.workers import WorkerPool
from common.reexec import FdKeeper

if TYPE_CHECKING:
    from common.daemon import Daemon

log = logging.getLogger("virtd.rpc.server")

class AccessChecker(Protocol):
    """Decides, before a procedure runs, whether the caller holds the permissions in its row."""

    async def check(self, ctx: "CallContext", args: Any) -> None:
        """Return if allowed; raise VirtError (ACCESS_DENIED) if not."""


StateRestorer = Callable[["ServerClient", dict[str, Any]], Any]
"""Rebuilds a program's per-client state (client.state[key]) after a re-exec."""


class Transport(IntEnum):
    """libvirt's virClientTransport."""

    UNIX = 0
    TCP = 1
    TLS = 2


class AuthType(IntEnum):
    """libvirt's remote_auth_type."""

    NONE = 0
    SASL = 1
    POLKIT = 2


@dataclass
class Limits:
    """A server's client limits (the admin API changes them live)."""

    max_clients: int
    max_anonymous_clients: int
    max_queued_clients: int


@dataclass(slots=True)
class CallContext:
    """What a handler may know about the call it serves."""

    server: "Server"
    client: "ServerClient"
    procedure: Procedure
    header: Header
    fds: list[int] = field(default_factory=list)
    """Descriptors that came with the call. A handler that keeps one removes it from this
    list; the rest are closed once the handler returns, as libvirt frees them with the
    message, so a client cannot leak descriptors into the daemon."""

    @property
    def daemon(self) -> "Daemon":
        return self.server.daemon

    def close_unclaimed_fds(self) -> None:
        while self.fds:
            os.close(self.fds.pop())


class ServerClient:
    """One accepted connection."""

    def __init__(self, server: "Server", service: "Service", sock: socket.socket,
                 identity: PeerIdentity, client_id: int) -> None:
        self.server = server
        self.service = service
        self.id = client_id
        self.identity = identity
        self.connected_at = int(time.time())
        self.transport = Transport.UNIX
        self.readonly = service.readonly
        # The daemon's own uid is trusted on every socket, as the socket's owner (libvirt
        # does the same); others must complete the service's authentication first.
        self.authenticated = service.auth == AuthType.NONE or identity.uid == os.geteuid()
        self.max_requests = service.max_client_requests
        self.inflight = 0
        self.close_requested = False
        self.state: dict[str, Any] = {}
        """Per-program private data, e.g. the remote program's open connection."""
        loop = server.daemon.loop
        self.channel = Channel(sock, loop, self._on_message, self._on_close)
        self.keepalive = Keepalive(loop, self.channel.send, self._keepalive_timeout)
        self._close_hooks: list[Callable[["ServerClient"], None]] = []
        self._pidfd: int | None = None

    def pidfd(self) -> int | None:
        """The peer's pidfd, taken on first use and kept until the connection closes."""
        if self._pidfd is None and not self.closed:
            self._pidfd = peer_pidfd(self.channel.sock)
        return self._pidfd

    def start(self) -> None:
        self.channel.start()

    def save_state(self, keeper: FdKeeper) -> dict[str, Any]:
        """Detach from the loop and describe this connection for the next image."""
        pending = self.channel.detach_for_reexec()
        keepalive = self.keepalive.settings
        return {
            "id": self.id,
            "fd": keeper.keep(self.channel.sock.fileno()),
            "service": self.service.name,
            "readonly": self.readonly,
            "authenticated": self.authenticated,
            "connected_at": self.connected_at,
            "keepalive": [keepalive.interval, keepalive.count] if keepalive else None,
            "pending": base64.b64encode(pending).decode(),
            "state": {key: value.to_json() for key, value in self.state.items()},
        }

    @classmethod
    def restore(cls, server: "Server", service: "Service", saved: dict[str, Any],
                restorers: Mapping[str, StateRestorer]) -> "ServerClient":
        sock = socket.socket(fileno=saved["fd"])
        os.set_inheritable(sock.fileno(), False)
        client = cls(server, service, sock, peer_identity(sock), saved["id"])
        client.connected_at = saved["connected_at"]
        client.readonly = saved["readonly"]
        client.authenticated = saved["authenticated"]
        client.channel.prefill(base64.b64decode(saved["pending"]))
        if saved["keepalive"]:
            client.keepalive.start(KeepaliveSettings(*saved["keepalive"]))
        for key, data in saved["state"].items():
            restorer = restorers.get(key)
            if restorer is None:
                log.error("client %d: no restorer for state %r; dropping it", client.id, key)
                continue
            client.state[key] = restorer(client, data)
        return client

    @property
    def closed(self) -> bool:
        return self.channel.closed

    def on_close(self, hook: Callable[["ServerClient"], None]) -> None:
        """Run `hook` once when the connection ends (e.g. release leases)."""
        self._close_hooks.append(hook)

    def close(self, reason: str | None = None) -> None:
        self.channel.close(reason)

    def close_after_reply(self) -> None:
        """Close once the reply to the current call is written (libvirt's delayed close)."""
        self.close_requested = True

    def send_event(self, prog: int, vers: int, proc: int, body_type: xdr.XdrType,
                   body: Any) -> None:
        """Push an asynchronous MESSAGE (e.g. a domain lifecycle event)."""
        payload = bytearray()
        body_type.pack(body, payload)
        header = Header(prog, vers, proc, MessageType.MESSAGE, 0, MessageStatus.OK)
        self.channel.send(encode_packet(header, payload))

    def _on_message(self, msg: Message) -> None:
        self.keepalive.received()
        try:
            self.server.dispatch(self, msg)
        except Exception:
            # A bug must cost this one connection, never the daemon.
            log.exception("dispatch failed for client %d", self.id,
                          extra=fields(client_id=self.id, server=self.server.name))
            self.close("internal error while dispatching")

    def _keepalive_timeout(self) -> None:
        log.info("client %d: connection closed due to keepalive timeout", self.id,
                 extra=fields(client_id=self.id, server=self.server.name))
        self.close("connection closed due to keepalive timeout")

    def _on_close(self, reason: str | None) -> None:
        self.keepalive.stop()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        for hook in self._close_hooks:
            try:
                hook(self)
            except Exception:
                log.exception("close hook failed for client %d", self.id)
        self.server.remove_client(self, reason)


class Service:
    """A listening socket of a server: its clients are read-only or not, need auth or not."""

    def __init__(self, server: "Server", sock: socket.socket, *, name: str, readonly: bool = False,
                 auth: AuthType = AuthType.NONE, max_client_requests: int = 5,
                 programs: Iterable[Program] = (), own_uid_only: bool = False,
                 unlink_path: str | None = None) -> None:
        self.server = server
        self.sock = sock
        self.name = name
        self.readonly = readonly
        self.auth = auth
        self.max_client_requests = max_client_requests
        self.programs = {(p.number, p.version): p for p in programs}
        self.own_uid_only = own_uid_only
        self.unlink_path = unlink_path
        self._accepting = False
        sock.setblocking(False)

    def enable(self, on: bool) -> None:
        loop = self.server.daemon.loop
        if on and not self._accepting:
            loop.add_reader(self.sock.fileno(), self._on_acceptable)
        elif not on and self._accepting:
            loop.remove_reader(self.sock.fileno())
        self._accepting = on

    def _on_acceptable(self) -> None:
        try:
            conn, _addr = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            log.warning("accept on %s failed: %s", self.name, err.strerror)
            return
        self.server.add_client(self, conn)

    def close(self) -> None:
        self.enable(False)
        self.sock.close()
        if self.unlink_path:
            try:
                os.unlink(self.unlink_path)
            except FileNotFoundError:
                pass


class Server:
    """A named server: services, clients, limits, worker pool, keepalive."""

    def __init__(self, daemon: "Daemon", name: str, *, limits: Limits, min_workers: int,
                 max_workers: int, prio_workers: int, keepalive: KeepaliveSettings) -> None:
        self.daemon = daemon
        self.name = name
        self.limits = limits
        self.pool = WorkerPool(name, min_workers, max_workers, prio_workers)
        self.keepalive = keepalive
        self.services: list[Service] = []
        self.clients: dict[int, ServerClient] = {}
        self.next_client_id = 1
        self._accept_suspended = False
        self.access: AccessChecker | None = None
        """Per-procedure access control (access_drivers = [ "polkit" ]), or None for none."""
        self.client_hooks: list[Callable[[str, ServerClient], None]] = []
        """Called with ("connect" | "disconnect", client): journal records, D-Bus signals."""

    # -- services and clients -------------------------------------------------

    def add_service(self, service: Service) -> None:
        self.services.append(service)

    def start(self) -> None:
        for service in self.services:
            service.enable(not self._accept_suspended)
        for client in self.clients.values():
            client.start()

    def save_state(self, keeper: FdKeeper) -> dict[str, Any]:
        """Stop serving and describe services, clients and live settings for a re-exec."""
        for service in self.services:
            service.enable(False)
        stats = self.pool.stats()
        return {
            "limits": dataclasses.asdict(self.limits),
            "pool": [stats.min_workers, stats.max_workers, stats.prio_workers],
            "keepalive": [self.keepalive.interval, self.keepalive.count],
            "next_client_id": self.next_client_id,
            "services": [{"name": svc.name, "fd": keeper.keep(svc.sock.fileno()),
                          "unlink_path": svc.unlink_path} for svc in self.services],
            "clients": [client.save_state(keeper) for client in self.clients.values()],
        }

    def restore_settings(self, saved: dict[str, Any]) -> None:
        """Live-tuned limits and pool sizes carry over a re-exec (changes made through admin)."""
        known = {f.name for f in dataclasses.fields(Limits)}
        self.limits = Limits(**{k: v for k, v in saved["limits"].items() if k in known})
        self.pool.set_limits(*saved["pool"])
        self.keepalive = KeepaliveSettings(*saved["keepalive"])
        self.next_client_id = saved["next_client_id"]

    def restore_clients(self, saved: list[dict[str, Any]],
                        restorers: Mapping[str, StateRestorer]) -> None:
        services = {svc.name: svc for svc in self.services}
        for entry in saved:
            service = services.get(entry["service"])
            if service is None:
                log.warning("dropping client %d of vanished service %s", entry["id"],
                            entry["service"])
                os.close(entry["fd"])
                continue
            client = ServerClient.restore(self, service, entry, restorers)
            self.clients[client.id] = client

    def add_client(self, service: Service, conn: socket.socket) -> None:
        try:
            identity = peer_identity(conn)
        except OSError as err:
            log.warning("cannot read peer credentials on %s: %s", service.name, err.strerror)
            conn.close()
            return
        if service.own_uid_only and identity.uid != os.geteuid():
            log.warning("disallowing client pid %d uid %d on %s: not the daemon's uid",
                        identity.pid, identity.uid, service.name)
            conn.close()
            return
        client = ServerClient(self, service, conn, identity, self.next_client_id)
        self.next_client_id += 1
        self.clients[client.id] = client
        log.info("client %d connected to server %s on %s (pid %d, uid %d)", client.id, self.name,
                 service.name, identity.pid, identity.uid,
                 extra=fields(message_id=MessageId.CLIENT_CONNECT, client_id=client.id,
                              server=self.name))
        for hook in self.client_hooks:
            hook("connect", client)
        self.check_limits()
        self.daemon.activity_changed()
        client.start()

    def remove_client(self, client: ServerClient, reason: str | None) -> None:
        if self.clients.pop(client.id, None) is None:
            return
        log.info("client %d disconnected from server %s%s", client.id, self.name,
                 f": {reason}" if reason else "",
                 extra=fields(message_id=MessageId.CLIENT_DISCONNECT, client_id=client.id,
                              server=self.name))
        for hook in self.client_hooks:
            hook("disconnect", client)
        self.check_limits()
        self.daemon.activity_changed()

    @property
    def n_clients_unauth(self) -> int:
        return sum(1 for c in self.clients.values() if not c.authenticated)

    def check_limits(self) -> None:
        """Stop accepting while over a limit; resume once back under (libvirt's rule)."""
        limits = self.limits
        over = len(self.clients) >= limits.max_clients or (
            limits.max_anonymous_clients > 0
            and self.n_clients_unauth >= limits.max_anonymous_clients)
        if over != self._accept_suspended:
            self._accept_suspended = over
            log.info("%s accepting clients on server %s (%d clients)",
                     "stopped" if over else "resumed", self.name, len(self.clients))
            for service in self.services:
                service.enable(not over)

    def set_client_limits(self, max_clients: int | None, max_unauth: int | None) -> None:
        new_max = self.limits.max_clients if max_clients is None else max_clients
        new_unauth = self.limits.max_anonymous_clients if max_unauth is None else max_unauth
        if new_max < new_unauth:
            raise VirtError(ErrorCode.INVALID_ARG, ErrorDomain.RPC,
                            "The overall maximum number of clients must be greater than "
                            "the maximum number of clients waiting for authentication")
        self.limits.max_clients = new_max
        self.limits.max_anonymous_clients = new_unauth
        self.check_limits()

    def close(self) -> None:
        for service in self.services:
            service.close()
        for client in list(self.clients.values()):
            client.close("daemon shutting down")
        self.pool.stop()

    # -- dispatch -------------------------------------------------------------

    def dispatch(self, client: ServerClient, msg: Message) -> None:
        header = msg.header
        if is_keepalive(header):
            if header.proc == KEEPALIVE_PROC_PING:
                client.channel.send(PONG_PACKET)
            return
        if header.type not in (MessageType.CALL, MessageType.CALL_WITH_FDS):
            # Replies, events and streams from a client have nothing to answer.
            for fd in msg.fds:
                os.close(fd)
            return
        client.inflight += 1
        if client.inflight >= client.max_requests:
            client.channel.pause()
        try:
            procedure, args = self._prepare(client, msg)
        except VirtError as err:
            for fd in msg.fds:
                os.close(fd)
            self._finish(client, header, None, None, err)
            return
        ctx = CallContext(self, client, procedure, header, msg.fds)
        if self.access is not None and procedure.acl:
            asyncio.ensure_future(self._run_checked(self.access, ctx, args))
        else:
            self._execute(ctx, args)

    async def _run_checked(self, access: "AccessChecker", ctx: CallContext, args: Any) -> None:
        """Run the call once the access driver allowed every permission it needs."""
        try:
            await access.check(ctx, args)
        except VirtError as err:
            for fd in ctx.fds:
                os.close(fd)
            self._finish(ctx.client, ctx.header, None, None, err)
            return
        self._execute(ctx, args)

    def _execute(self, ctx: CallContext, args: Any) -> None:
        """Run the handler where its table row says: a coroutine, a worker, or inline."""
        procedure, header, client = ctx.procedure, ctx.header, ctx.client
        if procedure.is_async:
            asyncio.ensure_future(self._run_async(ctx, args))
        elif procedure.blocking and not self.pool.synchronous:
            loop = self.daemon.loop
            self.pool.submit(lambda: self._run_in_worker(loop, ctx, args), procedure.priority)
        else:
            self._finish(client, header, procedure, *self._run(ctx, args))

    def _prepare(self, client: ServerClient, msg: Message) -> tuple[Procedure, Any]:
        header = msg.header
        program = client.service.programs.get((header.prog, header.vers))
        if program is None:
            raise rpc_error(f"Cannot find program {header.prog} version {header.vers}")
        if header.status != MessageStatus.OK:
            raise rpc_error(f"Unexpected message status {header.status}")
        procedure = program.lookup(header.proc)
        if procedure is None:
            raise rpc_error(f"unknown procedure: {header.proc}")
        if procedure.needs_auth and not client.authenticated:
            raise rpc_error("authentication required")
        if client.readonly and not procedure.readonly_ok:
            raise VirtError(ErrorCode.OPERATION_DENIED, ErrorDomain.DOMAIN,
                            f"read only access prevents {procedure.api or procedure.name}")
        try:
            args = procedure.args.decode(msg.payload)
        except xdr.XdrError as exc:
            log.debug("client %d: cannot decode %s: %s", client.id, procedure.name, exc)
            raise rpc_error("Unable to decode message payload") from None
        return procedure, args

    def _run(self, ctx: CallContext, args: Any) -> tuple[Any, VirtError | None]:
        try:
            return ctx.procedure.handler(ctx, args), None
        except Exception as exc:
            return None, self._call_failure(ctx, exc)
        finally:
            ctx.close_unclaimed_fds()

    def _run_in_worker(self, loop: asyncio.AbstractEventLoop, ctx: CallContext, args: Any) -> None:
        result = self._run(ctx, args)
        loop.call_soon_threadsafe(self._finish, ctx.client, ctx.header, ctx.procedure, *result)

    async def _run_async(self, ctx: CallContext, args: Any) -> None:
        try:
            result: tuple[Any, VirtError | None] = (await ctx.procedure.handler(ctx, args), None)
        except Exception as exc:
            result = (None, self._call_failure(ctx, exc))
        finally:
            ctx.close_unclaimed_fds()
        self._finish(ctx.client, ctx.header, ctx.procedure, *result)

    @staticmethod
    def _call_failure(ctx: CallContext, exc: Exception) -> VirtError:
        """The error a failed handler's client gets: its VirtError, or an internal error for
        a bug (logged with its traceback; the daemon carries on)."""
        if isinstance(exc, VirtError):
            return exc
        log.error("procedure %s failed unexpectedly", ctx.procedure.name, exc_info=exc,
                  extra=fields(client_id=ctx.client.id, server=ctx.client.server.name))
        return VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                         f"unexpected failure in {ctx.procedure.name}")

    def _finish(self, client: ServerClient, call: Header, procedure: Procedure | None,
                value: Any, error: VirtError | None) -> None:
        fds: list[int] = []
        if error is None and procedure is not None:
            if isinstance(value, Reply):
                value, fds = value.value, value.fds
            payload = bytearray()
            try:
                procedure.ret.pack(value, payload)
            except xdr.XdrError as exc:
                log.error("cannot encode reply of %s: %s", procedure.name, exc)
                for fd in fds:
                    os.close(fd)
                fds = []
                error = VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                                  f"cannot encode reply of {procedure.name}")
        if error is not None:
            self._log_call_error(client, call, error)
            reply = Header(call.prog, call.vers, call.proc, MessageType.REPLY, call.serial,
                           MessageStatus.ERROR)
            packet = encode_packet(reply, encode_error(error))
        else:
            kind = MessageType.REPLY_WITH_FDS if fds else MessageType.REPLY
            reply = Header(call.prog, call.vers, call.proc, kind, call.serial, MessageStatus.OK)
            packet = encode_packet(reply, payload, len(fds))
        client.channel.send(packet, fds)
        client.inflight -= 1
        if client.close_requested:
            client.channel.close_after_flush()
        elif client.inflight < client.max_requests:
            client.channel.resume()

    @staticmethod
    def _log_call_error(client: ServerClient, call: Header, error: VirtError) -> None:
        if error.code == ErrorCode.RPC:
            log.debug("client %d: %s", client.id, error.message,
                      extra=fields(client_id=client.id, server=client.server.name,
                                   error_code=error.code))
        else:
            log_error(log, error, client_id=client.id, server=client.server.name, procedure=call.proc)
