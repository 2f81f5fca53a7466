"""libvirt's lock program (0xEA7BEEF): the eight procedures of reference §4.

Every connection first registers the owner its leases are for (a domain's
uuid, name, id and the pid of its QEMU process). The checks are libvirt's, in
libvirt's order: flags, then "restricted" (after RESTRICT a connection can do
nothing at all), then "registered" (only CREATE_LOCKSPACE, which libvirt's
lock driver sends from a fresh connection at start-up, works without it).
Dispatcher errors are in the RPC domain, as libvirt's are; resource errors
come from the lockspace in the LOCKSPACE domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from uuid import UUID

from common import xdr
from common.errors import ErrorCode, ErrorDomain, VirtError, check_flags
from common.rpc.identity import process_start_time
from common.rpc.program import Procedure, Program
from common.rpc.server import CallContext, ServerClient, StateRestorer
from daemons.virtlockd import protocol as p
from daemons.virtlockd.leases import LeaseManager
from daemons.virtlockd.lockspace import Owner
from daemons.virtlockd.protocol import AcquireFlags, LockProc

STATE_KEY = "lock"


@dataclass
class LockConnection:
    """Per-client state of the lock program (libvirt's virLockDaemonClient)."""

    restricted: bool = False
    owner: Owner | None = None

    def to_json(self) -> dict[str, Any]:
        return {"restricted": self.restricted,
                "owner": self.owner.to_json() if self.owner else None}


def _attach(manager: LeaseManager, client: ServerClient, conn: LockConnection) -> LockConnection:
    """Make `conn` the client's lock state, releasing its owner's leases when it closes."""

    def closed(_client: ServerClient) -> None:
        owner = conn.owner
        if owner is not None and owner.pid == client.identity.pid:
            manager.connection_lost(owner)

    client.state[STATE_KEY] = conn
    client.on_close(closed)
    return conn


def connection_restorer(manager: LeaseManager) -> StateRestorer:
    """Rebuilds a client's lock state after a re-exec."""

    def restore(client: ServerClient, data: dict[str, Any]) -> LockConnection:
        owner = Owner.from_json(data["owner"]) if data["owner"] else None
        return _attach(manager, client, LockConnection(data["restricted"], owner))

    return restore


def _rpc(code: ErrorCode, detail: str) -> VirtError:
    return VirtError(code, ErrorDomain.RPC, detail)


class LockHandlers:
    """The procedures, bound to the daemon's leases."""

    def __init__(self, manager: LeaseManager) -> None:
        self.manager = manager

    def _connection(self, ctx: CallContext) -> LockConnection:
        conn = ctx.client.state.get(STATE_KEY)
        if conn is None:
            conn = _attach(self.manager, ctx.client, LockConnection())
        return conn

    def _checked(self, ctx: CallContext, flags: int, allowed: int, function: str, *,
                 registered: bool = True) -> LockConnection:
        check_flags(flags, allowed, f"virLockSpaceProtocolDispatch{function}", ErrorDomain.RPC)
        conn = self._connection(ctx)
        if conn.restricted:
            raise _rpc(ErrorCode.OPERATION_DENIED, "lock manager connection has been restricted")
        if registered and conn.owner is None:
            raise _rpc(ErrorCode.OPERATION_INVALID, "lock owner details have not been registered")
        return conn

    def register(self, ctx: CallContext, args: Any) -> None:
        conn = self._checked(ctx, args.flags, 0, "Register", registered=False)
        wire = args.owner
        if wire.id == 0:
            raise _rpc(ErrorCode.OPERATION_INVALID, "lock owner details have not been registered")
        conn.owner = Owner(wire.pid, wire.id, wire.name, UUID(bytes=wire.uuid),
                           process_start_time(wire.pid))

    def restrict(self, ctx: CallContext, args: Any) -> None:
        self._checked(ctx, args.flags, 0, "Restrict").restricted = True

    def new(self, ctx: CallContext, args: Any) -> None:
        self._checked(ctx, args.flags, 0, "New")
        self.manager.new_lockspace(args.path)

    def create_lockspace(self, ctx: CallContext, args: Any) -> None:
        self._checked(ctx, 0, 0, "CreateLockSpace", registered=False)
        self.manager.create_lockspace(args.path)

    def create_resource(self, ctx: CallContext, args: Any) -> None:
        self._checked(ctx, args.flags, 0, "CreateResource")
        self.manager.create_resource(args.path, args.name)

    def delete_resource(self, ctx: CallContext, args: Any) -> None:
        self._checked(ctx, args.flags, 0, "DeleteResource")
        self.manager.delete_resource(args.path, args.name)

    def _owner(self, ctx: CallContext, flags: int, allowed: int, function: str) -> Owner:
        owner = self._checked(ctx, flags, allowed, function).owner
        assert owner is not None, "_checked lets only registered connections through"
        return owner

    def acquire_resource(self, ctx: CallContext, args: Any) -> None:
        owner = self._owner(ctx, args.flags, int(AcquireFlags.SHARED | AcquireFlags.AUTOCREATE),
                            "AcquireResource")
        self.manager.acquire(args.path, args.name, owner,
                             shared=bool(args.flags & AcquireFlags.SHARED),
                             autocreate=bool(args.flags & AcquireFlags.AUTOCREATE))

    def release_resource(self, ctx: CallContext, args: Any) -> None:
        owner = self._owner(ctx, args.flags, 0, "ReleaseResource")
        self.manager.release(args.path, args.name, owner.pid)


def _proc(proc: LockProc, args: xdr.XdrType, handler: Callable[[CallContext, Any], None],
          acl: str) -> Procedure:
    return Procedure(int(proc), f"VIR_LOCK_SPACE_PROTOCOL_PROC_{proc.name}", args, xdr.Void,
                     handler, acl=(acl,))


def lock_program(manager: LeaseManager) -> Program:
    h = LockHandlers(manager)
    return Program("lock", p.LOCK_PROGRAM, p.LOCK_VERSION, [
        _proc(LockProc.REGISTER, p.RegisterArgs, h.register, "lock.register"),
        _proc(LockProc.RESTRICT, p.RestrictArgs, h.restrict, "lock.register"),
        _proc(LockProc.NEW, p.NewArgs, h.new, "lock.lockspace"),
        _proc(LockProc.CREATE_RESOURCE, p.ResourceArgs, h.create_resource, "lock.resource"),
        _proc(LockProc.DELETE_RESOURCE, p.ResourceArgs, h.delete_resource, "lock.resource"),
        _proc(LockProc.ACQUIRE_RESOURCE, p.ResourceArgs, h.acquire_resource, "lock.acquire"),
        _proc(LockProc.RELEASE_RESOURCE, p.ResourceArgs, h.release_resource, "lock.release"),
        _proc(LockProc.CREATE_LOCKSPACE, p.CreateLockSpaceArgs, h.create_lockspace,
              "lock.lockspace"),
    ])
