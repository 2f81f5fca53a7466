"""Programs as tables: procedure number -> types, handler and policy.

Dispatch, read-only enforcement, ACL checks, worker placement and error replies
are driven from these tables, so a handler only does its own job.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from common import xdr

if TYPE_CHECKING:
    from common.rpc.server import CallContext


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler result that carries file descriptors (sent as REPLY_WITH_FDS).

    The RPC layer owns the fds from here on and closes them once sent.
    """

    value: Any
    fds: list[int] = field(default_factory=list)


Handler = Callable[["CallContext", Any], Any]


@dataclass(frozen=True, slots=True)
class Procedure:
    """One row of a program table.

    `api` is libvirt's public function name, used in "read only access prevents
    <api>". `blocking` procedures run on the server's worker pool; all others
    run inline on the event loop (they never block). `acl` names the
    permissions checked before the handler runs ("domain.start").
    """

    number: int
    name: str
    args: xdr.XdrType
    ret: xdr.XdrType
    handler: Handler
    api: str = ""
    readonly_ok: bool = False
    priority: bool = False
    blocking: bool = False
    needs_auth: bool = True
    acl: tuple[str, ...] = ()
    is_async: bool = field(init=False, default=False)
    """Whether the handler is a coroutine function (worked out once, not per call)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.handler))


class Program:
    """A numbered, versioned table of procedures."""

    def __init__(self, name: str, number: int, version: int, procedures: Iterable[Procedure]) -> None:
        self.name = name
        self.number = number
        self.version = version
        self.procedures: dict[int, Procedure] = {}
        for proc in procedures:
            if proc.number in self.procedures:
                raise ValueError(f"{name}: procedure {proc.number} declared twice")
            self.procedures[proc.number] = proc

    def lookup(self, number: int) -> Procedure | None:
        return self.procedures.get(number)

    def __repr__(self) -> str:
        return f"Program({self.name}, 0x{self.number:x}, v{self.version})"
