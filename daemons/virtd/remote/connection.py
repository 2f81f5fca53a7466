"""A client's hypervisor connection: which driver it opened and what it listens to."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Callable
from uuid import UUID

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.rpc.server import ServerClient
from daemons.virtd.domain.events import DomainRef
from daemons.virtd.drivers.base import Driver

log = logging.getLogger("virtd.virtd.connection")

EventSink = Callable[[int, DomainRef, int, int], None]
"""Delivers (callback id, domain, event, detail) to the client."""


class DriverTable:
    """The drivers this virtd runs, and which one a URI selects."""

    def __init__(self, drivers: dict[str, Driver], default_order: tuple[str, ...]) -> None:
        self._by_uri = drivers
        self._default_order = default_order

    def open(self, name: str | None) -> Driver:
        if not name:
            for uri in self._default_order:
                if uri in self._by_uri:
                    return self._by_uri[uri]
            raise VirtError(ErrorCode.NO_CONNECT, ErrorDomain.NONE, "the default URI")
        uri = name.split("?", 1)[0]
        driver = self._by_uri.get(uri) or self._by_uri.get(uri.rstrip("/"))
        if driver is None:
            raise VirtError(ErrorCode.NO_CONNECT, ErrorDomain.NONE, name)
        return driver

    def all(self) -> list[Driver]:
        return list(self._by_uri.values())


@dataclass
class EventCallback:
    token: int
    event_id: int
    domain: UUID | None


@dataclass
class RemoteConnection:
    """Per-client state of the remote program."""

    client: ServerClient
    loop: asyncio.AbstractEventLoop
    driver: Driver | None = None
    callbacks: dict[int, EventCallback] = field(default_factory=dict)
    next_callback: int = 1
    close_callback: bool = False
    autodestroy: set[UUID] = field(default_factory=set)

    def require_driver(self) -> Driver:
        if self.driver is None:
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.REMOTE,
                            "hypervisor connection not open")
        return self.driver

    def register_events(self, event_id: int, domain: UUID | None, sink: EventSink,
                        callback_id: int | None = None) -> int:
        driver = self.require_driver()
        if callback_id is None:
            callback_id = self.next_callback
            self.next_callback += 1

        def listener(dom: DomainRef, event: int, detail: int) -> None:
            if domain is not None and dom.uuid != domain:
                return
            self.loop.call_soon_threadsafe(self._deliver, callback_id, sink, dom, event, detail)

        token = driver.events.subscribe(listener)
        self.callbacks[callback_id] = EventCallback(token, event_id, domain)
        return callback_id

    def _deliver(self, callback_id: int, sink: EventSink, dom: DomainRef, event: int,
                 detail: int) -> None:
        if callback_id in self.callbacks and not self.client.closed:
            sink(callback_id, dom, event, detail)

    def deregister_events(self, callback_id: int) -> None:
        callback = self.callbacks.pop(callback_id, None)
        if callback is None:
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                            f"domain event callback {callback_id} not registered")
        self.require_driver().events.unsubscribe(callback.token)

    def to_json(self) -> dict[str, object]:
        """What a re-exec must carry over: the open driver, event callbacks, autodestroy."""
        return {
            "uri": self.driver.uri if self.driver else None,
            "callbacks": [[cid, cb.event_id, str(cb.domain) if cb.domain else None]
                          for cid, cb in self.callbacks.items()],
            "next_callback": self.next_callback,
            "close_callback": self.close_callback,
            "autodestroy": [str(u) for u in self.autodestroy],
        }

    @classmethod
    def from_json(cls, client: ServerClient, data: dict[str, Any], drivers: DriverTable,
                  sink: EventSink) -> "RemoteConnection":
        conn = cls(client, client.server.daemon.loop)
        if data["uri"] is not None:
            conn.driver = drivers.open(data["uri"])
        for callback_id, event_id, domain in data["callbacks"]:
            conn.register_events(event_id, UUID(domain) if domain else None, sink, callback_id)
        conn.next_callback = data["next_callback"]
        conn.close_callback = data["close_callback"]
        conn.autodestroy = {UUID(u) for u in data["autodestroy"]}
        client.on_close(lambda _client: conn.close())
        return conn

    def close(self) -> None:
        """The client closed the connection (or went away): drop listeners, autodestroy."""
        driver = self.driver
        if driver is None:
            return
        for callback in self.callbacks.values():
            driver.events.unsubscribe(callback.token)
        self.callbacks.clear()
        for uuid in self.autodestroy:
            obj = driver.domains.find_uuid(uuid)
            if obj is not None and obj.active:
                try:
                    driver.destroy(obj, 0)
                except VirtError as err:
                    log.error("autodestroy of %s failed: %s", obj.name, err.message)
        self.autodestroy.clear()
        self.driver = None
